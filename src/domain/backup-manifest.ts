/** `rebuild-manifest.json` (SPEC §6): the record that makes a backup directory complete. */
export const MANIFEST_FILE = "rebuild-manifest.json";

export interface ManifestFile {
  /** POSIX path relative to the backup directory, e.g. `.openclaw/workspace/notes.md`. */
  path: string;
  size: number;
  sha256: string;
  /** Present for symbolic links: the link target (the hash is of the target text). */
  symlink?: string;
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
  if (p.length === 0 || p.startsWith("/") || p.includes("\0") || p.includes("\\")) return false;
  return p.split("/").every((segment) => segment !== "" && segment !== "." && segment !== "..");
}

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

/** Parses and validates a manifest; returns a reason instead of throwing. */
export function parseManifest(
  text: string,
): { ok: true; manifest: BackupManifest } | { ok: false; reason: string } {
  let v: Partial<BackupManifest>;
  try {
    v = JSON.parse(text) as Partial<BackupManifest>;
  } catch (error) {
    return { ok: false, reason: `manifest is not valid JSON (${(error as Error).message})` };
  }
  if (typeof v !== "object" || v === null) return { ok: false, reason: "manifest is not an object" };
  if (v.version !== 1) return { ok: false, reason: "manifest version is not 1" };
  if (v.complete !== true) return { ok: false, reason: "manifest is not marked complete" };
  if (
    typeof v.sandboxName !== "string" ||
    typeof v.timestamp !== "string" ||
    typeof v.agentType !== "string"
  ) {
    return { ok: false, reason: "manifest lacks sandboxName, timestamp or agentType" };
  }
  for (const key of ["stateDirs", "backedUpDirs", "absentDirs"] as const) {
    const list = v[key];
    // These are handed to `rm -rf` inside the sandbox on restore: only plain absolute paths.
    if (!Array.isArray(list) || !list.every(isSandboxStateDir)) {
      return { ok: false, reason: `manifest ${key} is not a list of absolute state directories` };
    }
  }
  const stateDirs = new Set(v.stateDirs);
  if (![...(v.backedUpDirs ?? []), ...(v.absentDirs ?? [])].every((d) => stateDirs.has(d))) {
    return { ok: false, reason: "manifest backedUpDirs/absentDirs are not among its stateDirs" };
  }
  if (v.agentVersion != null && typeof v.agentVersion !== "string") {
    return { ok: false, reason: "manifest agentVersion is neither a string nor null" };
  }
  if (!Array.isArray(v.files)) return { ok: false, reason: "manifest files is not a list" };
  for (const f of v.files) {
    if (
      typeof f !== "object" ||
      f === null ||
      typeof f.path !== "string" ||
      !isSafeRelativePath(f.path) ||
      !Number.isSafeInteger(f.size) ||
      f.size < 0 ||
      (f.symlink !== undefined && typeof f.symlink !== "string") ||
      typeof f.sha256 !== "string" ||
      !/^[0-9a-f]{64}$/.test(f.sha256)
    ) {
      return { ok: false, reason: `manifest has an invalid file entry ${JSON.stringify(f).slice(0, 120)}` };
    }
  }
  return { ok: true, manifest: v as BackupManifest };
}

export interface TreeComparison {
  missing: string[];
  changed: string[];
  extra: string[];
}

/** What differs between a manifest's files and the files found on disk (both keyed by path). */
export function compareTrees(
  expected: readonly ManifestFile[],
  actual: readonly ManifestFile[],
): TreeComparison {
  const found = new Map(actual.map((f) => [f.path, f]));
  const wanted = new Set(expected.map((f) => f.path));
  const missing: string[] = [];
  const changed: string[] = [];
  for (const f of expected) {
    const a = found.get(f.path);
    if (!a) missing.push(f.path);
    else if (a.sha256 !== f.sha256 || a.size !== f.size || a.symlink !== f.symlink) changed.push(f.path);
  }
  const extra = actual.filter((f) => !wanted.has(f.path)).map((f) => f.path);
  return { missing, changed, extra };
}
