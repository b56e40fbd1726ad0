import type { AgentSpec } from "../../adapters/agent-catalog.js";
import { JournalHandle } from "../../adapters/operations-journal.js";
import { PreflightRefusal } from "../../domain/errors.js";
import type { Classification } from "../../domain/upgrade-classification.js";
import { driveOperation } from "../operation-driver.js";
import { modifiedReactive } from "../operations.js";
import { takeProvenBackup, UnprovenBackupError } from "../proof.js";
import type { RebuildOutcome } from "../rebuild-outcome.js";
import type { SandboxBackup } from "../sandbox-backup.js";
import { createFormFor } from "../sandbox-state.js";
import { rebuildOutcomeOf, rebuildRecovery } from "./outcomes.js";
import type { RunState } from "./upgrade-run.js";

/** One stale Ready sandbox: backup → journal → delete → create → restore → verify → registry. */
export async function rebuildOne(
  run: RunState,
  c: Classification,
  agentType: string,
  agent: AgentSpec,
  emit: (step: string) => void,
): Promise<RebuildOutcome> {
  const { ctx, report, options } = run;
  const started = run.clock();
  const name = c.name;
  const action = `rebuilding sandbox '${name}'`;
  const policy = { action, rerunCommand: options.rerunCommand, strict: options.strict };
  const base = { name, from: c.current, to: agent.expectedVersion };
  const elapsed = () => Math.round(run.clock() - started);

  // The installed version decides the form of `sandbox create`: unreadable → no delete at all.
  if (createFormFor(report.preflight.installedVersion) === null) {
    return {
      ...base,
      status: "failed",
      reason:
        "not rebuilt: the installed OpenShell version could not be read, so the form of `sandbox create` is unknown; nothing was changed",
      durationMs: elapsed(),
    };
  }
  emit("backing up");
  const taken = await takeBackupBeforeRebuild(run, c, agentType, agent, policy, base, elapsed);
  if ("outcome" in taken) return taken.outcome;
  const { backup } = taken;
  if (backup.warnings.length) options.onWarnings?.(backup.warnings);
  const backupRef = { timestamp: backup.timestamp, path: backup.path };
  if (ctx.abort.signal.aborted) {
    return {
      ...base,
      status: "skipped",
      reason: "not rebuilt (run stopped after its backup)",
      backup: backupRef,
      durationMs: elapsed(),
    };
  }
  const handle = openRebuildJournal(run, c, agent, backup);
  const { recoveryCommand } = rebuildRecovery(name, backup.timestamp, options.gatewayName);
  // Sandbox delete (in the driver): its state is held by `backup`, proven just above.
  const drive = await driveOperation(ctx, {
    report,
    handle,
    backup: { ...backupRef, manifest: backup.manifest },
    agent,
    reactive: modifiedReactive(report, policy, name, backupRef, recoveryCommand),
    resumed: false,
    emit,
    onUpload: (progress) => options.onEvent?.({ type: "upload", name, progress }),
  });
  if (drive.status === "abandoned") {
    return {
      ...base,
      status: "failed",
      reason: `the sandbox was not rebuilt (nothing was deleted): ${drive.why}`,
      backup: backupRef,
      durationMs: elapsed(),
    };
  }
  if (drive.status === "done" && drive.warnings.length) options.onWarnings?.(drive.warnings);
  return rebuildOutcomeOf(drive, base, backupRef, false, elapsed(), agent.image, options.gatewayName);
}

/**
 * The proven backup a rebuild starts from, or the outcome of a sandbox that cannot be rebuilt
 * because its backup failed or could not be proven (nothing was changed then).
 */
async function takeBackupBeforeRebuild(
  run: RunState,
  c: Classification,
  agentType: string,
  agent: AgentSpec,
  policy: { action: string; rerunCommand: string; strict: boolean },
  base: { name: string; from: string | null; to: string | null },
  elapsed: () => number,
): Promise<{ backup: SandboxBackup } | { outcome: RebuildOutcome }> {
  try {
    // Re-hashed in full once sealed: the delete below relies on every byte of it.
    const backup = await takeProvenBackup(run.ctx, {
      name: c.name,
      agentType,
      agent,
      agentVersion: c.current,
      gatewayName: run.options.gatewayName,
      reactive: { ...policy, report: run.report },
    });
    return { backup };
  } catch (error) {
    if (error instanceof PreflightRefusal) throw error;
    if (error instanceof UnprovenBackupError) {
      return {
        outcome: {
          ...base,
          status: "failed",
          reason: `${error.message}; sandbox not rebuilt, nothing was changed`,
          backup: error.backup,
          durationMs: elapsed(),
        },
      };
    }
    return {
      outcome: {
        ...base,
        status: "failed",
        reason: `backup failed, sandbox not rebuilt: ${(error as Error).message}`,
        durationMs: elapsed(),
      },
    };
  }
}

/** Written (fsynced) before the delete: from here on a killed run is finished by the next one. */
function openRebuildJournal(
  run: RunState,
  c: Classification,
  agent: AgentSpec,
  backup: SandboxBackup,
): JournalHandle {
  return JournalHandle.open(
    run.ctx.settings.paths.stateRoot,
    {
      version: 1,
      operation: "rebuild",
      sandbox: c.name,
      gateway: run.options.gatewayName,
      backup: backup.timestamp,
      safetyBackup: null,
      image: agent.image,
      finalPhase: c.phase === "Stopped" ? "Stopped" : "Ready",
      phase: "deleting",
      startedAt: run.ctx.now().toISOString(),
      command: run.options.rerunCommand,
    },
    { now: run.ctx.now, procRoot: run.ctx.procRoot },
  );
}
