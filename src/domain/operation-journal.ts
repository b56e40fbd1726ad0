import { isBackupTimestamp } from "./backup-manifest.js";
import { isValidGatewayName, isValidSandboxName } from "./names.js";

/**
 * The operations journal (docs/design.md, "Operations journal"): one durable file per sandbox
 * whose live state a rebuild or a restore has started to replace. It exists from just before
 * the first destructive step until the final check, the registry update and the return to
 * `finalPhase` have succeeded, so a run that dies in between is always found by the next one.
 * The format is frozen (version 1): other tools and later releases read it.
 */
export const JOURNAL_VERSION = 1;

export type OperationKind = "rebuild" | "restore";

/** The step about to start, written (and fsynced) before that step is issued. */
export type JournalPhase = "deleting" | "creating" | "restoring" | "verifying" | "registering";

export const JOURNAL_PHASES: readonly JournalPhase[] = [
  "deleting",
  "creating",
  "restoring",
  "verifying",
  "registering",
];

export interface JournalWriter {
  pid: number;
  bootId: string | null;
  startTick: number | null;
  hostname: string;
}

export interface JournalChild {
  pid: number;
  pgid: number;
  startTick: number;
}

export interface OperationJournal {
  version: 1;
  operation: OperationKind;
  sandbox: string;
  gateway: string;
  /** The backup whose state must end up in the sandbox. */
  backup: string;
  /** The pre-restore state of a restore (null for a rebuild or a restore into a new sandbox). */
  safetyBackup: string | null;
  /** The image a missing sandbox is (re)created from. */
  image: string | null;
  finalPhase: "Ready" | "Stopped";
  phase: JournalPhase;
  startedAt: string;
  updatedAt: string;
  writer: JournalWriter;
  child: JournalChild | null;
  /** The command line that started the operation. */
  command: string;
  /**
   * The agent version read at `verifying` (rebuild), so `registering` needs no probe of a
   * sandbox that may be Stopped again by then. Optional: older journals lack it.
   */
  verifiedAgentVersion?: string | null;
  /**
   * Safety backups taken after the first one (a resumed operation that found the live state
   * changed since its upload). Pinned like `safetyBackup`. Optional: older journals lack it.
   */
  extraSafetyBackups?: string[];
}

export type ParsedJournal = { ok: true; journal: OperationJournal } | { ok: false; reason: string };

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);
const isPid = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) > 1;
const isTick = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
const nullableString = (v: unknown) => v === null || typeof v === "string";

/**
 * Parses a journal file's text. Anything that is not exactly a version-1 journal is reported
 * with a reason: such a journal still counts as an interrupted operation (never as "nothing to
 * do") and is never removed automatically.
 */
export function parseJournal(text: string, expectedSandbox: string): ParsedJournal {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (error) {
    return { ok: false, reason: `not JSON (${(error as Error).message})` };
  }
  if (!isObject(v)) return { ok: false, reason: "not a JSON object" };
  if (typeof v.version === "number" && v.version > JOURNAL_VERSION) {
    return { ok: false, reason: `written by a newer nemoclaw (journal version ${v.version})` };
  }
  if (v.version !== JOURNAL_VERSION) return { ok: false, reason: "unknown journal version" };
  const problems: string[] = [];
  if (v.operation !== "rebuild" && v.operation !== "restore") problems.push("operation");
  if (v.sandbox !== expectedSandbox || !isValidSandboxName(v.sandbox)) problems.push("sandbox");
  if (!isValidGatewayName(v.gateway)) problems.push("gateway");
  if (typeof v.backup !== "string" || !isBackupTimestamp(v.backup)) problems.push("backup");
  if (!(v.safetyBackup === null || (typeof v.safetyBackup === "string" && isBackupTimestamp(v.safetyBackup))))
    problems.push("safetyBackup");
  if (!nullableString(v.image)) problems.push("image");
  if (v.finalPhase !== "Ready" && v.finalPhase !== "Stopped") problems.push("finalPhase");
  if (!JOURNAL_PHASES.includes(v.phase as JournalPhase)) problems.push("phase");
  if (typeof v.startedAt !== "string" || typeof v.updatedAt !== "string") problems.push("timestamps");
  if (typeof v.command !== "string") problems.push("command");
  if (!(v.verifiedAgentVersion === undefined || nullableString(v.verifiedAgentVersion)))
    problems.push("verifiedAgentVersion");
  if (
    !(
      v.extraSafetyBackups === undefined ||
      (Array.isArray(v.extraSafetyBackups) &&
        v.extraSafetyBackups.every((t) => typeof t === "string" && isBackupTimestamp(t)))
    )
  )
    problems.push("extraSafetyBackups");
  const w = v.writer;
  if (
    !isObject(w) ||
    !isPid(w.pid) ||
    typeof w.hostname !== "string" ||
    !nullableString(w.bootId) ||
    !(w.startTick === null || isTick(w.startTick))
  )
    problems.push("writer");
  const c = v.child;
  if (!(c === null || (isObject(c) && isPid(c.pid) && isPid(c.pgid) && isTick(c.startTick))))
    problems.push("child");
  if (problems.length) return { ok: false, reason: `invalid field(s): ${problems.join(", ")}` };
  return { ok: true, journal: v as unknown as OperationJournal };
}

/** The backups an open journal keeps from any retention. */
export function pinnedBy(journal: OperationJournal): string[] {
  return [journal.backup, ...safetyBackupsOf(journal)];
}

/** Every safety backup a journal names, oldest first: `safetyBackup`, then `extraSafetyBackups`. */
export function safetyBackupsOf(journal: OperationJournal): string[] {
  return [...(journal.safetyBackup ? [journal.safetyBackup] : []), ...(journal.extraSafetyBackups ?? [])];
}

/** The gateway every command uses when neither --gateway nor NEMOCLAW_GATEWAY names one. */
export const DEFAULT_GATEWAY = "nemoclaw";

/** ` --gateway G` for a gateway other than the default; empty for the default. */
export function gatewayArg(gateway: string): string {
  return gateway === DEFAULT_GATEWAY ? "" : ` --gateway ${gateway}`;
}

const PHASE_WORDS: Record<JournalPhase, string> = {
  deleting: "deleting the old sandbox",
  creating: "creating the sandbox",
  restoring: "restoring state",
  verifying: "verifying the restored state",
  registering: "updating the registry",
};

/** "rebuild interrupted while restoring state" — the operator-facing name of the step. */
export function describeInterruption(journal: OperationJournal): string {
  return `${journal.operation} interrupted while ${PHASE_WORDS[journal.phase]}`;
}

/**
 * The one command that finishes an interrupted operation. A rebuild is finished by
 * `upgrade-sandboxes` (registry included); a restore by `restore` with the same backup.
 */
export function finishingCommand(journal: OperationJournal): string {
  const g = gatewayArg(journal.gateway);
  return journal.operation === "rebuild"
    ? `nemoclaw upgrade-sandboxes --yes ${journal.sandbox}${g}`
    : `nemoclaw restore ${journal.sandbox} --backup ${journal.backup} --yes${g}`;
}

/** The command that drops a journal no command can finish from here (docs/design.md, §18). */
export function abandonCommand(sandbox: string): string {
  return `nemoclaw operations abandon ${sandbox} --yes`;
}

/**
 * How a rebuild's state comes back once its journal was closed without finishing (the operator
 * destroyed the sandbox): a restore of its backup into a new sandbox, registered again.
 */
export function wayBackCommand(sandbox: string, backup: string, gateway: string): string {
  return `nemoclaw restore ${sandbox} --backup ${backup} --create --yes${gatewayArg(gateway)}`;
}

/**
 * How a sandbox's retention must treat its backups (docs/design.md, "Pins"). Newest first in,
 * the timestamps to remove out: never a pinned backup, never one of the `keep` newest backups
 * that hold files (so the newest backup with files always survives, whatever empty backups came
 * after it), and empty backups never count toward `keep`: at most `keep` of them are kept, and
 * only while they are newer than the oldest kept backup with files.
 */
export function selectPrunable(
  backupsNewestFirst: readonly { timestamp: string; fileCount: number }[],
  keep: number,
  pinned: ReadonlySet<string>,
): string[] {
  const unpinned = backupsNewestFirst.filter((b) => !pinned.has(b.timestamp));
  const kept = new Set<number>();
  let withFiles = 0;
  let oldestKept = -1; // position (newest first) of the oldest kept backup with files
  unpinned.forEach((b, i) => {
    if (b.fileCount > 0 && withFiles < keep) {
      withFiles++;
      kept.add(i);
      oldestKept = i;
    }
  });
  let empties = 0;
  unpinned.forEach((b, i) => {
    // An empty backup survives only while newer than the oldest kept backup with files (or
    // when there is none at all), and at most `keep` of them.
    if (b.fileCount === 0 && (oldestKept === -1 || i < oldestKept) && empties < keep) {
      empties++;
      kept.add(i);
    }
  });
  return unpinned.filter((_, i) => !kept.has(i)).map((b) => b.timestamp);
}

/** What `sandbox get` showed when an operation is resumed. */
export type SandboxObservation = { exists: false } | { exists: true; phase: string };

/**
 * The next move of a resumed operation, decided by looking at the sandbox, not by the phase
 * alone (docs/design.md, "Resume"):
 * - `abandon`: the delete never happened (the old sandbox is still there): drop the journal,
 *   keep the backup, and treat the sandbox as an ordinary stale one;
 * - `wait-deleted`: a delete is still under way; once it is gone, create;
 * - `create`: no sandbox: create it from the journal's image;
 * - `recreate`: a sandbox made by this operation is in `Error`: it holds no user state and may
 *   be deleted and created again;
 * - `start`: the new sandbox is `Stopped`: start it before going on;
 * - `wait-ready`: the new sandbox (perhaps made by an orphaned `create`) is coming up;
 * - `continue`: it is `Ready`: carry on with the journal's phase.
 */
export type ResumeMove =
  | "abandon"
  | "wait-deleted"
  | "create"
  | "recreate"
  | "start"
  | "wait-ready"
  | "continue";

export function decideResume(phase: JournalPhase, seen: SandboxObservation): ResumeMove {
  if (!seen.exists) return "create";
  if (seen.phase === "Deleting") return "wait-deleted";
  if (phase === "deleting") return "abandon";
  if (seen.phase === "Error") return "recreate";
  if (seen.phase === "Stopped") return "start";
  if (seen.phase === "Ready") return "continue";
  return "wait-ready";
}
