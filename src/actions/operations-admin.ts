import fs from "node:fs";
import path from "node:path";
import {
  appendHistoryOrWarn,
  readJournal,
  removeJournalFile,
  writerState,
} from "../adapters/operations-journal.js";
import { readRegistry } from "../adapters/registry.js";
import { listStartedRecords, removeStartedRecord } from "../adapters/started-record.js";
import type { Context } from "../context.js";
import { EnvironmentError, UsageError } from "../domain/errors.js";
import { type JournalPhase, type OperationJournal, pinnedBy } from "../domain/operation-journal.js";
import { takeMaintenanceLock } from "./maintenance.js";
import {
  describeOperation,
  type OperationState,
  openOperations,
  type StartedOperation,
  startedOperations,
} from "./operations.js";

/**
 * `nemoclaw operations list|abandon` (docs/design.md, "Prove before destroy"): every unfinished
 * operation on this host, and the operator's explicit way to drop one no command can finish
 * (a journal from another host, an unreadable one, or by choice).
 */

export type OperationKindRow = "rebuild" | "restore" | "started-for-backup";

export interface OperationRow {
  sandbox: string;
  kind: OperationKindRow;
  state: OperationState;
  /** The journal's phase (`null` when unreadable); `started` for a started record. */
  phase: string | null;
  gateway: string | null;
  /** Backups the operation pins (retention never removes them). */
  pins: string[];
  /** What to run: the finishing command, or `operations abandon` where nothing can finish it. */
  command: string | null;
  reason: string;
  file: string;
}

export interface OperationsListResult {
  operationsDir: string;
  operations: OperationRow[];
  open: number;
}

function startedRow(s: StartedOperation): OperationRow {
  return {
    sandbox: s.sandbox,
    kind: "started-for-backup",
    state: s.state,
    phase: "started",
    gateway: s.gateway,
    pins: [],
    command: s.command,
    reason: s.reason,
    file: s.file,
  };
}

/** `operations list`: no lock, no preflight, no OpenShell call; reading writes nothing. */
export function listOperations(ctx: Context): OperationsListResult {
  const rows: OperationRow[] = [];
  for (const op of openOperations(ctx).values()) {
    rows.push({
      sandbox: op.sandbox,
      kind: op.journal?.operation ?? (guessKind(op.file) as "rebuild" | "restore"),
      state: op.state,
      phase: op.journal?.phase ?? null,
      gateway: op.journal?.gateway ?? null,
      pins: op.journal ? pinnedBy(op.journal) : [],
      command: op.command,
      reason: op.reason,
      file: op.file,
    });
  }
  for (const s of startedOperations(ctx).values()) rows.push(startedRow(s));
  rows.sort((a, b) => (a.sandbox < b.sandbox ? -1 : a.sandbox > b.sandbox ? 1 : 0));
  return {
    operationsDir: path.join(ctx.settings.paths.stateRoot, "operations"),
    operations: rows,
    open: rows.length,
  };
}

/** The `operation` field of a journal too broken to parse, when its text still says it. */
function guessKind(file: string): string {
  try {
    const fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
    try {
      const buf = Buffer.alloc(65536);
      const n = fs.readSync(fd, buf, 0, buf.length, 0);
      return /"operation"\s*:\s*"restore"/.test(buf.subarray(0, n).toString("utf8")) ? "restore" : "rebuild";
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return "rebuild";
  }
}

/** What the sandbox holds at a journal's phase (said without asking OpenShell). */
export function holdsAt(journal: OperationJournal | null, registered: boolean): string {
  const reg = registered ? "it is registered" : "it is not registered";
  if (!journal) return `unknown (the journal cannot be read); ${reg}`;
  const words: Record<JournalPhase, string> = {
    deleting:
      journal.operation === "rebuild"
        ? "its old state, unless the delete went through (then nothing: the sandbox is gone)"
        : "its own state (no step had started)",
    creating: "nothing of the user's: the sandbox is absent or newly created without state",
    restoring: "partial state: its state directories were removed and the upload may be cut",
    verifying: `the complete state of backup ${journal.backup}, and whatever its agent wrote since`,
    registering: `the verified state of backup ${journal.backup}, and whatever its agent wrote since`,
  };
  return `${words[journal.phase]}; ${reg}`;
}

export interface PinnedBackupLine {
  timestamp: string;
  path: string;
  exists: boolean;
  role: "backup" | "safety";
}

export interface AbandonPlan {
  sandbox: string;
  kind: OperationKindRow;
  state: OperationState;
  phase: string | null;
  gateway: string | null;
  pins: PinnedBackupLine[];
  holds: string;
  file: string;
}

export interface AbandonResult extends AbandonPlan {
  abandoned: boolean;
  /** The command that brings the pinned state back, now that no journal finishes it. */
  wayBack: string[];
}

function pinLines(ctx: Context, journal: OperationJournal | null): PinnedBackupLine[] {
  if (!journal) return [];
  return pinnedBy(journal).map((timestamp, i) => {
    const p = path.join(ctx.settings.paths.backupsRoot, journal.sandbox, timestamp);
    return { timestamp, path: p, exists: fs.existsSync(p), role: i === 0 ? "backup" : "safety" };
  });
}

/**
 * `operations abandon SANDBOX`: under the maintenance lock, drops the sandbox's journal (or its
 * started record) after `confirm` saw what it pins and what the sandbox holds now. Nothing else
 * is touched: the backups stay (no longer pinned), the sandbox stays as it is. A writer still
 * alive → exit 4. History records outcome `abandoned`.
 */
export async function abandonOperation(
  ctx: Context,
  sandbox: string,
  confirm: (plan: AbandonPlan) => Promise<boolean>,
): Promise<{ result: AbandonResult; warnings: string[] }> {
  const { lock } = takeMaintenanceLock(ctx, "operations abandon");
  try {
    const stateRoot = ctx.settings.paths.stateRoot;
    const found = readJournal(stateRoot, sandbox);
    const started = listStartedRecords(stateRoot).find((r) => r.sandbox === sandbox);
    if (!found && !started) {
      throw new UsageError(`sandbox ${sandbox} has no unfinished operation to abandon`, "no_such_operation");
    }
    let registered = false;
    try {
      registered = readRegistry(ctx.settings.paths.registryFile).entries[sandbox] !== undefined;
    } catch {
      registered = false;
    }
    const warnings: string[] = [];
    if (found) {
      const op = describeOperation(found, ctx.procRoot, ctx.settings.gatewayName);
      if (op.state === "in-progress") {
        throw new EnvironmentError(
          "operation_in_progress",
          `the ${op.journal?.operation ?? "operation"} of ${sandbox} is still running (pid ${op.journal?.writer.pid}); nothing was changed`,
        );
      }
      const journal = op.journal;
      const plan: AbandonPlan = {
        sandbox,
        kind: journal?.operation ?? "rebuild",
        state: op.state,
        phase: journal?.phase ?? null,
        gateway: journal?.gateway ?? null,
        pins: pinLines(ctx, journal),
        holds: holdsAt(journal, registered),
        file: op.file,
      };
      const wayBack = journal
        ? pinnedBy(journal).map(
            (ts, i) =>
              `nemoclaw restore ${sandbox} --backup ${ts}${i === 0 && journal.operation === "rebuild" && !registered ? " --create" : ""} --yes${journal.gateway === "nemoclaw" ? "" : ` --gateway ${journal.gateway}`}`,
          )
        : [];
      if (!(await confirm(plan))) return { result: { ...plan, abandoned: false, wayBack }, warnings };
      const warning = appendHistoryOrWarn(
        stateRoot,
        journal ?? { sandbox, unreadable: found.ok ? "" : found.reason },
        "abandoned",
        ctx.now(),
      );
      if (warning) warnings.push(warning);
      removeJournalFile(stateRoot, sandbox);
      return { result: { ...plan, abandoned: true, wayBack }, warnings };
    }
    const record = started as NonNullable<typeof started>;
    const writer = record.record
      ? writerState(
          {
            pid: record.record.writer.pid,
            hostname: record.record.writer.hostname,
            bootId: record.record.writer.bootId ?? null,
            startTick: record.record.writer.startTick ?? null,
          },
          ctx.procRoot,
        )
      : "dead";
    if (writer === "alive" || writer === "self") {
      throw new EnvironmentError(
        "operation_in_progress",
        `the run that started ${sandbox} is still running (pid ${record.record?.writer.pid}); nothing was changed`,
      );
    }
    const gateway = record.record?.gateway ?? ctx.settings.gatewayName;
    const plan: AbandonPlan = {
      sandbox,
      kind: "started-for-backup",
      state: writer === "other-host" ? "other-host" : record.record ? "interrupted" : "unreadable",
      phase: "started",
      gateway: record.record?.gateway ?? null,
      pins: [],
      holds: `its own state; it may still be running (stop it with: openshell -g ${gateway} sandbox stop ${sandbox})`,
      file: record.file,
    };
    if (!(await confirm(plan))) return { result: { ...plan, abandoned: false, wayBack: [] }, warnings };
    removeStartedRecord(stateRoot, sandbox);
    return { result: { ...plan, abandoned: true, wayBack: [] }, warnings };
  } finally {
    lock.release();
  }
}
