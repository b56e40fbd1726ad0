import fs from "node:fs";
import { cleanStaging } from "../adapters/backup-store.js";
import { MaintenanceLock } from "../adapters/maintenance-lock.js";
import type { Context } from "../context.js";
import { restoreScratchRoot } from "./sandbox-state.js";

export interface HeldMaintenanceLock {
  lock: MaintenanceLock;
  /** Scratch of runs that died, removed right after the lock was taken. */
  cleaned: string[];
}

/**
 * Scratch that only a command holding the maintenance lock creates, left behind by one that
 * died (docs/design.md): backup staging (`<backups>/<sandbox>/.<ts>.partial`, also used by upgrades and
 * safety backups, and by prunes mid-removal) and restore verification scratch. Safe only while
 * holding the lock: no live command can be using any of it then.
 */
export function cleanDeadRunScratch(ctx: Context): string[] {
  const cleaned = cleanStaging(ctx.settings.paths.backupsRoot);
  const scratch = restoreScratchRoot(ctx);
  let leftovers: string[] = [];
  try {
    leftovers = fs.readdirSync(scratch);
  } catch {
    // none
  }
  fs.rmSync(scratch, { recursive: true, force: true });
  for (const name of leftovers) cleaned.push(`${scratch}/${name}`);
  return cleaned;
}

/**
 * Takes the maintenance lock for `command` and cleans dead runs' scratch under it. Every
 * command that takes the lock goes through here, so none leaves another's leftovers behind.
 */
export function takeMaintenanceLock(ctx: Context, command: string): HeldMaintenanceLock {
  const lock = MaintenanceLock.acquire(ctx.settings.paths.maintenanceLock, {
    command,
    procRoot: ctx.procRoot,
    now: ctx.now,
  });
  try {
    return { lock, cleaned: cleanDeadRunScratch(ctx) };
  } catch (error) {
    lock.release();
    throw error;
  }
}
