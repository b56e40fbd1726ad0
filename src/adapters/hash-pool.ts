import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";

/**
 * SHA-256 of files on worker threads. Hashing is the CPU-bound part of a backup: on the main
 * thread it competes with the event loop (progress, signals, child processes) and uses one
 * core. Each worker reads with synchronous 1 MiB reads into its own reusable buffer — memory
 * stays flat whatever the file size, and a blocking read on a worker blocks nobody — then, for
 * a backup being written, issues the file's fsync without waiting for it, so fsync latency
 * overlaps with hashing the next file.
 *
 * The worker source is evaluated rather than loaded from a file so it runs the same from `dist/`
 * and from the TypeScript sources under test.
 */
const WORKER_SOURCE = `
const { parentPort } = require("node:worker_threads");
const fs = require("node:fs");
const { createHash } = require("node:crypto");
const CHUNK = 1024 * 1024;
const PROGRESS_EVERY = 8 * CHUNK;
const buffer = Buffer.allocUnsafe(CHUNK);
parentPort.on("message", ({ id, file, sync }) => {
  let fd = -1;
  try {
    // A name that is not valid UTF-8 arrives as its exact bytes.
    fd = fs.openSync(typeof file === "string" ? file : Buffer.from(file), fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
    // The mode of the file as opened, so mode and content describe the same file.
    const mode = fs.fstatSync(fd).mode & 0o777;
    const hash = createHash("sha256");
    let size = 0;
    let reported = 0;
    for (;;) {
      const n = fs.readSync(fd, buffer, 0, CHUNK, null);
      if (n === 0) break;
      hash.update(n === CHUNK ? buffer : buffer.subarray(0, n));
      size += n;
      if (size - reported >= PROGRESS_EVERY) {
        parentPort.postMessage({ id, progress: size - reported });
        reported = size;
      }
    }
    const sha256 = hash.digest("hex");
    // Hashed: the pool may send the next file while this one's fsync completes in the background.
    if (sync) parentPort.postMessage({ id, hashed: true });
    const done = (error) => {
      fs.close(fd, () => {});
      if (error) parentPort.postMessage({ id, error: { message: error.message, code: error.code } });
      else parentPort.postMessage({ id, size, sha256, mode, progress: size - reported });
    };
    if (sync) fs.fsync(fd, done);
    else done(null);
  } catch (error) {
    if (fd !== -1) fs.close(fd, () => {});
    parentPort.postMessage({ id, error: { message: error.message, code: error.code } });
  }
});
`;

export interface FileDigest {
  size: number;
  sha256: string;
  /** The file's `0777` permission bits. */
  mode: number;
}

interface Job {
  id: number;
  file: string | Buffer;
  sync: boolean;
  onBytes?: (n: number) => void;
  resolve: (digest: FileDigest) => void;
  reject: (error: Error) => void;
}

interface WorkerMessage {
  id: number;
  hashed?: boolean;
  progress?: number;
  size?: number;
  sha256?: string;
  mode?: number;
  error?: { message: string; code?: string };
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

/**
 * Files sent to a worker and not yet hashed: one being hashed and one waiting, so the worker never
 * idles on a message round trip. Files already hashed whose fsync is still running do not count:
 * fsync latency never holds up hashing (fsyncs queue on libuv's thread pool instead).
 */
const HASHING_PER_WORKER = 2;
/** Files per worker hashed or fsyncing at once: each holds a descriptor until its fsync ends. */
const PENDING_PER_WORKER = 32;

interface Slot {
  worker: Worker;
  /** Sent, not yet hashed. */
  hashing: number;
  /** Sent, not yet settled (hashing or fsyncing). */
  pending: number;
}

export class HashPool {
  private readonly workers: Slot[] = [];
  private readonly jobs = new Map<number, Job & { slot: Slot; hashed: boolean }>();
  private readonly queue: Job[] = [];
  private nextId = 0;
  private closed = false;

  /** At most `size` workers, started on first use; by default one per core, at most 4. */
  constructor(private readonly size = Math.max(1, Math.min(availableParallelism(), 4))) {}

  hash(
    file: string | Buffer,
    options: { sync?: boolean; onBytes?: (n: number) => void } = {},
  ): Promise<FileDigest> {
    if (this.closed) return Promise.reject(new Error("hash pool is closed"));
    return new Promise((resolve, reject) => {
      this.queue.push({
        id: this.nextId++,
        file,
        sync: options.sync ?? false,
        onBytes: options.onBytes,
        resolve,
        reject,
      });
      this.dispatch();
    });
  }

  /**
   * Starts the workers now, so their boot (tens of ms each) overlaps with work that waits on
   * other processes — a preflight — instead of delaying the first hash. Idle workers never keep
   * the process alive.
   */
  warm(): void {
    while (!this.closed && this.workers.length < this.size) this.spawn().worker.unref();
  }

  /** Stops every worker; jobs still queued or running are rejected. */
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
      slot.hashing++;
      slot.pending++;
      slot.worker.ref();
      this.jobs.set(job.id, { ...job, slot, hashed: false });
      slot.worker.postMessage({ id: job.id, file: job.file, sync: job.sync });
    }
  }

  /** The least loaded worker with room, a new one while there are fewer than `size`. */
  private freeWorker(): Slot | undefined {
    const room = (w: Slot) => w.hashing < HASHING_PER_WORKER && w.pending < PENDING_PER_WORKER;
    const idle = this.workers.find((w) => w.hashing === 0 && room(w));
    if (idle) return idle;
    if (this.workers.length < this.size) return this.spawn();
    let best: Slot | undefined;
    for (const w of this.workers) if (room(w) && (!best || w.hashing < best.hashing)) best = w;
    return best;
  }

  private spawn(): Slot {
    const worker = new Worker(WORKER_SOURCE, { eval: true });
    const slot: Slot = { worker, hashing: 0, pending: 0 };
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
    if (message.hashed) {
      this.hashed(job);
      this.dispatch();
      return;
    }
    if (message.error === undefined && message.sha256 === undefined) return;
    this.hashed(job);
    this.jobs.delete(message.id);
    job.slot.pending--;
    // An idle worker must not keep the process alive.
    if (job.slot.pending === 0) job.slot.worker.unref();
    if (message.error) job.reject(new HashError(`${job.file}: ${message.error.message}`, message.error.code));
    else
      job.resolve({
        size: message.size as number,
        sha256: message.sha256 as string,
        mode: message.mode as number,
      });
    this.dispatch();
  }

  private hashed(job: { slot: Slot; hashed: boolean }): void {
    if (job.hashed) return;
    job.hashed = true;
    job.slot.hashing--;
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
