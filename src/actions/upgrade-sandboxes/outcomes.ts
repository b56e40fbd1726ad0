import type { Context } from "../../context.js";
import {
  gatewayArg,
  type OperationJournal,
  safetyBackupsOf,
  wayBackCommand,
} from "../../domain/operation-journal.js";
import type { DriveResult, SafetyBackupLine } from "../operation-driver.js";
import type { RebuildOutcome } from "../rebuild-outcome.js";

/** The two recovery commands of a rebuild that did not finish (docs/design.md, "Recovery"). */
export function rebuildRecovery(name: string, backupTs: string, gateway: string) {
  return {
    recoveryCommand: wayBackCommand(name, backupTs, gateway),
    finishCommand: `nemoclaw upgrade-sandboxes --yes ${name}${gatewayArg(gateway)}`,
  };
}

/** Every safety backup a journal holds, each with the command that restores it. */
export function safetyLines(ctx: Context, journal: OperationJournal): SafetyBackupLine[] {
  return safetyBackupsOf(journal).map((timestamp) => ({
    timestamp,
    path: `${ctx.settings.paths.backupsRoot}/${journal.sandbox}/${timestamp}`,
    command: `nemoclaw restore ${journal.sandbox} --backup ${timestamp} --yes${gatewayArg(journal.gateway)}`,
  }));
}

/** A DriveResult of a rebuild journal as the run's outcome for that sandbox. */
export function rebuildOutcomeOf(
  drive: DriveResult,
  base: { name: string; from: string | null; to: string | null },
  backup: { timestamp: string; path: string },
  resumed: boolean,
  elapsed: number,
  image: string | null,
  gateway: string,
  safety: SafetyBackupLine[] = [],
): RebuildOutcome {
  const common = {
    ...base,
    backup,
    durationMs: elapsed,
    ...(resumed ? { resumed: true } : {}),
    ...(safety.length ? { safetyBackups: safety } : {}),
  };
  const gw = gatewayArg(gateway);
  switch (drive.status) {
    case "done":
      return {
        ...common,
        status: "rebuilt",
        reason: `${
          resumed ? `finished the interrupted rebuild from ${image ?? "its image"}` : `rebuilt from ${image}`
        }${
          drive.safetyBackups.length
            ? `; the live state had changed since its upload and was saved first in ${drive.safetyBackups.map((b) => b.timestamp).join(", ")}`
            : ""
        }`,
        attempts: drive.attempts,
      };
    case "abandoned":
      return {
        ...common,
        status: "skipped",
        reason: `the interrupted rebuild never deleted the sandbox; its journal was dropped (backup ${backup.timestamp} kept)`,
      };
    case "registry-failed":
      return {
        ...common,
        status: "failed",
        reason: `rebuilt; registry not updated: ${drive.why}; rerun \`nemoclaw upgrade-sandboxes --yes ${base.name}${gw}\` to retry the registry update only`,
        finishCommand: `nemoclaw upgrade-sandboxes --yes ${base.name}${gw}`,
      };
    case "failed":
      return {
        ...common,
        status: "failed",
        reason: `rebuild failed after the delete: ${drive.why}; its state is preserved in ${backup.path}`,
        ...rebuildRecovery(base.name, backup.timestamp, gateway),
        ...(drive.code ? { code: drive.code } : {}),
        attempts: drive.attempts,
      };
  }
}
