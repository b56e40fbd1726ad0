import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { shellWord } from "../domain/display.js";
import { EnvironmentError } from "../domain/errors.js";
import { fsyncDir, writeDurableTemp } from "./atomic-file.js";
import { killPoint } from "./kill-point.js";
import { DEFAULT_PROC_ROOT, isPlausiblePid, processStartTime, readProcessState } from "./process-identity.js";

/** The lock file's content (docs/design.md, "Host layout and environment"), shared with other NemoClaw tools on the host. */
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

/** Why the holder could not be judged gone. */
type HolderVerdict = "alive" | "reused" | "dead" | "other-host" | "unreadable";

function heldError(
  file: string,
  holder: LockInfo | null,
  verdict: HolderVerdict,
  hostname: string,
): EnvironmentError {
  const rm = `rm ${shellWord(file)}`;
  if (!holder || verdict === "unreadable") {
    return new EnvironmentError(
      "lock_held",
      `another maintenance command holds ${file}: an unreadable lock file; if you know no nemoclaw command is running, remove it: ${rm}`,
    );
  }
  const who = `pid ${holder.pid} (${holder.command}) on ${holder.hostname} since ${holder.startedAt}`;
  const because: Record<Exclude<HolderVerdict, "unreadable">, string> = {
    alive: "wait for it to finish",
    reused: `pid ${holder.pid} is alive but started after the lock was taken, so it is another process that reused the pid and the nemoclaw that took the lock is gone; the lock is not removed automatically. If you know no nemoclaw command is running on this host, remove it: ${rm}`,
    dead: `pid ${holder.pid} is no longer running but its lock could not be reclaimed. If you know no nemoclaw command is running on this host, remove it: ${rm}`,
    "other-host": `the lock was taken on host ${holder.hostname}, not on this host (${hostname}): its pid cannot be checked from here, so it is never reclaimed automatically. If you know no nemoclaw command is running on ${holder.hostname}, remove it: ${rm}`,
  };
  return new EnvironmentError(
    "lock_held",
    `another maintenance command holds ${file}: ${who}; ${because[verdict]}`,
  );
}

/** The lock file could not be created at all (full disk, read-only state root, permissions). */
function createError(file: string, error: unknown): EnvironmentError {
  const e = error as NodeJS.ErrnoException;
  const text: Record<string, string> = {
    ENOSPC: "no space left on device",
    EDQUOT: "disk quota exceeded",
    EROFS: "read-only file system",
    EACCES: "permission denied",
    EPERM: "operation not permitted",
  };
  const why = e.code ? `${text[e.code] ?? e.message} (${e.code})` : e.message;
  return new EnvironmentError("lock_unavailable", `cannot create the maintenance lock ${file}: ${why}`);
}

/** Seconds since the epoch at which the kernel booted (`btime` in /proc/stat), or null. */
function bootTime(procRoot: string): number | null {
  try {
    const m = /^btime (\d+)$/m.exec(fs.readFileSync(path.join(procRoot, "stat"), "utf8"));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

/** Linux reports start times in USER_HZ ticks, 100 per second on every mainstream platform. */
const TICKS_PER_SECOND = 100;
/** A holder's process starts before it writes the lock; allow for clock granularity. */
const START_SLACK_MS = 2000;

/**
 * A live holder pid whose process started after the lock was written cannot be the process
 * that wrote it: the pid was reused. Unknown (no /proc data) counts as not reused.
 */
function pidReused(holder: LockInfo, procRoot: string | undefined): boolean {
  const ticks = processStartTime(holder.pid, procRoot);
  const boot = bootTime(procRoot ?? DEFAULT_PROC_ROOT);
  const taken = Date.parse(holder.startedAt);
  if (ticks === null || boot === null || Number.isNaN(taken)) return false;
  const startedMs = (boot + ticks / TICKS_PER_SECOND) * 1000;
  return startedMs > taken + START_SLACK_MS;
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
    const held = (holder: LockInfo | null, verdict: HolderVerdict) =>
      heldError(file, holder, verdict, info.hostname);
    try {
      fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    } catch (error) {
      throw createError(file, error);
    }
    let reclaimed: LockInfo | null = null;
    // Two attempts: the second only after reclaiming a dead holder's lock.
    for (let attempt = 0; attempt < 2; attempt++) {
      let tmp: string;
      try {
        tmp = writeDurableTemp(file, `${JSON.stringify(info)}\n`, 0o600);
      } catch (error) {
        throw createError(file, error);
      }
      try {
        fs.linkSync(tmp, file);
        fsyncDir(dir);
        killPoint("lock", file);
        return new MaintenanceLock(file, info, reclaimed);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw createError(file, error);
      } finally {
        fs.rmSync(tmp, { force: true });
      }
      const current = readLockFile(file);
      if (current === null) continue; // released meanwhile
      const holder = current.info;
      if (!holder) throw held(null, "unreadable");
      if (holder.hostname !== info.hostname) throw held(holder, "other-host");
      const state = readProcessState(holder.pid, options.procRoot);
      if (attempt > 0) throw held(holder, state === "alive" ? "alive" : "dead");
      if (state === "alive" || holder.pid === info.pid) {
        throw held(holder, state === "alive" && pidReused(holder, options.procRoot) ? "reused" : "alive");
      }
      // Re-read right before removing: only the exact stale content we judged is removed,
      // never a lock another reclaimer created in between.
      const again = readLockFile(file);
      if (again && again.raw !== current.raw) throw held(again.info, again.info ? "alive" : "unreadable");
      fs.rmSync(file, { force: true });
      reclaimed = holder;
    }
    const last = readLockFile(file)?.info ?? null;
    throw held(last, last ? "alive" : "unreadable");
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
