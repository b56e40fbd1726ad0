import { createHash } from "node:crypto";
import fs from "node:fs";
import fsp from "node:fs/promises";
import path from "node:path";
import {
  type BackupManifest,
  compareTrees,
  differenceCount,
  displayPath,
  entryBytes,
  entryPath,
  formatMode,
  humanPath,
  isBackupTimestamp,
  type LinkCandidate,
  MANIFEST_FILE,
  type ManifestFile,
  manifestText,
  parseManifest,
  type SkippedEntry,
  type SkippedType,
  type TreeComparison,
  validEntryPath,
} from "../domain/backup-manifest.js";
import { isValidSandboxName } from "../domain/names.js";
import { selectPrunable } from "../domain/operation-journal.js";
import { fsyncDir, writeDurableTemp, writingTo } from "./atomic-file.js";
import { HashPool } from "./hash-pool.js";
import { killPoint } from "./kill-point.js";

/** Files of one tree waiting in (or running on) the hash pool at once. */
const QUEUED_PER_TREE = 32;
const STAGING = /^\.(.+)\.partial$/;

export interface BackupListing {
  sandbox: string;
  timestamp: string;
  path: string;
  complete: boolean;
  /** Why a timestamp directory is not a usable backup (missing or broken manifest). */
  corrupt?: string;
  manifest?: BackupManifest;
  size: number;
  fileCount: number;
  agentVersion: string | null;
}

export interface VerifyResult extends TreeComparison {
  ok: boolean;
  /** Set when the manifest itself is missing or broken. */
  corrupt?: string;
  /** Set when the backup directory disappeared while it was being checked (a prune ran). */
  vanished?: boolean;
  checkedFiles: number;
}

/** A write to the backup store failed; the message names the file or directory. */
export { WriteError as StoreWriteError, writingTo } from "./atomic-file.js";

function sandboxDir(backupsRoot: string, sandbox: string): string {
  if (!isValidSandboxName(sandbox))
    throw new Error(`refusing a backup path for invalid sandbox name ${JSON.stringify(sandbox)}`);
  return path.join(backupsRoot, sandbox);
}

/** `<backups>/<sandbox>/.<timestamp>.partial`, created 0700 (parents too). */
export function createStaging(backupsRoot: string, sandbox: string, timestamp: string): string {
  const dir = sandboxDir(backupsRoot, sandbox);
  writingTo(dir, () => fs.mkdirSync(dir, { recursive: true, mode: 0o700 }));
  const staging = path.join(dir, `.${timestamp}.partial`);
  writingTo(staging, () => fs.mkdirSync(staging, { mode: 0o700 }));
  return staging;
}

export interface HashTreeOptions {
  onBytes?: (n: number) => void;
  /** fsync every file and directory while hashing (for a backup being written). */
  sync?: boolean;
  /** Relative paths to leave out (the manifest itself). */
  exclude?: ReadonlySet<string>;
  /** Workers to hash on; without one, a pool is started for this tree and stopped after. */
  pool?: HashPool;
  /**
   * Collects special files (FIFO, socket, device), which are listed, never hashed or stored.
   * Without it a special file is an error.
   */
  skipped?: SkippedEntry[];
}

const SLASH = Buffer.from("/");

function specialType(entry: fs.Dirent<Buffer>): SkippedType {
  if (entry.isFIFO()) return "fifo";
  if (entry.isSocket()) return "socket";
  if (entry.isBlockDevice()) return "block-device";
  if (entry.isCharacterDevice()) return "char-device";
  return "unknown";
}

/**
 * Every regular file and symlink under `root`, hashed with streaming SHA-256, never following
 * symlinks, with its `0777` mode bits. Names are read as exact bytes: a name that is not valid
 * UTF-8 is recorded as `pathB64` (docs/design.md). Special files go to `options.skipped`.
 */
export async function hashTree(root: string, options: HashTreeOptions = {}): Promise<ManifestFile[]> {
  const files: ManifestFile[] = [];
  const regular: { at: string | Buffer; entry: { path: string } | { pathB64: string } }[] = [];
  const dirs: (string | Buffer)[] = [];
  const rootBytes = Buffer.from(root);
  // Valid UTF-8 paths are handed to fs as strings (the common case); others as exact bytes.
  const hostPath = (rel: Buffer, entry: { path: string } | { pathB64: string }) =>
    "path" in entry ? path.join(root, entry.path) : Buffer.concat([rootBytes, SLASH, rel]);
  const walk = async (rel: Buffer | null, at: string | Buffer) => {
    dirs.push(at);
    const entries = await fsp.readdir(at, { withFileTypes: true, encoding: "buffer" });
    for (const dirent of entries) {
      const childRel = rel ? Buffer.concat([rel, SLASH, dirent.name]) : dirent.name;
      const entry = entryPath(childRel);
      if ("path" in entry && options.exclude?.has(entry.path)) continue;
      const childAt = hostPath(childRel, entry);
      if (dirent.isDirectory()) await walk(childRel, childAt);
      else if (dirent.isFile()) regular.push({ at: childAt, entry });
      else if (dirent.isSymbolicLink()) {
        const target = await fsp.readlink(childAt);
        const stat = await fsp.lstat(childAt);
        files.push({
          ...entry,
          size: Buffer.byteLength(target),
          sha256: createHash("sha256").update(target).digest("hex"),
          mode: formatMode(stat.mode),
          symlink: target,
        });
      } else if (options.skipped) {
        options.skipped.push({ ...entry, type: specialType(dirent) });
      } else {
        throw new Error(`unsupported file type in backup: ${humanPath(entry)}`);
      }
    }
  };
  await walk(null, root);
  const pool = options.pool ?? new HashPool();
  try {
    // A bounded number of files in the pool's queue per tree: memory does not grow with the
    // file count, and trees hashed at the same time share the workers.
    let next = 0;
    let failed = false;
    const feed = async () => {
      while (next < regular.length && !failed) {
        const { at, entry } = regular[next++] as (typeof regular)[number];
        try {
          const digest = await pool.hash(at, { sync: options.sync, onBytes: options.onBytes });
          files.push({ ...entry, size: digest.size, sha256: digest.sha256, mode: formatMode(digest.mode) });
        } catch (error) {
          failed = true; // the tree has failed: queue nothing more of it
          throw error;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(QUEUED_PER_TREE, regular.length) }, feed));
  } finally {
    if (!options.pool) await pool.close();
  }
  if (options.sync) for (const dir of dirs) fsyncDir(dir);
  if (options.skipped) options.skipped.splice(0, options.skipped.length, ...byEntryPath(options.skipped));
  return byEntryPath(files);
}

/** Sorted by exact path bytes, so the order is the same however a path is recorded. */
function byEntryPath<T extends { path?: string; pathB64?: string }>(entries: T[]): T[] {
  return entries
    .map((entry) => ({ entry, bytes: entryBytes(entry) }))
    .sort((a, b) => Buffer.compare(a.bytes, b.bytes))
    .map(({ entry }) => entry);
}

/**
 * Seals a staging directory: writes the manifest (fsynced), renames staging to
 * `<timestamp>/`, then fsyncs the parent. Files must already be fsynced (hashTree with sync).
 * Until the rename nothing looks complete; after it the backup is durable.
 */
export function sealBackup(staging: string, manifest: BackupManifest): string {
  const manifestPath = path.join(staging, MANIFEST_FILE);
  writingTo(manifestPath, () => {
    const tmp = writeDurableTemp(manifestPath, manifestText(manifest), 0o600);
    killPoint("write", manifestPath);
    fs.renameSync(tmp, manifestPath);
    fsyncDir(staging);
  });
  const final = path.join(path.dirname(staging), manifest.timestamp);
  killPoint("seal", final);
  writingTo(final, () => {
    fs.renameSync(staging, final);
    fsyncDir(path.dirname(staging));
  });
  return final;
}

/** Removes staging directories left by killed runs. Call only while holding the maintenance lock. */
export function cleanStaging(backupsRoot: string): string[] {
  const removed: string[] = [];
  let sandboxes: fs.Dirent[];
  try {
    sandboxes = fs.readdirSync(backupsRoot, { withFileTypes: true });
  } catch {
    return removed;
  }
  for (const sandbox of sandboxes) {
    if (!sandbox.isDirectory() || !isValidSandboxName(sandbox.name)) continue;
    const dir = path.join(backupsRoot, sandbox.name);
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      if (entry.isDirectory() && STAGING.test(entry.name)) {
        killPoint("rm", path.join(dir, entry.name));
        try {
          fs.rmSync(path.join(dir, entry.name), { recursive: true, force: true });
        } catch {
          continue; // unremovable (immutable, a mount point): left for the operator, never fatal
        }
        removed.push(path.join(dir, entry.name));
      }
    }
  }
  return removed;
}

/**
 * One backup directory read as `listBackups` reads it, wherever it is (a backup pulled from a
 * restic repository into staging is checked before it is moved into place).
 */
export function readBackupDir(sandbox: string, dir: string, timestamp: string): BackupListing {
  return readListing(sandbox, dir, timestamp);
}

function readListing(sandbox: string, dir: string, timestamp: string): BackupListing {
  const base = { sandbox, timestamp, path: dir, size: 0, fileCount: 0, agentVersion: null };
  let text: string;
  try {
    text = fs.readFileSync(path.join(dir, MANIFEST_FILE), "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return {
      ...base,
      complete: false,
      corrupt: code === "ENOENT" ? "manifest is missing" : `manifest unreadable (${code})`,
    };
  }
  const parsed = parseManifest(text);
  if (!parsed.ok) return { ...base, complete: false, corrupt: parsed.reason };
  const { manifest } = parsed;
  if (manifest.sandboxName !== sandbox || manifest.timestamp !== timestamp) {
    return { ...base, complete: false, corrupt: "manifest names another sandbox or timestamp" };
  }
  const unsafe = unsafeStoredDir(dir, manifest);
  if (unsafe) return { ...base, complete: false, corrupt: unsafe };
  return {
    ...base,
    complete: true,
    manifest,
    size: manifest.files.reduce((sum, f) => sum + f.size, 0),
    fileCount: manifest.files.length,
    agentVersion: manifest.agentVersion ?? null,
  };
}

/**
 * Restore uploads `<backup>/<basename(dir)>` for every backed-up dir and `rm -rf`s the sandbox's
 * copy first: a stored dir that is a symlink (or not a directory) would upload whatever it points
 * at on the host. Returns why the backup is unsafe, or null.
 */
function unsafeStoredDir(dir: string, manifest: BackupManifest): string | null {
  for (const stateDir of manifest.backedUpDirs) {
    const name = path.posix.basename(stateDir);
    let stat: fs.Stats;
    try {
      stat = fs.lstatSync(path.join(dir, name));
    } catch {
      continue; // missing: verify reports its files as missing
    }
    if (stat.isSymbolicLink()) return `stored state directory ${name} is a symlink`;
    if (!stat.isDirectory()) return `stored state directory ${name} is not a directory`;
  }
  return null;
}

/**
 * The local directory to upload for `stateDir`, proven to be a real directory inside the backup
 * (lstat, never following a link) right before it is handed to `sandbox upload`.
 */
export function uploadSource(backupPath: string, stateDir: string): string {
  const name = path.posix.basename(stateDir);
  const source = path.join(backupPath, name);
  const stat = fs.lstatSync(source, { throwIfNoEntry: false });
  if (!stat?.isDirectory() || stat.isSymbolicLink()) {
    throw new Error(
      `upload source ${source} is not a directory inside the backup (${stat ? "symlink or file" : "missing"})`,
    );
  }
  const realBackup = fs.realpathSync(backupPath);
  if (path.dirname(fs.realpathSync(source)) !== realBackup) {
    throw new Error(`upload source ${source} resolves outside the backup ${backupPath}`);
  }
  return source;
}

/**
 * Backups per sandbox, newest first. Timestamp directories without a valid manifest are listed
 * as corrupt; staging directories are never listed; nothing outside valid names is read.
 */
export function listBackups(backupsRoot: string, sandbox?: string): BackupListing[] {
  let names: string[];
  if (sandbox !== undefined) names = [sandbox];
  else {
    try {
      names = fs
        .readdirSync(backupsRoot, { withFileTypes: true })
        .filter((e) => e.isDirectory() && isValidSandboxName(e.name))
        .map((e) => e.name)
        .sort();
    } catch {
      return [];
    }
  }
  const listings: BackupListing[] = [];
  for (const name of names) {
    const dir = sandboxDir(backupsRoot, name);
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      continue;
    }
    const timestamps = entries
      .filter((e) => e.isDirectory() && isBackupTimestamp(e.name))
      .map((e) => e.name)
      .sort()
      .reverse();
    for (const ts of timestamps) listings.push(readListing(name, path.join(dir, ts), ts));
  }
  return listings;
}

/** Re-hashes a backup against its manifest: missing, changed and extra files. */
export async function verifyBackup(
  listing: BackupListing,
  pool?: HashPool,
  /** fsync every file and directory while reading it (a backup pulled from a repository). */
  sync = false,
): Promise<VerifyResult> {
  if (!listing.manifest) {
    return {
      ok: false,
      corrupt: listing.corrupt ?? "manifest is missing",
      missing: [],
      changed: [],
      modeChanged: [],
      extra: [],
      checkedFiles: 0,
    };
  }
  const skipped: SkippedEntry[] = [];
  let actual: ManifestFile[];
  try {
    actual = await hashTree(listing.path, { exclude: new Set([MANIFEST_FILE]), pool, skipped, sync });
  } catch (error) {
    // A prune (or another operator) removed the backup while it was read: report that, not a crash.
    if (!fs.existsSync(listing.path)) {
      return {
        ok: false,
        vanished: true,
        corrupt: "backup vanished during verification (removed by a prune or another command)",
        missing: [],
        changed: [],
        modeChanged: [],
        extra: [],
        checkedFiles: 0,
      };
    }
    throw error;
  }
  const comparison = compareTrees(listing.manifest.files, actual);
  // A special file in a backup directory was not put there by a backup.
  comparison.extra.push(...skipped.map(displayPath));
  return {
    ...comparison,
    ok: differenceCount(comparison) === 0,
    checkedFiles: actual.length,
  };
}

/** What retention would remove for one sandbox: complete backups `selectPrunable` gives up. */
export function prunableBackups(
  backupsRoot: string,
  sandbox: string,
  keep: number,
  pinned: ReadonlySet<string> = new Set(),
): BackupListing[] {
  const complete = listBackups(backupsRoot, sandbox).filter((b) => b.complete);
  const doomed = new Set(selectPrunable(complete, keep, pinned));
  return complete.filter((b) => doomed.has(b.timestamp));
}

/** Where `removeBackup` moves a backup before deleting it (staging, so a dead run's is cleaned). */
export function removalScratchPath(backup: Pick<BackupListing, "path" | "timestamp">): string {
  return path.join(path.dirname(backup.path), `.${backup.timestamp}.partial`);
}

/**
 * Removes one complete backup. Rename first: an interrupted removal then leaves staging
 * (cleaned up later), never a half-deleted directory that still looks like a complete backup.
 */
export function removeBackup(backup: BackupListing): void {
  const aside = removalScratchPath(backup);
  killPoint("prune", backup.path);
  fs.renameSync(backup.path, aside);
  fsyncDir(path.dirname(backup.path));
  killPoint("rm", aside);
  fs.rmSync(aside, { recursive: true, force: true });
}

/**
 * Retention after a successful backup: removes the sandbox's complete backups that
 * `selectPrunable` gives up — never a pinned one (named by an open operations journal), never
 * the newest backup that holds files, and empty backups never count toward `keep`.
 */
export function pruneBackups(
  backupsRoot: string,
  sandbox: string,
  keep: number,
  pinned: ReadonlySet<string> = new Set(),
): string[] {
  const removed: string[] = [];
  for (const old of prunableBackups(backupsRoot, sandbox, keep, pinned)) {
    removeBackup(old);
    removed.push(old.path);
  }
  return removed;
}

/** Every regular file under `root` (never following symlinks): its inode key, link count, disk bytes. */
function inodesUnder(root: string, into: Map<string, { nlink: number; bytes: number; seen: number }>): void {
  const stack = [root];
  while (stack.length) {
    const dir = stack.pop() as string;
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      continue;
    }
    for (const entry of entries) {
      const p = path.join(dir, entry.name);
      if (entry.isDirectory()) {
        stack.push(p);
        continue;
      }
      let st: fs.Stats;
      try {
        st = fs.lstatSync(p);
      } catch {
        continue;
      }
      const key = `${st.dev}:${st.ino}`;
      const known = into.get(key);
      if (known) known.seen++;
      else into.set(key, { nlink: st.nlink, bytes: st.blocks * 512, seen: 1 });
    }
  }
}

/** Bytes the given backup directories occupy on disk, a file hard-linked between them counted once. */
export function diskUsage(dirs: readonly string[]): number {
  const inodes = new Map<string, { nlink: number; bytes: number; seen: number }>();
  for (const dir of dirs) inodesUnder(dir, inodes);
  let total = 0;
  for (const { bytes } of inodes.values()) total += bytes;
  return total;
}

/**
 * Bytes that removing `dirs` would free: a file counts only when every one of its links lies
 * inside them (a file still linked from a kept backup frees nothing).
 */
export function bytesFreedByRemoving(dirs: readonly string[]): number {
  const inodes = new Map<string, { nlink: number; bytes: number; seen: number }>();
  for (const dir of dirs) inodesUnder(dir, inodes);
  let total = 0;
  for (const { nlink, bytes, seen } of inodes.values()) if (seen >= nlink) total += bytes;
  return total;
}

/** Makes `newPath` a hard link to `existing` (`fs.linkSync`); injectable so tests can fail it. */
export type LinkFunction = (existing: Buffer, newPath: Buffer) => void;

export interface LinkResult {
  linkedFiles: number;
  bytesLinked: number;
}

/**
 * A file with this many links is not linked to again (ext4 stops at 65,000 with EMLINK; long
 * before that, one inode shared by that many entries is a doubt, not a saving worth having).
 */
const MAX_LINKS = 1000;

const LINK_TMP = ".nemoclaw-link.tmp";

/**
 * Replaces files of a staging directory by hard links to the identical files of the sandbox's
 * previous backup (docs/design.md, "backup-all"): for each candidate, the previous file must be
 * a regular file inside `previousDir` reached through real directories only (lstat, never
 * following a link), whose size and `0777` bits still equal its own manifest entry and which
 * was not modified after that backup's manifest was written. The link is
 * made beside the staged copy and renamed over it; the previous backup is never modified. Any
 * failure (EXDEV, EMLINK, a missing file, a name taken) keeps the copy. Every directory where a
 * copy was replaced is fsynced before returning, so the caller may then seal the manifest.
 */
export function linkFromPrevious(
  staging: string,
  previousDir: string,
  candidates: readonly LinkCandidate[],
  link: LinkFunction = fs.linkSync,
): LinkResult {
  const result: LinkResult = { linkedFiles: 0, bytesLinked: 0 };
  // A file written after its backup was sealed was changed since (a tamper that kept the size):
  // the manifest is written after every file of its backup, and a link never changes an mtime.
  let sealedAt: number;
  try {
    const manifest = fs.lstatSync(path.join(previousDir, MANIFEST_FILE));
    if (!manifest.isFile()) return result;
    sealedAt = manifest.mtimeMs;
  } catch {
    return result;
  }
  const stagingBytes = Buffer.from(staging);
  const previousBytes = Buffer.from(previousDir);
  // Directories of the previous backup proven real (not symlinks), by relative path bytes.
  const realDirs = new Map<string, boolean>();
  const isRealDir = (relDir: Buffer): boolean => {
    const key = relDir.toString("latin1");
    const known = realDirs.get(key);
    if (known !== undefined) return known;
    const slash = relDir.lastIndexOf(0x2f);
    const parentOk = slash === -1 || isRealDir(relDir.subarray(0, slash));
    let ok = false;
    try {
      const st = parentOk ? fs.lstatSync(Buffer.concat([previousBytes, SLASH, relDir])) : undefined;
      ok = st?.isDirectory() === true && !st.isSymbolicLink();
    } catch {
      ok = false; // missing or unreadable: no link through it
    }
    realDirs.set(key, ok);
    return ok;
  };
  const touched = new Set<string>();
  for (const { entry, previous } of candidates) {
    if (!validEntryPath(entry) || !validEntryPath(previous) || entry.mode !== previous.mode) continue;
    const oldRel = entryBytes(previous);
    const oldSlash = oldRel.lastIndexOf(0x2f);
    if (oldSlash !== -1 && !isRealDir(oldRel.subarray(0, oldSlash))) continue;
    const oldPath = Buffer.concat([previousBytes, SLASH, oldRel]);
    let old: fs.Stats | undefined;
    try {
      old = fs.lstatSync(oldPath, { throwIfNoEntry: false });
    } catch {
      continue;
    }
    if (
      !old?.isFile() ||
      old.size !== previous.size ||
      formatMode(old.mode) !== previous.mode ||
      old.mtimeMs > sealedAt ||
      old.nlink >= MAX_LINKS
    ) {
      continue; // no longer what its own manifest says: keep the copy
    }
    const newRel = entryBytes(entry);
    const newPath = Buffer.concat([stagingBytes, SLASH, newRel]);
    const newSlash = newRel.lastIndexOf(0x2f);
    const parent = Buffer.concat([stagingBytes, SLASH, newRel.subarray(0, Math.max(newSlash, 0))]);
    const tmp = Buffer.concat([parent, SLASH, Buffer.from(LINK_TMP)]);
    try {
      link(oldPath, tmp);
    } catch {
      continue; // EXDEV, EMLINK, EEXIST (a downloaded file has the name) …: keep the copy
    }
    try {
      fs.renameSync(tmp, newPath);
    } catch {
      fs.rmSync(tmp, { force: true });
      continue;
    }
    touched.add(parent.toString("latin1"));
    result.linkedFiles++;
    result.bytesLinked += previous.size;
  }
  for (const dir of touched) fsyncDir(Buffer.from(dir, "latin1"));
  return result;
}
