import type { AgentSpec } from "../adapters/agent-catalog.js";
import type { JournalHandle } from "../adapters/operations-journal.js";
import {
  addRegistryEntry,
  RegistryWriteError,
  readRegistry,
  updateRegistryEntry,
} from "../adapters/registry.js";
import { RegistryLockHeld } from "../adapters/registry-lock.js";
import type { Context } from "../context.js";
import type { ManifestHeader } from "../domain/backup-manifest.js";
import { EnvironmentError, PreflightRefusal } from "../domain/errors.js";
import { decideResume, gatewayArg } from "../domain/operation-journal.js";
import { foldExcerpt } from "../domain/schema-mismatch.js";
import { extractVersion, versionsEqual } from "../domain/versions.js";
import { checkStateQuery, type PreflightReport, type ReactiveContext } from "./preflight.js";
import { takeProvenBackup, UnprovenBackupError } from "./proof.js";
import { SandboxStartError, startStoppedSandbox, stopStartedSandbox } from "./sandbox-power.js";
import {
  createSandbox,
  LifecycleOutcomeUnknown,
  restoreStateDirs,
  SandboxStepError,
  sandboxPresence,
  verifyRestoredState,
  waitForGone,
  waitForReady,
} from "./sandbox-state.js";
import type { UploadProgress } from "./upload-progress.js";

type Reactive = Omit<ReactiveContext, "query">;

/**
 * Drives one journaled operation (a rebuild or a restore) from the phase its journal names to
 * the end. Every step is idempotent and decided by looking at the sandbox, so the same code
 * runs a fresh operation and finishes one a killed run left behind (docs/design.md, "Resume").
 */
export interface DriveRequest {
  report: PreflightReport;
  handle: JournalHandle;
  /** The verified backup whose state must end up in the sandbox. */
  backup: { timestamp: string; path: string; manifest: ManifestHeader };
  /** The catalog agent of the backup (version check of a rebuild); may be absent for a restore. */
  agent: AgentSpec | undefined;
  /** Reactive diagnostics with the "sandbox was modified" wording. */
  reactive: Reactive;
  /** A journal found on disk (vs. one this run just wrote). */
  resumed: boolean;
  emit: (step: string) => void;
  /** Progress of the state upload (docs/design.md, "Upload progress"). */
  onUpload?: (progress: UploadProgress) => void;
}

/** A safety backup an operation holds: restoring it brings that state back. */
export interface SafetyBackupLine {
  timestamp: string;
  path: string;
  command: string;
}

export type DriveResult =
  | {
      status: "done";
      attempts: number;
      agentVersion: string | null;
      repairedModes: number;
      /** Safety backups of live state taken by this run (a resumed `verifying` that differed). */
      safetyBackups: SafetyBackupLine[];
      /** A history line that could not be written (the operation still finished). */
      warnings: string[];
    }
  /** Phase `deleting` found the old sandbox untouched: the journal is dropped. */
  | { status: "abandoned"; why: string }
  /** State restored and verified; only the registry update failed (journal kept at `registering`). */
  | { status: "registry-failed"; why: string }
  /** Failed (or interrupted) somewhere after the delete; the journal is kept. */
  | { status: "failed"; why: string; attempts: number; code?: "lifecycle_outcome_unknown" };

function presenceOrThrow(req: DriveRequest) {
  return sandboxPresence(req.reactive, req.handle.journal.sandbox);
}

const track = (req: DriveRequest) => (pid: number) => req.handle.trackChild(pid);

async function deleteSandbox(ctx: Context, req: DriveRequest): Promise<void> {
  const { report } = req;
  const name = req.handle.journal.sandbox;
  const result = await report.openshell.sandboxDelete(report.gatewayName, name, track(req));
  const failure = checkStateQuery(result, { ...req.reactive, query: `sandbox delete ${name}` });
  if (result.exitCode !== 0 && failure?.kind !== "not_found") {
    const after = await presenceOrThrow(req);
    if (after.exists && after.phase !== "Deleting") {
      throw new SandboxStepError(
        "delete",
        `sandbox delete failed: ${foldExcerpt(failure?.excerpt ?? result.stderr, 200) || `exit ${result.exitCode}`}`,
      );
    }
  }
  await waitForGone(ctx, req.reactive, name);
}

/** Phase `deleting`: issue the delete (fresh run) or find out whether it happened (resume). */
async function stepDelete(ctx: Context, req: DriveRequest): Promise<"abandon" | "go-on"> {
  const seen = await presenceOrThrow(req);
  if (seen.exists && seen.phase !== "Deleting") {
    if (req.resumed) return "abandon";
    req.emit("deleting");
    await deleteSandbox(ctx, req);
  } else if (seen.exists) {
    await waitForGone(ctx, req.reactive, req.handle.journal.sandbox);
  }
  req.handle.advance("creating");
  return "go-on";
}

async function create(ctx: Context, req: DriveRequest): Promise<void> {
  const { image, sandbox } = req.handle.journal;
  if (!image) {
    throw new SandboxStepError(
      "create",
      `sandbox ${sandbox} does not exist and the operation names no image`,
    );
  }
  req.emit(`creating from ${image}`);
  await createSandbox(ctx, req.reactive, sandbox, image, track(req));
}

/**
 * Makes sure the sandbox the state goes into exists and is Ready. `fresh` (a retry) replaces
 * whatever a failed attempt left: that sandbox holds no user state.
 */
async function ensureReadySandbox(ctx: Context, req: DriveRequest, fresh: boolean): Promise<void> {
  const name = req.handle.journal.sandbox;
  const seen = await presenceOrThrow(req);
  if (fresh && seen.exists) {
    // Sandbox delete (retry): destroys only what this same run created and uploaded from the
    // proven backup (the caller never retries while live state is unsaved).
    await deleteSandbox(ctx, req);
    await create(ctx, req);
    return;
  }
  switch (decideResume(req.handle.journal.phase, seen)) {
    case "continue":
      return;
    case "wait-ready":
      req.emit("waiting for the sandbox to be Ready");
      await waitForReady(ctx, req.reactive, name);
      return;
    case "wait-deleted":
      await waitForGone(ctx, req.reactive, name);
      await create(ctx, req);
      return;
    case "create":
      await create(ctx, req);
      return;
    case "recreate":
      // A rebuild's new sandbox holds no user state; a restore's sandbox is the user's own
      // (anything outside the state dirs would be lost): never delete that one automatically.
      if (req.handle.journal.operation === "restore" && req.handle.journal.phase !== "creating") {
        throw new SandboxStepError(
          "ready",
          `sandbox ${name} is in phase Error; repair or delete it, then rerun (its state is in backup ${req.backup.timestamp})`,
        );
      }
      // Sandbox delete of a rebuild's new sandbox in Error: it holds only what this operation
      // wrote from its proven backup (an Error sandbox serves no agent).
      await deleteSandbox(ctx, req);
      await create(ctx, req);
      return;
    case "start":
      // Stopped (a killed run, or a failed attempt that left it as found): start it to go on;
      // the journal's finalPhase decides whether it is stopped again at the end.
      req.emit("starting (Stopped)");
      try {
        await startStoppedSandbox(ctx, req.reactive, name, req.handle.journal.operation);
      } catch (error) {
        if (error instanceof SandboxStartError) {
          if (error.lifecycle) throw new LifecycleOutcomeUnknown("start", error.message);
          throw new SandboxStepError("start", error.message);
        }
        throw error;
      }
      return;
    case "abandon":
      throw new SandboxStepError("create", `sandbox ${name} is in an unexpected state`);
  }
}

async function probeVersion(ctx: Context, req: DriveRequest, agent: AgentSpec): Promise<string> {
  const { report } = req;
  const name = req.handle.journal.sandbox;
  const result = await report.openshell.sandboxExec(
    report.gatewayName,
    name,
    agent.versionCommand,
    ctx.settings.probeTimeoutMs,
  );
  const failure = checkStateQuery(result, {
    ...req.reactive,
    query: `sandbox exec ${name} -- ${agent.versionCommand.join(" ")}`,
  });
  const version = result.exitCode === 0 ? extractVersion(result.stdout) : null;
  if (!version || !versionsEqual(version, agent.expectedVersion)) {
    throw new SandboxStepError(
      "verify-version",
      `agent version after rebuild is ${version ?? "unknown"}${
        failure ? ` (${failure.excerpt})` : result.exitCode !== 0 ? ` (exit ${result.exitCode})` : ""
      }, expected ${agent.expectedVersion}`,
    );
  }
  return version;
}

/** Phases `creating` → `restoring` → `verifying`, once (the caller retries a rebuild once). */
async function stepsToVerified(
  ctx: Context,
  req: DriveRequest,
  fresh: boolean,
  live: LiveState,
): Promise<{ version: string | null; repairedModes: number }> {
  const { handle } = req;
  const name = handle.journal.sandbox;
  const rebuild = handle.journal.operation === "rebuild";
  if (handle.journal.phase === "creating") {
    await ensureReadySandbox(ctx, req, fresh);
    handle.advance("restoring");
  }
  if (handle.journal.phase === "restoring") {
    await ensureReadySandbox(ctx, req, false);
    req.emit("restoring state");
    // rm of live state: a restore's is held by its proven safety backup (or, finishing a killed
    // run, is a partial upload from the proven backup that was never handed over); a rebuild's
    // new sandbox holds only what this operation wrote.
    await restoreStateDirs(ctx, req.reactive, name, req.backup, {
      track: track(req),
      onUpload: req.onUpload,
    });
    handle.advance("verifying");
  }
  let version: string | null = null;
  let repairedModes = 0;
  if (handle.journal.phase === "verifying") {
    await ensureReadySandbox(ctx, req, false);
    req.emit("verifying the restored state");
    let verified = await verifyRestoredState(ctx, req.reactive, name, req.backup);
    if (!verified.ok && live.unsaved) {
      // A killed run's upload had returned: the sandbox held complete state and its agent may
      // have written since. That state is the user's: save it (proven) before the rm.
      await saveLiveState(ctx, req, live);
      handle.advance("restoring");
      req.emit("restoring state again");
      // rm of live state: held by the safety backup just proven (saveLiveState).
      await restoreStateDirs(ctx, req.reactive, name, req.backup, {
        track: track(req),
        onUpload: req.onUpload,
      });
      handle.advance("verifying");
      verified = await verifyRestoredState(ctx, req.reactive, name, req.backup);
    }
    repairedModes = verified.repairedModes;
    if (!verified.ok) {
      throw new SandboxStepError(
        "verify",
        `restored state differs from the backup (${verified.missing.length} missing, ${verified.changed.length} changed, ${verified.modeChanged.length} with another mode, ${verified.extra.length} extra files)`,
      );
    }
    if (rebuild && req.agent) {
      req.emit("verifying agent version");
      version = await probeVersion(ctx, req, req.agent);
    }
    if (rebuild) handle.advance("registering", { verifiedAgentVersion: version });
    else if (!isRegistered(ctx, name)) handle.advance("registering");
  }
  return { version, repairedModes };
}

/** The error code a failed step carries into the outcome (a cut or failed create/start/stop). */
function stepCode(error: unknown): { code?: "lifecycle_outcome_unknown" } {
  return error instanceof LifecycleOutcomeUnknown ? { code: error.code } : {};
}

function isRegistered(ctx: Context, name: string): boolean {
  try {
    return readRegistry(ctx.settings.paths.registryFile).entries[name] !== undefined;
  } catch {
    // An unreadable registry is not ours to create: leave it to the rebuild's own checks.
    return true;
  }
}

/** Whether the sandbox's live state may be the user's and is held by no proven backup yet. */
interface LiveState {
  unsaved: boolean;
  saved: SafetyBackupLine[];
}

/**
 * Takes a proven safety backup of the live state and records it in the journal (pinned from
 * then on). A failure changes nothing and fails the step: nothing may be destroyed unsaved.
 */
async function saveLiveState(ctx: Context, req: DriveRequest, live: LiveState): Promise<void> {
  const name = req.handle.journal.sandbox;
  if (!req.agent) {
    throw new SandboxStepError(
      "safety-backup",
      `the live state of ${name} differs from backup ${req.backup.timestamp}, and its agent ${JSON.stringify(req.backup.manifest.agentType)} is not in the catalog, so it cannot be saved first; nothing was changed`,
    );
  }
  req.emit("the live state differs from the backup: taking a safety backup of it first");
  let taken: { timestamp: string; path: string };
  try {
    taken = await takeProvenBackup(ctx, {
      name,
      agentType: req.backup.manifest.agentType,
      agent: req.agent,
      agentVersion: null,
      gatewayName: req.report.gatewayName,
      reactive: req.reactive,
    });
  } catch (error) {
    if (error instanceof PreflightRefusal) throw error;
    const why = error instanceof UnprovenBackupError ? error.message : (error as Error).message;
    throw new SandboxStepError(
      "safety-backup",
      `safety backup of the live state failed: ${why}; nothing was changed`,
    );
  }
  req.handle.addSafetyBackup(taken.timestamp);
  live.unsaved = false;
  live.saved.push({
    timestamp: taken.timestamp,
    path: taken.path,
    command: restoreCommandFor(req, taken.timestamp),
  });
}

function restoreCommandFor(req: DriveRequest, timestamp: string): string {
  const { sandbox, gateway } = req.handle.journal;
  return `nemoclaw restore ${sandbox} --backup ${timestamp} --yes${gatewayArg(gateway)}`;
}

function stepFailure(error: unknown): string | null {
  if (error instanceof SandboxStepError) return error.message;
  // After the delete an unreachable gateway is this operation's failure (exit 1), never exit 4:
  // the sandbox's state is now partial and the journal says how to finish.
  if (error instanceof EnvironmentError) return error.message;
  return null;
}

async function stepRegister(
  ctx: Context,
  req: DriveRequest,
  version: string | null,
): Promise<{ why: string | null; version: string | null }> {
  const { journal } = req.handle;
  const agent = req.agent;
  let agentVersion = version ?? journal.verifiedAgentVersion ?? null;
  try {
    if (journal.operation === "restore") {
      // `restore --create` of a sandbox the registry does not list: register it, last step.
      const { manifest } = req.backup;
      await addRegistryEntry(
        ctx.settings.paths.registryFile,
        journal.sandbox,
        {
          name: journal.sandbox,
          agent: manifest.agentType,
          ...(manifest.agentVersion ? { agentVersion: manifest.agentVersion } : {}),
          nemoclawVersion: ctx.cliVersion,
          ...(journal.image ? { imageTag: journal.image } : {}),
          gatewayName: journal.gateway,
          createdAt: ctx.now().toISOString(),
        },
        { procRoot: ctx.procRoot },
      );
      return { why: null, version: null };
    }
  } catch (error) {
    if (
      error instanceof RegistryLockHeld ||
      error instanceof RegistryWriteError ||
      error instanceof EnvironmentError
    )
      return { why: error.message, version: null };
    return { why: `registry write failed: ${(error as Error).message}`, version: null };
  }
  // Journals of older releases lack the verified version: probe (the sandbox is Ready then).
  if (agentVersion === null && agent && !("verifiedAgentVersion" in journal))
    agentVersion = await probeVersion(ctx, req, agent);
  try {
    await updateRegistryEntry(
      ctx.settings.paths.registryFile,
      journal.sandbox,
      {
        ...(agentVersion ? { agentVersion } : {}),
        nemoclawVersion: ctx.cliVersion,
        ...(journal.image ? { imageTag: journal.image } : {}),
      },
      { procRoot: ctx.procRoot },
    );
    return { why: null, version: agentVersion };
  } catch (error) {
    if (
      error instanceof RegistryLockHeld ||
      error instanceof RegistryWriteError ||
      error instanceof EnvironmentError
    )
      return { why: error.message, version: agentVersion };
    return { why: `registry write failed: ${(error as Error).message}`, version: agentVersion };
  }
}

/**
 * Runs the operation from its journal's phase to the end and closes the journal on success.
 * Throws PreflightRefusal on a schema mismatch (the journal stays); everything else comes back
 * as a DriveResult.
 */
export async function driveOperation(ctx: Context, req: DriveRequest): Promise<DriveResult> {
  const { handle } = req;
  // Resumed past its upload (`verifying`): the sandbox held complete state and its agent may
  // have written since. Until that state is saved in a proven backup, nothing may destroy it.
  const live: LiveState = {
    unsaved: req.resumed && (handle.journal.phase === "verifying" || handle.journal.phase === "registering"),
    saved: [],
  };
  const closeWarnings: string[] = [];
  try {
    if (handle.journal.phase === "deleting" && (await stepDelete(ctx, req)) === "abandon") {
      const warning = handle.close("abandoned-no-delete");
      if (warning) req.emit(warning);
      return { status: "abandoned", why: "the sandbox was never deleted" };
    }
  } catch (error) {
    if (error instanceof PreflightRefusal) throw error;
    const why = stepFailure(error);
    if (why === null) throw error;
    if (error instanceof SandboxStepError && error.step === "delete") {
      // Seen still there and not Deleting: the delete did not happen, nothing was lost.
      const warning = handle.close("abandoned-no-delete");
      if (warning) req.emit(warning);
      return { status: "abandoned", why };
    }
    // We cannot tell yet whether it happened: keep the journal, the next run looks again.
    return { status: "failed", why, attempts: 1, ...stepCode(error) };
  }
  const attemptsAllowed = handle.journal.operation === "rebuild" ? 2 : 1;
  let version: string | null = null;
  let repairedModes = 0;
  let attempts = 0;
  let lastError = "";
  let lastCode: { code?: "lifecycle_outcome_unknown" } = {};
  let verified = handle.journal.phase === "registering";
  // A retry deletes the sandbox: never while its live state may be the user's and unsaved.
  while (
    !verified &&
    attempts < attemptsAllowed &&
    !ctx.abort.signal.aborted &&
    !(attempts > 0 && live.unsaved)
  ) {
    attempts++;
    try {
      if (attempts > 1) {
        req.emit("retrying");
        handle.advance("creating");
      }
      ({ version, repairedModes } = await stepsToVerified(ctx, req, attempts > 1, live));
      verified = true;
    } catch (error) {
      if (error instanceof PreflightRefusal) throw error;
      const why = stepFailure(error);
      if (why === null) throw error;
      lastError = why;
      lastCode = stepCode(error);
    }
  }
  if (!verified) {
    return {
      status: "failed",
      why: ctx.abort.signal.aborted ? `interrupted by ${ctx.abort.signal.reason}` : lastError,
      attempts: Math.max(attempts, 1),
      ...(ctx.abort.signal.aborted ? {} : lastCode),
    };
  }
  if (handle.journal.phase === "registering") {
    let why: string | null;
    try {
      req.emit("updating the registry");
      ({ why, version } = await stepRegister(ctx, req, version));
    } catch (error) {
      if (error instanceof PreflightRefusal) throw error;
      why = stepFailure(error);
      if (why === null) throw error;
    }
    if (why !== null) return { status: "registry-failed", why };
  }
  if (handle.journal.finalPhase === "Stopped") {
    // Back to the phase it was found in; the journal stays until that, too, succeeded.
    req.emit("stopping it again (it was Stopped)");
    const stop = await stopStartedSandbox(ctx, req.reactive, handle.journal.sandbox);
    if (!stop.ok)
      return {
        status: "failed",
        why: `state restored and verified, but ${stop.reason}`,
        attempts: Math.max(attempts, 1),
      };
  }
  const warning = handle.close(req.resumed ? "resumed-and-completed" : "completed");
  if (warning) closeWarnings.push(warning);
  return {
    status: "done",
    attempts: Math.max(attempts, 1),
    agentVersion: version,
    repairedModes,
    safetyBackups: live.saved,
    warnings: closeWarnings,
  };
}
