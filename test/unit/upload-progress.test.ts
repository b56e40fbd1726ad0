import { afterEach, describe, expect, it, vi } from "vitest";
import { UPLOAD_SAMPLE_MS, UploadMeter, type UploadProgress } from "../../src/actions/upload-progress.js";
import { type BackupManifest, bytesPerStateDir } from "../../src/domain/backup-manifest.js";

afterEach(() => {
  vi.useRealTimers();
});

function meter(total: number, reads: Map<number, number | null>) {
  let now = 1000;
  const seen: UploadProgress[] = [];
  const m = new UploadMeter(
    { clock: () => now, procRoot: "/nowhere" },
    total,
    (p) => seen.push(p),
    (pid) => reads.get(pid) ?? null,
  );
  return {
    m,
    seen,
    advance: (ms: number) => {
      now += ms;
      vi.advanceTimersByTime(ms);
    },
  };
}

describe("UploadMeter", () => {
  it("counts a finished dir exactly, estimates a running one from bytes read, capped per dir", () => {
    vi.useFakeTimers();
    const reads = new Map<number, number | null>();
    const { m, seen, advance } = meter(1000, reads);
    const first = m.begin(600);
    expect(seen.at(-1)).toEqual({ bytes: 0, total: 1000, elapsedMs: 0 });
    first.track(11);
    reads.set(11, 250);
    advance(UPLOAD_SAMPLE_MS);
    expect(seen.at(-1)).toEqual({ bytes: 250, total: 1000, elapsedMs: UPLOAD_SAMPLE_MS });
    // Read more than the dir holds (start-up reads, buffering): capped at the dir's bytes.
    reads.set(11, 5000);
    advance(UPLOAD_SAMPLE_MS);
    expect(seen.at(-1)?.bytes).toBe(600);
    first.end(true);
    const second = m.begin(400);
    second.track(12);
    reads.set(12, 100);
    advance(UPLOAD_SAMPLE_MS);
    expect(seen.at(-1)?.bytes).toBe(700);
    second.end(true);
    expect(seen.at(-1)).toEqual({ bytes: 1000, total: 1000, elapsedMs: 3 * UPLOAD_SAMPLE_MS });
    // No sampling after the end.
    const count = seen.length;
    reads.set(12, 1);
    advance(5 * UPLOAD_SAMPLE_MS);
    expect(seen.length).toBe(count);
  });

  it("never goes backwards; a failed upload does not count its dir; unknown reads show nothing new", () => {
    vi.useFakeTimers();
    const reads = new Map<number, number | null>();
    const { m, seen, advance } = meter(1000, reads);
    const up = m.begin(1000);
    up.track(21);
    reads.set(21, 300);
    advance(UPLOAD_SAMPLE_MS);
    reads.set(21, 100); // a child reaped, another started: the sum dips
    advance(UPLOAD_SAMPLE_MS);
    reads.set(21, null); // the process is gone
    advance(UPLOAD_SAMPLE_MS);
    expect(seen.map((p) => p.bytes)).toEqual([0, 300]);
    up.end(false);
    expect(seen.at(-1)?.bytes).toBe(300);
  });
});

describe("bytesPerStateDir", () => {
  it("sums regular files per backed-up dir: symlinks count nothing, a non-UTF-8 name counts in its dir", () => {
    const manifest = {
      backedUpDirs: ["/sandbox/.openclaw", "/sandbox/work"],
      absentDirs: ["/sandbox/gone"],
      files: [
        { path: ".openclaw/a", size: 10, sha256: "" },
        { path: ".openclaw/sub/b", size: 5, sha256: "" },
        { path: ".openclaw/link", size: 7, sha256: "", symlink: "a" },
        {
          pathB64: Buffer.from([0x77, 0x6f, 0x72, 0x6b, 0x2f, 0xff]).toString("base64"),
          size: 3,
          sha256: "",
        },
        { path: "elsewhere/x", size: 100, sha256: "" },
      ],
    } as unknown as BackupManifest;
    expect([...bytesPerStateDir(manifest.backedUpDirs, manifest.files)]).toEqual([
      ["/sandbox/.openclaw", 15],
      ["/sandbox/work", 3],
    ]);
  });
});
