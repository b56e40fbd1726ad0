import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import {
  type BackupManifest,
  differenceCount,
  displayPath,
  entryBytes,
  entryPathOfKey,
  formatMode,
  humanPath,
  isBackupTimestamp,
  linkable,
  MANIFEST_FILE,
  type ManifestFile,
  type ManifestHeader,
  type SkippedEntry,
  type SkippedType,
  type TreeComparison,
  TreeMerge,
} from "../domain/backup-manifest.js";
import { isValidSandboxName } from "../domain/names.js";
import { selectPrunable } from "../domain/operation-journal.js";
import { fsyncDir, tempSibling, writingTo } from "./atomic-file.js";
import { type Batch, type BatchResult, HashError, HashPool } from "./hash-pool.js";
import { killPoint } from "./kill-point.js";
import { ManifestError, ManifestReader, ManifestWriter, readManifestHeader } from "./manifest-stream.js";

const STAGING = /^\.(.+)\.partial$/;

export interface BackupListing {
  sandbox: string;
  timestamp: string;
  path: string;
  complete: boolean;
  /** Why a timestamp directory is not a usable backup (missing or broken manifest). */
  corrupt?: string;
  /** The manifest's header (its files are read on demand: `manifestFiles`). */
  manifest?: ManifestHeader;
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
  /** fsync every file after hashing it (callers that need every file durable without a syncfs). */
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
  /**
   * Incremental linking (docs/design.md, "backup-all"): the previous complete backup's directory
   * and its manifest's entries in path order. A regular file whose hash, size and mode equal the
   * previous entry at the same path is replaced by a hard link to it after a byte proof.
   */
  previous?: {
    dir: string;
    sealedAt: number;
    next: () => { entry: ManifestFile; key: string } | undefined;
  };
}

const SLASH = Buffer.from("/");

/**
 * Gets each file `scanTree` found: its manifest entry, its sort key (`sortKey`: the exact path
 * bytes as latin1 text), whether it was linked.
 */
export type OnScannedFile = (file: ManifestFile, key: string, linked: boolean) => void;

function specialType(entry: fs.Dirent): SkippedType {
  if (entry.isFIFO()) return "fifo";
  if (entry.isSocket()) return "socket";
  if (entry.isBlockDevice()) return "block-device";
  if (entry.isCharacterDevice()) return "char-device";
  return "unknown";
}

interface WalkEntry {
  /** The relative path's exact bytes as latin1 text (`sortKey`). */
  key: string;
  id: { path: string } | { pathB64: string };
  dirent: fs.Dirent;
}

/**
 * Every entry under `root` but directories, in ascending order of the exact bytes of its
 * relative path: siblings are sorted with a directory's name taken as `name/`, so a depth-first
 * walk yields exactly the order of the full paths. Names are read as latin1 (one char per byte,
 * so exact and ordered as bytes). Symlinks are never followed. Only the entries of the
 * directories on the current path are held, never the whole tree.
 */
function* walkSorted(root: string, exclude?: ReadonlySet<string>): Generator<WalkEntry> {
  interface Frame {
    key: string | null;
    entries: { dirent: fs.Dirent; key: string }[];
    index: number;
  }
  const rootBytes = Buffer.from(root);
  const open = (key: string | null, at: string | Buffer): Frame => {
    const entries = fs
      .readdirSync(at, { withFileTypes: true, encoding: "latin1" })
      .map((dirent) => ({ dirent, key: dirent.isDirectory() ? `${dirent.name}/` : dirent.name }))
      .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    return { key, entries, index: 0 };
  };
  const stack: Frame[] = [open(null, root)];
  while (stack.length) {
    const frame = stack[stack.length - 1] as Frame;
    const next = frame.entries[frame.index++];
    if (!next) {
      stack.pop();
      continue;
    }
    const { dirent } = next;
    const key = frame.key === null ? dirent.name : `${frame.key}/${dirent.name}`;
    const id = entryPathOfKey(key);
    if (exclude && "path" in id && exclude.has(id.path)) continue;
    if (dirent.isDirectory()) {
      stack.push(open(key, hostPath(root, rootBytes, key, id)));
      continue;
    }
    yield { key, id, dirent };
  }
}

/** The host path of a tree entry: a string when its name is UTF-8, else its exact bytes. */
function hostPath(root: string, rootBytes: Buffer, key: string, id: WalkEntry["id"]): string | Buffer {
  return "path" in id ? `${root}/${id.path}` : Buffer.concat([rootBytes, SLASH, Buffer.from(key, "latin1")]);
}

/** Files per batch sent to a hashing worker. */
const BATCH_FILES = 256;
/** Batches in flight per worker: the read-ahead that keeps every worker busy. */
const BATCHES_AHEAD = 3;
/** `formatMode` of every `0777` value, computed once. */
const MODES = Array.from({ length: 0o1000 }, (_, m) => formatMode(m));

/**
 * Every regular file and symlink under `root`, hashed with streaming SHA-256 on the pool's
 * workers, passed to `onFile` in ascending path-byte order (the manifest's order) as soon as it
 * and everything before it is done. Never follows symlinks; records the `0777` bits; a name that
 * is not valid UTF-8 is recorded as `pathB64` (docs/design.md). Special files go to
 * `options.skipped`. Memory does not grow with the file count: a bounded number of batches is in
 * flight, nothing is collected. Returns the number of files passed on.
 */
export async function scanTree(
  root: string,
  options: HashTreeOptions,
  onFile: OnScannedFile,
): Promise<number> {
  const pool = options.pool ?? new HashPool();
  const rootBytes = Buffer.from(root);
  const previous = options.previous;
  let pendingPrevious: { entry: ManifestFile; key: string } | undefined;
  let previousDone = previous === undefined;
  // The previous backup's entry at exactly this path (merge join: both sides ascend).
  const previousAt = (key: string): ManifestFile | undefined => {
    while (!previousDone) {
      if (!pendingPrevious) {
        let next: { entry: ManifestFile; key: string } | undefined;
        try {
          next = previous?.next();
        } catch {
          next = undefined; // a previous manifest that turns out broken: link nothing more
        }
        if (!next) {
          previousDone = true;
          return undefined;
        }
        pendingPrevious = next;
      }
      if (pendingPrevious.key > key) return undefined;
      const order = pendingPrevious.key === key ? 0 : -1;
      const { entry } = pendingPrevious;
      pendingPrevious = undefined;
      if (order === 0) return entry;
    }
    return undefined;
  };
  /** A walked entry in manifest order: a file to hash (`file` = its slot in the batch) or ready. */
  type Item = { key: string; id: WalkEntry["id"]; file: number } | { ready: ManifestFile; key: string };
  const walk = walkSorted(root, options.exclude);
  let walked = false;
  const nextBatch = (): { items: Item[]; batch: Batch | null } | null => {
    const items: Item[] = [];
    const names: string[] = [];
    let raw: (Uint8Array | null)[] | undefined;
    let link: { size: Float64Array; mode: Int32Array; sha: string[] } | undefined;
    while (names.length < BATCH_FILES) {
      const step = walk.next();
      if (step.done) {
        walked = true;
        break;
      }
      const { key, id, dirent } = step.value;
      if (dirent.isFile()) {
        const slot = names.length;
        if ("path" in id) names.push(id.path);
        else {
          names.push("");
          raw ??= [];
          raw[slot] = new Uint8Array(Buffer.from(key, "latin1"));
        }
        const old = previous ? previousAt(key) : undefined;
        if (old && linkable(old)) {
          link ??= {
            size: new Float64Array(BATCH_FILES),
            mode: new Int32Array(BATCH_FILES).fill(-1),
            sha: [],
          };
          link.size[slot] = old.size;
          link.mode[slot] = Number.parseInt(old.mode as string, 8);
          link.sha[slot] = old.sha256;
        }
        items.push({ key, id, file: slot });
      } else if (dirent.isSymbolicLink()) {
        const at = hostPath(root, rootBytes, key, id);
        const target = fs.readlinkSync(at);
        const stat = fs.lstatSync(at);
        items.push({
          ready: {
            ...id,
            size: Buffer.byteLength(target),
            sha256: createHash("sha256").update(target).digest("hex"),
            mode: formatMode(stat.mode),
            symlink: target,
          },
          key,
        });
      } else if (options.skipped) {
        options.skipped.push({ ...id, type: specialType(dirent) });
      } else {
        throw new Error(`unsupported file type in backup: ${humanPath(id)}`);
      }
    }
    if (items.length === 0) return null;
    if (names.length === 0) return { items, batch: null };
    const batch: Batch = {
      root,
      names: names.join("\0"),
      sync: options.sync,
      onBytes: options.onBytes,
    };
    if (raw) batch.raw = Array.from({ length: names.length }, (_, i) => raw?.[i] ?? null);
    if (link && previous) {
      const sha = Array.from({ length: names.length }, (_, i) => link?.sha[i] ?? "0".repeat(64)).join("");
      batch.link = { size: link.size, mode: link.mode, sha };
      batch.prev = { root: previous.dir, sealedAt: previous.sealedAt };
    }
    return { items, batch };
  };
  let count = 0;
  const emit = (items: Item[], result: BatchResult | null) => {
    for (const item of items) {
      if ("ready" in item) {
        onFile(item.ready, item.key, false);
        count++;
        continue;
      }
      const i = item.file;
      const r = result as BatchResult;
      const mode = r.modes[i] as number;
      if (mode < 0) {
        const error = r.errors?.find((e) => e.i === i);
        throw new HashError(`${humanPath(item.id)}: ${error?.message ?? "not hashed"}`, error?.code);
      }
      const file = item.id as ManifestFile;
      file.size = r.sizes[i] as number;
      file.sha256 = r.shas.slice(64 * i, 64 * i + 64);
      file.mode = MODES[mode];
      onFile(file, item.key, r.linked?.[i] === 1);
      count++;
    }
  };
  const inFlight: { items: Item[]; result: Promise<BatchResult | null> }[] = [];
  const ahead = Math.max(2, pool.width * BATCHES_AHEAD);
  try {
    for (;;) {
      while (!walked && inFlight.length < ahead) {
        const next = nextBatch();
        if (!next) break;
        const result = next.batch ? pool.run(next.batch) : Promise.resolve(null);
        // Rejections are awaited below in order; never unhandled meanwhile.
        result.catch(() => {});
        inFlight.push({ items: next.items, result });
      }
      const head = inFlight.shift();
      if (!head) break;
      emit(head.items, await head.result);
    }
  } finally {
    if (!options.pool) await pool.close();
  }
  if (options.skipped) options.skipped.splice(0, options.skipped.length, ...byEntryPath(options.skipped));
  return count;
}

/**
 * The previous backup as `scanTree` links against it (HashTreeOptions.previous): its directory,
 * when its manifest was written (a file modified later is not linked to), and its entries in path
 * order, read one at a time. Undefined when its manifest cannot be read (then nothing is linked).
 * Close it when the scan is over.
 */
export function previousForLinking(
  dir: string,
): (NonNullable<HashTreeOptions["previous"]> & { close: () => void }) | undefined {
  try {
    const manifest = path.join(dir, MANIFEST_FILE);
    const st = fs.lstatSync(manifest);
    if (!st.isFile()) return undefined;
    const reader = new ManifestReader(manifest);
    return { dir, sealedAt: st.mtimeMs, next: () => reader.nextKeyed(), close: () => reader.close() };
  } catch {
    return undefined;
  }
}

/**
 * Every regular file and symlink under `root` hashed (see `scanTree`), as one list in path order.
 * For small trees and tests; backups, verify and restore stream through `scanTree` instead.
 */
export async function hashTree(root: string, options: HashTreeOptions = {}): Promise<ManifestFile[]> {
  const files: ManifestFile[] = [];
  await scanTree(root, options, (entry) => files.push(entry));
  return files;
}

/** Sorted by exact path bytes, so the order is the same however a path is recorded. */
function byEntryPath<T extends { path?: string; pathB64?: string }>(entries: T[]): T[] {
  return entries
    .map((entry) => ({ entry, bytes: entryBytes(entry) }))
    .sort((a, b) => Buffer.compare(a.bytes, b.bytes))
    .map(({ entry }) => entry);
}

/** Where a backup's manifest entries wait while its files are hashed (inside staging). */
export const MANIFEST_BODY = ".rebuild-manifest.files.partial";
/** Relative paths a staging directory's scan leaves out: nemoclaw's own files, not the sandbox's. */
export const STAGING_OWN = new Set([MANIFEST_FILE, MANIFEST_BODY]);

/**
 * Makes everything written to the filesystem holding `dir` durable with one `syncfs(2)` —
 * coreutils `sync -f <dir>` — instead of one fsync per file (docs/design.md, "Durability"). A
 * non-zero exit (a writeback error) throws: the backup must fail.
 */
export type SyncFilesystem = (dir: string) => Promise<void>;

/** `sync -f <dir>` as a plain child process (no shell), for callers without a runner. */
export const syncFilesystem: SyncFilesystem = (dir) =>
  new Promise((resolve, reject) => {
    execFile("sync", ["-f", dir], { timeout: 30 * 60_000 }, (error, _stdout, stderr) => {
      if (!error) resolve();
      else reject(new SyncError(dir, (stderr || error.message).trim()));
    });
  });

/** `sync -f` failed: data under `dir` may not be on disk. */
export class SyncError extends Error {
  constructor(
    readonly dir: string,
    detail: string,
  ) {
    super(`cannot make ${dir} durable: sync -f failed (${detail})`);
    this.name = "SyncError";
  }
}

/**
 * Seals a staging directory (docs/design.md, "backup-all", sealing order): the manifest (header
 * with counts, then the entries `writer` holds) is written to a temp name; one `syncfs` of the
 * filesystem makes every staged file, link, directory and that temp manifest durable; then the
 * manifest is renamed into place, staging fsynced, staging renamed to `<timestamp>/` and the
 * parent fsynced. Until the last rename nothing looks complete; after it the backup is durable.
 */
export async function sealStaging(
  staging: string,
  header: Omit<BackupManifest, "files">,
  writer: ManifestWriter,
  syncfs: SyncFilesystem = syncFilesystem,
): Promise<string> {
  const manifestPath = path.join(staging, MANIFEST_FILE);
  const tmp = tempSibling(manifestPath);
  writingTo(manifestPath, () => writer.finish(header, tmp));
  await syncfs(staging);
  writingTo(manifestPath, () => {
    killPoint("write", manifestPath);
    fs.renameSync(tmp, manifestPath);
    fsyncDir(staging);
  });
  const final = path.join(path.dirname(staging), header.timestamp);
  killPoint("seal", final);
  writingTo(final, () => {
    fs.renameSync(staging, final);
    fsyncDir(path.dirname(staging));
  });
  return final;
}

/** Seals `staging` with a manifest given whole (tests, small trees): see `sealStaging`. */
export async function sealBackup(
  staging: string,
  manifest: BackupManifest,
  syncfs: SyncFilesystem = syncFilesystem,
): Promise<string> {
  const { files, ...header } = manifest;
  const writer = new ManifestWriter(path.join(staging, MANIFEST_BODY));
  try {
    for (const f of byEntryPath(files)) writer.add(f);
  } catch (error) {
    writer.abort();
    throw error;
  }
  return sealStaging(staging, header, writer, syncfs);
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
  let manifest: ManifestHeader;
  try {
    // The header only (its counts included): a listing never reads a million entries.
    manifest = readManifestHeader(path.join(dir, MANIFEST_FILE));
  } catch (error) {
    if (error instanceof ManifestError) return { ...base, complete: false, corrupt: error.reason };
    throw error;
  }
  if (manifest.sandboxName !== sandbox || manifest.timestamp !== timestamp) {
    return { ...base, complete: false, corrupt: "manifest names another sandbox or timestamp" };
  }
  const unsafe = unsafeStoredDir(dir, manifest);
  if (unsafe) return { ...base, complete: false, corrupt: unsafe };
  return {
    ...base,
    complete: true,
    manifest,
    size: manifest.fileBytes,
    fileCount: manifest.fileCount,
    agentVersion: manifest.agentVersion ?? null,
  };
}

/**
 * Restore uploads `<backup>/<basename(dir)>` for every backed-up dir and `rm -rf`s the sandbox's
 * copy first: a stored dir that is a symlink (or not a directory) would upload whatever it points
 * at on the host. Returns why the backup is unsafe, or null.
 */
function unsafeStoredDir(dir: string, manifest: Pick<BackupManifest, "backedUpDirs">): string | null {
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

/**
 * Re-hashes a backup against its manifest: missing, changed and extra files. The manifest is read
 * entry by entry alongside a sorted walk of the directory (a merge join), so memory holds the
 * differences only. An invalid or out-of-order entry makes the backup corrupt.
 */
export async function verifyBackup(
  listing: BackupListing,
  pool?: HashPool,
  /** fsync every file while reading it (callers that need each file durable without a syncfs). */
  sync = false,
): Promise<VerifyResult> {
  const failed = (corrupt: string, vanished = false): VerifyResult => ({
    ok: false,
    ...(vanished ? { vanished: true } : {}),
    corrupt,
    missing: [],
    changed: [],
    modeChanged: [],
    extra: [],
    checkedFiles: 0,
  });
  if (!listing.manifest) return failed(listing.corrupt ?? "manifest is missing");
  let reader: ManifestReader;
  try {
    reader = new ManifestReader(path.join(listing.path, MANIFEST_FILE));
  } catch (error) {
    if (error instanceof ManifestError) {
      if (!fs.existsSync(listing.path))
        return failed("backup vanished during verification (removed by a prune or another command)", true);
      return failed(error.reason);
    }
    throw error;
  }
  try {
    const { sandboxName, timestamp } = reader.header;
    if (sandboxName !== listing.sandbox || timestamp !== listing.timestamp)
      return failed("manifest names another sandbox or timestamp");
    const skipped: SkippedEntry[] = [];
    const merge = new TreeMerge(() => reader.nextKeyed());
    let checkedFiles: number;
    try {
      checkedFiles = await scanTree(
        listing.path,
        { exclude: new Set([MANIFEST_FILE]), pool, skipped, sync },
        (f, key) => merge.actual(f, key),
      );
    } catch (error) {
      if (error instanceof ManifestError) return failed(error.reason);
      // A prune (or another operator) removed the backup while it was read: report that, not a crash.
      if (!fs.existsSync(listing.path))
        return failed("backup vanished during verification (removed by a prune or another command)", true);
      throw error;
    }
    let comparison: TreeComparison;
    try {
      comparison = merge.finish();
    } catch (error) {
      if (error instanceof ManifestError) return failed(error.reason);
      throw error;
    }
    // A special file in a backup directory was not put there by a backup.
    comparison.extra.push(...skipped.map(displayPath));
    return { ...comparison, ok: differenceCount(comparison) === 0, checkedFiles };
  } finally {
    reader.close();
  }
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
 * Returns the bytes really released: a file counts when its last link goes (one still linked from
 * a kept backup frees nothing), measured as it is unlinked, in constant memory.
 */
export function removeBackup(backup: BackupListing, freed: { bytes: number } = { bytes: 0 }): number {
  const aside = removalScratchPath(backup);
  killPoint("prune", backup.path);
  fs.renameSync(backup.path, aside);
  fsyncDir(path.dirname(backup.path));
  killPoint("rm", aside);
  removeTree(aside, freed);
  return freed.bytes;
}

/**
 * Deletes a directory tree depth-first (never following symlinks), adding the bytes freed to
 * `freed` as it goes (so a removal that fails half-way still reports what it released).
 */
function removeTree(root: string, freed: { bytes: number }): void {
  const remove = (dir: string) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, entry.name);
      if (entry.isDirectory()) {
        remove(p);
        continue;
      }
      const st = fs.lstatSync(p, { throwIfNoEntry: false });
      fs.unlinkSync(p);
      if (st && (st.nlink <= 1 || !st.isFile())) freed.bytes += st.blocks * 512;
    }
    fs.rmdirSync(dir);
  };
  remove(root);
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

/**
 * Files with more than one link found under some directories, as flat records in a typed array
 * (dev, ino, nlink, bytes): 32 bytes per linked file, no object or string per file. Files with a
 * single link are summed on the way.
 */
class LinkedInodes {
  private data = new Float64Array(4 * 1024);
  private n = 0;
  singleBytes = 0;

  add(st: fs.Stats): void {
    if (st.nlink <= 1) {
      this.singleBytes += st.blocks * 512;
      return;
    }
    if ((this.n + 1) * 4 > this.data.length) {
      const bigger = new Float64Array(this.data.length * 2);
      bigger.set(this.data);
      this.data = bigger;
    }
    this.data.set([st.dev, st.ino, st.nlink, st.blocks * 512], this.n * 4);
    this.n++;
  }

  /** Calls `each(nlink, bytes, seen)` once per distinct inode. */
  distinct(each: (nlink: number, bytes: number, seen: number) => void): void {
    const d = this.data;
    const order = new Uint32Array(this.n);
    for (let i = 0; i < this.n; i++) order[i] = i;
    order.sort(
      (a, b) =>
        (d[a * 4] as number) - (d[b * 4] as number) || (d[a * 4 + 1] as number) - (d[b * 4 + 1] as number),
    );
    for (let i = 0; i < this.n; ) {
      const first = order[i] as number;
      let j = i + 1;
      while (
        j < this.n &&
        d[(order[j] as number) * 4] === d[first * 4] &&
        d[(order[j] as number) * 4 + 1] === d[first * 4 + 1]
      )
        j++;
      each(d[first * 4 + 2] as number, d[first * 4 + 3] as number, j - i);
      i = j;
    }
  }
}

/** Every regular file under `root` (never following symlinks) into `into`. */
function inodesUnder(root: string, into: LinkedInodes): void {
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
      const st = fs.lstatSync(p, { throwIfNoEntry: false });
      if (st) into.add(st);
    }
  }
}

/** Bytes the given backup directories occupy on disk, a file hard-linked between them counted once. */
export function diskUsage(dirs: readonly string[]): number {
  const inodes = new LinkedInodes();
  for (const dir of dirs) inodesUnder(dir, inodes);
  let total = inodes.singleBytes;
  inodes.distinct((_nlink, bytes) => {
    total += bytes;
  });
  return total;
}

/**
 * Bytes that removing `dirs` would free: a file counts only when every one of its links lies
 * inside them (a file still linked from a kept backup frees nothing).
 */
export function bytesFreedByRemoving(dirs: readonly string[]): number {
  const inodes = new LinkedInodes();
  for (const dir of dirs) inodesUnder(dir, inodes);
  let total = inodes.singleBytes;
  inodes.distinct((nlink, bytes, seen) => {
    if (seen >= nlink) total += bytes;
  });
  return total;
}
