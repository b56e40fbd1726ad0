import { type BackupListing, listBackups, verifyBackup } from "../adapters/backup-store.js";
import { HashPool } from "../adapters/hash-pool.js";
import type { Context } from "../context.js";
import { UsageError } from "../domain/errors.js";
import { isValidSandboxName } from "../domain/names.js";

export interface BackupSummary {
  sandbox: string;
  timestamp: string;
  path: string;
  complete: boolean;
  corrupt?: string;
  size: number;
  fileCount: number;
  agentVersion: string | null;
}

export interface BackupVerification extends BackupSummary {
  ok: boolean;
  missing: string[];
  changed: string[];
  /** Same content, other `0777` bits than the manifest records (SPEC §13). */
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

/** `backups list`: every backup (newest first per sandbox), corrupt ones flagged; never staging. */
export function listBackupSummaries(ctx: Context, sandbox?: string): BackupSummary[] {
  if (sandbox !== undefined) requireSandboxName(sandbox);
  return listBackups(ctx.settings.paths.backupsRoot, sandbox).map(summarize);
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
