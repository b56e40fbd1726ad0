import fs from "node:fs";
import path from "node:path";
import { hasControlChars } from "../domain/names.js";
import { errnoCode } from "./errno.js";

/**
 * Process liveness and identity from /proc (docs/design.md, "Binary resolution and identity" and "Processes and signals").
 *
 * Everything here reads files only; nothing signals a process. `kill(pid, 0)` is deliberately not
 * used: it succeeds on zombies and says nothing about *which* program holds the pid.
 * Every function takes `procRoot` so tests can build a fake /proc tree; in a fake tree `exe` and
 * `cwd` are symlinks and `stat`/`cmdline` are plain files, exactly as the kernel presents them.
 */

export const DEFAULT_PROC_ROOT = "/proc";

/** PID_MAX_LIMIT on 64-bit Linux (2^22); /proc/sys/kernel/pid_max can never exceed it. */
export const PID_MAX_LIMIT = 4_194_304;

export type ProcessState = "alive" | "zombie" | "dead";

export interface ProcStat {
  pid: number;
  comm: string;
  /** The single state letter (R, S, D, Z, X, …). */
  state: string;
  ppid: number;
  /** Field 5: the process group id. */
  pgrp: number;
  /** Field 22: start time in clock ticks since boot; with the pid it names one process instance. */
  startTime: number;
}

/**
 * A positive integer pid within the kernel's range, excluding 1 (init is never a gateway, and
 * signalling it would be catastrophic). Does not look at /proc.
 */
export function isPlausiblePid(x: unknown): x is number {
  return typeof x === "number" && Number.isSafeInteger(x) && x > 1 && x <= PID_MAX_LIMIT;
}

/**
 * A pid nemoclaw may treat as "some other process we might identify or signal": plausible, and
 * not our own (a marker naming our pid is forged or stale, and we must never signal ourselves).
 */
export function isValidPid(x: unknown): x is number {
  return isPlausiblePid(x) && x !== process.pid;
}

/**
 * Parses the contents of /proc/<pid>/stat. The comm field is wrapped in parentheses but may itself
 * contain spaces and parentheses (a process can name itself `a) Z (b`), so the state and the
 * numeric fields are read after the LAST `)`, never by splitting the whole line.
 */
export function parseProcStat(text: string): ProcStat | null {
  const open = text.indexOf("(");
  const close = text.lastIndexOf(")");
  if (open < 1 || close < open) return null;
  const pidText = text.slice(0, open).trim();
  if (!/^\d+$/.test(pidText)) return null;
  const rest = text
    .slice(close + 1)
    .trim()
    .split(/\s+/);
  // rest[0] is field 3 (state); field N is rest[N - 3].
  const state = rest[0];
  const ppidText = rest[1];
  const pgrpText = rest[2];
  const startText = rest[19];
  if (state === undefined || !/^[A-Za-z]$/.test(state)) return null;
  if (ppidText === undefined || !/^\d+$/.test(ppidText)) return null;
  if (pgrpText === undefined || !/^\d+$/.test(pgrpText)) return null;
  if (startText === undefined || !/^\d+$/.test(startText)) return null;
  const startTime = Number(startText);
  if (!Number.isSafeInteger(startTime)) return null;
  return {
    pid: Number(pidText),
    comm: text.slice(open + 1, close),
    state,
    ppid: Number(ppidText),
    pgrp: Number(pgrpText),
    startTime,
  };
}

type StatRead = { kind: "ok"; stat: ProcStat } | { kind: "missing" } | { kind: "unreadable"; reason: string };

const MISSING_CODES = new Set(["ENOENT", "ESRCH", "ENOTDIR"]);

/** Reads at most `maxBytes` from a file whose size the kernel reports as 0 (/proc files). */
function readPrefix(file: string, maxBytes: number): Buffer {
  const fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
  try {
    const buf = Buffer.alloc(maxBytes);
    let total = 0;
    while (total < maxBytes) {
      const n = fs.readSync(fd, buf, total, maxBytes - total, null);
      if (n === 0) break;
      total += n;
    }
    return buf.subarray(0, total);
  } finally {
    fs.closeSync(fd);
  }
}

function readStat(pid: number, procRoot: string): StatRead {
  let text: string;
  try {
    // latin1 keeps every byte of a non-UTF-8 comm as one char, so `)` positions stay exact.
    text = readPrefix(path.join(procRoot, String(pid), "stat"), 4096).toString("latin1");
  } catch (error) {
    const code = errnoCode(error);
    if (MISSING_CODES.has(code)) return { kind: "missing" };
    return { kind: "unreadable", reason: `cannot read /proc/${pid}/stat: ${code}` };
  }
  const stat = parseProcStat(text);
  if (stat === null) return { kind: "unreadable", reason: `cannot parse /proc/${pid}/stat` };
  // /proc/<tid>/stat exists for every thread id too; its first field is still the requested id.
  if (stat.pid !== pid) return { kind: "unreadable", reason: `/proc/${pid}/stat names pid ${stat.pid}` };
  return { kind: "ok", stat };
}

function stateOf(stat: ProcStat): ProcessState {
  if (stat.state === "Z") return "zombie";
  if (stat.state === "X" || stat.state === "x") return "dead";
  return "alive";
}

/**
 * Liveness from /proc/<pid>/stat: `Z` → zombie, `X`/`x` → dead, no such entry → dead.
 * An entry that exists but cannot be read or parsed counts as alive: callers use "dead" to
 * reclaim locks and "alive" only together with an identity check, so erring towards "alive" is
 * the fail-closed direction for both.
 */
export function readProcessState(pid: number, procRoot: string = DEFAULT_PROC_ROOT): ProcessState {
  // Not a pid the kernel could have handed out: nothing can be running under it.
  if (!Number.isSafeInteger(pid) || pid < 1 || pid > PID_MAX_LIMIT) return "dead";
  const read = readStat(pid, procRoot);
  if (read.kind === "missing") return "dead";
  if (read.kind === "unreadable") return "alive";
  return stateOf(read.stat);
}

/**
 * Start time (field 22 of stat, clock ticks since boot) of a live, non-zombie process, else null.
 * Callers that identified a process and act on it later (signals in `onboard`) compare this
 * value again right before acting, so a pid recycled in between is never mistaken for the original.
 */
export function processStartTime(pid: number, procRoot: string = DEFAULT_PROC_ROOT): number | null {
  if (!isPlausiblePid(pid)) return null;
  const read = readStat(pid, procRoot);
  if (read.kind !== "ok" || stateOf(read.stat) !== "alive") return null;
  return read.stat.startTime;
}

/**
 * True when `pid` is the same live, non-zombie process instance that had `startTime` AND the
 * leader of its own process group (its pgrp is its pid): the only group nemoclaw may signal as
 * "that process's group". A process that left its group, or a pid that names some other
 * group's member, is not a leader, and signalling `-pid` would hit a group we never identified.
 */
export function isSameGroupLeader(
  pid: number,
  startTime: number,
  procRoot: string = DEFAULT_PROC_ROOT,
): boolean {
  if (!isValidPid(pid)) return false;
  const read = readStat(pid, procRoot);
  if (read.kind !== "ok" || stateOf(read.stat) !== "alive") return false;
  return read.stat.startTime === startTime && read.stat.pgrp === pid;
}

/** True when `pid` is still the same live, non-zombie process instance that had `startTime`. */
export function isSameProcessInstance(
  pid: number,
  startTime: number,
  procRoot: string = DEFAULT_PROC_ROOT,
): boolean {
  const now = processStartTime(pid, procRoot);
  return now !== null && now === startTime;
}

export type IdentityFailure = "invalid" | "dead" | "zombie" | "unreadable" | "foreign-user" | "mismatch";

export interface IdentityOptions {
  /** The uid the process must run as; defaults to `process.getuid()` (nemoclaw launches the gateway as the user). */
  uid?: number;
}

export type ProcessIdentity =
  | { match: true; via: "exe" | "argv0"; startTime: number }
  | {
      match: false;
      code: IdentityFailure;
      reason: string;
      /** What /proc/<pid>/exe points at, when it could be read (for evidence such as "pid N is /usr/bin/sleep"). */
      exe?: string;
      argv0?: string;
    };

const DELETED_SUFFIX = " (deleted)";
/** argv0 longer than PATH_MAX can never be a path we compare against; also bounds what we read. */
const CMDLINE_READ_LIMIT = 8192;

function realpathOrNull(p: string): string | null {
  try {
    return fs.realpathSync(p);
  } catch {
    return null;
  }
}

function sameInode(a: string, b: string): boolean {
  try {
    const sa = fs.statSync(a);
    const sb = fs.statSync(b);
    return sa.dev === sb.dev && sa.ino === sb.ino;
  } catch {
    return false;
  }
}

/**
 * A path for a one-line reason: as is when printable, else JSON-escaped, so a file name carrying a
 * newline or a terminal escape sequence cannot forge lines in diagnostics.
 */
export function printablePath(p: string): string {
  return hasControlChars(p) ? JSON.stringify(p) : p;
}

/**
 * Is process `pid` running `binaryPath`? (docs/design.md, "Binary resolution and identity".)
 *
 * Either is enough:
 * - exe: the realpath of the /proc/<pid>/exe target equals the realpath of `binaryPath`, and the
 *   magic link resolves to the same inode (so a path that merely looks the same, e.g. from another
 *   mount namespace, is not it). A target ending in " (deleted)" never matches: the running image
 *   is no longer the file at that path.
 * - argv0: the first NUL-separated word of /proc/<pid>/cmdline, only if it contains `/` (a bare
 *   name would need PATH lookup in the process's environment, which we cannot reproduce), resolved
 *   against the /proc/<pid>/cwd target when relative. This is how a wrapper (node, bash `exec -a`)
 *   shows up. Later arguments never count: `sleep 30 /path/openshell-gateway` is not the gateway.
 *
 * The process must be alive and not a zombie, and run as the current user: the gateway is launched
 * by nemoclaw as that user, and argv0 is freely choosable, so without this a recycled pid held by
 * another user's `exec -a <our path>` would pass (and a root nemoclaw could then signal it). Its
 * start time must be the same before and after the exe/cmdline reads, so a pid recycled during the
 * check is not matched. Any read error is a non-match with a reason, never an exception.
 */
export function processIsBinary(
  pid: number,
  binaryPath: string,
  procRoot: string = DEFAULT_PROC_ROOT,
  options: IdentityOptions = {},
): ProcessIdentity {
  if (!isValidPid(pid)) {
    return { match: false, code: "invalid", reason: `${JSON.stringify(pid)} is not a valid gateway pid` };
  }
  if (typeof binaryPath !== "string" || !path.isAbsolute(binaryPath) || hasControlChars(binaryPath)) {
    return {
      match: false,
      code: "invalid",
      reason: `binary path ${JSON.stringify(binaryPath)} is not absolute`,
    };
  }
  const wanted = realpathOrNull(binaryPath);
  if (wanted === null) {
    return { match: false, code: "unreadable", reason: `cannot resolve ${binaryPath}` };
  }

  const before = readStat(pid, procRoot);
  if (before.kind === "missing") return { match: false, code: "dead", reason: `pid ${pid} is not running` };
  if (before.kind === "unreadable") return { match: false, code: "unreadable", reason: before.reason };
  const state = stateOf(before.stat);
  if (state === "zombie") return { match: false, code: "zombie", reason: `pid ${pid} is a zombie` };
  if (state === "dead") return { match: false, code: "dead", reason: `pid ${pid} is not running` };

  const pidDir = path.join(procRoot, String(pid));
  const uid = options.uid ?? (typeof process.getuid === "function" ? process.getuid() : undefined);
  let owner: number;
  try {
    // The kernel owns /proc/<pid> by the process's effective uid.
    owner = fs.statSync(pidDir).uid;
  } catch (error) {
    return { match: false, code: "unreadable", reason: `cannot inspect /proc/${pid}: ${errnoCode(error)}` };
  }
  if (uid === undefined || owner !== uid) {
    return {
      match: false,
      code: "foreign-user",
      reason: `pid ${pid} runs as uid ${owner}, not ${uid ?? "unknown"}`,
    };
  }

  let exeTarget: string | undefined;
  let exeError: string | undefined;
  let via: "exe" | "argv0" | undefined;

  try {
    exeTarget = fs.readlinkSync(path.join(pidDir, "exe"));
  } catch (error) {
    exeError = errnoCode(error);
  }
  if (
    exeTarget !== undefined &&
    !exeTarget.endsWith(DELETED_SUFFIX) &&
    path.isAbsolute(exeTarget) &&
    realpathOrNull(exeTarget) === wanted &&
    sameInode(path.join(pidDir, "exe"), binaryPath)
  ) {
    via = "exe";
  }

  let argv0: string | undefined;
  if (via === undefined) {
    try {
      const raw = readPrefix(path.join(pidDir, "cmdline"), CMDLINE_READ_LIMIT);
      const nul = raw.indexOf(0);
      argv0 = (nul === -1 ? raw : raw.subarray(0, nul)).toString("utf8");
    } catch {
      argv0 = undefined;
    }
    if (argv0?.includes("/") && !hasControlChars(argv0)) {
      let candidate: string | null = null;
      if (path.isAbsolute(argv0)) {
        candidate = argv0;
      } else {
        try {
          const cwd = fs.readlinkSync(path.join(pidDir, "cwd"));
          // A deleted cwd cannot anchor a relative argv0 to anything on disk now.
          if (path.isAbsolute(cwd) && !cwd.endsWith(DELETED_SUFFIX)) candidate = path.resolve(cwd, argv0);
        } catch {
          candidate = null;
        }
      }
      if (candidate !== null && realpathOrNull(candidate) === wanted) via = "argv0";
    }
  }

  const after = readStat(pid, procRoot);
  if (
    after.kind !== "ok" ||
    stateOf(after.stat) !== "alive" ||
    after.stat.startTime !== before.stat.startTime
  ) {
    return {
      match: false,
      code: "dead",
      reason: `pid ${pid} exited or was replaced during the identity check`,
    };
  }

  if (via !== undefined) return { match: true, via, startTime: before.stat.startTime };

  const exeDesc =
    exeTarget !== undefined ? printablePath(exeTarget) : `an unreadable executable (${exeError ?? "error"})`;
  const failure: ProcessIdentity = {
    match: false,
    code: "mismatch",
    reason: `pid ${pid} is ${exeDesc}, not ${binaryPath}`,
  };
  if (exeTarget !== undefined) failure.exe = exeTarget;
  if (argv0 !== undefined) failure.argv0 = argv0;
  return failure;
}
