import fs from "node:fs";
import {
  type BackupListing,
  bytesFreedByRemoving,
  diskUsage,
  listBackups,
  prunableBackups,
  removalScratchPath,
  removeBackup,
  verifyBackup,
} from "../adapters/backup-store.js";
import { errnoWords } from "../adapters/errno.js";
import { HashPool } from "../adapters/hash-pool.js";
import type { Context } from "../context.js";
import { UsageError } from "../domain/errors.js";
import { isValidSandboxName } from "../domain/names.js";
import { pinnedBy } from "../domain/operation-journal.js";
import { takeMaintenanceLock } from "./maintenance.js";
import { openOperations, pinnedBackups } from "./operations.js";

export interface BackupSummary {
  sandbox: string;
  timestamp: string;
  path: string;
  complete: boolean;
  corrupt?: string;
  size: number;
  fileCount: number;
  agentVersion: string | null;
  /** Named by an open operations journal: no retention removes it (docs/design.md, "Pins"). */
  pinned?: true;
}

export interface BackupVerification extends BackupSummary {
  ok: boolean;
  missing: string[];
  changed: string[];
  /** Same content, other `0777` bits than the manifest records (docs/design.md). */
  modeChanged: string[];
  extra: string[];
  /** The backup was removed (a prune) while it was being verified. */
  vanished?: boolean;
  checkedFiles: number;
}

function summarize(b: BackupListing): BackupSummary {
  return {
    sandbox: b.sandbox,
    timestamp: b.timestamp,
    path: b.path,
    complete: b.complete,
    ...(b.corrupt ? { corrupt: b.corrupt } : {}),
    size: b.size,
    fileCount: b.fileCount,
    agentVersion: b.agentVersion,
  };
}

export function requireSandboxName(name: string): string {
  if (!isValidSandboxName(name)) throw new UsageError(`invalid sandbox name ${JSON.stringify(name)}`);
  return name;
}

/**
 * `backups list`: every backup (newest first per sandbox), corrupt ones flagged, those an open
 * operations journal names marked `pinned`; never staging.
 */
export function listBackupSummaries(ctx: Context, sandbox?: string): BackupSummary[] {
  if (sandbox !== undefined) requireSandboxName(sandbox);
  const ops = openOperations(ctx);
  return listBackups(ctx.settings.paths.backupsRoot, sandbox).map((b) => {
    const pins = ops.get(b.sandbox)?.journal;
    return pins && pinnedBy(pins).includes(b.timestamp) ? { ...summarize(b), pinned: true } : summarize(b);
  });
}

/**
 * `backups verify`: re-hash backups against their manifests. Without `timestamp`, every backup
 * of the sandbox (or of all sandboxes) is checked; a corrupt directory is a failed check.
 */
export async function verifyBackups(
  ctx: Context,
  sandbox?: string,
  timestamp?: string,
): Promise<BackupVerification[]> {
  if (sandbox !== undefined) requireSandboxName(sandbox);
  let listings = listBackups(ctx.settings.paths.backupsRoot, sandbox);
  if (timestamp !== undefined) {
    listings = listings.filter((b) => b.timestamp === timestamp);
    if (listings.length === 0) {
      throw new UsageError(
        `no backup ${JSON.stringify(timestamp)}${sandbox ? ` for sandbox ${sandbox}` : ""}`,
      );
    }
  }
  const results: BackupVerification[] = [];
  // One set of hashing workers for every backup checked.
  const pool = new HashPool();
  try {
    for (const listing of listings) {
      const v = await verifyBackup(listing, pool);
      results.push({
        ...summarize(listing),
        ok: v.ok,
        ...(v.corrupt ? { corrupt: v.corrupt } : {}),
        ...(v.vanished ? { vanished: true } : {}),
        missing: v.missing,
        changed: v.changed,
        modeChanged: v.modeChanged,
        extra: v.extra,
        checkedFiles: v.checkedFiles,
      });
    }
  } finally {
    await pool.close();
  }
  return results;
}

export interface PruneSandboxResult {
  sandbox: string;
  removed: { timestamp: string; path: string }[];
  kept: number;
  pinned: string[];
  /** Timestamp directories without a valid manifest: reported, never deleted. */
  corrupt: string[];
  /** Bytes removing these backups frees (a file still linked from a kept backup frees nothing). */
  bytesFreed: number;
  /** Set when nothing of this sandbox may be pruned (an unreadable operations journal). */
  skipped?: string;
  /** Backups that could not be removed (any errno): `path` is what is left on disk. */
  failed?: PruneFailure[];
}

/** A backup retention could not remove; the others were still removed. */
export interface PruneFailure {
  timestamp: string;
  /** What is left on disk: the backup itself, or its half-removed scratch. */
  path: string;
  error: string;
}

/**
 * Removes `doomed` one by one. A backup that cannot be removed (EBUSY: a mount point; EPERM: an
 * immutable file; EACCES; any errno) is reported naming what is left, and the others still go.
 */
export function removeBackups(doomed: BackupListing[]): {
  removed: BackupListing[];
  failed: PruneFailure[];
  bytesFreed: number;
} {
  const removed: BackupListing[] = [];
  const failed: PruneFailure[] = [];
  // Counted as each file goes: a file counts when its last link is removed (constant memory).
  const freed = { bytes: 0 };
  for (const b of doomed) {
    try {
      removeBackup(b, freed);
      removed.push(b);
    } catch (error) {
      failed.push(removalFailure(b, error));
    }
  }
  return { removed, failed, bytesFreed: freed.bytes };
}

function removalFailure(b: BackupListing, error: unknown): PruneFailure {
  const why = errnoWords(error);
  if (fs.existsSync(b.path))
    return { timestamp: b.timestamp, path: b.path, error: `cannot remove backup ${b.path}: ${why}` };
  const left = removalScratchPath(b);
  return {
    timestamp: b.timestamp,
    path: left,
    error: `backup ${b.path} was moved aside but could not be fully removed: ${why}; what is left is in ${left}`,
  };
}

export interface PruneResult {
  backupsRoot: string;
  keep: number;
  dryRun: boolean;
  sandboxes: PruneSandboxResult[];
  removed: number;
  bytesFreed: number;
  /** Backups that could not be removed, over all sandboxes (exit 1, `prune_incomplete`). */
  failed: number;
}

function backupSandboxNames(ctx: Context): string[] {
  try {
    return fs
      .readdirSync(ctx.settings.paths.backupsRoot, { withFileTypes: true })
      .filter((e) => e.isDirectory() && isValidSandboxName(e.name))
      .map((e) => e.name)
      .sort();
  } catch {
    return [];
  }
}

function pruneOne(
  ctx: Context,
  sandbox: string,
  keep: number,
  dryRun: boolean,
  ops: ReturnType<typeof openOperations>,
): PruneSandboxResult {
  const root = ctx.settings.paths.backupsRoot;
  const all = listBackups(root, sandbox);
  const corrupt = all.filter((b) => !b.complete).map((b) => b.timestamp);
  const pinned = pinnedBackups(ops, sandbox);
  const base = { sandbox, corrupt, pinned: pinned ? [...pinned] : [], bytesFreed: 0 };
  if (pinned === null) {
    const reason = ops.get(sandbox)?.reason ?? "unreadable operations journal";
    return { ...base, removed: [], kept: all.length - corrupt.length, skipped: `nothing pruned: ${reason}` };
  }
  const doomed = prunableBackups(root, sandbox, keep, pinned);
  // Prune: removes only what retention gives up — never a pinned backup, never the newest `keep`
  // with files — so the state a removed backup held is also held by a newer one kept. A dry run
  // counts what would be freed; a real one counts what its unlinks released.
  const { removed, failed, bytesFreed } = dryRun
    ? { removed: doomed, failed: [], bytesFreed: bytesFreedByRemoving(doomed.map((b) => b.path)) }
    : removeBackups(doomed);
  return {
    ...base,
    removed: removed.map((b) => ({ timestamp: b.timestamp, path: b.path })),
    // A backup whose removal failed before its rename is still there, complete: still kept.
    kept:
      all.length -
      corrupt.length -
      doomed.length +
      failed.filter((f) => doomed.some((d) => d.path === f.path)).length,
    bytesFreed,
    ...(failed.length ? { failed } : {}),
  };
}

/**
 * `backups prune`: the retention of `backup-all --keep`, for cron. Honours the pins of the
 * operations journal and never removes the newest backup that holds files; corrupt timestamp
 * directories are reported, never deleted. Takes the maintenance lock (and cleans dead runs'
 * scratch) unless `dryRun`.
 */
export function pruneAll(
  ctx: Context,
  options: { sandbox?: string; keep: number; dryRun: boolean },
): PruneResult {
  if (options.sandbox !== undefined) requireSandboxName(options.sandbox);
  const run = () => {
    const ops = openOperations(ctx);
    const names = options.sandbox !== undefined ? [options.sandbox] : backupSandboxNames(ctx);
    const sandboxes = names.map((name) => pruneOne(ctx, name, options.keep, options.dryRun, ops));
    return {
      backupsRoot: ctx.settings.paths.backupsRoot,
      keep: options.keep,
      dryRun: options.dryRun,
      sandboxes,
      removed: sandboxes.reduce((n, s) => n + s.removed.length, 0),
      bytesFreed: sandboxes.reduce((n, s) => n + s.bytesFreed, 0),
      failed: sandboxes.reduce((n, s) => n + (s.failed?.length ?? 0), 0),
    };
  };
  if (options.dryRun) return run();
  const { lock } = takeMaintenanceLock(ctx, "backups prune");
  try {
    return run();
  } finally {
    lock.release();
  }
}

/** Bytes each sandbox's backups occupy on disk (hard links counted once). */
export function diskUsageBySandbox(backups: BackupSummary[]): Record<string, number> {
  const dirs = new Map<string, string[]>();
  for (const b of backups) dirs.set(b.sandbox, [...(dirs.get(b.sandbox) ?? []), b.path]);
  const usage: Record<string, number> = {};
  for (const [sandbox, paths] of dirs) usage[sandbox] = diskUsage(paths);
  return usage;
}
