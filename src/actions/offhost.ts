import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fsyncDir } from "../adapters/atomic-file.js";
import {
  type BackupListing,
  listBackups,
  readBackupDir,
  syncFilesystem,
  verifyBackup,
} from "../adapters/backup-store.js";
import { HashPool } from "../adapters/hash-pool.js";
import { readRegistry } from "../adapters/registry.js";
import { configuredRestic, type Restic, ResticCommandError } from "../adapters/restic.js";
import type { Context } from "../context.js";
import { MANIFEST_FILE } from "../domain/backup-manifest.js";
import { backupTimestampDate } from "../domain/duration.js";
import { EnvironmentError, UsageError } from "../domain/errors.js";
import {
  chooseSnapshot,
  newestOffhostCopies,
  newestPerSandbox,
  notYetPushed,
  type RemoteSnapshot,
  resticTime,
  snapshotTags,
  tagSafeHost,
} from "../domain/offhost.js";
import { requireSandboxName } from "./backups.js";
import { takeMaintenanceLock } from "./maintenance.js";
import { openOperations } from "./operations.js";

/**
 * docs/design.md, "Beyond one disk": off-host copies of complete backups in a restic
 * repository — push, list, verify, and the pull that `restore --from-repo` starts with.
 */

/** The configured repository (exit 2 when there is none), bound to this command's runner and interrupt. */
export function resticFor(ctx: Context, repo?: string): Restic {
  return configuredRestic({
    runner: ctx.runner,
    env: ctx.env,
    ...(repo !== undefined ? { repo } : {}),
    timeoutMs: ctx.settings.transferTimeoutMs,
    signal: ctx.abort.signal,
  });
}

/** This host's name as it appears in the `host:` tag. */
export function pushHost(): string {
  return tagSafeHost(os.hostname());
}

export interface PushedBackup {
  sandbox: string;
  timestamp: string;
  /** `pushed` now, `present` already in the repository, `failed` (with a reason). */
  status: "pushed" | "present" | "failed";
  snapshotId?: string;
  reason?: string;
  /** restic's new bytes for this snapshot (deduplicated, before compression). */
  bytesAdded?: number;
  filesNew?: number;
}

/** A push and what the repository holds after it (for the metrics). */
export interface PushRun {
  result: PushResult;
  remote: RemoteSnapshot[];
}

export interface PushResult {
  repository: string;
  host: string;
  backups: PushedBackup[];
  pushed: number;
  present: number;
  failed: number;
  interrupted: "SIGINT" | "SIGTERM" | null;
}

/**
 * Pushes every complete local backup (of `sandbox`, or those named in `only`) that the
 * repository does not hold yet: one snapshot each, tagged `nemoclaw`, `sandbox:`, `backup:`,
 * `host:`, with the backup's own time. Each backup is re-hashed against its manifest first (a
 * damaged backup is never pushed). One failure never stops the others. The caller holds the
 * maintenance lock (no prune removes a backup mid-push).
 */
export async function pushBackups(
  ctx: Context,
  restic: Restic,
  options: { sandbox?: string; only?: ReadonlyArray<{ sandbox: string; timestamp: string }> },
): Promise<PushRun> {
  const root = ctx.settings.paths.backupsRoot;
  let local = listBackups(root, options.sandbox).filter((b) => b.complete && b.manifest);
  if (options.only) {
    const wanted = new Set(options.only.map((b) => `${b.sandbox}/${b.timestamp}`));
    local = local.filter((b) => wanted.has(`${b.sandbox}/${b.timestamp}`));
  }
  // Oldest first: the repository then grows in the order the backups were taken.
  local.reverse();
  const remote = await restic.snapshots();
  const missing = new Set(notYetPushed(local, remote));
  const host = pushHost();
  const result: PushResult = {
    repository: restic.location,
    host,
    backups: [],
    pushed: 0,
    present: 0,
    failed: 0,
    interrupted: null,
  };
  const pool = new HashPool();
  try {
    for (const backup of local) {
      if (!missing.has(backup)) {
        result.backups.push({ sandbox: backup.sandbox, timestamp: backup.timestamp, status: "present" });
        result.present++;
        continue;
      }
      if (ctx.abort.signal.aborted) break;
      const outcome = await pushOne(ctx, restic, backup, host, pool);
      result.backups.push(outcome);
      if (outcome.status === "pushed") {
        result.pushed++;
        const id = outcome.snapshotId ?? "";
        remote.push({
          id,
          shortId: id.slice(0, 8),
          time: "",
          hostname: host,
          sandbox: backup.sandbox,
          backup: backup.timestamp,
          host,
        });
      } else result.failed++;
    }
  } finally {
    await pool.close();
  }
  result.interrupted = ctx.abort.signal.aborted ? (ctx.abort.signal.reason as "SIGINT" | "SIGTERM") : null;
  return { result, remote };
}

async function pushOne(
  ctx: Context,
  restic: Restic,
  backup: BackupListing,
  host: string,
  pool: HashPool,
): Promise<PushedBackup> {
  const base = { sandbox: backup.sandbox, timestamp: backup.timestamp };
  const check = await verifyBackup(backup, pool);
  if (!check.ok) {
    return {
      ...base,
      status: "failed",
      reason: `does not match its manifest (${check.corrupt ?? `${check.missing.length} missing, ${check.changed.length} changed, ${check.modeChanged.length} mode changed, ${check.extra.length} extra`}); not pushed — run nemoclaw backups verify ${backup.sandbox}`,
    };
  }
  const date = backupTimestampDate(backup.timestamp) ?? ctx.now();
  try {
    const summary = await restic.backup({
      cwd: ctx.settings.paths.backupsRoot,
      // Relative: the snapshot holds `<sandbox>/<timestamp>/…`, not this host's absolute path.
      relativePath: `${backup.sandbox}/${backup.timestamp}`,
      tags: snapshotTags(backup.sandbox, backup.timestamp, host),
      host,
      time: resticTime(date),
    });
    return {
      ...base,
      status: "pushed",
      snapshotId: summary.snapshotId,
      bytesAdded: summary.dataAdded,
      filesNew: summary.filesNew,
    };
  } catch (error) {
    if (error instanceof ResticCommandError) return { ...base, status: "failed", reason: error.message };
    throw error;
  }
}

/** `backups push`: under the maintenance lock. */
export async function pushCommand(
  ctx: Context,
  options: { repo?: string; sandbox?: string },
): Promise<PushRun> {
  if (options.sandbox !== undefined) requireSandboxName(options.sandbox);
  const restic = resticFor(ctx, options.repo);
  const { lock } = takeMaintenanceLock(ctx, "backups push");
  try {
    return await pushBackups(ctx, restic, options.sandbox !== undefined ? { sandbox: options.sandbox } : {});
  } finally {
    lock.release();
  }
}

export interface RemoteListResult {
  repository: string;
  snapshots: RemoteSnapshot[];
}

/** `backups list --remote`: nemoclaw's snapshots in the repository (read-only, `--no-lock`). */
export async function listRemote(
  ctx: Context,
  options: { repo?: string; sandbox?: string },
): Promise<RemoteListResult> {
  if (options.sandbox !== undefined) requireSandboxName(options.sandbox);
  const restic = resticFor(ctx, options.repo);
  const all = await restic.snapshots({ noLock: true });
  return {
    repository: restic.location,
    snapshots: options.sandbox === undefined ? all : all.filter((s) => s.sandbox === options.sandbox),
  };
}

export interface RemoteVerification {
  sandbox: string;
  backup: string;
  host: string;
  snapshotId: string;
  ok: boolean;
  reason?: string;
  missing: string[];
  changed: string[];
  modeChanged: string[];
  extra: string[];
  checkedFiles: number;
}

export interface RemoteVerifyResult {
  repository: string;
  check: { ok: boolean; readData: string; message: string | null };
  snapshots: RemoteVerification[];
  verified: number;
  failed: number;
}

/**
 * `backups verify --remote`: `restic check` (a tenth of the data, or all with `readData`), then
 * restores snapshots into scratch and re-hashes them against the manifests they carry — the
 * newest per sandbox, or every one with `readData`.
 */
export async function verifyRemote(
  ctx: Context,
  options: { repo?: string; sandbox?: string; backup?: string; readData: boolean },
): Promise<RemoteVerifyResult> {
  if (options.sandbox !== undefined) requireSandboxName(options.sandbox);
  const restic = resticFor(ctx, options.repo);
  const all = await restic.snapshots();
  let chosen = all.filter((s) => options.sandbox === undefined || s.sandbox === options.sandbox);
  if (options.backup !== undefined) {
    chosen = chosen.filter((s) => s.backup === options.backup);
    if (chosen.length === 0) {
      throw new UsageError(
        `no snapshot of backup ${JSON.stringify(options.backup)} in the repository${options.sandbox ? ` for sandbox ${options.sandbox}` : ""}`,
        "no_such_backup",
      );
    }
  } else if (!options.readData) {
    chosen = [...newestPerSandbox(chosen).values()];
  }
  const check = await restic.check(options.readData ? "all" : "1/10");
  const scratchRoot = fs.mkdtempSync(path.join(os.tmpdir(), "nemoclaw-remote-verify-"));
  const snapshots: RemoteVerification[] = [];
  const pool = new HashPool();
  try {
    for (const snap of chosen) {
      if (ctx.abort.signal.aborted) break;
      snapshots.push(await verifySnapshot(restic, snap, scratchRoot, pool));
    }
  } finally {
    await pool.close();
    fs.rmSync(scratchRoot, { recursive: true, force: true });
  }
  const failed = snapshots.filter((s) => !s.ok).length;
  return { repository: restic.location, check, snapshots, verified: snapshots.length - failed, failed };
}

async function verifySnapshot(
  restic: Restic,
  snap: RemoteSnapshot,
  scratchRoot: string,
  pool: HashPool,
): Promise<RemoteVerification> {
  const base = {
    sandbox: snap.sandbox,
    backup: snap.backup,
    host: snap.host,
    snapshotId: snap.shortId,
    missing: [] as string[],
    changed: [] as string[],
    modeChanged: [] as string[],
    extra: [] as string[],
    checkedFiles: 0,
  };
  const target = fs.mkdtempSync(path.join(scratchRoot, `${snap.sandbox}-`));
  try {
    try {
      await restic.restore(snap.id, target);
    } catch (error) {
      if (error instanceof ResticCommandError)
        return { ...base, ok: false, reason: `restic restore: ${error.message}` };
      throw error;
    }
    const listing = readBackupDir(snap.sandbox, path.join(target, snap.sandbox, snap.backup), snap.backup);
    const v = await verifyBackup(listing, pool);
    return {
      ...base,
      ok: v.ok,
      ...(v.corrupt ? { reason: v.corrupt } : {}),
      missing: v.missing,
      changed: v.changed,
      modeChanged: v.modeChanged,
      extra: v.extra,
      checkedFiles: v.checkedFiles,
    };
  } finally {
    fs.rmSync(target, { recursive: true, force: true });
  }
}

export interface PulledBackup {
  sandbox: string;
  timestamp: string;
  host: string;
  snapshotId: string;
  path: string;
  /** false: the backup was already here (complete and verified), nothing was pulled. */
  pulled: boolean;
  files: number;
}

/**
 * The first half of `restore --from-repo`: chooses the snapshot (tagged with the sandbox, from
 * any host or `host`, newest backup first or exactly `backup`), restores it under the maintenance
 * lock into staging inside the sandbox's backups directory, re-hashes every file against the
 * manifest it carries (fsyncing as it reads), and only then renames it into place. A backup
 * already here (complete) is used as it is. The restore that follows verifies it again.
 */
export async function pullBackup(
  ctx: Context,
  sandbox: string,
  options: { repo?: string; backup?: string; host?: string; knownLocally: boolean },
): Promise<PulledBackup> {
  const restic = resticFor(ctx, options.repo);
  const snapshots = await restic.snapshots();
  const snap = chooseSnapshot(snapshots, sandbox, options);
  if (!snap) {
    const any = snapshots.some((s) => s.sandbox === sandbox);
    if (!any && !options.knownLocally) {
      throw new UsageError(
        `unknown sandbox ${sandbox}: not registered, no backups, no journal, and no snapshot in the restic repository ${restic.location}`,
        "unknown_sandbox",
      );
    }
    if (any) {
      const what = [
        options.backup ? `backup ${options.backup}` : "",
        options.host ? `host ${options.host}` : "",
      ]
        .filter(Boolean)
        .join(" from ");
      throw new UsageError(
        `no snapshot of sandbox ${sandbox} (${what}) in the repository ${restic.location}`,
        "no_such_backup",
      );
    }
    throw new EnvironmentError(
      "no_remote_backup",
      `no snapshot of sandbox ${sandbox} in the repository ${restic.location}`,
    );
  }
  const root = ctx.settings.paths.backupsRoot;
  const base = { sandbox, timestamp: snap.backup, host: snap.host, snapshotId: snap.shortId };
  const { lock } = takeMaintenanceLock(ctx, "restore");
  try {
    const existing = listBackups(root, sandbox).find((b) => b.timestamp === snap.backup);
    if (existing?.complete) return { ...base, path: existing.path, pulled: false, files: existing.fileCount };
    if (existing) {
      throw new EnvironmentError(
        "backup_corrupt",
        `backup ${existing.path} exists and is corrupt (${existing.corrupt}); move it away before pulling ${snap.backup} again`,
      );
    }
    const sandboxDir = path.join(root, sandbox);
    fs.mkdirSync(sandboxDir, { recursive: true, mode: 0o700 });
    const staging = path.join(sandboxDir, `.${snap.backup}.partial`);
    fs.rmSync(staging, { recursive: true, force: true });
    fs.mkdirSync(staging, { mode: 0o700 });
    try {
      try {
        await restic.restore(snap.id, staging);
      } catch (error) {
        if (error instanceof ResticCommandError) {
          throw new EnvironmentError(
            "pull_failed",
            `restic restore of snapshot ${snap.shortId}: ${error.message}`,
          );
        }
        throw error;
      }
      const pulledDir = path.join(staging, sandbox, snap.backup);
      const listing = readBackupDir(sandbox, pulledDir, snap.backup);
      if (!listing.complete) {
        throw new EnvironmentError(
          "backup_corrupt",
          `snapshot ${snap.shortId} of ${sandbox} ${snap.backup} holds no valid manifest (${listing.corrupt}); refusing to restore it`,
        );
      }
      const v = await verifyBackup(listing);
      if (!v.ok) {
        throw new EnvironmentError(
          "backup_corrupt",
          `snapshot ${snap.shortId} of ${sandbox} ${snap.backup} does not match its manifest (${v.missing.length} missing, ${v.changed.length} changed, ${v.modeChanged.length} mode changed, ${v.extra.length} extra); refusing to restore it`,
        );
      }
      // One syncfs makes every pulled file and directory durable before the rename (docs/design.md,
      // "Durability"); a writeback error refuses the pull.
      try {
        await syncFilesystem(pulledDir);
      } catch (error) {
        throw new EnvironmentError("pull_failed", (error as Error).message);
      }
      fsyncFile(path.join(pulledDir, MANIFEST_FILE));
      fsyncDir(pulledDir);
      const final = path.join(sandboxDir, snap.backup);
      fs.renameSync(pulledDir, final);
      fsyncDir(sandboxDir);
      return { ...base, path: final, pulled: true, files: listing.fileCount };
    } finally {
      fs.rmSync(staging, { recursive: true, force: true });
    }
  } finally {
    lock.release();
  }
}

function fsyncFile(file: string): void {
  const fd = fs.openSync(file, fs.constants.O_RDONLY);
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** `status --remote`: the newest snapshot per sandbox, read-only (`restic snapshots --no-lock`). */
export async function remoteSnapshotsReadOnly(ctx: Context, repo?: string): Promise<RemoteSnapshot[]> {
  return resticFor(ctx, repo).snapshots({ noLock: true });
}

/** Whether this host knows the sandbox at all: registered, backed up, or named by a journal. */
export function knownLocally(ctx: Context, sandbox: string): boolean {
  try {
    if (readRegistry(ctx.settings.paths.registryFile).names.includes(sandbox)) return true;
  } catch {
    return true; // an unreadable registry proves nothing either way: not "unknown"
  }
  if (fs.existsSync(path.join(ctx.settings.paths.backupsRoot, sandbox))) return true;
  return openOperations(ctx).has(sandbox);
}

export interface OffhostRow {
  name: string;
  /** The newest off-host copy of this host's sandbox, or null when the repository holds none. */
  lastCopy: { backup: string; ageSeconds: number; snapshotId: string; host: string } | null;
  /** No copy, or one older than --max-age. */
  stale: boolean;
}

export interface OffhostStatus {
  repository: string;
  maxAgeSeconds: number;
  sandboxes: OffhostRow[];
  stale: number;
}

/**
 * `status --remote`: the newest off-host copy per registered sandbox (snapshots this host pushed,
 * or of backups it holds), flagged when missing or older than `maxAgeSeconds`. Read-only:
 * `restic snapshots --no-lock`. Exit 4 (RepositoryError) when the repository cannot be read.
 */
export async function offhostStatus(
  ctx: Context,
  names: readonly string[],
  options: { repo?: string; maxAgeSeconds: number },
): Promise<{ status: OffhostStatus; remote: RemoteSnapshot[] }> {
  const restic = resticFor(ctx, options.repo);
  const remote = await restic.snapshots({ noLock: true });
  const local = new Set(
    listBackups(ctx.settings.paths.backupsRoot)
      .filter((b) => b.complete)
      .map((b) => `${b.sandbox}/${b.timestamp}`),
  );
  const newest = newestOffhostCopies(remote, pushHost(), local);
  const now = ctx.now().getTime();
  const sandboxes = names.map((name): OffhostRow => {
    const snap = newest.get(name);
    if (!snap) return { name, lastCopy: null, stale: true };
    const at = backupTimestampDate(snap.backup)?.getTime() ?? 0;
    const ageSeconds = Math.max(0, Math.round((now - at) / 1000));
    return {
      name,
      lastCopy: { backup: snap.backup, ageSeconds, snapshotId: snap.shortId, host: snap.host },
      stale: ageSeconds > options.maxAgeSeconds,
    };
  });
  return {
    status: {
      repository: restic.location,
      maxAgeSeconds: options.maxAgeSeconds,
      sandboxes,
      stale: sandboxes.filter((s) => s.stale).length,
    },
    remote,
  };
}
