import { listBackups, verifyBackup } from "../adapters/backup-store.js";
import type { Context } from "../context.js";
import type { ManifestHeader } from "../domain/backup-manifest.js";
import { rehashFailure } from "../domain/proof.js";
import { backupSandbox, type SandboxBackup, type SandboxBackupRequest } from "./sandbox-backup.js";

/**
 * Prove before destroy (docs/design.md, "Prove before destroy"). Every `sandbox delete`, `rm` of
 * live state and prune destroys only state that is held by a backup re-verified by content (bytes,
 * not metadata) right before the step, or that this same run wrote and has not yet handed to the
 * agent. These are the proofs the destructive steps rely on.
 */

export interface ProvenBackup {
  timestamp: string;
  path: string;
  manifest: ManifestHeader;
}

/**
 * Re-hashes one sealed backup of `sandbox` in full against its manifest. Returns it when every
 * byte is as recorded, else the one-line reason naming the first bad file.
 */
export async function proveBackup(
  ctx: Context,
  sandbox: string,
  timestamp: string,
): Promise<ProvenBackup | string> {
  const listing = listBackups(ctx.settings.paths.backupsRoot, sandbox).find((b) => b.timestamp === timestamp);
  if (!listing) return `backup ${timestamp} of ${sandbox} no longer exists`;
  if (!listing.manifest) return `backup ${listing.path} is corrupt (${listing.corrupt ?? "no manifest"})`;
  const check = await verifyBackup(listing);
  if (!check.ok) return rehashFailure(listing.path, check);
  return { timestamp, path: listing.path, manifest: listing.manifest };
}

/** A fresh backup whose re-hash after sealing failed: nothing destructive may follow. */
export class UnprovenBackupError extends Error {
  constructor(
    message: string,
    readonly backup: { timestamp: string; path: string },
  ) {
    super(message);
    this.name = "UnprovenBackupError";
  }
}

/**
 * Takes a backup (the pre-rebuild backup, a restore's safety backup, a resumed operation's
 * safety backup of the live state) and re-hashes it in full once it is sealed. Only a backup
 * that passed this proof may justify a destructive step; otherwise UnprovenBackupError names
 * the first bad file (and the backup is kept for inspection).
 */
export async function takeProvenBackup(ctx: Context, request: SandboxBackupRequest): Promise<SandboxBackup> {
  const taken = await backupSandbox(ctx, request);
  const proven = await proveBackup(ctx, request.name, taken.timestamp);
  if (typeof proven === "string")
    throw new UnprovenBackupError(proven, { timestamp: taken.timestamp, path: taken.path });
  return taken;
}
