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
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
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
    const done = (error) => {
      fs.close(fd, () => {});
      if (error) parentPort.postMessage({ id, error: { message: error.message, code: error.code } });
      else parentPort.postMessage({ id, size, sha256, progress: size - reported });
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
}

interface Job {
  id: number;
  file: string;
  sync: boolean;
  onBytes?: (n: number) => void;
  resolve: (digest: FileDigest) => void;
  reject: (error: Error) => void;
}

interface WorkerMessage {
  id: number;
  progress?: number;
  size?: number;
  sha256?: string;
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

/** Files each worker has in flight: one hashing while the previous one's fsync completes. */
const IN_FLIGHT_PER_WORKER = 2;

export class HashPool {
  private readonly workers: { worker: Worker; busy: number }[] = [];
  private readonly jobs = new Map<number, Job & { worker: Worker }>();
  private readonly queue: Job[] = [];
  private nextId = 0;
  private closed = false;

  /** At most `size` workers, started on first use; by default one per core, at most 4. */
  constructor(private readonly size = Math.max(1, Math.min(availableParallelism(), 4))) {}

  hash(file: string, options: { sync?: boolean; onBytes?: (n: number) => void } = {}): Promise<FileDigest> {
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
      slot.busy++;
      slot.worker.ref();
      this.jobs.set(job.id, { ...job, worker: slot.worker });
      slot.worker.postMessage({ id: job.id, file: job.file, sync: job.sync });
    }
  }

  private freeWorker(): { worker: Worker; busy: number } | undefined {
    const idle = this.workers.find((w) => w.busy === 0);
    if (idle) return idle;
    if (this.workers.length < this.size) return this.spawn();
    return this.workers.find((w) => w.busy < IN_FLIGHT_PER_WORKER);
  }

  private spawn(): { worker: Worker; busy: number } {
    const worker = new Worker(WORKER_SOURCE, { eval: true });
    const slot = { worker, busy: 0 };
    worker.on("message", (message: WorkerMessage) => this.settle(slot, message));
    worker.on("error", (error) => this.fail(worker, error));
    worker.on("exit", (code) => {
      if (!this.closed) this.fail(worker, new Error(`hash worker exited with code ${code}`));
    });
    this.workers.push(slot);
    return slot;
  }

  private settle(slot: { worker: Worker; busy: number }, message: WorkerMessage): void {
    const job = this.jobs.get(message.id);
    if (!job) return;
    if (message.progress) job.onBytes?.(message.progress);
    if (message.error) {
      this.finish(slot, message.id);
      job.reject(new HashError(`${job.file}: ${message.error.message}`, message.error.code));
    } else if (message.sha256 !== undefined) {
      this.finish(slot, message.id);
      job.resolve({ size: message.size as number, sha256: message.sha256 });
    }
  }

  private finish(slot: { worker: Worker; busy: number }, id: number): void {
    this.jobs.delete(id);
    slot.busy--;
    // An idle worker must not keep the process alive.
    if (slot.busy === 0) slot.worker.unref();
    this.dispatch();
  }

  private fail(worker: Worker, error: Error): void {
    const index = this.workers.findIndex((w) => w.worker === worker);
    if (index !== -1) this.workers.splice(index, 1);
    for (const [id, job] of this.jobs) {
      if (job.worker !== worker) continue;
      this.jobs.delete(id);
      job.reject(error);
    }
    this.dispatch();
  }
}
