import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { EnvironmentError } from "../domain/errors.js";
import { fsyncDir, writeDurableTemp } from "./atomic-file.js";
import { isPlausiblePid, readProcessState } from "./process-identity.js";

/** The lock file's content (SPEC §3), shared with other NemoClaw tools on the host. */
export interface LockInfo {
  pid: number;
  command: string;
  hostname: string;
  startedAt: string;
}

export interface LockOptions {
  command: string;
  pid?: number;
  hostname?: string;
  procRoot?: string;
  now?: () => Date;
}

const LOCK_SIZE_LIMIT = 64 * 1024;

function parseLock(text: string): LockInfo | null {
  try {
    const v = JSON.parse(text) as Partial<LockInfo>;
    if (
      isPlausiblePid(v.pid) &&
      typeof v.command === "string" &&
      typeof v.hostname === "string" &&
      typeof v.startedAt === "string"
    ) {
      return { pid: v.pid, command: v.command, hostname: v.hostname, startedAt: v.startedAt };
    }
  } catch {
    // fall through
  }
  return null;
}

function readLockFile(file: string): { info: LockInfo | null; raw: string } | null {
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw error;
  }
  try {
    const buffer = Buffer.alloc(LOCK_SIZE_LIMIT);
    const n = fs.readSync(fd, buffer, 0, LOCK_SIZE_LIMIT, 0);
    const raw = buffer.subarray(0, n).toString("utf8");
    return { info: parseLock(raw), raw };
  } finally {
    fs.closeSync(fd);
  }
}

function heldError(file: string, holder: LockInfo | null): EnvironmentError {
  const who = holder
    ? `pid ${holder.pid} (${holder.command}) on ${holder.hostname} since ${holder.startedAt}`
    : "an unreadable lock file";
  return new EnvironmentError(
    "lock_held",
    `another maintenance command holds ${file}: ${who}; wait for it to finish${
      holder ? "" : ", or remove the file if no nemoclaw command is running"
    }`,
  );
}

/**
 * The host maintenance lock: JSON `{pid, command, hostname, startedAt}` at
 * `<root>/locks/maintenance.lock` (0600), created exclusively — the content is written to a
 * temp file and hard-linked into place, so the lock never exists half-written. A lock is
 * reclaimed only when its hostname is ours and its pid is dead or a zombie; an unreadable lock
 * is never reclaimed (fail closed).
 */
export class MaintenanceLock {
  private released = false;

  private constructor(
    readonly file: string,
    readonly info: LockInfo,
    /** Set when a dead holder's lock was taken over. */
    readonly reclaimed: LockInfo | null,
  ) {}

  static acquire(file: string, options: LockOptions): MaintenanceLock {
    const info: LockInfo = {
      pid: options.pid ?? process.pid,
      command: options.command,
      hostname: options.hostname ?? os.hostname(),
      startedAt: (options.now?.() ?? new Date()).toISOString(),
    };
    const dir = path.dirname(file);
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    let reclaimed: LockInfo | null = null;
    // Two attempts: the second only after reclaiming a dead holder's lock.
    for (let attempt = 0; attempt < 2; attempt++) {
      const tmp = writeDurableTemp(file, `${JSON.stringify(info)}\n`, 0o600);
      try {
        fs.linkSync(tmp, file);
        fsyncDir(dir);
        return new MaintenanceLock(file, info, reclaimed);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      } finally {
        fs.rmSync(tmp, { force: true });
      }
      const current = readLockFile(file);
      if (current === null) continue; // released meanwhile
      const holder = current.info;
      if (attempt > 0 || !holder || holder.hostname !== info.hostname) throw heldError(file, holder);
      const state = readProcessState(holder.pid, options.procRoot);
      if (state === "alive" || holder.pid === info.pid) throw heldError(file, holder);
      // Re-read right before removing: only the exact stale content we judged is removed,
      // never a lock another reclaimer created in between.
      const again = readLockFile(file);
      if (again && again.raw !== current.raw) throw heldError(file, again.info);
      fs.rmSync(file, { force: true });
      reclaimed = holder;
    }
    throw heldError(file, readLockFile(file)?.info ?? null);
  }

  /** Reads the current holder without taking the lock (for diagnostics). */
  static holder(file: string): LockInfo | null {
    return readLockFile(file)?.info ?? null;
  }

  /** Removes the lock if it is still ours. Idempotent. */
  release(): void {
    if (this.released) return;
    this.released = true;
    const current = readLockFile(this.file);
    if (
      current?.info &&
      current.info.pid === this.info.pid &&
      current.info.startedAt === this.info.startedAt
    ) {
      fs.rmSync(this.file, { force: true });
    }
  }
}
