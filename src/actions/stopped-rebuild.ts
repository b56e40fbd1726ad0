import type { Context } from "../context.js";
import type { Classification } from "../domain/upgrade-classification.js";
import type { PreflightReport, ReactiveContext } from "./preflight.js";
import type { RebuildOutcome } from "./rebuild-outcome.js";
import { SandboxStartError, startUnsupportedReason, withSandboxRunning } from "./sandbox-power.js";

/**
 * `upgrade-sandboxes` and Stopped sandboxes (docs/design.md), kept apart from the rebuild workflow:
 * the rebuild itself does not know whether its sandbox was stopped.
 */

type Reactive = Omit<ReactiveContext, "query">;

/** The skip reason for a stale Stopped sandbox this OpenShell cannot start; null otherwise. */
export function stoppedRebuildSkip(
  report: PreflightReport,
  policy: Omit<Reactive, "report">,
  c: Classification,
): string | null {
  if (c.phase !== "Stopped") return null;
  const reason = startUnsupportedReason({ ...policy, report });
  return reason ? `stale but ${reason}` : null;
}

/**
 * Runs one rebuild; a Stopped sandbox is started first and stopped again afterwards (the rebuilt
 * one). A failed start fails the sandbox with nothing changed; a failed stop fails it with the
 * exact `openshell … sandbox stop` to run, its rebuild otherwise kept as reported.
 */
export async function rebuildLeavingPhase(
  ctx: Context,
  reactive: Reactive,
  c: Classification,
  emit: (step: string) => void,
  rebuild: () => Promise<RebuildOutcome>,
): Promise<RebuildOutcome> {
  if (c.phase === "Stopped") emit("starting (was Stopped)");
  try {
    const sandboxReactive = { ...reactive, action: `rebuilding sandbox '${c.name}'` };
    const { value, stop } = await withSandboxRunning(
      ctx,
      sandboxReactive,
      c.name,
      c.phase,
      "rebuild",
      rebuild,
    );
    if (stop === null) return value;
    if (!stop.ok) return { ...value, status: "failed", reason: `${value.reason}; ${stop.reason}` };
    return value.status === "rebuilt" ? { ...value, reason: `${value.reason}; left Stopped` } : value;
  } catch (error) {
    if (!(error instanceof SandboxStartError)) throw error;
    return {
      name: c.name,
      status: error.cannotStart ? "skipped" : "failed",
      reason: `stale but Stopped; ${error.message}`,
      ...(error.lifecycle ? { code: "lifecycle_outcome_unknown" as const } : {}),
      from: c.current,
      to: c.expected,
      durationMs: 0,
    };
  }
}
