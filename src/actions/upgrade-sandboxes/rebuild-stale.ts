import type { AgentSpec } from "../../adapters/agent-catalog.js";
import { readRegistry } from "../../adapters/registry.js";
import { describeRegistryLockHolder, registryLockHolder } from "../../adapters/registry-lock.js";
import { EnvironmentError } from "../../domain/errors.js";
import type { Classification } from "../../domain/upgrade-classification.js";
import { forEachLimited } from "../bounded-pool.js";
import { openOperations } from "../operations.js";
import type { RebuildOutcome } from "../rebuild-outcome.js";
import { listSandboxes } from "../sandbox-state.js";
import { rebuildLeavingPhase, stoppedRebuildSkip } from "../stopped-rebuild.js";
import { CHECK_ACTION, classifyRegistry, str } from "./classify.js";
import { rebuildOne } from "./rebuild-one.js";
import type { RunState } from "./upgrade-run.js";

/**
 * The second stage under the lock, once every interrupted operation is finished: classify again,
 * plan, refuse while NemoClaw's registry lock is held, then rebuild each stale sandbox (asked
 * first when there is a prompt); those a stopped run never reached are recorded as skipped.
 */
export async function rebuildStale(
  run: RunState,
  inScope: (name: string) => boolean,
  done: ReadonlySet<string>,
  record: (outcome: RebuildOutcome) => void,
  guard: (name: string, fn: () => Promise<RebuildOutcome | null>) => Promise<void>,
): Promise<void> {
  const { ctx, report, options, catalog } = run;
  const checkPolicy = { action: CHECK_ACTION, rerunCommand: options.rerunCommand, strict: options.strict };
  const registry = readRegistry(ctx.settings.paths.registryFile);
  const listed = await listSandboxes(report, checkPolicy, registry.names);
  const classes = (
    await classifyRegistry(ctx, report, registry, catalog, listed, checkPolicy, openOperations(ctx))
  ).filter((c) => inScope(c.name) && !done.has(c.name));
  options.onEvent?.({ type: "planned", names: classes.map((c) => c.name) });
  const rebuild = planRebuild(run, classes, record);
  options.onEvent?.({ type: "plan", rebuild });
  // NemoClaw's registry lock held by a live process: fail before anything destructive starts.
  const lockDir = `${ctx.settings.paths.registryFile}.lock`;
  const holder = rebuild.length ? registryLockHolder(lockDir, { procRoot: ctx.procRoot }) : null;
  if (holder) {
    throw new EnvironmentError(
      "registry_locked",
      `${describeRegistryLockHolder(lockDir, holder)}; no sandbox was rebuilt, rerun when it is released`,
    );
  }
  await forEachLimited(
    rebuild,
    options.concurrency,
    () => ctx.abort.signal.aborted,
    async (c) => {
      if (options.confirm && !(await options.confirm(c))) {
        record({
          name: c.name,
          status: "declined",
          reason: "declined at the prompt",
          from: c.current,
          to: c.expected,
          durationMs: 0,
        });
        return;
      }
      const agentType = str(registry.entries[c.name]?.agent) as string;
      const emit = (step: string) => options.onEvent?.({ type: "step", name: c.name, step });
      // A stale Stopped sandbox is started, rebuilt like a Ready one, and left Stopped.
      await guard(c.name, () =>
        rebuildLeavingPhase(ctx, { ...checkPolicy, report }, c, emit, () =>
          rebuildOne(run, c, agentType, catalog[agentType] as AgentSpec, emit),
        ),
      );
    },
  );
  for (const c of rebuild) {
    if (!done.has(c.name)) {
      record({
        name: c.name,
        status: "skipped",
        reason: "not started (run stopped)",
        from: c.current,
        to: c.expected,
        durationMs: 0,
      });
    }
  }
}

/**
 * The plan: every sandbox in scope that is not rebuilt is recorded with its reason (current,
 * invalid, unfinished, not stale, not Ready or Stopped, a Stopped one that cannot be started);
 * the stale ones left are returned, to be rebuilt.
 */
function planRebuild(
  run: RunState,
  classes: Classification[],
  record: (outcome: RebuildOutcome) => void,
): Classification[] {
  const { report, options } = run;
  const checkPolicy = { action: CHECK_ACTION, rerunCommand: options.rerunCommand, strict: options.strict };
  const rebuild: Classification[] = [];
  for (const c of classes) {
    const base = { name: c.name, from: c.current, to: c.expected, durationMs: 0 };
    const cannotStart = stoppedRebuildSkip(report, checkPolicy, c);
    if (c.status === "invalid") record({ ...base, status: "failed", reason: "invalid sandbox name" });
    else if (c.status === "current") record({ ...base, status: "current", reason: "up to date" });
    else if (c.status === "interrupted" || c.status === "in-progress")
      record({ ...base, status: "failed", reason: c.reason });
    else if (c.status !== "stale") record({ ...base, status: "skipped", reason: `${c.status}: ${c.reason}` });
    else if (c.phase !== "Ready" && c.phase !== "Stopped")
      record({ ...base, status: "skipped", reason: `stale but ${c.phase}, not Ready` });
    else if (cannotStart) record({ ...base, status: "skipped", reason: cannotStart });
    else rebuild.push(c);
  }
  return rebuild;
}
