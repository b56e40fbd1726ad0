import fs from "node:fs";
import path from "node:path";
import {
  type BackupManifest,
  closingText,
  EMPTY_FILES_LINE,
  entryBytes,
  entryLine,
  entryProblem,
  FILES_LINE,
  headerText,
  humanPath,
  type ManifestFile,
  type ManifestHeader,
  manifestRoots,
  parseManifest,
  sortKey,
  validateHeader,
} from "../domain/backup-manifest.js";
import { escapeForDisplay } from "../domain/display.js";

/**
 * Reading and writing `rebuild-manifest.json` entry by entry (docs/design.md, "Backup layout and
 * manifest"). This release writes the streaming layout: every key but `files` first (with
 * `fileCount` and `fileBytes`), then `files` as the last key, one entry per line, sorted by
 * exact path bytes. A reader takes the header from the first lines and then the entries one at a
 * time, in constant memory. Manifests of older releases (any key order, `files` anywhere, one
 * line or indented) are still read: only for them is the whole document parsed at once.
 */

const CHUNK = 1024 * 1024;
/** A header (including a `skipped` list) larger than this is not the streaming layout. */
const MAX_HEADER_BYTES = 16 * 1024 * 1024;
/** The streaming layout ends with one of these (non-empty / empty file list). */
const TAIL = Buffer.from("\n  ]\n}\n");
const EMPTY_TAIL = Buffer.from(`\n${EMPTY_FILES_LINE}\n}\n`);

/** A manifest is missing, unreadable or invalid; `reason` says why, as listings show it. */
export class ManifestError extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = "ManifestError";
  }
}

/** Lines of a file read in 1 MiB chunks; only the current chunk and a partial line are held. */
class LineReader {
  private buffer = Buffer.alloc(0);
  private eof = false;
  private readonly chunk = Buffer.allocUnsafe(CHUNK);
  /** Bytes of the file consumed as lines so far. */
  consumed = 0;

  constructor(private readonly fd: number) {}

  /** The next line without its `\n`, or undefined at the end of the file. */
  next(): string | undefined {
    for (;;) {
      const nl = this.buffer.indexOf(0x0a);
      if (nl !== -1) {
        const line = this.buffer.toString("utf8", 0, nl);
        this.buffer = this.buffer.subarray(nl + 1);
        this.consumed += nl + 1;
        return line;
      }
      if (this.eof) {
        if (this.buffer.length === 0) return undefined;
        const line = this.buffer.toString("utf8");
        this.consumed += this.buffer.length;
        this.buffer = Buffer.alloc(0);
        return line;
      }
      const n = fs.readSync(this.fd, this.chunk, 0, CHUNK, null);
      if (n === 0) this.eof = true;
      else
        this.buffer = this.buffer.length
          ? Buffer.concat([this.buffer, this.chunk.subarray(0, n)])
          : Buffer.from(this.chunk.subarray(0, n));
    }
  }
}

function openManifestFd(file: string): number {
  try {
    const fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
    const st = fs.fstatSync(fd);
    if (!st.isFile()) {
      fs.closeSync(fd);
      throw new ManifestError(`manifest unreadable (${st.isDirectory() ? "EISDIR" : "not a regular file"})`);
    }
    return fd;
  } catch (error) {
    if (error instanceof ManifestError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    throw new ManifestError(code === "ENOENT" ? "manifest is missing" : `manifest unreadable (${code})`);
  }
}

/** Whether the file ends as the streaming layout does (`files` closed as the last key). */
function streamingTail(fd: number, emptyList: boolean): boolean {
  const size = fs.fstatSync(fd).size;
  const want = emptyList ? EMPTY_TAIL : TAIL;
  if (size < want.length) return false;
  const tail = Buffer.alloc(want.length);
  fs.readSync(fd, tail, 0, want.length, size - want.length);
  return tail.equals(want);
}

interface Head {
  /** Validated header (without counts), and whether the file list is empty. */
  header: Omit<BackupManifest, "files">;
  emptyList: boolean;
  lines: LineReader;
  /** The first entry line, read to check the layout (one entry per line). */
  first: string | undefined;
}

/** An entry line of the streaming layout: one whole object per line. */
const ENTRY_LINE = /^ {4}\{.*\},?$/;

/**
 * The header of a streaming-layout manifest, or null when the file has another layout (then the
 * caller parses it whole). Throws ManifestError for a streaming header that is invalid.
 */
function readHead(fd: number): Head | null {
  const lines = new LineReader(fd);
  if (lines.next() !== "{") return null;
  const body: string[] = ["{"];
  for (;;) {
    const line = lines.next();
    if (line === undefined || lines.consumed > MAX_HEADER_BYTES) return null;
    if (line === FILES_LINE || line === EMPTY_FILES_LINE) {
      const emptyList = line === EMPTY_FILES_LINE;
      if (!streamingTail(fd, emptyList)) return null;
      let doc: unknown;
      try {
        doc = JSON.parse(`${body.join("\n")}\n"files": []}`);
      } catch {
        return null;
      }
      // Files last but one value per line spread over many lines (`JSON.stringify(m, null, 2)`)
      // is not the streaming layout: parsed whole.
      const first = emptyList ? undefined : lines.next();
      if (!emptyList && (first === undefined || (!ENTRY_LINE.test(first) && first !== "  ]"))) return null;
      const header = validateHeader(doc);
      if (!header.ok) throw new ManifestError(header.reason);
      return { header: header.value, emptyList, lines, first };
    }
    body.push(line);
  }
}

function wholeManifest(fd: number): BackupManifest {
  // From the start, whatever the header probe already read (positioned reads).
  const chunks: Buffer[] = [];
  for (let position = 0; ; ) {
    const chunk = Buffer.allocUnsafe(CHUNK);
    const n = fs.readSync(fd, chunk, 0, CHUNK, position);
    if (n === 0) break;
    chunks.push(chunk.subarray(0, n));
    position += n;
  }
  const text = Buffer.concat(chunks).toString("utf8");
  const parsed = parseManifest(text);
  if (!parsed.ok) throw new ManifestError(parsed.reason);
  return parsed.manifest;
}

function counts(files: readonly ManifestFile[]): { fileCount: number; fileBytes: number } {
  return { fileCount: files.length, fileBytes: files.reduce((n, f) => n + f.size, 0) };
}

/**
 * Entries of a manifest one at a time, in ascending path-byte order, each validated as
 * `parseManifest` validates it. Throws ManifestError (from `next`) on an invalid entry, entries
 * out of order, or a `fileCount`/`fileBytes` the list does not match. Close it when done.
 */
export class ManifestReader {
  private fd: number;
  private head: Head | null;
  private old: { files: ManifestFile[]; index: number } | undefined;
  private readonly roots: ReadonlySet<string>;
  private previous: string | undefined;
  private count = 0;
  private bytes = 0;
  private done = false;
  /** The header, with `fileCount`/`fileBytes` only when the manifest records them (or is old). */
  readonly header: Omit<BackupManifest, "files"> & { fileCount?: number; fileBytes?: number };
  /** True when the manifest has the streaming layout (not parsed whole). */
  readonly streaming: boolean;

  constructor(file: string) {
    this.fd = openManifestFd(file);
    try {
      this.head = readHead(this.fd);
      if (this.head) {
        this.header = this.head.header;
        this.streaming = true;
      } else {
        const manifest = wholeManifest(this.fd);
        const { files, ...header } = manifest;
        // Older releases sorted too; sorting again costs little for a list already in memory.
        const sorted = files
          .map((entry) => ({ entry, key: entryBytes(entry) }))
          .sort((a, b) => Buffer.compare(a.key, b.key))
          .map(({ entry }) => entry);
        this.old = { files: sorted, index: 0 };
        this.header = { ...header, ...counts(sorted) };
        this.streaming = false;
      }
    } catch (error) {
      this.close();
      throw error;
    }
    this.roots = manifestRoots(this.header.backedUpDirs);
  }

  /** The sort key (`sortKey`: exact path bytes as latin1) of the entry `next` returned last. */
  key = "";

  /** The next entry, or undefined after the last one (then the counts have been checked). */
  next(): ManifestFile | undefined {
    if (this.done) return undefined;
    if (this.old) {
      const entry = this.old.files[this.old.index++];
      if (entry === undefined) this.done = true;
      else this.key = sortKey(entry);
      return entry;
    }
    const head = this.head as Head;
    let line: string | undefined;
    if (head.emptyList) line = "  ]";
    else if (head.first !== undefined) {
      line = head.first;
      head.first = undefined;
    } else line = head.lines.next();
    if (line === undefined) throw new ManifestError("manifest ends inside its file list");
    if (line === "  ]") {
      if (head.lines.next() !== "}" || head.lines.next() !== undefined)
        throw new ManifestError("manifest has data after its file list");
      this.finishCounts();
      this.done = true;
      return undefined;
    }
    let text = line.startsWith("    ") ? line.slice(4) : line;
    if (text.endsWith(",")) text = text.slice(0, -1);
    let entry: unknown;
    try {
      entry = JSON.parse(text);
    } catch (error) {
      throw new ManifestError(`manifest is not valid JSON (${escapeForDisplay((error as Error).message)})`);
    }
    const problem = entryProblem(entry, this.roots);
    if (problem) throw new ManifestError(problem);
    const f = entry as ManifestFile;
    const key = sortKey(f);
    if (this.previous !== undefined && this.previous >= key)
      throw new ManifestError(`manifest files are not sorted by path at "${humanPath(f)}"`);
    this.previous = key;
    this.key = key;
    this.count++;
    this.bytes += f.size;
    return f;
  }

  /** `next` with the entry's exact path bytes (for merge joins). */
  nextKeyed(): { entry: ManifestFile; key: string } | undefined {
    const entry = this.next();
    return entry ? { entry, key: this.key } : undefined;
  }

  private finishCounts(): void {
    const { fileCount, fileBytes } = this.header;
    if (
      (fileCount !== undefined && fileCount !== this.count) ||
      (fileBytes !== undefined && fileBytes !== this.bytes)
    )
      throw new ManifestError("manifest fileCount/fileBytes do not match its file list");
  }

  /** Every remaining entry (a sync iterable over `next`). */
  *entries(): Generator<ManifestFile> {
    for (let f = this.next(); f !== undefined; f = this.next()) yield f;
  }

  close(): void {
    if (this.fd !== -1) fs.closeSync(this.fd);
    this.fd = -1;
  }
}

/**
 * The header of `file` with its file count and bytes, reading as little as the layout allows:
 * for the streaming layout with counts only the header lines and the last bytes (so `backups
 * list` and retention never read a million entries); without counts, the entries are counted one
 * by one; an older layout is parsed whole. The entries of the streaming layout are not validated
 * here (verify, restore and linking read them through ManifestReader, which does).
 */
export function readManifestHeader(file: string): ManifestHeader {
  const fd = openManifestFd(file);
  let head: Head | null;
  try {
    head = readHead(fd);
    if (!head) {
      const { files, ...header } = wholeManifest(fd);
      return { ...header, ...counts(files) };
    }
  } finally {
    fs.closeSync(fd);
  }
  const { fileCount, fileBytes } = head.header as { fileCount?: number; fileBytes?: number };
  if (fileCount !== undefined && fileBytes !== undefined) return { ...head.header, fileCount, fileBytes };
  const reader = new ManifestReader(file);
  try {
    let n = 0;
    let bytes = 0;
    for (const f of reader.entries()) {
      n++;
      bytes += f.size;
    }
    return { ...reader.header, fileCount: n, fileBytes: bytes };
  } finally {
    reader.close();
  }
}

/** Every entry of a backup's manifest in path-byte order, read lazily (closed at the end). */
export function* manifestFiles(
  backupDir: string,
  manifestName = "rebuild-manifest.json",
): Generator<ManifestFile> {
  const reader = new ManifestReader(path.join(backupDir, manifestName));
  try {
    yield* reader.entries();
  } finally {
    reader.close();
  }
}

/**
 * Writes a manifest entry by entry: entries (added in ascending path-byte order) go to a body
 * file beside the manifest as they come; `finish` writes the manifest's temp file — the header,
 * now with the counts and every skipped entry known, then the body — and removes the body.
 * Buffers at most ~256 KiB.
 */
export class ManifestWriter {
  private fd: number;
  private pending: string[] = [];
  private pendingBytes = 0;
  private previous: string | undefined;
  fileCount = 0;
  fileBytes = 0;

  /** `bodyFile`: where the entries wait (inside staging, so a dead run's is cleaned with it). */
  constructor(private readonly bodyFile: string) {
    this.fd = fs.openSync(
      bodyFile,
      fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW,
      0o600,
    );
  }

  /** Adds the next entry; `key` (its `sortKey`) when the caller has it. */
  add(f: ManifestFile, key: string = sortKey(f)): void {
    if (this.previous !== undefined && this.previous >= key)
      throw new Error(`manifest entries out of order at ${humanPath(f)}`);
    this.previous = key;
    const line = entryLine(f);
    this.pending.push(this.fileCount === 0 ? line : `,\n${line}`);
    this.pendingBytes += line.length + 2;
    this.fileCount++;
    this.fileBytes += f.size;
    if (this.pendingBytes >= 256 * 1024) this.flush();
  }

  private flush(): void {
    if (this.pending.length === 0) return;
    const data = Buffer.from(this.pending.join(""), "utf8");
    let written = 0;
    while (written < data.length) written += fs.writeSync(this.fd, data, written, data.length - written);
    this.pending = [];
    this.pendingBytes = 0;
  }

  /**
   * Writes the complete manifest to `target` (created exclusively, 0600; not fsynced: the caller
   * makes it durable) and removes the body file.
   */
  finish(header: Omit<BackupManifest, "files">, target: string): void {
    this.flush();
    fs.closeSync(this.fd);
    this.fd = -1;
    const empty = this.fileCount === 0;
    const out = fs.openSync(
      target,
      fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW,
      0o600,
    );
    try {
      fs.fchmodSync(out, 0o600);
      const full = { ...header, fileCount: this.fileCount, fileBytes: this.fileBytes };
      writeAll(out, Buffer.from(headerText(full, empty), "utf8"));
      const body = fs.openSync(this.bodyFile, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
      try {
        const chunk = Buffer.allocUnsafe(CHUNK);
        for (;;) {
          const n = fs.readSync(body, chunk, 0, CHUNK, null);
          if (n === 0) break;
          writeAll(out, chunk.subarray(0, n));
        }
      } finally {
        fs.closeSync(body);
      }
      writeAll(out, Buffer.from(closingText(empty), "utf8"));
    } finally {
      fs.closeSync(out);
    }
    fs.rmSync(this.bodyFile, { force: true });
  }

  /** Gives up: closes and removes the body file. */
  abort(): void {
    if (this.fd !== -1) fs.closeSync(this.fd);
    this.fd = -1;
    fs.rmSync(this.bodyFile, { force: true });
  }
}

function writeAll(fd: number, data: Buffer): void {
  let written = 0;
  while (written < data.length) written += fs.writeSync(fd, data, written, data.length - written);
}
