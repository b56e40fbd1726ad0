import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import { canonicalGatewayEnv } from "../domain/gateway-launch.js";
import { DEFAULT_PROC_ROOT, isValidPid, processStartTime } from "./process-identity.js";

/**
 * Starting and stopping the host-process gateway (docs/design.md, "onboard"). Every signal sent from here goes to a
 * process that has just passed the caller's identity predicate (docs/design.md, "Security and robustness rules": never signal a process
 * that fails the identity check; a recycled pid is not the gateway).
 */

/** SHA-256 hex of the canonical desired gateway environment (recorded as `desiredEnvHash`). */
export function desiredEnvHash(env: Readonly<Record<string, string>>): string {
  return createHash("sha256").update(canonicalGatewayEnv(env), "utf8").digest("hex");
}

export interface GatewayExit {
  code: number | null;
  signal: string | null;
}

export interface LaunchedGateway {
  pid: number;
  /** Start time from /proc/<pid>/stat right after the spawn: names this process instance. */
  startTime: number;
  /** Byte offset of the log when this launch started: its own output begins here. */
  logOffset: number;
  /** Resolves when the child exits (it is our child until nemoclaw exits, so Node reaps it). */
  exited: Promise<GatewayExit>;
  /** The exit, once it happened; null while running. */
  exitInfo(): GatewayExit | null;
  /**
   * Still the process we launched: no exit reported and the same live, non-zombie instance.
   * This is the identity check for a process we spawned ourselves — stronger than exe/argv0,
   * which a wrapper script only takes on after its `exec`.
   */
  isRunning(): boolean;
}

export interface LaunchOptions {
  /** Absolute path as found; also passed as argv0 so wrapper and native gateways show it. */
  bin: string;
  /** The complete environment of the gateway. */
  env: Record<string, string>;
  logFile: string;
  cwd: string;
  procRoot?: string;
}

/**
 * Opens the gateway log for appending (created 0600; never through a symlink) and returns the fd
 * and the size it had, which is where this launch's output starts.
 */
export function openGatewayLog(logFile: string): { fd: number; offset: number } {
  const fd = fs.openSync(
    logFile,
    fs.constants.O_WRONLY | fs.constants.O_APPEND | fs.constants.O_CREAT | fs.constants.O_NOFOLLOW,
    0o600,
  );
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) throw new Error(`gateway log ${logFile} is not a regular file`);
    const uid = typeof process.getuid === "function" ? process.getuid() : undefined;
    if (uid !== undefined && st.uid === uid && (st.mode & 0o777) !== 0o600) fs.fchmodSync(fd, 0o600);
    return { fd, offset: st.size };
  } catch (error) {
    fs.closeSync(fd);
    throw error;
  }
}

/**
 * Launches the gateway detached: its own session and process group (so a Ctrl-C at nemoclaw's
 * terminal never reaches it and it outlives nemoclaw), no arguments, stdin from /dev/null,
 * stdout/stderr appended to the log, and not keeping nemoclaw's event loop alive.
 */
export async function launchDetachedGateway(options: LaunchOptions): Promise<LaunchedGateway> {
  const procRoot = options.procRoot ?? DEFAULT_PROC_ROOT;
  const log = openGatewayLog(options.logFile);
  let child: ReturnType<typeof spawn>;
  try {
    child = spawn(options.bin, [], {
      argv0: options.bin,
      cwd: options.cwd,
      env: options.env,
      detached: true,
      stdio: ["ignore", log.fd, log.fd],
      windowsHide: true,
    });
    await new Promise<void>((resolve, reject) => {
      child.once("error", reject);
      child.once("spawn", () => {
        child.off("error", reject);
        resolve();
      });
    });
  } finally {
    // The child holds its own copy; ours must not leak into later children.
    fs.closeSync(log.fd);
  }
  const pid = child.pid;
  if (pid === undefined || !isValidPid(pid)) {
    throw new Error(`could not start ${options.bin}: no pid`);
  }
  let exit: GatewayExit | null = null;
  const exited = new Promise<GatewayExit>((resolve) => {
    child.once("exit", (code, signal) => {
      exit = { code, signal };
      resolve(exit);
    });
  });
  // An error after the spawn (e.g. a failed kill) must not crash nemoclaw.
  child.on("error", () => {});
  child.unref();
  const startTime = processStartTime(pid, procRoot);
  if (startTime === null) {
    // Exited (or became a zombie) before we could even read it: report it as an exit.
    const info = await Promise.race([
      exited,
      new Promise<null>((resolve) => setTimeout(() => resolve(null), 200)),
    ]);
    if (info === null) {
      // Alive but unreadable in /proc: we could never identity-check it later, so do not keep it.
      // It is still our unreaped child, so its pid cannot have been recycled: killing it is safe.
      child.kill("SIGKILL");
      throw new Error(`cannot read /proc/${pid}/stat of the launched gateway; it was killed`);
    }
  }
  const launchedStart = startTime ?? -1;
  return {
    pid,
    startTime: launchedStart,
    logOffset: log.offset,
    exited,
    exitInfo: () => exit,
    isRunning: () => exit === null && processStartTime(pid, procRoot) === launchedStart,
  };
}

export type StopSignal = "SIGTERM" | "SIGKILL";

export interface StopTarget {
  pid: number;
  /** The instance identified earlier; a different start time means the pid was recycled. */
  startTime: number;
  /**
   * Re-evaluated right before every signal: true only while `pid` is still the identified gateway
   * instance. Nothing is signalled when it is false.
   */
  isStillIt: () => boolean;
  /** Signal the whole process group too (only for a gateway we launched as group leader). */
  group?: boolean;
}

export type StopResult =
  /** Signalled and confirmed gone. */
  | { outcome: "stopped"; signal: StopSignal }
  /** Failed the identity check before the first signal (already exited, or not the gateway). */
  | { outcome: "not-signalled" }
  /** Still there after SIGKILL and the grace period (e.g. uninterruptible sleep). */
  | { outcome: "still-running"; signal: StopSignal };

export interface StopOptions {
  procRoot?: string;
  termGraceMs?: number;
  killGraceMs?: number;
  pollMs?: number;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function send(target: StopTarget, signal: StopSignal): void {
  try {
    process.kill(target.pid, signal);
  } catch {
    // Exited between the check and the signal.
  }
  if (target.group) {
    try {
      process.kill(-target.pid, signal);
    } catch {
      // No group left.
    }
  }
}

/**
 * SIGTERM → wait (bounded) → SIGKILL → confirm gone. "Gone" means the instance no longer exists:
 * no /proc entry, a zombie (it can do nothing more; its parent reaps it), or another start time.
 */
export async function stopGatewayProcess(target: StopTarget, options: StopOptions = {}): Promise<StopResult> {
  const procRoot = options.procRoot ?? DEFAULT_PROC_ROOT;
  const pollMs = options.pollMs ?? 50;
  const gone = () => processStartTime(target.pid, procRoot) !== target.startTime;
  const waitGone = async (ms: number): Promise<boolean> => {
    const until = Date.now() + ms;
    for (;;) {
      if (gone()) return true;
      if (Date.now() >= until) return false;
      await sleep(pollMs);
    }
  };

  if (!isValidPid(target.pid) || gone() || !target.isStillIt()) return { outcome: "not-signalled" };
  send(target, "SIGTERM");
  if (await waitGone(options.termGraceMs ?? 10_000)) return { outcome: "stopped", signal: "SIGTERM" };
  if (!target.isStillIt()) {
    // Whatever holds the pid now is not the gateway we asked to stop: it did stop.
    return gone()
      ? { outcome: "stopped", signal: "SIGTERM" }
      : { outcome: "still-running", signal: "SIGTERM" };
  }
  send(target, "SIGKILL");
  if (await waitGone(options.killGraceMs ?? 5_000)) return { outcome: "stopped", signal: "SIGKILL" };
  return { outcome: "still-running", signal: "SIGKILL" };
}

/** Reads what this launch wrote to the log (from `offset`, at most the last `maxBytes`). */
export function readLogSince(logFile: string, offset: number, maxBytes = 64 * 1024): string {
  let fd: number;
  try {
    fd = fs.openSync(logFile, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
  } catch {
    return "";
  }
  try {
    const size = fs.fstatSync(fd).size;
    const start = Math.max(offset, size - maxBytes, 0);
    const length = Math.max(0, size - start);
    const buf = Buffer.alloc(length);
    let total = 0;
    while (total < length) {
      const n = fs.readSync(fd, buf, total, length - total, start + total);
      if (n === 0) break;
      total += n;
    }
    return buf.subarray(0, total).toString("utf8");
  } catch {
    return "";
  } finally {
    fs.closeSync(fd);
  }
}
