import fs, {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import {
  tempSibling,
  WriteError,
  writeDurableTemp,
  writeFileAtomic,
  writingTo,
} from "../../src/adapters/atomic-file.js";

describe("atomic-file", () => {
  const dirs: string[] = [];
  const umask = process.umask();
  afterEach(() => {
    vi.restoreAllMocks();
    process.umask(umask);
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  function tempDir(): string {
    const dir = mkdtempSync(path.join(tmpdir(), "atomic-"));
    dirs.push(dir);
    return dir;
  }
  const mode = (f: string) => statSync(f).mode & 0o777;

  it("creates a file and replaces its content", () => {
    const dir = tempDir();
    const f = path.join(dir, "state.json");
    writeFileAtomic(f, '{"v":1}\n');
    expect(readFileSync(f, "utf8")).toBe('{"v":1}\n');
    writeFileAtomic(f, "short");
    expect(readFileSync(f, "utf8")).toBe("short");
    const binary = Buffer.from([0, 255, 1, 254, 10]);
    writeFileAtomic(f, binary);
    expect(readFileSync(f)).toEqual(binary);
    writeFileAtomic(f, "");
    expect(readFileSync(f, "utf8")).toBe("");
    expect(readdirSync(dir)).toEqual(["state.json"]);
  });

  it("writes content larger than one write() call", () => {
    const dir = tempDir();
    const f = path.join(dir, "big");
    const data = Buffer.alloc(8 * 1024 * 1024, 0x5a);
    writeFileAtomic(f, data);
    expect(readFileSync(f).equals(data)).toBe(true);
  });

  it.each([
    [0o600, 0o000],
    [0o600, 0o022],
    [0o644, 0o077],
    [0o644, 0o000],
    [0o640, 0o027],
  ])("sets exactly mode %o under umask %o", (wanted, mask) => {
    const dir = tempDir();
    const f = path.join(dir, "file");
    process.umask(mask);
    writeFileAtomic(f, "x", wanted);
    expect(mode(f)).toBe(wanted);
  });

  it("defaults to 0600 and replaces the mode of an existing file", () => {
    const dir = tempDir();
    const f = path.join(dir, "file");
    writeFileSync(f, "old", { mode: 0o666 });
    fs.chmodSync(f, 0o777);
    writeFileAtomic(f, "new");
    expect(mode(f)).toBe(0o600);
    expect(readFileSync(f, "utf8")).toBe("new");
  });

  it("replaces a symlink at the path instead of writing through it", () => {
    const dir = tempDir();
    const target = path.join(dir, "target");
    writeFileSync(target, "target content");
    const link = path.join(dir, "link");
    fs.symlinkSync(target, link);
    writeFileAtomic(link, "new");
    expect(fs.lstatSync(link).isFile()).toBe(true);
    expect(readFileSync(target, "utf8")).toBe("target content");
  });

  it("leaves no temp files behind after many writes", () => {
    const dir = tempDir();
    const f = path.join(dir, "f");
    for (let i = 0; i < 20; i++) writeFileAtomic(f, `v${i}`);
    expect(readdirSync(dir)).toEqual(["f"]);
    expect(readFileSync(f, "utf8")).toBe("v19");
  });

  it("fails without creating anything when the parent is a file", () => {
    const dir = tempDir();
    const parent = path.join(dir, "not-a-dir");
    writeFileSync(parent, "I am a file");
    expect(() => writeFileAtomic(path.join(parent, "f"), "x")).toThrow(/ENOTDIR/);
    expect(readdirSync(dir)).toEqual(["not-a-dir"]);
    expect(readFileSync(parent, "utf8")).toBe("I am a file");
  });

  it("leaves the target and no temp file when the rename fails (target is a directory)", () => {
    const dir = tempDir();
    const target = path.join(dir, "target");
    mkdirSync(target);
    writeFileSync(path.join(target, "inside"), "kept");
    expect(() => writeFileAtomic(target, "x")).toThrow(/EISDIR/);
    expect(readdirSync(dir)).toEqual(["target"]);
    expect(readFileSync(path.join(target, "inside"), "utf8")).toBe("kept");
  });

  it("keeps the original intact and removes the temp file when the write fails midway", () => {
    const dir = tempDir();
    const f = path.join(dir, "registry.json");
    writeFileSync(f, "original", { mode: 0o600 });
    // A disk that fills up during the write: the first chunk lands, the next one fails.
    const realWrite = fs.writeSync;
    let calls = 0;
    const spy = vi.spyOn(fs, "writeSync").mockImplementation(((
      fd: number,
      buffer: Buffer,
      offset: number,
      length: number,
    ) => {
      calls++;
      if (calls === 1) return realWrite(fd, buffer, offset, Math.min(length, 4));
      throw Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" });
    }) as typeof fs.writeSync);
    expect(() => writeFileAtomic(f, "replacement content")).toThrow(/ENOSPC/);
    expect(spy).toHaveBeenCalledTimes(2);
    spy.mockRestore();
    expect(readFileSync(f, "utf8")).toBe("original");
    expect(readdirSync(dir)).toEqual(["registry.json"]);
  });

  it("keeps the original intact and removes the temp file when the fsync fails", () => {
    const dir = tempDir();
    const f = path.join(dir, "registry.json");
    writeFileSync(f, "original");
    vi.spyOn(fs, "fsyncSync").mockImplementationOnce(() => {
      throw Object.assign(new Error("EIO: i/o error, fsync"), { code: "EIO" });
    });
    expect(() => writeFileAtomic(f, "replacement")).toThrow(/EIO/);
    expect(readFileSync(f, "utf8")).toBe("original");
    expect(readdirSync(dir)).toEqual(["registry.json"]);
  });

  describe("writeDurableTemp and tempSibling", () => {
    it("puts the temp file beside the target with a unique hidden name", () => {
      const f = path.join("/some/dir", "file.json");
      const a = tempSibling(f);
      const b = tempSibling(f);
      expect(path.dirname(a)).toBe("/some/dir");
      expect(path.basename(a)).toMatch(new RegExp(`^\\.file\\.json\\.${process.pid}\\.[0-9a-f]{12}\\.tmp$`));
      expect(a).not.toBe(b);
    });

    it("returns a fsynced temp file with the exact mode, leaving the target alone", () => {
      const dir = tempDir();
      const f = path.join(dir, "target");
      writeFileSync(f, "old");
      process.umask(0o077);
      const tmp = writeDurableTemp(f, "new", 0o644);
      expect(path.dirname(tmp)).toBe(dir);
      expect(readFileSync(tmp, "utf8")).toBe("new");
      expect(mode(tmp)).toBe(0o644);
      expect(readFileSync(f, "utf8")).toBe("old");
    });
  });

  it("a failed write names the file it was for and keeps the errno code", () => {
    const dir = tempDir();
    fs.writeFileSync(path.join(dir, "not-a-dir"), "x");
    const target = path.join(dir, "not-a-dir", "sandboxes.json");
    let caught: unknown;
    try {
      writeFileAtomic(target, "{}");
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(WriteError);
    expect((caught as WriteError).code).toBe("ENOTDIR");
    expect((caught as Error).message).toBe(`cannot write ${target}: a parent is not a directory (ENOTDIR)`);
  });

  it("writingTo turns ENOSPC into a message naming the path, and passes other errors through", () => {
    const enospc = Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" });
    expect(() =>
      writingTo("/state/x.json", () => {
        throw enospc;
      }),
    ).toThrow("cannot write /state/x.json: no space left on device (ENOSPC)");
    const plain = new Error("not an errno error");
    expect(() =>
      writingTo("/state/x.json", () => {
        throw plain;
      }),
    ).toThrow(plain);
  });
});
