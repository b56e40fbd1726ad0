import { randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { fsyncDir } from "./atomic-file.js";
import { processStartTime, readProcessState } from "./process-identity.js";

/**
 * NemoClaw's own registry lock (frozen format, shared with the upstream `nemoclaw` tool; see
 * docs/design.md, "Registry lock"): a directory `<root>/sandboxes.json.lock/` whose creation
 * (mkdir) is the acquisition, holding `owner` (`<pid>\n`) and `process-start`
 * (`<pid> <boot_id> <start tick>\n`), both 0600.
 */
export interface RegistryLockOptions {
  procRoot?: string;
  /** How long to keep retrying a held lock (default 12 s). */
  timeoutMs?: number;
  /** Retry interval (default 100 ms). */
  retryMs?: number;
  /** A lock without a readable owner is broken once its directory is this old (default 10 s). */
  ownerlessGraceMs?: number;
  pid?: number;
}

export interface RegistryLockHolder {
  pid: number | null;
  why: "alive" | "ownerless-recent";
}

/** The registry lock is held by a live process: the registry step fails, nothing destructive follows. */
export class RegistryLockHeld extends Error {
  constructor(
    readonly lockDir: string,
    readonly holder: RegistryLockHolder,
  ) {
    super(
      `the sandbox registry lock ${lockDir} is held by ${
        holder.pid === null ? "a process that has not written its owner yet" : `pid ${holder.pid}`
      } (another nemoclaw tool is changing the registry)`,
    );
    this.name = "RegistryLockHeld";
  }
}

function readSmall(file: string): string | null {
  try {
    const fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
    try {
      const buf = Buffer.alloc(256);
      const n = fs.readSync(fd, buf, 0, buf.length, 0);
      return buf.subarray(0, n).toString("utf8");
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return null;
  }
}

function bootId(procRoot: string): string | null {
  return readSmall(path.join(procRoot, "sys/kernel/random/boot_id"))?.trim() || null;
}

/**
 * Who holds the lock, or null when it is free or broken (owner dead; recorded boot id or start
 * tick not those of the live process, i.e. a reused pid; no readable owner for 10 s).
 */
export function registryLockHolder(
  lockDir: string,
  options: Pick<RegistryLockOptions, "procRoot" | "ownerlessGraceMs"> = {},
): RegistryLockHolder | null {
  const procRoot = options.procRoot ?? "/proc";
  let st: fs.Stats;
  try {
    st = fs.lstatSync(lockDir);
  } catch {
    return null;
  }
  const ownerText = readSmall(path.join(lockDir, "owner"))?.trim() ?? "";
  const pid = /^\d+$/.test(ownerText) ? Number(ownerText) : null;
  if (pid === null) {
    const age = Date.now() - st.mtimeMs;
    return age >= (options.ownerlessGraceMs ?? 10_000) ? null : { pid: null, why: "ownerless-recent" };
  }
  if (readProcessState(pid, procRoot) !== "alive") return null;
  const start = readSmall(path.join(lockDir, "process-start"))?.trim().split(/\s+/);
  if (start && start.length === 3 && start[0] === String(pid)) {
    const [, recordedBoot, recordedTick] = start;
    const liveBoot = bootId(procRoot);
    if (liveBoot && recordedBoot !== liveBoot) return null;
    if (String(processStartTime(pid, procRoot)) !== recordedTick) return null;
  }
  return { pid, why: "alive" };
}

function writeOwnerFile(file: string, content: string): void {
  const fd = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o600);
  try {
    fs.writeSync(fd, content);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** Removes a broken lock by renaming it aside first, so a concurrent new owner is never deleted. */
function breakLock(lockDir: string): void {
  const aside = `${lockDir}.broken-${process.pid}-${randomBytes(4).toString("hex")}`;
  try {
    fs.renameSync(lockDir, aside);
  } catch {
    return; // someone else broke or released it
  }
  fs.rmSync(aside, { recursive: true, force: true });
}

function tryAcquire(lockDir: string, pid: number, procRoot: string): boolean {
  try {
    fs.mkdirSync(lockDir, { mode: 0o700 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw error;
  }
  try {
    writeOwnerFile(path.join(lockDir, "owner"), `${pid}\n`);
    writeOwnerFile(
      path.join(lockDir, "process-start"),
      `${pid} ${bootId(procRoot) ?? "unknown"} ${processStartTime(pid, procRoot) ?? 0}\n`,
    );
    fsyncDir(path.dirname(lockDir));
  } catch (error) {
    fs.rmSync(lockDir, { recursive: true, force: true });
    throw error;
  }
  return true;
}

/**
 * Runs `fn` holding the registry lock: retries every 100 ms for at most 12 s (breaking dead or
 * reused-pid owners), then throws RegistryLockHeld. The lock directory is removed afterwards.
 */
export async function withRegistryLock<T>(
  lockDir: string,
  options: RegistryLockOptions,
  fn: () => T,
): Promise<T> {
  const procRoot = options.procRoot ?? "/proc";
  const pid = options.pid ?? process.pid;
  const deadline = Date.now() + (options.timeoutMs ?? 12_000);
  for (;;) {
    if (tryAcquire(lockDir, pid, procRoot)) break;
    const holder = registryLockHolder(lockDir, options);
    if (holder === null) {
      breakLock(lockDir);
      if (Date.now() < deadline) continue;
      throw new RegistryLockHeld(lockDir, { pid: null, why: "ownerless-recent" });
    }
    if (Date.now() >= deadline) throw new RegistryLockHeld(lockDir, holder);
    await new Promise((resolve) => setTimeout(resolve, options.retryMs ?? 100));
  }
  try {
    return fn();
  } finally {
    fs.rmSync(lockDir, { recursive: true, force: true });
  }
}
