import { type AgentSpec, readAgentCatalog } from "../adapters/agent-catalog.js";
import { type BackupListing, listBackups, verifyBackup } from "../adapters/backup-store.js";
import { JournalHandle, stopOrphanChild } from "../adapters/operations-journal.js";
import { readRegistry } from "../adapters/registry.js";
import type { Context } from "../context.js";
import type { ManifestHeader } from "../domain/backup-manifest.js";
import type { ErrorCode } from "../domain/error-codes.js";
import {
  EnvironmentError,
  InterruptedError,
  NemoclawError,
  PreflightRefusal,
  UsageError,
} from "../domain/errors.js";
import { ExitCode, exitCodeForSignal } from "../domain/exit-codes.js";
import {
  DEFAULT_GATEWAY,
  gatewayArg,
  type OperationJournal,
  safetyBackupsOf,
} from "../domain/operation-journal.js";
import type { Preflight } from "../domain/preflight-types.js";
import { rehashFailure } from "../domain/proof.js";
import { takeMaintenanceLock } from "./maintenance.js";
import { type DriveResult, driveOperation, type SafetyBackupLine } from "./operation-driver.js";
import {
  abandonIfDestroyed,
  modifiedReactive,
  type OpenOperation,
  openOperations,
  recordReplaced,
} from "./operations.js";
import { enforcePreflight, type PreflightReport, runPreflight } from "./preflight.js";
import { takeProvenBackup, UnprovenBackupError } from "./proof.js";
import { leaveStopped, startForRestore, stopLeftoverStartedSandboxes } from "./sandbox-power.js";
import { createFormFor, type SandboxPresence, sandboxPresence } from "./sandbox-state.js";
import type { UploadProgress } from "./upload-progress.js";

export interface SafetyBackupRef {
  timestamp: string;
  path: string;
}

/**
 * The restore failed. Before the first destructive step: exit 1, nothing changed. After it
 * (the journal is open): exit 1, or 130/143 when interrupted, or 3 on a schema mismatch — never
 * 4 — with the safety backup and the exact commands that bring the state back.
 */
export class RestoreFailed extends NemoclawError {
  readonly code: ErrorCode;
  readonly exitCode: ExitCode;
  constructor(
    message: string,
    readonly safetyBackup: SafetyBackupRef | null,
    readonly recovery: string[] = [],
    options: { exitCode?: ExitCode; code?: ErrorCode; preflight?: Preflight; diagnostic?: string[] } = {},
  ) {
    super(message);
    this.name = "RestoreFailed";
    this.exitCode = options.exitCode ?? ExitCode.Failed;
    this.code = options.code ?? "restore_failed";
    this.preflight = options.preflight ?? null;
    this.diagnostic = options.diagnostic ?? [];
  }
  readonly preflight: Preflight | null;
  readonly diagnostic: string[];
}

export interface RestorePlan {
  sandbox: string;
  backup: BackupListing & { manifest: ManifestHeader };
  /** Newer backups that hold no files, passed over by the default choice. */
  skippedEmpty: string[];
}

export interface RestoreResult {
  sandbox: string;
  gatewayName: string;
  backup: { timestamp: string; path: string; files: number };
  created: boolean;
  safetyBackup: SafetyBackupRef | null;
  restoredDirs: string[];
  removedDirs: string[];
  verifiedFiles: number;
  /** Files whose mode the upload changed (umask) and that were chmod-ed back. */
  repairedModes: number;
  /** Commands that undo or redo this restore; empty on success. */
  recovery: string[];
  /** Set when this restore finished an operation a killed run had left (its journal). */
  resumed: { operation: "rebuild" | "restore"; phase: string } | null;
  /**
   * Every safety backup this restore holds (the first is `safetyBackup`; a resumed one that found
   * the live state changed since its upload saved it too), each with its restore command.
   */
  safetyBackups?: SafetyBackupLine[];
  /** Set when `restore --create` registered a sandbox the registry did not list. */
  registered?: boolean;
}

export interface RestoreOptions {
  gatewayName: string;
  /** `--backup TIMESTAMP`; absent: the open journal's backup, else the newest with files. */
  timestamp?: string;
  create: boolean;
  strict: boolean;
  rerunCommand: string;
  /** Asked under the lock, after the backup is chosen and verified; false → cancelled. */
  confirm: (
    plan: RestorePlan,
    sandboxExists: boolean | null,
    finishing: OperationJournal | null,
  ) => Promise<boolean>;
  onStep?: (text: string) => void;
  /** Progress of the state upload against the backup's bytes. */
  onUpload?: (progress: UploadProgress) => void;
}

/**
 * Chooses the backup: `--backup TS` (must be complete), or the newest complete backup that
 * holds files (newer empty ones are named in `skippedEmpty`), or — when only empty backups
 * exist — the newest of those.
 */
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
    return { sandbox, backup: { ...found, manifest: found.manifest }, skippedEmpty: [] };
  }
  const complete = all.filter((b) => b.complete && b.manifest);
  const withFiles = complete.find((b) => b.fileCount > 0);
  const chosen = withFiles ?? complete[0];
  if (!chosen?.manifest) {
    throw new EnvironmentError(
      "no_backup",
      `no complete backup of sandbox ${sandbox} in ${ctx.settings.paths.backupsRoot}`,
    );
  }
  const skippedEmpty = withFiles
    ? complete.filter((b) => b.timestamp > withFiles.timestamp && b.fileCount === 0).map((b) => b.timestamp)
    : [];
  return { sandbox, backup: { ...chosen, manifest: chosen.manifest }, skippedEmpty };
}

export interface RestoreRun {
  preflight: Preflight;
  result: RestoreResult | null;
  cancelled: boolean;
  warnings: string[];
}

type Mode =
  | { kind: "fresh" }
  | { kind: "finish"; journal: OperationJournal }
  | { kind: "replace"; journal: OperationJournal };

interface Under {
  ctx: Context;
  report: PreflightReport;
  options: RestoreOptions;
  sandbox: string;
  policy: { action: string; rerunCommand: string; strict: boolean };
  step: (text: string) => void;
  /** Warnings gathered on the way (a safety backup's skipped special files …). */
  warnings: string[];
  /** A Stopped sandbox this restore started: it is left Stopped again, also on failure. */
  startedHere: boolean;
}

/** The two recovery commands after the first destructive step (docs/design.md, "Recovery"). */
export function restoreRecovery(
  sandbox: string,
  backupTs: string,
  safety: SafetyBackupRef | null,
  gateway = DEFAULT_GATEWAY,
): string[] {
  const g = gatewayArg(gateway);
  return [
    ...(safety ? [`nemoclaw restore ${sandbox} --backup ${safety.timestamp} --yes${g}`] : []),
    `nemoclaw restore ${sandbox} --backup ${backupTs} --yes${g}`,
  ];
}

function nothingChanged(message: string): RestoreFailed {
  return new RestoreFailed(`${message}; nothing was changed`, null);
}

/** Under the lock: the plan again (a backup may have vanished meanwhile), re-verified. */
async function verifiedPlan(under: Under, timestamp: string | undefined): Promise<RestorePlan> {
  let plan: RestorePlan;
  try {
    plan = chooseBackup(under.ctx, under.sandbox, timestamp);
  } catch (error) {
    if (error instanceof NemoclawError) throw nothingChanged((error as Error).message);
    throw error;
  }
  under.step(`verifying backup ${plan.backup.timestamp}`);
  const check = await verifyBackup(plan.backup);
  if (!check.ok) throw nothingChanged(`${rehashFailure(plan.backup.path, check)}; refusing to restore it`);
  return plan;
}

function isRegistered(ctx: Context, sandbox: string): boolean {
  try {
    return readRegistry(ctx.settings.paths.registryFile).entries[sandbox] !== undefined;
  } catch {
    return true;
  }
}

function safetyRef(ctx: Context, sandbox: string, ts: string | null): SafetyBackupRef | null {
  return ts ? { timestamp: ts, path: `${ctx.settings.paths.backupsRoot}/${sandbox}/${ts}` } : null;
}

/** A fresh restore: safety backup of the live state (if any), then the journal. */
async function openFresh(
  under: Under,
  plan: RestorePlan,
  presence: SandboxPresence,
  agent: AgentSpec | undefined,
): Promise<{ handle: JournalHandle; safety: SafetyBackupRef | null; created: boolean }> {
  const { ctx, sandbox, options } = under;
  const agentType = plan.backup.manifest.agentType;
  if (!agent) {
    throw nothingChanged(`agent ${JSON.stringify(agentType)} is not in the catalog`);
  }
  let safety: SafetyBackupRef | null = null;
  if (presence.exists) {
    if (presence.phase !== "Ready" && !under.startedHere)
      throw nothingChanged(`sandbox ${sandbox} is ${presence.phase}, not Ready`);
    under.step("taking a safety backup of the current state");
    // Re-hashed in full once sealed: the rm of the live state relies on every byte of it.
    const taken = await takeProvenBackup(ctx, {
      name: sandbox,
      agentType,
      agent,
      agentVersion: null,
      gatewayName: options.gatewayName,
      reactive: { ...under.policy, report: under.report },
    }).catch((error: Error) => {
      if (error instanceof NemoclawError) throw error;
      if (ctx.abort.signal.aborted) throw new InterruptedError(ctx.abort.signal.reason);
      if (error instanceof UnprovenBackupError) throw nothingChanged(`safety backup ${error.message}`);
      throw nothingChanged(`safety backup failed: ${error.message}`);
    });
    safety = { timestamp: taken.timestamp, path: taken.path };
    under.warnings.push(...taken.warnings);
  } else if (!options.create) {
    throw new RestoreFailed(
      `sandbox ${sandbox} does not exist; rerun with --create to create it from the catalog image`,
      null,
    );
  }
  if (ctx.abort.signal.aborted) throw new InterruptedError(ctx.abort.signal.reason);
  const handle = JournalHandle.open(
    ctx.settings.paths.stateRoot,
    {
      version: 1,
      operation: "restore",
      sandbox,
      gateway: options.gatewayName,
      backup: plan.backup.timestamp,
      safetyBackup: safety?.timestamp ?? null,
      image: agent.image,
      finalPhase: under.startedHere ? "Stopped" : "Ready",
      phase: presence.exists ? "restoring" : "creating",
      startedAt: ctx.now().toISOString(),
      command: options.rerunCommand,
    },
    { now: ctx.now, procRoot: ctx.procRoot },
  );
  return { handle, safety, created: !presence.exists };
}

/**
 * An open journal and a different `--backup`: a restore journal replaces it and inherits its
 * safety backup (a rebuild's own backup is the pre-rebuild state, so it becomes the safety
 * backup: the state the operator may still want back stays pinned). No new safety backup is
 * taken: the live state is partial.
 */
async function openReplacement(
  under: Under,
  plan: RestorePlan,
  journal: OperationJournal,
  presence: SandboxPresence,
  agent: AgentSpec | undefined,
): Promise<JournalHandle> {
  const { ctx } = under;
  const safety = journal.safetyBackup ?? (journal.operation === "rebuild" ? journal.backup : null);
  const extra = [...(journal.extraSafetyBackups ?? [])];
  if (
    (journal.phase === "verifying" || journal.phase === "registering") &&
    presence.exists &&
    presence.phase === "Ready"
  ) {
    // Past its upload the sandbox held complete state the agent may have changed: that is the
    // user's, and the rm of the replacing restore may only destroy it once a proven backup holds it.
    if (!agent)
      throw nothingChanged(
        `agent ${JSON.stringify(plan.backup.manifest.agentType)} is not in the catalog, so the live state cannot be saved first`,
      );
    under.step(
      "taking a safety backup of the current state (the interrupted operation had finished its upload)",
    );
    const taken = await takeProvenBackup(ctx, {
      name: under.sandbox,
      agentType: plan.backup.manifest.agentType,
      agent,
      agentVersion: null,
      gatewayName: under.options.gatewayName,
      reactive: { ...under.policy, report: under.report },
    }).catch((error: Error) => {
      if (error instanceof NemoclawError) throw error;
      if (ctx.abort.signal.aborted) throw new InterruptedError(ctx.abort.signal.reason);
      throw nothingChanged(`safety backup of the live state failed: ${error.message}`);
    });
    under.warnings.push(...taken.warnings);
    extra.push(taken.timestamp);
  }
  const warning = recordReplaced(ctx, journal);
  if (warning) under.warnings.push(warning);
  const [first, ...rest] = safety ? [safety, ...extra] : extra;
  return JournalHandle.open(
    ctx.settings.paths.stateRoot,
    {
      version: 1,
      operation: "restore",
      sandbox: under.sandbox,
      gateway: under.options.gatewayName,
      backup: plan.backup.timestamp,
      safetyBackup: first ?? null,
      ...(rest.length ? { extraSafetyBackups: rest } : {}),
      image: journal.image ?? agent?.image ?? null,
      finalPhase: presence.exists && presence.phase === "Stopped" ? "Stopped" : journal.finalPhase,
      phase: presence.exists ? "restoring" : "creating",
      startedAt: ctx.now().toISOString(),
      command: under.options.rerunCommand,
    },
    { now: ctx.now, procRoot: ctx.procRoot },
  );
}

function failureAfterDelete(
  under: Under,
  drive: Exclude<DriveResult, { status: "done" }>,
  safety: SafetyBackupRef | null,
  recovery: string[],
): RestoreFailed {
  const { ctx } = under;
  const interrupted = ctx.abort.signal.aborted ? (ctx.abort.signal.reason as "SIGINT" | "SIGTERM") : null;
  const why =
    drive.status === "registry-failed"
      ? `restored; registry not updated: ${drive.why}`
      : `restore of sandbox ${under.sandbox} did not finish: ${interrupted ? `interrupted by ${interrupted}` : drive.why}`;
  const kept = safety ? `; the previous state is preserved in ${safety.path}` : "";
  return new RestoreFailed(`${why}${kept}`, safety, recovery, {
    ...(interrupted
      ? {
          exitCode: exitCodeForSignal(interrupted),
          code: "interrupted",
        }
      : drive.status === "failed" && drive.code
        ? { code: drive.code }
        : {}),
  });
}

async function restoreUnderLock(under: Under, mode: Mode): Promise<RestoreRun> {
  const { ctx, sandbox, report, options } = under;
  if (mode.kind !== "fresh") {
    // A rebuild of a sandbox the operator destroyed is closed, not finished: this restore then
    // runs as a fresh one (the way back the closing message names).
    if (await stopOrphanChild(mode.journal, ctx.procRoot))
      under.step("stopped the interrupted run's OpenShell process");
    const destroyed = await abandonIfDestroyed(ctx, report, under.policy, mode.journal);
    if (destroyed) {
      under.warnings.push(destroyed.why, ...destroyed.warnings);
      return restoreUnderLock(under, { kind: "fresh" });
    }
  }
  const finishing = mode.kind === "finish" ? mode.journal : null;
  const plan = await verifiedPlan(under, finishing ? finishing.backup : options.timestamp);
  const warnings = plan.skippedEmpty.length
    ? [
        `newer backups of ${sandbox} hold no files and were passed over: ${plan.skippedEmpty.join(", ")} (restore one with --backup)`,
      ]
    : [];
  const agent = readAgentCatalog(ctx.settings.paths.catalogFile)[plan.backup.manifest.agentType];
  const presence = await sandboxPresence({ ...under.policy, report }, sandbox);
  if (!presence.exists && createFormFor(report.preflight.installedVersion) === null) {
    throw nothingChanged(
      `sandbox ${sandbox} does not exist and the installed OpenShell version could not be read, so the form of \`sandbox create\` is unknown`,
    );
  }
  const yes = await options.confirm(plan, presence.exists, finishing);
  if (ctx.abort.signal.aborted) throw new InterruptedError(ctx.abort.signal.reason);
  if (!yes) return { preflight: report.preflight, result: null, cancelled: true, warnings };
  // The prompt may have waited for minutes: prove the backup again before anything changes.
  await verifiedPlan(under, plan.backup.timestamp);

  let handle: JournalHandle;
  let safety: SafetyBackupRef | null;
  let created = false;
  if (mode.kind === "fresh" && presence.exists && presence.phase === "Stopped") {
    under.step(`starting sandbox ${sandbox} (Stopped; it is stopped again afterwards)`);
    under.startedHere = await startForRestore(ctx, { ...under.policy, report }, sandbox);
  }
  if (mode.kind === "fresh") {
    ({ handle, safety, created } = await openFresh(under, plan, presence, agent));
  } else {
    handle =
      mode.kind === "finish"
        ? JournalHandle.open(ctx.settings.paths.stateRoot, mode.journal, {
            now: ctx.now,
            procRoot: ctx.procRoot,
          })
        : await openReplacement(under, plan, mode.journal, presence, agent);
    safety = safetyRef(ctx, sandbox, handle.journal.safetyBackup);
    created = !presence.exists;
  }
  const recovery = restoreRecovery(sandbox, plan.backup.timestamp, safety, options.gatewayName);
  const backupRef = { timestamp: plan.backup.timestamp, path: plan.backup.path };
  let drive: DriveResult;
  const registeredBefore = isRegistered(ctx, sandbox);
  try {
    // rm of live state (in the driver): held by the proven safety backup, or — finishing a killed
    // run — partial state from the proven backup, or complete state the driver saves first.
    drive = await driveOperation(ctx, {
      report,
      handle,
      backup: { ...backupRef, manifest: plan.backup.manifest },
      agent,
      reactive: modifiedReactive(report, under.policy, sandbox, safety ?? backupRef, recovery[0] as string),
      resumed: mode.kind === "finish",
      emit: under.step,
      onUpload: under.options.onUpload,
    });
  } catch (error) {
    if (error instanceof PreflightRefusal) {
      throw new RestoreFailed(error.message, safety, recovery, {
        exitCode: ExitCode.Refused,
        code: error.code,
        preflight: error.preflight,
        diagnostic: error.diagnostic,
      });
    }
    throw error;
  }
  if (drive.status === "abandoned") {
    // A killed rebuild never deleted the sandbox: its journal is gone, restore it like any other.
    return restoreUnderLock(under, { kind: "fresh" });
  }
  if (drive.status !== "done") {
    // The driver may have saved the live state meanwhile: every safety backup is named.
    const held = safetyBackupsOf(handle.journal);
    const first = safety ?? safetyRef(ctx, sandbox, held[0] ?? null);
    const extra = held
      .filter((ts) => ts !== first?.timestamp)
      .map((ts) => `nemoclaw restore ${sandbox} --backup ${ts} --yes${gatewayArg(options.gatewayName)}`);
    const all = restoreRecovery(sandbox, plan.backup.timestamp, first, options.gatewayName);
    throw failureAfterDelete(under, drive, first, [...extra, ...all]);
  }
  under.warnings.push(...drive.warnings);
  const { manifest } = plan.backup;
  const g = gatewayArg(options.gatewayName);
  const safetyBackups: SafetyBackupLine[] = [
    ...safetyBackupsOf(handle.journal).map((timestamp) => ({
      ...(safetyRef(ctx, sandbox, timestamp) as SafetyBackupRef),
      command: `nemoclaw restore ${sandbox} --backup ${timestamp} --yes${g}`,
    })),
  ];
  return {
    preflight: report.preflight,
    cancelled: false,
    warnings,
    result: {
      sandbox,
      gatewayName: options.gatewayName,
      backup: { ...backupRef, files: manifest.fileCount },
      created,
      safetyBackup: safety,
      restoredDirs: manifest.backedUpDirs,
      removedDirs: manifest.absentDirs,
      verifiedFiles: manifest.fileCount,
      repairedModes: drive.repairedModes,
      recovery: [],
      resumed: finishing ? { operation: finishing.operation, phase: finishing.phase } : null,
      ...(safetyBackups.length > 1 || drive.safetyBackups.length ? { safetyBackups } : {}),
      ...(!registeredBefore && isRegistered(ctx, sandbox) ? { registered: true } : {}),
    },
  };
}

function modeFor(op: OpenOperation | undefined, timestamp: string | undefined): Mode {
  if (!op) return { kind: "fresh" };
  // In progress, on another host, on another gateway, unreadable: never finished, replaced or
  // removed from here, and nothing destructive happens to this sandbox name (exit 1).
  if (op.state !== "interrupted" || !op.journal) {
    throw new RestoreFailed(`${op.reason}; nothing was changed`, null);
  }
  if (timestamp === undefined || timestamp === op.journal.backup)
    return { kind: "finish", journal: op.journal };
  return { kind: "replace", journal: op.journal };
}

/**
 * restore (docs/design.md, "restore"): preflight → lock → (finish an open journal, or) choose
 * and verify → confirm → verify again → safety backup → journal → rm + upload per state dir →
 * verify by re-download. The lock is held from before the choice until the end, so retention
 * can never remove the chosen backup while the prompt waits.
 */
export async function restoreSandbox(
  ctx: Context,
  sandbox: string,
  options: RestoreOptions,
): Promise<RestoreRun> {
  // Read-only first choice: the documented exit codes of a bad --backup come before anything else.
  const early = openOperations(ctx).get(sandbox);
  if (!early?.journal || (options.timestamp !== undefined && options.timestamp !== early.journal.backup)) {
    chooseBackup(ctx, sandbox, options.timestamp);
  }
  const policy = {
    action: `restoring sandbox '${sandbox}'`,
    rerunCommand: options.rerunCommand,
    strict: options.strict,
  };
  const report = await runPreflight(ctx, options.gatewayName, ctx.abort.signal);
  if (ctx.abort.signal.aborted) throw new InterruptedError(ctx.abort.signal.reason);
  const { warnings } = enforcePreflight(report, policy);
  const { lock } = takeMaintenanceLock(ctx, "restore");
  try {
    warnings.push(...(await stopLeftoverStartedSandboxes(ctx, { ...policy, report })));
    const mode = modeFor(openOperations(ctx).get(sandbox), options.timestamp);
    const under: Under = {
      ctx,
      report,
      options,
      sandbox,
      policy,
      step: (t) => options.onStep?.(t),
      warnings: [],
      startedHere: false,
    };
    try {
      const run = await restoreUnderLock(under, mode);
      return { ...run, warnings: [...warnings, ...under.warnings, ...run.warnings] };
    } catch (error) {
      // A sandbox started here goes back to Stopped whatever happened (an open journal starts it
      // again when the restore is finished).
      throw await leaveStopped(ctx, { ...policy, report }, sandbox, under.startedHere, error);
    }
  } finally {
    lock.release();
  }
}
