import { escapeForDisplay, neutralizeControls } from "./display.js";

/** `rebuild-manifest.json` (docs/design.md, "backup-all"): the record that makes a backup directory complete. */
export const MANIFEST_FILE = "rebuild-manifest.json";

export interface ManifestFile {
  /**
   * POSIX path relative to the backup directory, e.g. `.openclaw/workspace/notes.md`. Absent
   * when the name is not valid UTF-8: `pathB64` holds its exact bytes instead.
   */
  path?: string;
  /** Base64 of the exact bytes of a relative path that is not valid UTF-8 (instead of `path`). */
  pathB64?: string;
  size: number;
  sha256: string;
  /**
   * The `0777` permission bits as downloaded, octal (`"0644"`). Tar-based transfers carry no
   * setuid/setgid/sticky bits, so none are promised. Absent in manifests of older backups.
   */
  mode?: string;
  /** Present for symbolic links: the link target (the hash is of the target text). */
  symlink?: string;
}

/** What a special file found in a state dir was (docs/design.md): listed, never stored. */
export type SkippedType = "fifo" | "socket" | "block-device" | "char-device" | "unknown";

export interface SkippedEntry {
  /** Relative path, like a file entry's (`pathB64` when not valid UTF-8). */
  path?: string;
  pathB64?: string;
  type: SkippedType;
}

export interface BackupManifest {
  version: 1;
  sandboxName: string;
  timestamp: string;
  agentType: string;
  agentVersion: string | null;
  stateDirs: string[];
  backedUpDirs: string[];
  absentDirs: string[];
  files: ManifestFile[];
  /** Special files (FIFOs, sockets, devices) found and not stored. Absent in older manifests. */
  skipped?: SkippedEntry[];
  complete: true;
  /** The nemoclaw that wrote it (extra field; readers ignore unknown fields). */
  nemoclawVersion?: string;
}

/** ISO time with `:` and `.` replaced by `-`: sortable and safe as a directory name. */
export function backupTimestamp(date: Date): string {
  return date.toISOString().replace(/[:.]/g, "-");
}

const TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}-\d{3}Z$/;

export function isBackupTimestamp(name: string): boolean {
  return TIMESTAMP.test(name);
}

/**
 * A manifest path may only name something inside the backup directory: relative, no `..`,
 * no empty or `.` segments, no NUL. Checked on read too, since a manifest is input.
 */
export function isSafeRelativePath(p: string): boolean {
  return p.length > 0 && !UNSAFE_PATH.test(p);
}

/** A leading `/`, an empty, `.` or `..` segment, a NUL or a backslash. */
const UNSAFE_PATH = /^\/|\/\/|\/$|(^|\/)\.\.?(\/|$)|[\0\\]/;

/** An absolute, normalized directory inside a sandbox, never `/` itself. */
export function isSandboxStateDir(dir: unknown): dir is string {
  if (
    typeof dir !== "string" ||
    !dir.startsWith("/") ||
    dir === "/" ||
    dir.endsWith("/") ||
    dir.includes("\0")
  ) {
    return false;
  }
  return dir
    .slice(1)
    .split("/")
    .every((segment) => segment !== "" && segment !== "." && segment !== "..");
}

// ignoreBOM: a name starting with U+FEFF keeps it (the decoder would strip it otherwise).
const UTF8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/**
 * The relative path of a tree entry from its exact bytes: `path` when valid UTF-8, else
 * `pathB64`. A name with a backslash also goes to `pathB64`: `path` never holds one (readers
 * refuse it), yet on Linux it is an ordinary character of a file name.
 */
export function entryPath(bytes: Uint8Array): { path: string } | { pathB64: string } {
  try {
    const text = UTF8.decode(bytes);
    if (!text.includes("\\")) return { path: text };
  } catch {
    // not UTF-8: exact bytes below
  }
  return { pathB64: Buffer.from(bytes).toString("base64") };
}

/** The exact bytes of an entry's relative path. */
export function entryBytes(entry: { path?: string; pathB64?: string }): Buffer {
  return entry.path !== undefined
    ? Buffer.from(entry.path, "utf8")
    : Buffer.from(entry.pathB64 ?? "", "base64");
}

/** One key per distinct path, whichever way it is recorded (for comparing trees). */
export function entryKey(entry: { path?: string; pathB64?: string }): string {
  return entry.path ?? `\0b64:${entry.pathB64}`;
}

const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;

/**
 * An entry's exact path bytes as a latin1 string (one char per byte): compared with `<`, such
 * strings order exactly as the bytes do (the manifest's order). A printable-ASCII path is its
 * own key, so the common case allocates nothing.
 */
export function sortKey(entry: { path?: string; pathB64?: string }): string {
  if (entry.path !== undefined && PRINTABLE_ASCII.test(entry.path)) return entry.path;
  return entryBytes(entry).toString("latin1");
}

/** `path`/`pathB64` of a relative path given as a latin1 key (see `sortKey`). */
export function entryPathOfKey(key: string): { path: string } | { pathB64: string } {
  if (PRINTABLE_ASCII.test(key) && !key.includes("\\")) return { path: key };
  return entryPath(Buffer.from(key, "latin1"));
}

/**
 * An entry's path as listed in results (`backups verify`'s lists, also in --json): the exact UTF-8
 * path, or the bytes with every non-ASCII byte escaped. Human output escapes it once more
 * (`escapeForDisplay`); messages use `humanPath`.
 */
export function displayPath(entry: { path?: string; pathB64?: string }): string {
  if (entry.path !== undefined) return entry.path;
  let out = "";
  for (const byte of entryBytes(entry)) {
    out +=
      byte >= 0x20 && byte < 0x7f && byte !== 0x5c
        ? String.fromCharCode(byte)
        : `\\x${byte.toString(16).padStart(2, "0")}`;
  }
  return out;
}

/**
 * An entry's path for a message a person reads: the UTF-8 path escaped by `escapeForDisplay`, or
 * the byte form of `displayPath` (already escaped) for a name that is not valid UTF-8. File names
 * come from the agent inside the sandbox: never print `entry.path` raw.
 */
export function humanPath(entry: { path?: string; pathB64?: string }): string {
  return entry.path !== undefined ? escapeForDisplay(entry.path) : displayPath(entry);
}

/** `0o644` → `"0644"`: the 0777 bits only (docs/design.md). */
export function formatMode(mode: number): string {
  return (mode & 0o777).toString(8).padStart(4, "0");
}

const MODE = /^0[0-7]{3}$/;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** isSafeRelativePath's rules on exact bytes (a `pathB64` entry), a backslash allowed. */
function isSafeRelativeBytes(bytes: Buffer): boolean {
  if (bytes.length === 0 || bytes[0] === 0x2f || bytes.includes(0)) return false;
  return bytes
    .toString("latin1")
    .split("/")
    .every((segment) => segment !== "" && segment !== "." && segment !== "..");
}

/** The first segment of an entry's path, as latin1 text (exact bytes, comparable with names). */
function topSegment(entry: { path?: string; pathB64?: string }): string {
  return entryBytes(entry).toString("latin1").split("/")[0] as string;
}

/** An entry's path (`path` or `pathB64`) names something inside the backup directory. */
export function validEntryPath(f: { path?: unknown; pathB64?: unknown }): boolean {
  if (f.path !== undefined)
    return f.pathB64 === undefined && typeof f.path === "string" && isSafeRelativePath(f.path);
  return (
    typeof f.pathB64 === "string" &&
    f.pathB64.length > 0 &&
    BASE64.test(f.pathB64) &&
    isSafeRelativeBytes(Buffer.from(f.pathB64, "base64"))
  );
}

const SKIPPED_TYPES: ReadonlySet<string> = new Set([
  "fifo",
  "socket",
  "block-device",
  "char-device",
  "unknown",
]);

/**
 * The manifest without its file list: what `backups list`, retention and a restore's plan need.
 * `fileCount` and `fileBytes` are written ahead of `files` by this release (additive fields,
 * docs/design.md "Backup layout and manifest"), so a listing reads the header only; for older
 * manifests the reader computes them.
 */
export type ManifestHeader = Omit<BackupManifest, "files"> & { fileCount: number; fileBytes: number };

type Parsed<T> = { ok: true; value: T } | { ok: false; reason: string };

/**
 * Validates everything of a manifest but its file entries (`files` itself is not looked at).
 * The returned header carries whatever unknown fields the document has.
 */
export function validateHeader(v: unknown): Parsed<Omit<BackupManifest, "files">> {
  if (typeof v !== "object" || v === null || Array.isArray(v))
    return { ok: false, reason: "manifest is not an object" };
  const m = v as Partial<BackupManifest>;
  if (m.version !== 1) return { ok: false, reason: "manifest version is not 1" };
  if (m.complete !== true) return { ok: false, reason: "manifest is not marked complete" };
  if (
    typeof m.sandboxName !== "string" ||
    typeof m.timestamp !== "string" ||
    typeof m.agentType !== "string"
  ) {
    return { ok: false, reason: "manifest lacks sandboxName, timestamp or agentType" };
  }
  for (const key of ["stateDirs", "backedUpDirs", "absentDirs"] as const) {
    const list = m[key];
    // These are handed to `rm -rf` inside the sandbox on restore: only plain absolute paths.
    if (!Array.isArray(list) || !list.every(isSandboxStateDir)) {
      return { ok: false, reason: `manifest ${key} is not a list of absolute state directories` };
    }
  }
  const stateDirs = new Set(m.stateDirs);
  if (![...(m.backedUpDirs ?? []), ...(m.absentDirs ?? [])].every((d) => stateDirs.has(d))) {
    return { ok: false, reason: "manifest backedUpDirs/absentDirs are not among its stateDirs" };
  }
  if (m.agentVersion != null && typeof m.agentVersion !== "string") {
    return { ok: false, reason: "manifest agentVersion is neither a string nor null" };
  }
  if (m.skipped !== undefined) {
    if (!Array.isArray(m.skipped)) return { ok: false, reason: "manifest skipped is not a list" };
    for (const s of m.skipped) {
      if (typeof s !== "object" || s === null || !validEntryPath(s) || !SKIPPED_TYPES.has(s.type)) {
        return {
          ok: false,
          reason: `manifest has an invalid skipped entry ${neutralizeControls(JSON.stringify(s).slice(0, 120))}`,
        };
      }
    }
  }
  for (const key of ["fileCount", "fileBytes"] as const) {
    const n = (v as Record<string, unknown>)[key];
    if (n !== undefined && (!Number.isSafeInteger(n) || (n as number) < 0))
      return { ok: false, reason: `manifest ${key} is not a count` };
  }
  const { files: _files, ...header } = m as BackupManifest;
  return { ok: true, value: header };
}

/**
 * The first segments every stored path must start with (the backed-up dirs' basenames, as latin1
 * text of their UTF-8 bytes, comparable with `topSegment`).
 */
export function manifestRoots(backedUpDirs: readonly string[]): ReadonlySet<string> {
  return new Set(
    backedUpDirs.map((d) => Buffer.from(d.split("/").pop() as string, "utf8").toString("latin1")),
  );
}

/** Why a file entry is invalid (null when it is valid): the rules of docs/design.md. */
export function entryProblem(f: unknown, roots: ReadonlySet<string>): string | null {
  const e = f as ManifestFile;
  if (
    typeof f !== "object" ||
    f === null ||
    Array.isArray(f) ||
    !validEntryPath(e) ||
    !Number.isSafeInteger(e.size) ||
    e.size < 0 ||
    (e.symlink !== undefined && typeof e.symlink !== "string") ||
    (e.mode !== undefined && (typeof e.mode !== "string" || !MODE.test(e.mode))) ||
    typeof e.sha256 !== "string" ||
    !SHA256.test(e.sha256)
  ) {
    return `manifest has an invalid file entry ${neutralizeControls(JSON.stringify(f).slice(0, 120))}`;
  }
  // Every stored path must lie under one of the backed-up dirs (as `<basename>/…`): restore
  // uploads exactly those directories, so anything else is not a backup this tool wrote. (An
  // ASCII top segment reads the same as latin1 bytes: no Buffer for the common case.)
  const slash = e.path !== undefined ? e.path.indexOf("/") : -2;
  const top = slash > 0 && ASCII.test(e.path?.slice(0, slash) ?? "") ? e.path?.slice(0, slash) : undefined;
  if (top !== undefined ? !roots.has(top) : !entryBytes(e).includes(0x2f) || !roots.has(topSegment(e))) {
    return `manifest file "${humanPath(e)}" is not under one of its backedUpDirs`;
  }
  return null;
}

const SHA256 = /^[0-9a-f]{64}$/;
const ASCII = /^[\x20-\x7e]*$/;

/** Parses and validates a whole manifest (any layout); returns a reason instead of throwing. */
export function parseManifest(
  text: string,
): { ok: true; manifest: BackupManifest } | { ok: false; reason: string } {
  let v: Partial<BackupManifest>;
  try {
    v = JSON.parse(text) as Partial<BackupManifest>;
  } catch (error) {
    // The parser's message quotes the bytes it choked on: escape them.
    return {
      ok: false,
      reason: `manifest is not valid JSON (${escapeForDisplay((error as Error).message)})`,
    };
  }
  const header = validateHeader(v);
  if (!header.ok) return header;
  if (!Array.isArray(v.files)) return { ok: false, reason: "manifest files is not a list" };
  const roots = manifestRoots(header.value.backedUpDirs);
  for (const f of v.files) {
    const problem = entryProblem(f, roots);
    if (problem) return { ok: false, reason: problem };
  }
  return { ok: true, manifest: v as BackupManifest };
}

export interface TreeComparison {
  missing: string[];
  /** Content (or link target) differs; paths shown as displayPath gives them. */
  changed: string[];
  /** Same content, different `0777` bits (only for entries whose manifest records a mode). */
  modeChanged: string[];
  extra: string[];
}

/** Total of the differences (0 = identical). */
export function differenceCount(c: TreeComparison): number {
  return c.missing.length + c.changed.length + c.modeChanged.length + c.extra.length;
}

/** What differs between a manifest's files and the files found on disk (keyed by exact path). */
export function compareTrees(
  expected: readonly ManifestFile[],
  actual: readonly ManifestFile[],
): TreeComparison {
  const found = new Map(actual.map((f) => [entryKey(f), f]));
  const wanted = new Set(expected.map(entryKey));
  const missing: string[] = [];
  const changed: string[] = [];
  const modeChanged: string[] = [];
  for (const f of expected) {
    const a = found.get(entryKey(f));
    if (!a) missing.push(displayPath(f));
    else if (a.sha256 !== f.sha256 || a.size !== f.size || a.symlink !== f.symlink)
      changed.push(displayPath(f));
    else if (f.mode !== undefined && a.mode !== f.mode) modeChanged.push(displayPath(f));
  }
  const extra = actual.filter((f) => !wanted.has(entryKey(f))).map(displayPath);
  return { missing, changed, modeChanged, extra };
}

/**
 * The chmods that bring `actual` back to the manifest's modes: regular files only (a chmod of a
 * link would follow it), grouped by mode, each path as its exact bytes.
 */
export function modeRepairs(
  expected: readonly ManifestFile[],
  actual: readonly ManifestFile[],
): Map<string, ManifestFile[]> {
  const found = new Map(actual.map((f) => [entryKey(f), f]));
  const byMode = new Map<string, ManifestFile[]>();
  for (const f of expected) {
    const a = found.get(entryKey(f));
    if (!a || f.mode === undefined || f.symlink !== undefined || a.symlink !== undefined) continue;
    if (a.sha256 !== f.sha256 || a.size !== f.size || a.mode === f.mode) continue;
    const group = byMode.get(f.mode);
    if (group) group.push(f);
    else byMode.set(f.mode, [f]);
  }
  return byMode;
}

/**
 * The hard-link rule of docs/design.md ("backup-all"): a regular file of the new backup may become
 * a link to the previous backup's file **at the same path** when `sha256`, `size` and `mode` all
 * match (and then only after the bytes are proven equal). Symlinks never are, nor entries without
 * a recorded mode (older manifests), nor empty files: a link saves nothing.
 */
export function linkable(f: ManifestFile): boolean {
  return f.symlink === undefined && f.mode !== undefined && f.size > 0;
}

/**
 * Compares a manifest's files with the files found on disk as a merge join: both sides arrive
 * sorted by exact path bytes (`expected` is pulled, `actual` pushed), so memory holds only the
 * differences, never either list. `repairs` (optional) groups the regular files whose content
 * matches but whose recorded mode does not, as `modeRepairs` does.
 */
export class TreeMerge {
  readonly missing: string[] = [];
  readonly changed: string[] = [];
  readonly modeChanged: string[] = [];
  readonly extra: string[] = [];
  readonly repairs = new Map<string, ManifestFile[]>();
  private pending: { entry: ManifestFile; key: string } | undefined;

  /**
   * `expected` gives the next manifest entry and, when it has them at hand, its exact path bytes
   * (a streamed manifest computed them to check the order).
   */
  constructor(
    private readonly expected: () => { entry: ManifestFile; key?: string } | undefined,
    private readonly collectRepairs = false,
  ) {}

  /** The next file found on disk (in ascending path-byte order; `key` as `sortKey` gives it). */
  actual(a: ManifestFile, key: string = sortKey(a)): void {
    for (;;) {
      this.pending ??= this.pull();
      if (!this.pending) break;
      const order = this.pending.key < key ? -1 : this.pending.key > key ? 1 : 0;
      if (order > 0) break;
      const f = this.pending.entry;
      this.pending = undefined;
      if (order < 0) {
        this.missing.push(displayPath(f));
        continue;
      }
      if (a.sha256 !== f.sha256 || a.size !== f.size || a.symlink !== f.symlink)
        this.changed.push(displayPath(f));
      else if (f.mode !== undefined && a.mode !== f.mode) {
        this.modeChanged.push(displayPath(f));
        if (this.collectRepairs && f.symlink === undefined) {
          const group = this.repairs.get(f.mode);
          if (group) group.push(f);
          else this.repairs.set(f.mode, [f]);
        }
      }
      return;
    }
    this.extra.push(displayPath(a));
  }

  /** No more files on disk: every expected file not seen is missing. */
  finish(): TreeComparison {
    for (;;) {
      this.pending ??= this.pull();
      if (!this.pending) break;
      this.missing.push(displayPath(this.pending.entry));
      this.pending = undefined;
    }
    return { missing: this.missing, changed: this.changed, modeChanged: this.modeChanged, extra: this.extra };
  }

  private pull(): { entry: ManifestFile; key: string } | undefined {
    const next = this.expected();
    return next ? { entry: next.entry, key: next.key ?? sortKey(next.entry) } : undefined;
  }
}

/**
 * The backed-up state dir an entry lies under, from its relative path text (`<basename>/…`, as
 * every stored path is): undefined for a path under none of them.
 */
export function stateDirIndex(backedUpDirs: readonly string[]): (rel: string) => string | undefined {
  const byBase = new Map(backedUpDirs.map((dir) => [dir.slice(dir.lastIndexOf("/") + 1), dir]));
  return (rel) => {
    const slash = rel.indexOf("/");
    return byBase.get(slash < 0 ? rel : rel.slice(0, slash));
  };
}

/**
 * The bytes of regular files each backed-up state dir holds (keyed by the dir's sandbox path):
 * what its upload has to move. Symlinks move no file content and count nothing. `files` is
 * consumed once (a streamed manifest).
 */
export function bytesPerStateDir(
  backedUpDirs: readonly string[],
  files: Iterable<ManifestFile>,
): Map<string, number> {
  const stateDirOf = stateDirIndex(backedUpDirs);
  const totals = new Map<string, number>(backedUpDirs.map((dir) => [dir, 0]));
  for (const f of files) {
    if (f.symlink !== undefined) continue;
    const dir = stateDirOf(entryBytes(f).toString("utf8"));
    if (dir !== undefined) totals.set(dir, (totals.get(dir) ?? 0) + f.size);
  }
  return totals;
}

/** Header keys in the order this release writes them; unknown keys follow, `files` never. */
const HEADER_ORDER = [
  "version",
  "sandboxName",
  "timestamp",
  "agentType",
  "agentVersion",
  "stateDirs",
  "backedUpDirs",
  "absentDirs",
  "skipped",
  "complete",
  "nemoclawVersion",
  "fileCount",
  "fileBytes",
];

/** The line that opens the file list in the streaming layout (`[` or, when empty, `[]`). */
export const FILES_LINE = '  "files": [';
export const EMPTY_FILES_LINE = '  "files": []';

/**
 * The text of a manifest up to and including the line that opens its file list: every key but
 * `files`, one per line, then `  "files": [` (or `  "files": []` when `empty`). The streaming
 * layout (docs/design.md, "Backup layout and manifest"): `files` is the last key, one entry per
 * line (`entryLine`), closed by `closingText`.
 */
export function headerText(header: Omit<BackupManifest, "files">, empty: boolean): string {
  const record = header as unknown as Record<string, unknown>;
  const keys = [
    ...HEADER_ORDER.filter((k) => k in record),
    ...Object.keys(record).filter((k) => !HEADER_ORDER.includes(k) && k !== "files"),
  ].filter((k) => record[k] !== undefined);
  const lines = keys.map((key) => {
    const value = record[key];
    if (key === "skipped" && Array.isArray(value) && value.length > 0) {
      const entries = value.map((entry) => `    ${JSON.stringify(entry)}`).join(",\n");
      return `  ${JSON.stringify(key)}: [\n${entries}\n  ],`;
    }
    return `  ${JSON.stringify(key)}: ${JSON.stringify(value)},`;
  });
  return `{\n${lines.join("\n")}\n${empty ? EMPTY_FILES_LINE : FILES_LINE}\n`;
}

/** One file entry of the streaming layout, without the separating comma. */
export function entryLine(f: ManifestFile): string {
  return `    ${JSON.stringify(f)}`;
}

/** What follows the file list in the streaming layout: `]` (unless empty) and the closing brace. */
export function closingText(empty: boolean): string {
  return empty ? "}\n" : "\n  ]\n}\n";
}

/**
 * The manifest's JSON text in the streaming layout: the same document as ever, with `files` as
 * its last key (sorted by path bytes, one entry per line) and `fileCount`/`fileBytes` ahead of
 * it, so readers and writers can go entry by entry in constant memory.
 */
export function manifestText(manifest: BackupManifest): string {
  const { files, ...header } = manifest;
  const sorted = [...files]
    .map((entry) => ({ entry, bytes: entryBytes(entry) }))
    .sort((a, b) => Buffer.compare(a.bytes, b.bytes))
    .map(({ entry }) => entry);
  const full = {
    ...header,
    fileCount: sorted.length,
    fileBytes: sorted.reduce((n, f) => n + f.size, 0),
  };
  const empty = sorted.length === 0;
  return headerText(full, empty) + sorted.map(entryLine).join(",\n") + closingText(empty);
}
