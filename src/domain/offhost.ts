import { isValidSandboxName } from "./names.js";

/**
 * Off-host copies in a restic repository (docs/design.md, "Beyond one disk"): which tags a
 * backup's snapshot carries, what a repository's snapshot list means, what is still to push and
 * which snapshot a restore pulls. Pure: the restic calls live in src/adapters/restic.ts.
 */

/** Every snapshot nemoclaw writes carries this tag; snapshots without it are not ours. */
export const NEMOCLAW_TAG = "nemoclaw";

const BACKUP_TS = /^\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}-\d{3}Z$/;

export interface RemoteSnapshot {
  /** restic's full snapshot id. */
  id: string;
  shortId: string;
  /** restic's snapshot time (set to the backup's own time when pushed). */
  time: string;
  /** restic's hostname of the snapshot. */
  hostname: string;
  sandbox: string;
  /** The backup timestamp directory name (`backup:<ts>` tag). */
  backup: string;
  /** The `host:<name>` tag (the host that pushed it), else restic's hostname. */
  host: string;
}

/** The tags of one backup's snapshot: `nemoclaw`, `sandbox:<name>`, `backup:<ts>`, `host:<hostname>`. */
export function snapshotTags(sandbox: string, backup: string, host: string): string[] {
  return [NEMOCLAW_TAG, `sandbox:${sandbox}`, `backup:${backup}`, `host:${host}`];
}

/** A hostname fit for a restic tag (no commas, which restic splits tag lists on). */
export function tagSafeHost(hostname: string): string {
  const cleaned = hostname.replace(/[^A-Za-z0-9._-]/g, "_");
  return cleaned === "" ? "unknown" : cleaned;
}

function tagValue(tags: readonly string[], key: string): string | null {
  const prefix = `${key}:`;
  const found = tags.find((t) => t.startsWith(prefix));
  return found === undefined ? null : found.slice(prefix.length);
}

/**
 * `restic snapshots --json` → nemoclaw's snapshots (tagged `nemoclaw` with a valid sandbox name
 * and backup timestamp); everything else in the repository is ignored. Throws on text that is
 * not restic's JSON array.
 */
export function parseSnapshots(json: string): RemoteSnapshot[] {
  const doc: unknown = JSON.parse(json.trim() === "" ? "[]" : json);
  if (!Array.isArray(doc)) throw new Error("restic snapshots --json did not print an array");
  const out: RemoteSnapshot[] = [];
  for (const raw of doc) {
    if (typeof raw !== "object" || raw === null) continue;
    const s = raw as Record<string, unknown>;
    const tags = Array.isArray(s.tags) ? s.tags.filter((t): t is string => typeof t === "string") : [];
    if (!tags.includes(NEMOCLAW_TAG)) continue;
    const sandbox = tagValue(tags, "sandbox");
    const backup = tagValue(tags, "backup");
    if (!sandbox || !isValidSandboxName(sandbox) || !backup || !BACKUP_TS.test(backup)) continue;
    if (typeof s.id !== "string" || !/^[0-9a-f]{8,64}$/.test(s.id)) continue;
    const hostname = typeof s.hostname === "string" ? s.hostname : "";
    out.push({
      id: s.id,
      shortId: typeof s.short_id === "string" ? s.short_id : s.id.slice(0, 8),
      time: typeof s.time === "string" ? s.time : "",
      hostname,
      sandbox,
      backup,
      host: tagValue(tags, "host") ?? hostname,
    });
  }
  return sortSnapshots(out);
}

/** Sandbox by name, then newest backup first (then host, for a stable order). */
export function sortSnapshots(snapshots: RemoteSnapshot[]): RemoteSnapshot[] {
  return [...snapshots].sort(
    (a, b) =>
      a.sandbox.localeCompare(b.sandbox) ||
      b.backup.localeCompare(a.backup) ||
      a.host.localeCompare(b.host) ||
      a.id.localeCompare(b.id),
  );
}

/** The key that makes a push idempotent: one snapshot per sandbox backup, whichever host pushed it. */
export function backupKey(sandbox: string, backup: string): string {
  return `${sandbox}/${backup}`;
}

/** Local backups (sandbox, timestamp) the repository does not hold yet, in the given order. */
export function notYetPushed<T extends { sandbox: string; timestamp: string }>(
  local: readonly T[],
  remote: readonly RemoteSnapshot[],
): T[] {
  const held = new Set(remote.map((s) => backupKey(s.sandbox, s.backup)));
  return local.filter((b) => !held.has(backupKey(b.sandbox, b.timestamp)));
}

/**
 * The snapshot `restore --from-repo` pulls: tagged with the sandbox, from any host (or `host`),
 * the newest backup (or exactly `backup`). Null when there is none.
 */
export function chooseSnapshot(
  snapshots: readonly RemoteSnapshot[],
  sandbox: string,
  options: { backup?: string; host?: string } = {},
): RemoteSnapshot | null {
  const candidates = sortSnapshots(
    snapshots.filter(
      (s) =>
        s.sandbox === sandbox &&
        (options.host === undefined || s.host === options.host || s.hostname === options.host) &&
        (options.backup === undefined || s.backup === options.backup),
    ),
  );
  return candidates[0] ?? null;
}

/** The newest snapshot per sandbox (by backup timestamp). */
export function newestPerSandbox(snapshots: readonly RemoteSnapshot[]): Map<string, RemoteSnapshot> {
  const newest = new Map<string, RemoteSnapshot>();
  for (const s of sortSnapshots([...snapshots])) if (!newest.has(s.sandbox)) newest.set(s.sandbox, s);
  return newest;
}

/** Why the repository is not configured (the missing part), or null when it is. */
export function repositoryNotConfigured(
  env: Record<string, string | undefined>,
  repoFlag?: string,
): string | null {
  const repo = (repoFlag ?? "") !== "" || !!env.RESTIC_REPOSITORY || !!env.RESTIC_REPOSITORY_FILE;
  const password = !!env.RESTIC_PASSWORD_FILE || !!env.RESTIC_PASSWORD || !!env.RESTIC_PASSWORD_COMMAND;
  if (!repo && !password) {
    return "no restic repository configured: set RESTIC_REPOSITORY (or RESTIC_REPOSITORY_FILE, or pass --repo) and RESTIC_PASSWORD_FILE (or RESTIC_PASSWORD, RESTIC_PASSWORD_COMMAND)";
  }
  if (!repo)
    return "no restic repository configured: set RESTIC_REPOSITORY (or RESTIC_REPOSITORY_FILE) or pass --repo";
  if (!password) {
    return "no password for the restic repository: set RESTIC_PASSWORD_FILE (or RESTIC_PASSWORD, RESTIC_PASSWORD_COMMAND)";
  }
  return null;
}

/**
 * restic's own explanation, one line: its `Fatal:` line (and the hint after it), else the last
 * non-empty lines of stderr. ANSI sequences are removed.
 */
export function resticMessage(stderr: string): string {
  const lines = stderr
    // biome-ignore lint/suspicious/noControlCharactersInRegex: ANSI escape sequences are removed
    .replace(/\x1b\[[0-9;?]*[A-Za-z]/g, "")
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== "");
  const fatal = lines.findIndex((l) => l.startsWith("Fatal:"));
  const picked = fatal >= 0 ? lines.slice(fatal, fatal + 2) : lines.slice(-2);
  const text = picked.join(" ").replace(/^Fatal:\s*/, "");
  return text === "" ? "restic failed without a message" : text.slice(0, 500);
}

/** `restic check` found damage (as opposed to not being able to run). */
export function checkFoundErrors(output: string): boolean {
  return /repository contains errors|Pack ID does not match|pack [0-9a-f]+.*(?:damaged|not found|invalid)|error for tree|wrong data returned|ciphertext verification failed|hash does not match/i.test(
    output,
  );
}

/** A snapshot's time for `restic backup --time` (restic reads it in the TZ it runs with: UTC). */
export function resticTime(backupDate: Date): string {
  return backupDate
    .toISOString()
    .replace("T", " ")
    .replace(/\.\d+Z$/, "");
}

/**
 * The newest off-host copy of each sandbox *of this host*: snapshots this host pushed, and
 * snapshots of backups this host holds (pulled from another host after a disaster recovery).
 * A shared repository's snapshots of other hosts' same-named sandboxes do not count.
 */
export function newestOffhostCopies(
  snapshots: readonly RemoteSnapshot[],
  host: string,
  localBackups: ReadonlySet<string>,
): Map<string, RemoteSnapshot> {
  return newestPerSandbox(
    snapshots.filter((s) => s.host === host || localBackups.has(backupKey(s.sandbox, s.backup))),
  );
}
