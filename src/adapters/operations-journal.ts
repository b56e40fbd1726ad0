import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { isValidSandboxName } from "../domain/names.js";
import {
  type JournalChild,
  type JournalPhase,
  type JournalWriter,
  type OperationJournal,
  parseJournal,
} from "../domain/operation-journal.js";
import { fsyncDir, writeFileAtomic } from "./atomic-file.js";
import { killPoint } from "./kill-point.js";
import {
  isSameGroupLeader,
  isSameProcessInstance,
  parseProcStat,
  processStartTime,
  readProcessState,
} from "./process-identity.js";

const JOURNAL_SIZE_LIMIT = 256 * 1024;
const JOURNAL_FILE = /^([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)\.json$/;

/** An open journal as found on disk: parsed, or kept as unreadable (never ignored). */
export type FoundJournal =
  | { sandbox: string; file: string; ok: true; journal: OperationJournal }
  | { sandbox: string; file: string; ok: false; reason: string };

export type HistoryOutcome =
  | "completed"
  | "resumed-and-completed"
  | "replaced"
  | "abandoned-no-delete"
  | "abandoned"
  | "abandoned-auto";

/** Who wrote a journal, as seen from this process: us, another live run, or nobody any more. */
export type WriterState = "self" | "alive" | "dead" | "other-host";

export function operationsDir(stateRoot: string): string {
  return path.join(stateRoot, "operations");
}

export function journalFile(stateRoot: string, sandbox: string): string {
  if (!isValidSandboxName(sandbox)) throw new Error(`refusing a journal path for ${JSON.stringify(sandbox)}`);
  return path.join(operationsDir(stateRoot), `${sandbox}.json`);
}

function readBootId(procRoot: string): string | null {
  try {
    const id = fs.readFileSync(path.join(procRoot, "sys/kernel/random/boot_id"), "utf8").trim();
    return id || null;
  } catch {
    return null;
  }
}

/** This process as a journal writer: pid, boot id and start tick name one process instance. */
export function currentWriter(procRoot = "/proc", pid = process.pid): JournalWriter {
  return {
    pid,
    bootId: readBootId(procRoot),
    startTick: processStartTime(pid, procRoot),
    hostname: os.hostname(),
  };
}

/**
 * Whether the run that wrote a journal is still running. Only a writer on this host, in this
 * boot, whose pid still names the same process instance is alive; a journal from another host
 * is never resumed from here (fail closed).
 */
export function writerState(writer: JournalWriter, procRoot = "/proc"): WriterState {
  if (writer.hostname !== os.hostname()) return "other-host";
  if (writer.pid === process.pid && writer.startTick === processStartTime(process.pid, procRoot))
    return "self";
  const bootId = readBootId(procRoot);
  if (writer.bootId && bootId && writer.bootId !== bootId) return "dead";
  if (writer.startTick === null) return readProcessState(writer.pid, procRoot) === "alive" ? "alive" : "dead";
  return isSameProcessInstance(writer.pid, writer.startTick, procRoot) ? "alive" : "dead";
}

function readJournalFile(file: string, sandbox: string): FoundJournal {
  let text: string;
  try {
    const fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
    try {
      const st = fs.fstatSync(fd);
      if (!st.isFile()) return { sandbox, file, ok: false, reason: "not a regular file" };
      if (st.size > JOURNAL_SIZE_LIMIT) return { sandbox, file, ok: false, reason: "larger than 256 KiB" };
      text = fs.readFileSync(fd, "utf8");
    } finally {
      fs.closeSync(fd);
    }
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? "error";
    return { sandbox, file, ok: false, reason: `unreadable (${code})` };
  }
  const parsed = parseJournal(text, sandbox);
  return parsed.ok
    ? { sandbox, file, ok: true, journal: parsed.journal }
    : { sandbox, file, ok: false, reason: parsed.reason };
}

/** Every open journal under `<root>/operations/`, by sandbox name. Reading writes nothing. */
export function readJournals(stateRoot: string): Map<string, FoundJournal> {
  const found = new Map<string, FoundJournal>();
  let names: string[];
  try {
    names = fs.readdirSync(operationsDir(stateRoot)).sort();
  } catch {
    return found;
  }
  for (const name of names) {
    const match = JOURNAL_FILE.exec(name);
    if (!match) continue;
    const sandbox = match[1] as string;
    found.set(sandbox, readJournalFile(path.join(operationsDir(stateRoot), name), sandbox));
  }
  return found;
}

export function readJournal(stateRoot: string, sandbox: string): FoundJournal | null {
  const file = journalFile(stateRoot, sandbox);
  if (!fs.existsSync(file) && !isSymlink(file)) return null;
  return readJournalFile(file, sandbox);
}

function isSymlink(file: string): boolean {
  try {
    return fs.lstatSync(file).isSymbolicLink();
  } catch {
    return false;
  }
}

function ensureOperationsDir(stateRoot: string): string {
  const dir = operationsDir(stateRoot);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  return dir;
}

/** Writes (creates or replaces) a journal: temp file, fsync, rename, directory fsync. */
export function writeJournal(stateRoot: string, journal: OperationJournal): void {
  ensureOperationsDir(stateRoot);
  writeFileAtomic(journalFile(stateRoot, journal.sandbox), `${JSON.stringify(journal, null, 2)}\n`, 0o600);
}

/**
 * Appends one line to `<root>/operations/history.jsonl` (0600, fsynced) — for operators after
 * an incident; nothing reads it back.
 */
export function appendHistory(
  stateRoot: string,
  entry: OperationJournal | { sandbox: string; unreadable: string },
  outcome: HistoryOutcome,
  finishedAt: Date,
): void {
  const dir = ensureOperationsDir(stateRoot);
  const file = path.join(dir, "history.jsonl");
  const line = `${JSON.stringify({ ...entry, finishedAt: finishedAt.toISOString(), outcome })}\n`;
  const fd = fs.openSync(
    file,
    fs.constants.O_WRONLY | fs.constants.O_APPEND | fs.constants.O_CREAT | fs.constants.O_NOFOLLOW,
    0o600,
  );
  try {
    fs.writeSync(fd, line);
    killPoint("append", file);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Appends history, turning a failure into a warning line (docs/design.md, §18: a history that
 * cannot be written never fails an operation that finished). null when it was written.
 */
export function appendHistoryOrWarn(
  stateRoot: string,
  entry: OperationJournal | { sandbox: string; unreadable: string },
  outcome: HistoryOutcome,
  finishedAt: Date,
): string | null {
  try {
    appendHistory(stateRoot, entry, outcome, finishedAt);
    return null;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    return `could not append to ${path.join(operationsDir(stateRoot), "history.jsonl")} (${code}); the ${outcome} operation of ${entry.sandbox} is not recorded there`;
  }
}

/**
 * Closes a journal: history first (so a crash in between leaves the journal, never a finished
 * operation without its record), then the unlink, made durable by the directory fsync. A
 * history that cannot be appended is a warning (returned), never a reason to keep the journal:
 * the operation did finish.
 */
export function closeJournal(
  stateRoot: string,
  journal: OperationJournal,
  outcome: HistoryOutcome,
  now: Date,
): string | null {
  const warning = appendHistoryOrWarn(stateRoot, journal, outcome, now);
  killPoint("unlink", journalFile(stateRoot, journal.sandbox));
  fs.rmSync(journalFile(stateRoot, journal.sandbox), { force: true });
  fsyncDir(operationsDir(stateRoot));
  return warning;
}

/** Removes a journal file that could not be parsed (operator's `operations abandon`), durably. */
export function removeJournalFile(stateRoot: string, sandbox: string): void {
  killPoint("unlink", journalFile(stateRoot, sandbox));
  fs.rmSync(journalFile(stateRoot, sandbox), { force: true });
  fsyncDir(operationsDir(stateRoot));
}

/**
 * The journal of one running operation: every change is written durably before the caller
 * goes on, so the file on disk always names the step about to start.
 */
export class JournalHandle {
  private constructor(
    private readonly stateRoot: string,
    private current: OperationJournal,
    private readonly now: () => Date,
    private readonly procRoot: string,
  ) {}

  /** Writes a new journal (or takes over a found one: the writer becomes this process). */
  static open(
    stateRoot: string,
    journal: Omit<OperationJournal, "writer" | "child" | "updatedAt">,
    options: { now: () => Date; procRoot: string },
  ): JournalHandle {
    const full: OperationJournal = {
      ...journal,
      updatedAt: options.now().toISOString(),
      writer: currentWriter(options.procRoot),
      child: null,
    };
    writeJournal(stateRoot, full);
    return new JournalHandle(stateRoot, full, options.now, options.procRoot);
  }

  get journal(): OperationJournal {
    return this.current;
  }

  private write(patch: Partial<OperationJournal>): void {
    this.current = { ...this.current, ...patch, updatedAt: this.now().toISOString() };
    writeJournal(this.stateRoot, this.current);
  }

  /** Records the step about to start (durably, before it is issued). */
  advance(phase: JournalPhase, patch: Partial<Pick<OperationJournal, "verifiedAgentVersion">> = {}): void {
    if (this.current.phase === phase && this.current.child === null && Object.keys(patch).length === 0)
      return;
    this.write({ ...patch, phase, child: null });
  }

  /** Records the OpenShell process of the current step, so a later run can stop an orphan. */
  trackChild(pid: number): void {
    const startTick = processStartTime(pid, this.procRoot);
    if (startTick === null) return; // already gone: nothing left to stop
    const child: JournalChild = { pid, pgid: pid, startTick };
    this.write({ child });
  }

  /** Stores the agent version proven at `verifying` (so `registering` needs no probe). */
  recordVerifiedVersion(version: string | null): void {
    this.write({ verifiedAgentVersion: version });
  }

  /**
   * Records a safety backup of the live state (pinned from now on): `safetyBackup` when the
   * journal has none, else appended to `extraSafetyBackups`.
   */
  addSafetyBackup(timestamp: string): void {
    if (this.current.safetyBackup === null) this.write({ safetyBackup: timestamp });
    else this.write({ extraSafetyBackups: [...(this.current.extraSafetyBackups ?? []), timestamp] });
  }

  /** Closes the journal; returns a warning when its history line could not be written. */
  close(outcome: HistoryOutcome): string | null {
    return closeJournal(this.stateRoot, this.current, outcome, this.now());
  }
}

/**
 * The process group an orphaned OpenShell step may be killed as, or null: signal nothing unless
 * the journal was written in this boot (its writer's `bootId` equals ours; unknown on either side
 * is "not it") and the recorded child is, right now, the leader of the recorded group — pgid
 * equal to its pid, the same start tick, and its live pgrp that pid. A crafted or stale journal
 * naming some other live group therefore never leads to a signal.
 */
export function orphanGroupToSignal(
  child: JournalChild | null,
  writerBootId: string | null,
  procRoot = "/proc",
): number | null {
  if (!child || child.pgid !== child.pid) return null;
  const bootId = readBootId(procRoot);
  if (!writerBootId || !bootId || writerBootId !== bootId) return null;
  if (child.pgid === readOwnGroup(procRoot)) return null;
  return isSameGroupLeader(child.pid, child.startTick, procRoot) ? child.pgid : null;
}

function readOwnGroup(procRoot: string): number | null {
  try {
    const text = fs.readFileSync(path.join(procRoot, String(process.pid), "stat"), "latin1");
    return parseProcStat(text)?.pgrp ?? null;
  } catch {
    return null;
  }
}

/**
 * Stops the orphaned OpenShell step of a dead run (docs/design.md, "Processes and signals"): its
 * process group is killed only after `orphanGroupToSignal` identified the leader, and we wait
 * (bounded) until the leader is gone. Returns true when something was stopped.
 */
export async function stopOrphanChild(
  journal: Pick<OperationJournal, "child" | "writer">,
  procRoot = "/proc",
  waitMs = 5000,
): Promise<boolean> {
  const { child } = journal;
  const pgid = orphanGroupToSignal(child, journal.writer.bootId, procRoot);
  if (pgid === null || !child) return false;
  try {
    process.kill(-pgid, "SIGKILL");
  } catch {
    return false; // the group is gone already; nothing else is ever signalled instead
  }
  const deadline = Date.now() + waitMs;
  while (Date.now() < deadline && isSameProcessInstance(child.pid, child.startTick, procRoot)) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return true;
}
