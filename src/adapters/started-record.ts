import fs from "node:fs";
import path from "node:path";
import { isValidSandboxName } from "../domain/names.js";
import { fsyncDir, writeFileAtomic } from "./atomic-file.js";
import { killPoint } from "./kill-point.js";
import { currentWriter } from "./operations-journal.js";

/**
 * `<root>/operations/<sandbox>.started.json` (docs/design.md): written (atomic, fsynced, dir 0700,
 * file 0600) *before* nemoclaw starts a Stopped sandbox for its own work, removed once the
 * sandbox is stopped again. A run killed in between leaves it behind, and the next run that
 * takes the maintenance lock stops the sandbox again. It sits in the operations directory (docs/design.md, "Operations directory");
 * the `.started.json` suffix keeps it apart from the `<sandbox>.json` journals.
 */
export interface StartedRecord {
  version: 1;
  sandbox: string;
  gateway: string;
  /** What the sandbox was started for. */
  purpose: "backup" | "rebuild" | "restore";
  startedAt: string;
  /**
   * The run that started it: pid, boot id and start tick name one process instance (like a
   * journal's writer), so a reader can tell a run still at work from one that died.
   * `bootId`/`startTick` are absent in records of older releases.
   */
  writer: { pid: number; hostname: string; bootId?: string | null; startTick?: number | null };
}

export const STARTED_SUFFIX = ".started.json";

export function operationsDir(stateRoot: string): string {
  return path.join(stateRoot, "operations");
}

function recordFile(stateRoot: string, sandbox: string): string {
  // Never build a path from a name that is not a valid sandbox name.
  if (!isValidSandboxName(sandbox)) throw new Error(`invalid sandbox name: ${JSON.stringify(sandbox)}`);
  return path.join(operationsDir(stateRoot), `${sandbox}${STARTED_SUFFIX}`);
}

export function writeStartedRecord(
  stateRoot: string,
  record: Omit<StartedRecord, "version" | "writer" | "startedAt"> & { startedAt?: string },
  procRoot = "/proc",
): string {
  const dir = operationsDir(stateRoot);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  fs.chmodSync(dir, 0o700);
  const file = recordFile(stateRoot, record.sandbox);
  const full: StartedRecord = {
    version: 1,
    sandbox: record.sandbox,
    gateway: record.gateway,
    purpose: record.purpose,
    startedAt: record.startedAt ?? new Date().toISOString(),
    writer: (({ pid, hostname, bootId, startTick }) => ({ pid, hostname, bootId, startTick }))(
      currentWriter(procRoot),
    ),
  };
  writeFileAtomic(file, `${JSON.stringify(full, null, 2)}\n`, 0o600);
  return file;
}

/** Removes the record (durably); a missing one is fine. */
export function removeStartedRecord(stateRoot: string, sandbox: string): void {
  const file = recordFile(stateRoot, sandbox);
  killPoint("unlink", file);
  try {
    fs.unlinkSync(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return;
    throw error;
  }
  fsyncDir(path.dirname(file));
}

export interface LeftoverStartedRecord {
  sandbox: string;
  file: string;
  /** null when the file could not be read or parsed (it is still reported, never guessed at). */
  record: StartedRecord | null;
}

/** Records left behind by runs that died; sandbox names come from valid file names only. */
export function listStartedRecords(stateRoot: string): LeftoverStartedRecord[] {
  let names: string[];
  try {
    names = fs.readdirSync(operationsDir(stateRoot));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw error;
  }
  const found: LeftoverStartedRecord[] = [];
  for (const name of names.sort()) {
    if (!name.endsWith(STARTED_SUFFIX)) continue;
    const sandbox = name.slice(0, -STARTED_SUFFIX.length);
    if (!isValidSandboxName(sandbox)) continue;
    const file = path.join(operationsDir(stateRoot), name);
    let record: StartedRecord | null = null;
    try {
      const parsed = JSON.parse(fs.readFileSync(file, "utf8")) as Partial<StartedRecord>;
      if (parsed && parsed.version === 1 && parsed.sandbox === sandbox) record = parsed as StartedRecord;
    } catch {
      record = null;
    }
    found.push({ sandbox, file, record });
  }
  return found;
}
