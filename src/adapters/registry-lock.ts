import { createHash, randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { escapeForDisplay, shellWord } from "../domain/display.js";
import { fsyncDir } from "./atomic-file.js";
import { errnoCode } from "./errno.js";
import { killPoint } from "./kill-point.js";
import { isSameProcessInstance, processStartTime, readProcessState } from "./process-identity.js";

/**
 * NemoClaw's own registry lock (frozen format, shared with the upstream `nemoclaw` tool; see
 * docs/design.md, "Registry lock"): a directory `<root>/sandboxes.json.lock/` whose creation
 * (mkdir) is the acquisition, holding `owner` (`<pid>\n`) and `process-start`
 * (`<pid> <boot_id> <start tick>\n`), both 0600.
 *
 * Breaking and releasing are race-free among nemoclaw processes (docs/design.md, "Registry lock",
 * "Why breaking and releasing are race-free"):
 * - a lock *instance* is named by its identity (device, inode, mtime in ns, and the exact bytes of
 *   `owner` and `process-start`); an instance judged stale never comes back, so the name is never
 *   reused for a live lock;
 * - only the holder of a **claim** on that identity may remove the instance. A claim is a file
 *   `<lock>.breaks/<boot id>/<identity>.<k>` created atomically (`link` of a complete temp file,
 *   which fails if it exists) holding the claimant's pid and start tick; claim k+1 may be taken only
 *   when the writer of claim k is dead, so at most one live process ever holds a claim on one
 *   instance. After claiming, the lock is looked at again: only if it is still that instance,
 *   still stale, is it renamed into the claim's place and removed. Nobody else can remove that
 *   instance meanwhile (that would need the claim), so the rename can only move the instance that
 *   was judged;
 * - release removes the directory only while it is still ours (same inode, our owner and
 *   process-start): a live owner with a matching process-start is never judged stale, so nobody
 *   can have replaced it.
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
  /**
   * `alive`: the owner is the live process its process-start names. `ownerless-recent`: no
   * readable owner yet, younger than the grace. `unjudgeable`: the owner pid is alive but its
   * process-start is missing or unusable, so nemoclaw cannot tell whether it is still the process
   * that took the lock: respected, never broken, and the operator gets the `rm -r` to run.
   * `stale-unremoved`: judged stale, but still there when the wait ran out (another process's
   * claim on it never finished, or the claims directory is unusable).
   */
  why: "alive" | "ownerless-recent" | "unjudgeable" | "stale-unremoved";
}

/** The one-line explanation of a held registry lock (and, when nemoclaw cannot judge it, the exact `rm -r`). */
export function describeRegistryLockHolder(lockDir: string, holder: RegistryLockHolder): string {
  const shown = escapeForDisplay(lockDir);
  if (holder.why === "ownerless-recent")
    return `the sandbox registry lock ${shown} is held by a process that has not written its owner yet`;
  if (holder.why === "stale-unremoved")
    return `the sandbox registry lock ${shown} is stale but could not be removed (another process claimed its removal, or ${escapeForDisplay(`${lockDir}.breaks`)} is not a plain directory); once you have checked that no nemoclaw or NemoClaw command is changing the registry, remove it: rm -r ${shellWord(lockDir)}`;
  if (holder.why === "alive")
    return `the sandbox registry lock ${shown} is held by pid ${holder.pid} (another nemoclaw tool is changing the registry)`;
  return (
    `the sandbox registry lock ${shown} is held by pid ${holder.pid}, which left no usable process-start, ` +
    `so nemoclaw cannot tell whether that pid is still the process that took the lock; once you have ` +
    `checked that no nemoclaw or NemoClaw command is changing the registry, remove it: rm -r ${shellWord(lockDir)}`
  );
}

/** The registry lock is held by a live process: the registry step fails, nothing destructive follows. */
export class RegistryLockHeld extends Error {
  constructor(
    readonly lockDir: string,
    readonly holder: RegistryLockHolder,
  ) {
    super(describeRegistryLockHolder(lockDir, holder));
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

/** One lock instance as seen at one moment. */
interface LockSnapshot {
  dev: bigint;
  ino: bigint;
  mtimeNs: bigint;
  owner: string | null;
  processStart: string | null;
}

function snapshot(lockDir: string): LockSnapshot | null {
  let st: fs.BigIntStats;
  try {
    st = fs.lstatSync(lockDir, { bigint: true });
  } catch {
    return null;
  }
  return {
    dev: st.dev,
    ino: st.ino,
    mtimeNs: st.mtimeNs,
    owner: readSmall(path.join(lockDir, "owner")),
    processStart: readSmall(path.join(lockDir, "process-start")),
  };
}

/** A name for one lock instance: never the name of another instance (see the module comment). */
function identity(s: LockSnapshot): string {
  return createHash("sha256")
    .update(`${s.dev}:${s.ino}:${s.mtimeNs}\0${s.owner ?? "\u0001"}\0${s.processStart ?? "\u0001"}`)
    .digest("hex")
    .slice(0, 40);
}

/** The identity of the lock instance now at `lockDir` (null when there is none); for tests and diagnostics. */
export function lockInstanceId(lockDir: string): string | null {
  const s = snapshot(lockDir);
  return s === null ? null : identity(s);
}

function sameInstance(a: LockSnapshot, b: LockSnapshot): boolean {
  return a.dev === b.dev && a.ino === b.ino && a.owner === b.owner && a.processStart === b.processStart;
}

/**
 * Who holds the lock described by `s`, or null when it is stale: owner dead or a zombie;
 * process-start naming another boot or another start tick of that pid (a reused pid); no
 * readable owner and the directory at least `ownerlessGraceMs` old (by its mtime).
 */
function judge(
  s: LockSnapshot,
  procRoot: string,
  ownerlessGraceMs: number,
  now = Date.now(),
): RegistryLockHolder | null {
  const ownerText = s.owner?.trim() ?? "";
  const pid = /^\d{1,10}$/.test(ownerText) ? Number(ownerText) : null;
  if (pid === null) {
    const age = now - Number(s.mtimeNs / 1_000_000n);
    return age >= ownerlessGraceMs ? null : { pid: null, why: "ownerless-recent" };
  }
  if (readProcessState(pid, procRoot) !== "alive") return null;
  const start = /^(\d+) (\S+) (\d+)$/.exec(s.processStart?.trim() ?? "");
  // A live owner whose process-start is missing, malformed, about another pid, or written
  // without a boot id: nemoclaw cannot tell whether the pid is still the lock's process.
  if (!start || start[1] !== String(pid) || start[2] === "unknown") return { pid, why: "unjudgeable" };
  const liveBoot = bootId(procRoot);
  if (liveBoot && start[2] !== liveBoot) return null; // recorded in another boot: pid reused
  const tick = processStartTime(pid, procRoot);
  if (tick === null) return { pid, why: "unjudgeable" }; // alive but its stat is unreadable
  return String(tick) === start[3] ? { pid, why: "alive" } : null;
}

/** Who holds the lock, or null when it is free or stale (see `judge`). */
export function registryLockHolder(
  lockDir: string,
  options: Pick<RegistryLockOptions, "procRoot" | "ownerlessGraceMs"> = {},
): RegistryLockHolder | null {
  const s = snapshot(lockDir);
  if (s === null) return null;
  return judge(s, options.procRoot ?? "/proc", options.ownerlessGraceMs ?? 10_000);
}

function bootDirName(procRoot: string): string {
  const id = bootId(procRoot);
  return id && /^[A-Za-z0-9-]{1,64}$/.test(id) ? id : "unknown-boot";
}

function isRealDir(p: string): boolean {
  try {
    return fs.lstatSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** Claims of earlier boots: no process of an earlier boot is still breaking anything. */
function dropEarlierBoots(breaksDir: string, current: string): void {
  let names: string[];
  try {
    names = fs.readdirSync(breaksDir);
  } catch {
    return;
  }
  for (const name of names) {
    if (name !== current && name !== "unknown-boot")
      fs.rmSync(path.join(breaksDir, name), { recursive: true, force: true });
  }
}

/** Creates `file` holding `content`, atomically and only if it does not exist (link of a full temp file). */
function createComplete(file: string, content: string): boolean {
  const tmp = `${file}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`;
  fs.writeFileSync(tmp, content, { mode: 0o600, flag: "wx" });
  try {
    fs.linkSync(tmp, file);
    return true;
  } catch (error) {
    if (errnoCode(error) === "EEXIST") return false;
    throw error;
  } finally {
    fs.rmSync(tmp, { force: true });
  }
}

/** Whether the writer of a claim file still runs (unreadable or odd content counts as running). */
function claimWriterAlive(file: string, procRoot: string): boolean {
  const m = /^(\d+) (\d+)\n$/.exec(readSmall(file) ?? "");
  if (!m) return true;
  return isSameProcessInstance(Number(m[1]), Number(m[2]), procRoot);
}

/**
 * Takes the claim on one lock instance: the first free `<identity>.<k>` after claims whose
 * writers are dead. Returns its path, or null when a live process holds a claim on it.
 */
function claim(dir: string, id: string, me: string, procRoot: string): string | null {
  for (let k = 0; k < 1000; k++) {
    const file = path.join(dir, `${id}.${k}`);
    if (createComplete(file, me)) return file;
    if (readSmall(file) === me) return file; // ours from an earlier attempt in this run
    if (claimWriterAlive(file, procRoot)) return null;
  }
  return null;
}

/**
 * Removes the stale lock instance `judged`, if this process wins the claim on it and it is
 * still there and still stale. Returns true when it was removed.
 */
function breakStaleLock(lockDir: string, judged: LockSnapshot, procRoot: string, graceMs: number): boolean {
  const breaksDir = `${lockDir}.breaks`;
  const boot = bootDirName(procRoot);
  const dir = path.join(breaksDir, boot);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  // Claims and the removal happen in here: never through a symlink someone put in its place.
  if (!isRealDir(breaksDir) || !isRealDir(dir)) return false;
  dropEarlierBoots(breaksDir, boot);
  const myTick = processStartTime(process.pid, procRoot);
  if (myTick === null) return false; // cannot even name ourselves: break nothing
  const claimFile = claim(dir, identity(judged), `${process.pid} ${myTick}\n`, procRoot);
  if (claimFile === null) return false;
  // We alone may remove this instance now; look again before touching it.
  const now = snapshot(lockDir);
  if (now === null || identity(now) !== identity(judged) || judge(now, procRoot, graceMs) !== null)
    return false;
  const moved = `${claimFile}.lock`;
  try {
    fs.renameSync(lockDir, moved);
  } catch {
    return false;
  }
  const after = snapshot(moved);
  if (after === null || !sameInstance(after, judged)) {
    // Only a tool outside this protocol could have put something else there: give it back.
    try {
      fs.renameSync(moved, lockDir);
    } catch {}
    return false;
  }
  fs.rmSync(moved, { recursive: true, force: true });
  return true;
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

/** What we wrote into the lock we hold, to recognise it at release. */
interface Held {
  dev: bigint;
  ino: bigint;
  owner: string;
  processStart: string;
}

/**
 * Removes the lock only while it is still ours: same directory (device, inode) and our own
 * owner and process-start. It is renamed aside first (it disappears atomically), checked again,
 * then deleted.
 */
function release(lockDir: string, held: Held): void {
  const s = snapshot(lockDir);
  if (s === null || s.dev !== held.dev || s.ino !== held.ino) return; // not ours any more
  // Missing owner files only after an acquisition that failed halfway; anything else is not ours.
  if (s.owner !== null && s.owner !== held.owner) return;
  if (s.processStart !== null && s.processStart !== held.processStart) return;
  const aside = `${lockDir}.released-${process.pid}-${randomBytes(4).toString("hex")}`;
  try {
    fs.renameSync(lockDir, aside);
  } catch {
    return;
  }
  const after = snapshot(aside);
  if (after === null || after.dev !== held.dev || after.ino !== held.ino) {
    try {
      fs.renameSync(aside, lockDir);
    } catch {}
    return;
  }
  fs.rmSync(aside, { recursive: true, force: true });
}

/** `<pid> <boot id> <start tick>\n`; `unknown 0` when either cannot be read (others then respect the lock as unjudgeable). */
function processStartLine(pid: number, procRoot: string): string {
  const boot = bootId(procRoot);
  const tick = processStartTime(pid, procRoot);
  return boot && tick !== null ? `${pid} ${boot} ${tick}\n` : `${pid} unknown ${tick ?? 0}\n`;
}

function tryAcquire(lockDir: string, pid: number, procRoot: string): Held | null {
  try {
    fs.mkdirSync(lockDir, { mode: 0o700 });
  } catch (error) {
    if (errnoCode(error) === "EEXIST") return null;
    throw error;
  }
  const st = fs.lstatSync(lockDir, { bigint: true });
  const held: Held = {
    dev: st.dev,
    ino: st.ino,
    owner: `${pid}\n`,
    processStart: processStartLine(pid, procRoot),
  };
  try {
    killPoint("lock", lockDir);
    writeOwnerFile(path.join(lockDir, "owner"), held.owner);
    writeOwnerFile(path.join(lockDir, "process-start"), held.processStart);
    fsyncDir(path.dirname(lockDir));
  } catch (error) {
    release(lockDir, held);
    throw error;
  }
  return held;
}

/**
 * Runs `fn` holding the registry lock: retries every 100 ms for at most 12 s (breaking stale
 * owners, race-free), then throws RegistryLockHeld. The lock is released afterwards if still ours.
 */
export async function withRegistryLock<T>(
  lockDir: string,
  options: RegistryLockOptions,
  fn: () => T,
): Promise<T> {
  const procRoot = options.procRoot ?? "/proc";
  const pid = options.pid ?? process.pid;
  const graceMs = options.ownerlessGraceMs ?? 10_000;
  const retryMs = options.retryMs ?? 100;
  const deadline = Date.now() + (options.timeoutMs ?? 12_000);
  let held: Held | null = null;
  let lastHolder: RegistryLockHolder = { pid: null, why: "ownerless-recent" };
  for (;;) {
    held = tryAcquire(lockDir, pid, procRoot);
    if (held) break;
    const s = snapshot(lockDir);
    const holder = s === null ? null : judge(s, procRoot, graceMs);
    if (s !== null && holder === null && breakStaleLock(lockDir, s, procRoot, graceMs)) continue;
    if (holder) lastHolder = holder;
    else if (s !== null) lastHolder = { pid: null, why: "stale-unremoved" };
    if (s === null && Date.now() < deadline) continue; // released meanwhile: try again at once
    if (Date.now() >= deadline) throw new RegistryLockHeld(lockDir, lastHolder);
    await new Promise((resolve) => setTimeout(resolve, retryMs));
  }
  try {
    return fn();
  } finally {
    release(lockDir, held);
  }
}
