import { bytesReadByTree } from "../adapters/proc-io.js";
import type { Context } from "../context.js";

/** How far a restore's uploads got: `bytes` of `total`, `elapsedMs` since the first upload began. */
export interface UploadProgress {
  bytes: number;
  total: number;
  elapsedMs: number;
}

/** How often a running upload is sampled. */
export const UPLOAD_SAMPLE_MS = 500;

/**
 * Progress over the uploads of one restore (docs/design.md, "Upload progress"). OpenShell
 * reports none, so it is counted from what is known for certain — a state dir whose upload
 * returned counts its manifest bytes exactly — and, while an upload runs, estimated from the
 * bytes its process tree has read, capped at that dir's bytes. Never goes backwards.
 */
export class UploadMeter {
  private done = 0;
  private shown = 0;
  private startedAt: number | undefined;

  constructor(
    private readonly ctx: Pick<Context, "clock" | "procRoot">,
    readonly total: number,
    private readonly report: (progress: UploadProgress) => void,
    /** Bytes read by a process tree (null: unknown); injectable for tests. */
    private readonly readBytes: (pid: number, procRoot: string) => number | null = bytesReadByTree,
  ) {}

  /**
   * One state dir's upload of `bytes`: `track` gets the upload's pid (sampling starts then),
   * `end` stops sampling and, when the upload succeeded, counts the whole dir.
   */
  begin(bytes: number): { track: (pid: number) => void; end: (succeeded: boolean) => void } {
    this.startedAt ??= this.ctx.clock();
    const base = this.done;
    let timer: NodeJS.Timeout | undefined;
    const sample = (pid: number) => {
      const read = this.readBytes(pid, this.ctx.procRoot);
      if (read !== null) this.show(base + Math.min(bytes, read));
    };
    this.emit();
    return {
      track: (pid) => {
        clearInterval(timer);
        timer = setInterval(() => sample(pid), UPLOAD_SAMPLE_MS);
        timer.unref();
      },
      end: (succeeded) => {
        clearInterval(timer);
        if (!succeeded) return;
        this.done = base + bytes;
        this.show(this.done);
      },
    };
  }

  private show(bytes: number): void {
    if (bytes <= this.shown) return;
    this.shown = bytes;
    this.emit();
  }

  private emit(): void {
    this.report({
      bytes: this.shown,
      total: this.total,
      elapsedMs: this.ctx.clock() - (this.startedAt ?? this.ctx.clock()),
    });
  }
}
