import { readAgentCatalog } from "../../adapters/agent-catalog.js";
import { readRegistry } from "../../adapters/registry.js";
import type { Context } from "../../context.js";
import { PreflightRefusal, UsageError } from "../../domain/errors.js";
import { finishBatch } from "../batch-run.js";
import { takeMaintenanceLock } from "../maintenance.js";
import { openOperations } from "../operations.js";
import { enforcePreflight, runPreflight } from "../preflight.js";
import type { RebuildOutcome } from "../rebuild-outcome.js";
import { stopLeftoverStartedSandboxes } from "../sandbox-power.js";
import { CHECK_ACTION } from "./classify.js";
import { finishInterrupted } from "./finish-interrupted.js";
import { rebuildStale } from "./rebuild-stale.js";
import type { RunState, UpgradeOptions, UpgradeResult, UpgradeRun } from "./upgrade-run.js";

/**
 * `upgrade-sandboxes` without --check: under the lock, finish every interrupted operation first
 * (from its journal), then rebuild each stale Ready sandbox. Up-to-date sandboxes are untouched;
 * not-Ready, unknown and missing ones are skipped with a reason. A sandbox with an open journal
 * is never backed up anew (that would capture partial state). A schema mismatch after a
 * mutating step stops everything (exit 3).
 */
export async function upgradeSandboxes(ctx: Context, options: UpgradeOptions): Promise<UpgradeRun> {
  const initial = readRegistry(ctx.settings.paths.registryFile);
  const result: UpgradeResult = {
    gatewayName: options.gatewayName,
    sandboxes: [],
    summary: { rebuilt: 0, restored: 0, failed: 0, skipped: 0, current: 0 },
    interrupted: null,
  };
  const wanted = new Set(options.names ?? []);
  const initialOps = openOperations(ctx);
  for (const name of wanted) {
    if (!initial.entries[name] && !initialOps.has(name)) {
      throw new UsageError(
        `sandbox ${name} is not registered and has no unfinished operation`,
        "no_such_sandbox",
      );
    }
  }
  if (initial.names.length === 0 && initialOps.size === 0) return { preflight: null, result, warnings: [] };
  const checkPolicy = { action: CHECK_ACTION, rerunCommand: options.rerunCommand, strict: options.strict };
  const report = await runPreflight(ctx, options.gatewayName, ctx.abort.signal);
  const { warnings } = enforcePreflight(report, checkPolicy);
  options.onWarnings?.(warnings);
  const catalog = readAgentCatalog(ctx.settings.paths.catalogFile);
  const run: RunState = { ctx, report, options, catalog, clock: ctx.clock };

  const { lock } = takeMaintenanceLock(ctx, "upgrade-sandboxes");
  let refusal: PreflightRefusal | undefined;
  const inScope = (name: string) => wanted.size === 0 || wanted.has(name);
  const done = new Set<string>();
  const record = (outcome: RebuildOutcome) => {
    done.add(outcome.name);
    result.sandboxes.push(outcome);
    const key = outcome.status === "declined" ? "skipped" : outcome.status;
    result.summary[key]++;
    options.onEvent?.({ type: "finished", outcome });
  };
  const guard = async (name: string, fn: () => Promise<RebuildOutcome | null>) => {
    try {
      const outcome = await fn();
      if (outcome) record(outcome);
    } catch (error) {
      if (!(error instanceof PreflightRefusal)) throw error;
      refusal = error;
      record({ name, status: "failed", reason: "schema mismatch", from: null, to: null, durationMs: 0 });
    }
  };
  try {
    // Sandboxes a killed run started and never stopped are stopped again first.
    const restopped = await stopLeftoverStartedSandboxes(ctx, { ...checkPolicy, report });
    if (restopped.length) {
      warnings.push(...restopped);
      options.onWarnings?.(restopped);
    }
    const stopped = () => ctx.abort.signal.aborted || refusal !== undefined;
    await finishInterrupted(run, inScope, done, record, guard, stopped);
    if (!ctx.abort.signal.aborted && refusal === undefined)
      await rebuildStale(run, inScope, done, record, guard);
  } finally {
    lock.release();
  }
  return finishBatch(ctx, result, report, warnings, refusal);
}
