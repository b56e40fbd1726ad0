import { readAgentCatalog } from "../adapters/agent-catalog.js";
import { type BackupListing, listBackups, verifyBackup } from "../adapters/backup-store.js";
import { MaintenanceLock } from "../adapters/maintenance-lock.js";
import type { Context } from "../context.js";
import type { BackupManifest } from "../domain/backup-manifest.js";
import { EnvironmentError, NemoclawError, UsageError } from "../domain/errors.js";
import { ExitCode } from "../domain/exit-codes.js";
import type { Preflight } from "../domain/preflight-types.js";
import { enforcePreflight, runPreflight } from "./preflight.js";
import { backupSandbox } from "./sandbox-backup.js";
import {
  leaveStopped,
  startForRestore,
  stopLeftoverStartedSandboxes,
  stopStartedSandbox,
} from "./sandbox-power.js";
import {
  cleanRestoreScratch,
  createSandbox,
  restoreStateDirs,
  SandboxStepError,
  sandboxPresence,
  verifyRestoredState,
} from "./sandbox-state.js";

/** The restore itself failed after it started changing the sandbox (exit 1). */
export class RestoreFailed extends NemoclawError {
  readonly code = "restore_failed";
  readonly exitCode = ExitCode.Failed;
  constructor(
    message: string,
    readonly safetyBackup: string | null,
  ) {
    super(message);
    this.name = "RestoreFailed";
  }
}

export interface RestorePlan {
  sandbox: string;
  backup: BackupListing & { manifest: BackupManifest };
}

export interface RestoreResult {
  sandbox: string;
  gatewayName: string;
  backup: { timestamp: string; path: string; files: number };
  created: boolean;
  safetyBackup: { timestamp: string; path: string } | null;
  restoredDirs: string[];
  removedDirs: string[];
  verifiedFiles: number;
}

export interface RestoreOptions {
  gatewayName: string;
  create: boolean;
  strict: boolean;
  rerunCommand: string;
  /** Asked after the backup is chosen and verified, before the lock; false → cancelled. */
  confirm: (plan: RestorePlan, sandboxExists: boolean | null) => Promise<boolean>;
  onStep?: (text: string) => void;
}

/** Chooses the backup: `--backup TS` (must be complete) or the latest complete one. */
export function chooseBackup(ctx: Context, sandbox: string, timestamp?: string): RestorePlan {
  const all = listBackups(ctx.settings.paths.backupsRoot, sandbox);
  if (timestamp !== undefined) {
    const found = all.find((b) => b.timestamp === timestamp);
    if (!found)
      throw new UsageError(`no backup ${JSON.stringify(timestamp)} for sandbox ${sandbox}`, "no_such_backup");
    if (!found.manifest) {
      throw new EnvironmentError(
        "backup_corrupt",
        `backup ${found.path} is corrupt (${found.corrupt}); refusing to restore it`,
      );
    }
    return { sandbox, backup: { ...found, manifest: found.manifest } };
  }
  const latest = all.find((b) => b.complete && b.manifest);
  if (!latest?.manifest) {
    throw new EnvironmentError(
      "no_backup",
      `no complete backup of sandbox ${sandbox} in ${ctx.settings.paths.backupsRoot}`,
    );
  }
  return { sandbox, backup: { ...latest, manifest: latest.manifest } };
}

export interface RestoreRun {
  preflight: Preflight;
  result: RestoreResult | null;
  cancelled: boolean;
  warnings: string[];
}

/**
 * SPEC §7 restore: choose → preflight → verify the backup → confirm → lock → (create) →
 * safety backup → rm + upload per state dir → verify by re-download. Nothing is changed
 * before the safety backup exists; a failure afterwards names it.
 */
export async function restoreSandbox(
  ctx: Context,
  plan: RestorePlan,
  options: RestoreOptions,
): Promise<RestoreRun> {
  const { sandbox, backup } = plan;
  const action = `restoring sandbox '${sandbox}'`;
  const policy = { action, rerunCommand: options.rerunCommand, strict: options.strict };
  const report = await runPreflight(ctx, options.gatewayName, ctx.abort.signal);
  const { warnings } = enforcePreflight(report, policy);

  options.onStep?.(`verifying backup ${backup.timestamp}`);
  const check = await verifyBackup(backup);
  if (!check.ok) {
    throw new RestoreFailed(
      `backup ${backup.path} failed verification (${check.missing.length} missing, ${check.changed.length} changed, ${check.extra.length} extra files); refusing to restore it`,
      null,
    );
  }
  const catalog = readAgentCatalog(ctx.settings.paths.catalogFile);
  const agent = catalog[backup.manifest.agentType];

  let reactive = { ...policy, report };
  const before = await sandboxPresence(reactive, sandbox);
  if (!(await options.confirm(plan, before.exists))) {
    return { preflight: report.preflight, result: null, cancelled: true, warnings };
  }

  const lock = MaintenanceLock.acquire(ctx.settings.paths.maintenanceLock, { command: "restore" });
  // A Stopped sandbox is started for the restore and left as it was found (SPEC §14).
  let startedHere = false;
  try {
    cleanRestoreScratch(ctx);
    warnings.push(...(await stopLeftoverStartedSandboxes(ctx, reactive)));
    // Re-read under the lock: another command may have changed the sandbox meanwhile.
    const presence = await sandboxPresence(reactive, sandbox);
    let created = false;
    let safety: { timestamp: string; path: string } | null = null;
    if (presence.exists && presence.phase === "Stopped") {
      options.onStep?.(`starting sandbox ${sandbox} (Stopped; it is stopped again afterwards)`);
      startedHere = await startForRestore(ctx, reactive, sandbox);
    }
    if (presence.exists) {
      if (presence.phase !== "Ready" && !startedHere) {
        throw new RestoreFailed(
          `sandbox ${sandbox} is ${presence.phase}, not Ready; nothing was changed`,
          null,
        );
      }
      if (!agent) {
        throw new RestoreFailed(
          `agent ${JSON.stringify(backup.manifest.agentType)} is not in the catalog; nothing was changed`,
          null,
        );
      }
      options.onStep?.("taking a safety backup of the current state");
      const taken = await backupSandbox(ctx, {
        name: sandbox,
        agentType: backup.manifest.agentType,
        agent,
        agentVersion: null,
        gatewayName: options.gatewayName,
        reactive,
      }).catch((error: Error) => {
        if (error instanceof NemoclawError) throw error;
        throw new RestoreFailed(`safety backup failed: ${error.message}; nothing was changed`, null);
      });
      safety = { timestamp: taken.timestamp, path: taken.path };
    } else {
      if (!options.create) {
        throw new RestoreFailed(
          `sandbox ${sandbox} does not exist; rerun with --create to create it from the catalog image`,
          null,
        );
      }
      if (!agent) {
        throw new RestoreFailed(
          `agent ${JSON.stringify(backup.manifest.agentType)} is not in the catalog: cannot create ${sandbox}`,
          null,
        );
      }
      options.onStep?.(`creating sandbox ${sandbox} from ${agent.image}`);
      try {
        await createSandbox(ctx, reactive, sandbox, agent.image);
      } catch (error) {
        if (error instanceof SandboxStepError) throw new RestoreFailed(error.message, null);
        throw error;
      }
      created = true;
    }

    const restoreCommand = `nemoclaw restore ${sandbox} --backup ${safety?.timestamp ?? backup.timestamp} --yes`;
    const modifiedReactive = () => ({
      ...reactive,
      modified: { sandbox, backupPath: safety?.path ?? backup.path, restoreCommand },
    });
    try {
      options.onStep?.("replacing state directories");
      reactive = await restoreStateDirs(ctx, reactive, sandbox, backup, modifiedReactive);
      options.onStep?.("verifying the restored state");
      const verified = await verifyRestoredState(ctx, reactive, sandbox, backup.manifest);
      if (!verified.ok) {
        throw new SandboxStepError(
          "verify",
          `restored state differs from the backup (${verified.missing.length} missing, ${verified.changed.length} changed, ${verified.extra.length} extra files)`,
        );
      }
    } catch (error) {
      if (error instanceof SandboxStepError) {
        throw new RestoreFailed(
          `${error.message}${safety ? `; the previous state is preserved in ${safety.path}` : ""}`,
          safety?.path ?? null,
        );
      }
      throw error;
    }
    if (startedHere) {
      options.onStep?.(`stopping sandbox ${sandbox} again`);
      startedHere = false;
      const stop = await stopStartedSandbox(ctx, reactive, sandbox);
      if (!stop.ok)
        throw new RestoreFailed(`restored and verified, but ${stop.reason}`, safety?.path ?? null);
    }
    return {
      preflight: report.preflight,
      cancelled: false,
      warnings,
      result: {
        sandbox,
        gatewayName: options.gatewayName,
        backup: { timestamp: backup.timestamp, path: backup.path, files: backup.manifest.files.length },
        created,
        safetyBackup: safety,
        restoredDirs: backup.manifest.backedUpDirs,
        removedDirs: backup.manifest.absentDirs,
        verifiedFiles: backup.manifest.files.length,
      },
    };
  } catch (error) {
    throw await leaveStopped(ctx, reactive, sandbox, startedHere, error);
  } finally {
    lock.release();
  }
}
