import { type AgentCatalog, type AgentSpec, readAgentCatalog } from "../adapters/agent-catalog.js";
import { bytesFreedByRemoving, prunableBackups } from "../adapters/backup-store.js";
import { HashPool } from "../adapters/hash-pool.js";
import { type Registry, type RegistryEntry, readRegistry } from "../adapters/registry.js";
import type { Context } from "../context.js";
import type { SkippedEntry } from "../domain/backup-manifest.js";
import { PreflightRefusal } from "../domain/errors.js";
import { isValidSandboxName } from "../domain/names.js";
import type { SandboxRow } from "../domain/preflight-types.js";
import { removeBackups } from "./backups.js";
import { type BatchRun, finishBatch } from "./batch-run.js";
import { forEachLimited, Slots } from "./bounded-pool.js";
import { takeMaintenanceLock } from "./maintenance.js";
import { type OpenOperation, openOperations, pinnedBackups } from "./operations.js";
import { enforcePreflight, type PreflightReport, runPreflight } from "./preflight.js";
import { type BackupProgress, backupSandbox, SandboxBackupError } from "./sandbox-backup.js";
import {
  SandboxStartError,
  type StopOutcome,
  settlePhase,
  startStoppedSandbox,
  startUnsupportedReason,
  stopLeftoverStartedSandboxes,
  stopStartedSandbox,
} from "./sandbox-power.js";
import { listSandboxes } from "./sandbox-state.js";

export type SandboxOutcomeStatus = "backed-up" | "failed" | "skipped";

export interface SandboxBackupOutcome {
  name: string;
  status: SandboxOutcomeStatus;
  reason?: string;
  timestamp?: string;
  path?: string;
  bytes?: number;
  files?: number;
  /** Files stored as hard links to the previous backup's identical files (docs/design.md). */
  linkedFiles?: number;
  /** Their bytes: what this backup did not have to store again. */
  bytesLinked?: number;
  absentDirs?: string[];
  /** Special files found and not stored (docs/design.md); each also gave a warning. */
  skippedFiles?: SkippedEntry[];
  pruned?: string[];
  /** The bytes removing `pruned` freed (`--keep`). */
  prunedBytes?: number;
  /** A Stopped sandbox was started for this backup (and stopped again) (docs/design.md). */
  startedForBackup?: boolean;
  /** Its `sandbox start` (or the stop after it) was cut or failed: it may have changed (docs/design.md). */
  code?: "lifecycle_outcome_unknown";
  durationMs: number;
}

export interface BackupAllResult {
  gatewayName: string;
  backupsRoot: string;
  registered: number;
  sandboxes: SandboxBackupOutcome[];
  summary: { backedUp: number; failed: number; skipped: number };
  requireAll: boolean;
  interrupted: "SIGINT" | "SIGTERM" | null;
  /** Staging directories of killed runs removed at start. */
  cleanedStaging: string[];
}

export type BackupEvent =
  | { type: "planned"; names: string[] }
  | { type: "started"; name: string }
  | { type: "progress"; name: string; progress: BackupProgress }
  | { type: "finished"; outcome: SandboxBackupOutcome };

export interface BackupAllOptions {
  gatewayName: string;
  requireAll: boolean;
  keep?: number;
  concurrency: number;
  /** `--skip-stopped`: skip Stopped sandboxes instead of starting them for their backup. */
  skipStopped: boolean;
  strict: boolean;
  rerunCommand: string;
  onEvent?: (event: BackupEvent) => void;
  onWarnings?: (warnings: string[]) => void;
  /**
   * Runs after the backups, still under the maintenance lock (`backup-all --push`), with the
   * result so far: no prune can remove a backup it reads.
   */
  whileLocked?: (result: BackupAllResult) => Promise<void>;
}

export type BackupAllRun = BatchRun<BackupAllResult>;

export const BACKUP_ACTION = "backing up registered sandboxes";

function agentVersionOf(entry: RegistryEntry): string | null {
  return typeof entry.agentVersion === "string" ? entry.agentVersion : null;
}

/**
 * docs/design.md, "backup-all". Registry → preflight → lock → clean leftover staging → `sandbox list` → per-sandbox
 * backups, `concurrency` at a time. Per-sandbox failures never stop the others; an interrupt
 * stops new work and kills running transfers; a reactive schema mismatch stops everything.
 */
export async function backupAll(ctx: Context, options: BackupAllOptions): Promise<BackupAllRun> {
  const registry = readRegistry(ctx.settings.paths.registryFile);
  const backupsRoot = ctx.settings.paths.backupsRoot;
  const result: BackupAllResult = {
    gatewayName: options.gatewayName,
    backupsRoot,
    registered: registry.names.length,
    sandboxes: [],
    summary: { backedUp: 0, failed: 0, skipped: 0 },
    requireAll: options.requireAll,
    interrupted: null,
    cleanedStaging: [],
  };
  if (registry.names.length === 0) return { preflight: null, result, warnings: [] };

  // Hashing workers boot while the preflight waits on its probes, off the critical path.
  const hashPool = new HashPool();
  hashPool.warm();
  // An interrupt stops hashing at once: the files being hashed belong to staging that is removed.
  const stopHashing = () => void hashPool.close();
  ctx.abort.signal.addEventListener("abort", stopHashing, { once: true });
  try {
    return await backupRegistered(ctx, options, registry, result, hashPool);
  } finally {
    ctx.abort.signal.removeEventListener("abort", stopHashing);
    await hashPool.close();
  }
}

/** Everything one run shares across its sandboxes. */
interface BackupRun {
  ctx: Context;
  options: BackupAllOptions;
  reactive: { action: string; rerunCommand: string; strict: boolean; report: PreflightReport };
  catalog: AgentCatalog;
  registry: Registry;
  ops: Map<string, OpenOperation>;
  listed: Map<string, SandboxRow>;
  transferSlots: Slots;
  hashPool: HashPool;
  warnings: string[];
  runStopped: () => boolean;
  record: (outcome: SandboxBackupOutcome) => void;
  onRefusal: (error: PreflightRefusal) => void;
  refused: () => boolean;
}

/** A sandbox admitted to the pipeline: what its backup needs. */
interface Admitted {
  entry: RegistryEntry;
  agentType: string;
  agent: AgentSpec;
  /** A `Stopped` sandbox, started for its backup and stopped again right after its downloads. */
  startIt: boolean;
}

async function backupRegistered(
  ctx: Context,
  options: BackupAllOptions,
  registry: Registry,
  result: BackupAllResult,
  hashPool: HashPool,
): Promise<BackupAllRun> {
  const policy = { action: BACKUP_ACTION, rerunCommand: options.rerunCommand, strict: options.strict };
  const report = await runPreflight(ctx, options.gatewayName, ctx.abort.signal);
  const { warnings } = enforcePreflight(report, policy);
  options.onWarnings?.(warnings);
  const catalog: AgentCatalog = readAgentCatalog(ctx.settings.paths.catalogFile);

  const { lock, cleaned } = takeMaintenanceLock(ctx, "backup-all");
  let refusal: PreflightRefusal | undefined;
  try {
    result.cleanedStaging = cleaned;
    const reactive = { ...policy, report };
    // Read under the lock: no rebuild or restore can open or close a journal meanwhile.
    const ops = openOperations(ctx);
    // Sandboxes a killed run started for their backup are stopped again first.
    const restopped = await stopLeftoverStartedSandboxes(ctx, reactive);
    if (restopped.length) {
      warnings.push(...restopped);
      options.onWarnings?.(restopped);
    }
    const listed = await listSandboxes(report, policy, registry.names);
    // Exact names (a registry key can hold anything): every human view escapes them.
    options.onEvent?.({ type: "planned", names: registry.names });
    const run: BackupRun = {
      ctx,
      options,
      reactive,
      catalog,
      registry,
      ops,
      listed,
      // `--concurrency` bounds the transfers from the gateway. Each sandbox holds its slot for
      // its downloads only, so hashing one sandbox overlaps with the next one's transfer.
      transferSlots: new Slots(options.concurrency),
      hashPool,
      warnings,
      runStopped: () => ctx.abort.signal.aborted || refusal !== undefined,
      record: (outcome) => {
        result.sandboxes.push(outcome);
        if (outcome.status === "backed-up") result.summary.backedUp++;
        else if (outcome.status === "failed") result.summary.failed++;
        else result.summary.skipped++;
        options.onEvent?.({ type: "finished", outcome });
      },
      onRefusal: (error) => {
        refusal = error;
      },
      refused: () => refusal !== undefined,
    };
    // Every sandbox is in the pipeline at once: the transfer slots bound the gateway's load,
    // the hash pool bounds the CPU, and a sandbox creates nothing until it has a slot.
    await forEachLimited(registry.names, registry.names.length, run.runStopped, async (name) => {
      const admitted = await admit(run, name);
      if (admitted) await backupOne(run, name, admitted);
    });
    // Whatever an interrupt or a refusal kept from starting is reported, not silently dropped.
    const seen = new Set(result.sandboxes.map((s) => s.name));
    for (const name of registry.names) {
      if (!seen.has(name))
        run.record({ name, status: "skipped", reason: "not started (run stopped)", durationMs: 0 });
    }
    if (options.whileLocked && !ctx.abort.signal.aborted) await options.whileLocked(result);
  } finally {
    lock.release();
  }
  return finishBatch(ctx, result, report, warnings, refusal);
}

/**
 * Whether a sandbox is backed up at all: a valid name, no unfinished operation (its live state
 * would be partial), listed, Ready (transient phases waited out; a Stopped one is started unless
 * --skip-stopped or this OpenShell cannot), and a known agent. Records the outcome otherwise.
 */
async function admit(run: BackupRun, name: string): Promise<Admitted | null> {
  const { ctx, options, reactive } = run;
  const skip = (reason: string, status: SandboxOutcomeStatus = "skipped") => {
    run.record({ name, status, reason, durationMs: 0 });
    return null;
  };
  if (!isValidSandboxName(name)) {
    run.record({
      name,
      status: "failed",
      reason: "invalid sandbox name",
      durationMs: 0,
    });
    return null;
  }
  const op = run.ops.get(name);
  // Past its upload (`verifying`, `registering`) a restore has put complete state back and the
  // agent may be writing: that is user state, backed up like any other (docs/design.md, §18).
  const postRestore = op?.journal?.phase === "verifying" || op?.journal?.phase === "registering";
  if (op && !(op.state === "interrupted" && postRestore)) {
    const reason = unfinishedReason(op);
    run.warnings.push(`${name}: ${reason}`);
    return skip(reason);
  }
  const row = run.listed.get(name);
  if (!row) return skip("not listed by the gateway");
  const phase = await settlePhase(ctx, reactive, name, row.phase);
  const startIt = phase === "Stopped" && !options.skipStopped;
  if (phase !== "Ready" && !startIt) return skip(`phase ${phase}, not Ready`);
  const unsupported = startIt ? startUnsupportedReason(reactive) : null;
  if (unsupported) return skip(unsupported);
  const entry = run.registry.entries[name] as RegistryEntry;
  const agentType = typeof entry.agent === "string" ? entry.agent : "";
  const agent = run.catalog[agentType];
  if (!agent) return skip(`unknown agent ${JSON.stringify(agentType)} (not in the catalog)`, "failed");
  return { entry, agentType, agent, startIt };
}

/** The start/stop hooks of a Stopped sandbox, and what they did. */
function powerHooks(run: BackupRun, name: string, startIt: boolean) {
  let wasStarted = false;
  let stopped: StopOutcome | null = null;
  const hooks = startIt
    ? {
        beforeDownloads: async () => {
          await startStoppedSandbox(run.ctx, run.reactive, name, "backup");
          wasStarted = true;
        },
        afterDownloads: async () => {
          if (wasStarted) stopped = await stopStartedSandbox(run.ctx, run.reactive, name);
        },
      }
    : {};
  return {
    hooks,
    wasStarted: () => wasStarted,
    stopFailure: (): string | null => {
      const outcome = stopped as StopOutcome | null;
      return outcome && !outcome.ok ? outcome.reason : null;
    },
  };
}

/** One admitted sandbox: back it up (starting/stopping it if Stopped), prune, record. */
async function backupOne(run: BackupRun, name: string, admitted: Admitted): Promise<void> {
  const { ctx, options } = run;
  let started = ctx.clock();
  let transferring = false;
  const elapsed = () => Math.round(ctx.clock() - started);
  options.onEvent?.({ type: "started", name });
  const power = powerHooks(run, name, admitted.startIt);
  try {
    const backup = await backupSandbox(ctx, {
      name,
      agentType: admitted.agentType,
      agent: admitted.agent,
      agentVersion: agentVersionOf(admitted.entry),
      gatewayName: options.gatewayName,
      reactive: run.reactive,
      onProgress: (progress) => {
        // Its duration counts from its transfer, not from its wait for a slot.
        if (progress.phase === "downloading" && !transferring) {
          transferring = true;
          started = ctx.clock();
        }
        options.onEvent?.({ type: "progress", name, progress });
      },
      transferSlots: run.transferSlots,
      hashPool: run.hashPool,
      runStopped: run.runStopped,
      ...power.hooks,
    });
    if (backup.warnings.length) options.onWarnings?.(backup.warnings);
    const pinned = pinnedBackups(run.ops, name);
    const root = ctx.settings.paths.backupsRoot;
    // Prune: removes only backups older than the `keep` newest with files, never a pinned one;
    // the state they hold is also held by the newer backups kept (the newest just sealed).
    const doomed = options.keep && pinned ? prunableBackups(root, name, options.keep, pinned) : [];
    // Measured before the removal (a file still linked from a kept backup frees nothing).
    const doomedBytes = doomed.length ? bytesFreedByRemoving(doomed.map((b) => b.path)) : 0;
    const retention = doomed.length ? removeBackups(doomed) : { removed: [], failed: [] };
    const pruned = retention.removed.map((b) => b.path);
    const prunedBytes = retention.failed.length
      ? Math.max(0, doomedBytes - bytesFreedByRemoving(retention.failed.map((f) => f.path)))
      : doomedBytes;
    // The backup is sealed either way; what stops it being a plain success (exit 1) is named.
    const notStopped = power.stopFailure();
    const notPruned = retention.failed.map((f) => f.error).join("; ");
    const trouble = [notStopped, notPruned].filter(Boolean).join("; ");
    run.record({
      name,
      status: trouble ? "failed" : "backed-up",
      ...(trouble ? { reason: `backed up, but ${trouble}` } : {}),
      ...(power.wasStarted() ? { startedForBackup: true } : {}),
      timestamp: backup.timestamp,
      path: backup.path,
      bytes: backup.bytes,
      files: backup.manifest.fileCount,
      linkedFiles: backup.linkedFiles,
      bytesLinked: backup.bytesLinked,
      absentDirs: backup.manifest.absentDirs,
      ...(backup.manifest.skipped?.length ? { skippedFiles: backup.manifest.skipped } : {}),
      ...(pruned.length ? { pruned, prunedBytes } : {}),
      durationMs: elapsed(),
    });
  } catch (error) {
    run.record(failedOutcome(run, name, error, elapsed, power));
  }
}

/** What a failed backup of one sandbox is reported as (a schema mismatch stops the run). */
function failedOutcome(
  run: BackupRun,
  name: string,
  error: unknown,
  elapsed: () => number,
  power: { wasStarted: () => boolean; stopFailure: () => string | null },
): SandboxBackupOutcome {
  if (error instanceof PreflightRefusal) {
    run.onRefusal(error);
    // Stop the other transfers at once: the gateway's answers cannot be trusted.
    run.ctx.runner.killAll("SIGKILL");
    return { name, status: "failed", reason: "schema mismatch", durationMs: elapsed() };
  }
  if (error instanceof SandboxBackupError && error.notStarted)
    return { name, status: "skipped", reason: error.message, durationMs: 0 };
  if (error instanceof SandboxStartError) {
    return {
      name,
      status: error.cannotStart ? "skipped" : "failed",
      reason: error.message,
      ...(error.lifecycle ? { code: "lifecycle_outcome_unknown" as const } : {}),
      durationMs: error.cannotStart ? 0 : elapsed(),
    };
  }
  const reason = run.refused()
    ? "stopped: schema mismatch detected on another sandbox"
    : error instanceof SandboxBackupError
      ? error.message
      : `unexpected error: ${(error as Error).message}`;
  const notStopped = power.stopFailure();
  return {
    name,
    status: "failed",
    reason: notStopped ? `${reason}; ${notStopped}` : reason,
    ...(power.wasStarted() ? { startedForBackup: true } : {}),
    durationMs: elapsed(),
  };
}

function unfinishedReason(op: OpenOperation): string {
  if (op.state === "interrupted") return `not backed up: unfinished ${op.reason}`;
  return `not backed up: ${op.reason}`;
}

/** Exit code of a finished run (docs/design.md, "backup-all"): 1 if anything failed, or was skipped under --require-all. */
export function backupAllFailed(result: BackupAllResult): boolean {
  return result.summary.failed > 0 || (result.requireAll && result.summary.skipped > 0);
}
