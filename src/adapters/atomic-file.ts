import { randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { killPoint } from "./kill-point.js";

const ERRNO_TEXT: Record<string, string> = {
  ENOSPC: "no space left on device",
  EDQUOT: "disk quota exceeded",
  EROFS: "read-only file system",
  EACCES: "permission denied",
  EPERM: "operation not permitted",
  EIO: "input/output error",
  ENOTDIR: "a parent is not a directory",
  EEXIST: "it already exists",
};

/**
 * A write failed (full disk, read-only filesystem, quota…). Node's own message —
 * `ENOSPC: no space left on device, write` — names no file; this one names the file or
 * directory that could not be written, and keeps the errno `code` for callers that test it.
 */
export class WriteError extends Error {
  readonly code: string | undefined;
  constructor(
    readonly target: string,
    cause: Error,
  ) {
    const code = (cause as NodeJS.ErrnoException).code;
    super(
      `cannot write ${target}: ${code ? `${ERRNO_TEXT[code] ?? cause.message} (${code})` : cause.message}`,
    );
    this.code = code;
    this.name = "WriteError";
  }
}

/** Runs a write to `target`, naming `target` in any errno error it throws. */
export function writingTo<T>(target: string, write: () => T): T {
  try {
    return write();
  } catch (error) {
    if (error instanceof WriteError || !(error as NodeJS.ErrnoException).code) throw error;
    throw new WriteError(target, error as Error);
  }
}

/** fsync a directory so a rename or unlink inside it survives a crash. */
export function fsyncDir(dir: string | Buffer): void {
  const fd = fs.openSync(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

function writeAll(fd: number, data: Buffer): void {
  let written = 0;
  while (written < data.length) written += fs.writeSync(fd, data, written, data.length - written);
}

/** A unique sibling temp name: same directory, so the final rename never crosses a filesystem. */
export function tempSibling(file: string): string {
  return path.join(
    path.dirname(file),
    `.${path.basename(file)}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`,
  );
}

/**
 * Creates `file` with `content` (fsynced) at a temp sibling and returns the temp path; the
 * caller renames or links it into place. Created O_EXCL|O_NOFOLLOW with an exact mode.
 */
export function writeDurableTemp(file: string, content: string | Buffer, mode: number): string {
  return writingTo(file, () => writeTemp(file, content, mode));
}

function writeTemp(file: string, content: string | Buffer, mode: number): string {
  const tmp = tempSibling(file);
  const fd = fs.openSync(
    tmp,
    fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW,
    mode,
  );
  try {
    // The umask can only narrow the mode, but be exact about what we promise.
    fs.fchmodSync(fd, mode);
    writeAll(fd, typeof content === "string" ? Buffer.from(content, "utf8") : content);
    fs.fsyncSync(fd);
  } catch (error) {
    fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw error;
  }
  fs.closeSync(fd);
  return tmp;
}

/**
 * Replaces `file` atomically: readers see the old file or the new one, never a torn write, and
 * after return the content and the rename are durable (temp file fsynced, renamed, dir fsynced).
 */
export function writeFileAtomic(file: string, content: string | Buffer, mode = 0o600): void {
  const tmp = writeDurableTemp(file, content, mode);
  killPoint("write", file);
  writingTo(file, () => {
    try {
      fs.renameSync(tmp, file);
    } catch (error) {
      fs.rmSync(tmp, { force: true });
      throw error;
    }
    fsyncDir(path.dirname(file));
  });
}
