import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";

/**
 * SHA-256 of files on worker threads, in batches. Hashing is the CPU-bound part of a backup: on
 * the main thread it competes with the event loop (progress, signals, child processes) and uses
 * one core. Small-file state (a million 100-byte files) is dominated by per-file overhead, not
 * bytes, so files travel to the workers in batches — one message round trip per batch, not per
 * file — and each worker reads with synchronous reads into its own reusable 1 MiB buffer: memory
 * stays flat whatever the file size and the file count.
 *
 * A batch may also ask for incremental linking (docs/design.md, "backup-all"): a staged file whose
 * hash, size and mode equal the previous backup's entry at the same path is replaced by a hard
 * link to that file — only after the worker has proven the bytes equal (a byte compare of the two
 * files, or for files over 1 MiB a re-hash of the older one in the same pass; size, mode and mtime
 * are only a prefilter), and only through real directories of the previous backup.
 *
 * The worker source is evaluated rather than loaded from a file so it runs the same from `dist/`
 * and from the TypeScript sources under test.
 */
const WORKER_SOURCE = `
const { parentPort, threadId } = require("node:worker_threads");
const fs = require("node:fs");
const { createHash } = require("node:crypto");
const C = fs.constants;
const CHUNK = 1024 * 1024;
const PROGRESS_EVERY = 8 * CHUNK;
const MAX_LINKS = 1000;
const buffer = Buffer.allocUnsafe(CHUNK);
const other = Buffer.allocUnsafe(CHUNK);
const SLASH = Buffer.from("/");
const TMP = Buffer.from(".nemoclaw-link-" + threadId + ".tmp");
const bytesOf = (p) => (typeof p === "string" ? Buffer.from(p) : Buffer.from(p));
function join(root, rel) {
  if (root === null) return typeof rel === "string" ? rel : Buffer.from(rel);
  if (typeof root === "string" && typeof rel === "string") return root + "/" + rel;
  return Buffer.concat([bytesOf(root), SLASH, bytesOf(rel)]);
}
// Directories of a previous backup proven real (lstat: a directory, not a symlink), by path.
const realDirs = new Map();
function isRealDir(root, relDir) {
  if (relDir.length === 0) return true;
  const key = (typeof root === "string" ? root : Buffer.from(root).toString("latin1")) + "\\0" + relDir.toString("latin1");
  const known = realDirs.get(key);
  if (known !== undefined) return known;
  const slash = relDir.lastIndexOf(0x2f);
  let ok = slash === -1 || isRealDir(root, relDir.subarray(0, slash));
  if (ok) {
    try {
      const st = fs.lstatSync(Buffer.concat([bytesOf(root), SLASH, relDir]));
      ok = st.isDirectory() && !st.isSymbolicLink();
    } catch {
      ok = false;
    }
  }
  if (realDirs.size > 4096) realDirs.clear();
  realDirs.set(key, ok);
  return ok;
}
function hashRest(fd, hash, st, report) {
  let size = 0;
  let reads = 0;
  for (;;) {
    const n = fs.readSync(fd, buffer, 0, CHUNK, null);
    reads++;
    if (n === 0) break;
    hash.update(n === CHUNK ? buffer : buffer.subarray(0, n));
    size += n;
    report(n);
    // A short read of a regular file at its size is its end: no extra read to see 0.
    if (n < CHUNK && size >= st.size) break;
  }
  return { size, whole: reads === 1 && size < CHUNK };
}
// Proves the previous file has the staged file's bytes, then links it over the staged copy.
function tryLink(staged, rel, prev, want, whole) {
  const relBytes = bytesOf(rel);
  const slash = relBytes.lastIndexOf(0x2f);
  if (!isRealDir(prev.root, slash === -1 ? Buffer.alloc(0) : relBytes.subarray(0, slash))) return false;
  const oldPath = join(prev.root, rel);
  let fd = -1;
  try {
    fd = fs.openSync(oldPath, C.O_RDONLY | C.O_NOFOLLOW | C.O_NONBLOCK);
    const st = fs.fstatSync(fd);
    // Prefilter: still what its own manifest says, not changed after its backup was sealed.
    if (!st.isFile() || st.size !== want.size || (st.mode & 0o777) !== want.mode || st.mtimeMs > prev.sealedAt || st.nlink >= MAX_LINKS) return false;
    if (whole) {
      // Byte proof: the older file's bytes against the staged file's, still in the buffer.
      const n = fs.readSync(fd, other, 0, CHUNK, null);
      if (n !== want.size || !other.subarray(0, n).equals(buffer.subarray(0, n))) return false;
    } else {
      // Larger than one buffer: re-hash the older file in this same pass.
      const hash = createHash("sha256");
      const { size } = hashRest(fd, hash, st, () => {});
      if (size !== want.size || hash.digest("hex") !== want.sha256) return false;
    }
  } catch {
    return false;
  } finally {
    if (fd !== -1) fs.closeSync(fd);
  }
  const stagedBytes = bytesOf(staged);
  const cut = stagedBytes.lastIndexOf(0x2f);
  const tmp = Buffer.concat([stagedBytes.subarray(0, cut + 1), TMP]);
  try {
    fs.linkSync(oldPath, tmp);
  } catch {
    return false; // EXDEV, EMLINK, EEXIST (a downloaded file has the name) …: keep the copy
  }
  try {
    fs.renameSync(tmp, staged);
  } catch {
    fs.rmSync(tmp, { force: true });
    return false;
  }
  return true;
}
// A batch arrives packed (one string of names, typed arrays): cloning a message per batch then
// costs next to nothing on the main thread, which walks the tree and writes the manifest.
parentPort.on("message", ({ id, root, sync, prev, names, raw, link }) => {
  const rels = names.split("\0");
  const n = rels.length;
  const sizes = new Float64Array(n);
  const modes = new Int32Array(n);
  const linked = link ? new Uint8Array(n) : undefined;
  const shas = [];
  let errors;
  let unreported = 0;
  const report = (k) => {
    unreported += k;
    if (unreported >= PROGRESS_EVERY) {
      parentPort.postMessage({ id, progress: unreported });
      unreported = 0;
    }
  };
  for (let i = 0; i < n; i++) {
    const rel = raw && raw[i] ? raw[i] : rels[i];
    const at = join(root, rel);
    let fd = -1;
    try {
      fd = fs.openSync(at, C.O_RDONLY | C.O_NOFOLLOW | C.O_NONBLOCK);
      const st = fs.fstatSync(fd);
      if (!st.isFile()) throw Object.assign(new Error("not a regular file"), { code: "EINVAL" });
      // The mode of the file as opened, so mode and content describe the same file.
      const mode = st.mode & 0o777;
      const hash = createHash("sha256");
      const { size, whole } = hashRest(fd, hash, st, report);
      const sha256 = hash.digest("hex");
      if (sync) fs.fsyncSync(fd);
      fs.closeSync(fd);
      fd = -1;
      sizes[i] = size;
      modes[i] = mode;
      shas.push(sha256);
      if (link && prev && link.mode[i] >= 0 && link.size[i] === size && link.mode[i] === mode && link.sha.slice(64 * i, 64 * i + 64) === sha256) {
        if (tryLink(at, rel, prev, { size, mode, sha256 }, whole)) linked[i] = 1;
      }
    } catch (error) {
      if (fd !== -1) fs.closeSync(fd);
      modes[i] = -1;
      shas.push("0".repeat(64));
      (errors ??= []).push({ i, message: error.message, code: error.code });
    }
  }
  const transfer = [sizes.buffer, modes.buffer];
  if (linked) transfer.push(linked.buffer);
  parentPort.postMessage({ id, progress: unreported, sizes, modes, shas: shas.join(""), linked, errors }, transfer);
});
`;

export interface FileDigest {
  size: number;
  sha256: string;
  /** The file's `0777` permission bits. */
  mode: number;
}

/**
 * Files of one batch, relative to `root`: `names` holds every relative path joined by NUL (a
 * name can never hold one); an item whose name is not valid UTF-8 has its exact bytes in
 * `raw[i]` (and an empty name). `link` (optional, one slot per item; mode -1 = none) is the
 * previous backup's entry at the same path: the staged file is replaced by a hard link to it
 * after a byte proof, if it hashes to exactly this.
 */
export interface Batch {
  /** Absolute directory the items are relative to; null when items are absolute paths. */
  root: string | Uint8Array | null;
  names: string;
  raw?: (Uint8Array | null)[];
  link?: { size: Float64Array; mode: Int32Array; sha: string };
  /** fsync each file after hashing it. */
  sync?: boolean;
  /** The previous backup (for items with `link`) and when its manifest was written. */
  prev?: { root: string | Uint8Array; sealedAt: number };
  onBytes?: (n: number) => void;
}

/** Per item, in order: size, `0777` mode (-1 = failed, see `errors`), hex SHA-256 at 64·i, linked. */
export interface BatchResult {
  sizes: Float64Array;
  modes: Int32Array;
  shas: string;
  linked?: Uint8Array;
  errors?: { i: number; message: string; code?: string }[];
}

interface Job extends Batch {
  id: number;
  resolve: (result: BatchResult) => void;
  reject: (error: Error) => void;
}

interface WorkerMessage extends Partial<BatchResult> {
  id: number;
  progress?: number;
}

/** A file could not be hashed (vanished, swapped for a symlink, unreadable). */
export class HashError extends Error {
  constructor(
    message: string,
    readonly code: string | undefined,
  ) {
    super(message);
    this.name = "HashError";
  }
}

/** Batches sent to one worker and not yet answered: one running, one waiting, so it never idles. */
const BATCHES_PER_WORKER = 2;

interface Slot {
  worker: Worker;
  running: number;
}

export class HashPool {
  private readonly workers: Slot[] = [];
  private readonly jobs = new Map<number, Job & { slot: Slot }>();
  private readonly queue: Job[] = [];
  private nextId = 0;
  private closed = false;

  /** At most `size` workers, started on first use; by default one per core, at most 4. */
  constructor(private readonly size = Math.max(1, Math.min(availableParallelism(), 4))) {}

  /** Workers this pool runs at most (callers size their read-ahead by it). */
  get width(): number {
    return this.size;
  }

  /** Hashes (and, where asked, links) a batch of files; one result per item, in order. */
  run(batch: Batch): Promise<BatchResult> {
    if (this.closed) return Promise.reject(new Error("hash pool is closed"));
    return new Promise((resolve, reject) => {
      this.queue.push({ ...batch, id: this.nextId++, resolve, reject });
      this.dispatch();
    });
  }

  /** One file by absolute path. */
  async hash(
    file: string | Buffer,
    options: { sync?: boolean; onBytes?: (n: number) => void } = {},
  ): Promise<FileDigest> {
    const raw = typeof file === "string" ? undefined : [new Uint8Array(file)];
    const result = await this.run({
      root: null,
      names: typeof file === "string" ? file : "",
      ...(raw ? { raw } : {}),
      sync: options.sync,
      onBytes: options.onBytes,
    });
    const error = result.errors?.[0];
    if (error) throw new HashError(`${file}: ${error.message}`, error.code);
    return {
      size: result.sizes[0] as number,
      sha256: result.shas.slice(0, 64),
      mode: result.modes[0] as number,
    };
  }

  /**
   * Starts the workers now, so their boot (tens of ms each) overlaps with work that waits on
   * other processes — a preflight — instead of delaying the first hash. Idle workers never keep
   * the process alive.
   */
  warm(): void {
    while (!this.closed && this.workers.length < this.size) this.spawn().worker.unref();
  }

  /** Stops every worker; batches still queued or running are rejected. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const error = new Error("hash pool closed");
    for (const job of this.queue.splice(0)) job.reject(error);
    for (const job of this.jobs.values()) job.reject(error);
    this.jobs.clear();
    await Promise.all(this.workers.map(({ worker }) => worker.terminate()));
  }

  private dispatch(): void {
    while (this.queue.length) {
      const slot = this.freeWorker();
      if (!slot) return;
      const job = this.queue.shift() as Job;
      slot.running++;
      slot.worker.ref();
      this.jobs.set(job.id, { ...job, slot });
      slot.worker.postMessage({
        id: job.id,
        root: job.root,
        sync: job.sync ?? false,
        prev: job.prev,
        names: job.names,
        raw: job.raw,
        link: job.link,
      });
    }
  }

  /** An idle worker, a new one while there are fewer than `size`, else the least loaded with room. */
  private freeWorker(): Slot | undefined {
    const idle = this.workers.find((w) => w.running === 0);
    if (idle) return idle;
    if (this.workers.length < this.size) return this.spawn();
    let best: Slot | undefined;
    for (const w of this.workers)
      if (w.running < BATCHES_PER_WORKER && (!best || w.running < best.running)) best = w;
    return best;
  }

  private spawn(): Slot {
    const worker = new Worker(WORKER_SOURCE, { eval: true });
    const slot: Slot = { worker, running: 0 };
    worker.on("message", (message: WorkerMessage) => this.settle(message));
    worker.on("error", (error) => this.fail(slot, error));
    worker.on("exit", (code) => {
      if (!this.closed) this.fail(slot, new Error(`hash worker exited with code ${code}`));
    });
    this.workers.push(slot);
    return slot;
  }

  private settle(message: WorkerMessage): void {
    const job = this.jobs.get(message.id);
    if (!job) return;
    if (message.progress) job.onBytes?.(message.progress);
    if (message.sizes === undefined) return;
    this.jobs.delete(message.id);
    job.slot.running--;
    // An idle worker must not keep the process alive.
    if (job.slot.running === 0) job.slot.worker.unref();
    job.resolve(message as BatchResult);
    this.dispatch();
  }

  private fail(slot: Slot, error: Error): void {
    const index = this.workers.indexOf(slot);
    if (index !== -1) this.workers.splice(index, 1);
    for (const [id, job] of this.jobs) {
      if (job.slot !== slot) continue;
      this.jobs.delete(id);
      job.reject(error);
    }
    this.dispatch();
  }
}
