import { readJournal } from "../../adapters/operations-journal.js";
import { finishingCommand, type OperationJournal } from "../../domain/operation-journal.js";
import { forEachLimited } from "../bounded-pool.js";
import type { DriveResult } from "../operation-driver.js";
import { type OpenOperation, openOperations, resumeOperation } from "../operations.js";
import type { RebuildOutcome } from "../rebuild-outcome.js";
import { rebuildOutcomeOf, safetyLines } from "./outcomes.js";
import type { RunState } from "./upgrade-run.js";

/**
 * The first stage under the lock: every operation the journals hold open (in scope) is finished,
 * a few at once; once `stopped` (interrupted, or a schema mismatch), the rest are skipped.
 */
export async function finishInterrupted(
  run: RunState,
  inScope: (name: string) => boolean,
  done: ReadonlySet<string>,
  record: (outcome: RebuildOutcome) => void,
  guard: (name: string, fn: () => Promise<RebuildOutcome | null>) => Promise<void>,
  stopped: () => boolean,
): Promise<void> {
  // Re-read under the lock: another command may have changed the registry or the journals.
  const ops = [...openOperations(run.ctx).values()].filter((op) => inScope(op.sandbox));
  run.options.onEvent?.({ type: "planned", names: ops.map((op) => op.sandbox) });
  await forEachLimited(ops, run.options.concurrency, stopped, (op) =>
    guard(op.sandbox, () =>
      finishOne(run, op, (step) => run.options.onEvent?.({ type: "step", name: op.sandbox, step })),
    ),
  );
  for (const op of ops) {
    if (!done.has(op.sandbox) && stopped())
      record({
        name: op.sandbox,
        status: "skipped",
        reason: "not started (run stopped)",
        from: null,
        to: null,
        durationMs: 0,
      });
  }
}

/**
 * Finishes one interrupted operation found in the journals. null: the delete never happened,
 * the journal was dropped and the sandbox is classified like any other.
 */
async function finishOne(
  run: RunState,
  op: OpenOperation,
  emit: (step: string) => void,
): Promise<RebuildOutcome | null> {
  const started = run.clock();
  const name = op.sandbox;
  const journal = op.journal;
  const base = { name, from: null, to: null };
  const action = `${journal?.operation === "restore" ? "restoring" : "rebuilding"} sandbox '${name}'`;
  const policy = { action, rerunCommand: run.options.rerunCommand, strict: run.options.strict };
  const resumed = await resumeOperation(run.ctx, {
    report: run.report,
    op,
    policy,
    emit,
    onUpload: (progress) => run.options.onEvent?.({ type: "upload", name, progress }),
    catalog: run.catalog,
  });
  const elapsed = Math.round(run.clock() - started);
  if (resumed.status === "abandoned") return null;
  if (resumed.status === "abandoned-destroyed") {
    if (resumed.warnings.length) run.options.onWarnings?.(resumed.warnings);
    return {
      ...base,
      status: "skipped",
      reason: resumed.why,
      ...(journal
        ? {
            backup: {
              timestamp: journal.backup,
              path: `${run.ctx.settings.paths.backupsRoot}/${name}/${journal.backup}`,
            },
          }
        : {}),
      recoveryCommand: resumed.wayBack,
      durationMs: elapsed,
    };
  }
  if (resumed.status === "done" && resumed.warnings.length) run.options.onWarnings?.(resumed.warnings);
  if (resumed.status === "not-resumable" || resumed.status === "backup-unusable" || !journal) {
    return {
      ...base,
      status: "failed",
      reason: `unfinished operation not resumed: ${"why" in resumed ? resumed.why : op.reason}`,
      durationMs: elapsed,
    };
  }
  return finishedOutcome(run, journal, resumed, base, elapsed);
}

/**
 * The outcome of an operation its journal let this run resume: a restore finished (or not), or
 * a rebuild's result, with every safety backup the operation holds.
 */
function finishedOutcome(
  run: RunState,
  journal: OperationJournal,
  resumed: DriveResult,
  base: { name: string; from: null; to: null },
  elapsed: number,
): RebuildOutcome {
  const { name } = base;
  const backupRef = {
    timestamp: journal.backup,
    path: `${run.ctx.settings.paths.backupsRoot}/${name}/${journal.backup}`,
  };
  // Every safety backup the operation holds now (the journal is re-read: a resumed run may have
  // added one), with its restore command.
  const onDisk = readJournal(run.ctx.settings.paths.stateRoot, name);
  const held = safetyLines(run.ctx, onDisk?.ok ? onDisk.journal : journal);
  const saved = resumed.status === "done" ? resumed.safetyBackups : [];
  const safety = [...held, ...saved.filter((b) => !held.some((h) => h.timestamp === b.timestamp))];
  if (journal.operation === "restore") {
    if (resumed.status === "done") {
      return {
        ...base,
        status: "restored",
        reason: `finished the interrupted restore of backup ${journal.backup}${
          saved.length
            ? `; the live state had changed since its upload and was saved first in ${saved.map((b) => b.timestamp).join(", ")}`
            : ""
        }`,
        backup: backupRef,
        resumed: true,
        ...(safety.length ? { safetyBackups: safety } : {}),
        durationMs: elapsed,
      };
    }
    const finish = finishingCommand(journal);
    return {
      ...base,
      status: "failed",
      reason: `interrupted restore not finished: ${"why" in resumed ? resumed.why : ""}; run \`${finish}\``,
      backup: backupRef,
      finishCommand: finish,
      resumed: true,
      ...(safety.length ? { safetyBackups: safety } : {}),
      durationMs: elapsed,
    };
  }
  return rebuildOutcomeOf(resumed, base, backupRef, true, elapsed, journal.image, journal.gateway, safety);
}
