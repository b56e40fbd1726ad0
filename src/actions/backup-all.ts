import { type AgentCatalog, readAgentCatalog } from "../adapters/agent-catalog.js";
import { pruneBackups } from "../adapters/backup-store.js";
import { HashPool } from "../adapters/hash-pool.js";
import { type Registry, type RegistryEntry, readRegistry } from "../adapters/registry.js";
import type { Context } from "../context.js";
import type { SkippedEntry } from "../domain/backup-manifest.js";
import { PreflightRefusal } from "../domain/errors.js";
import { escapeForDisplay, isValidSandboxName } from "../domain/names.js";
import { type BatchRun, finishBatch } from "./batch-run.js";
import { forEachLimited, Slots } from "./bounded-pool.js";
import { takeMaintenanceLock } from "./maintenance.js";
import { type OpenOperation, openOperations, pinnedBackups } from "./operations.js";
import { enforcePreflight, runPreflight } from "./preflight.js";
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
  /** Special files found and not stored (SPEC §13); each also gave a warning. */
  skippedFiles?: SkippedEntry[];
  pruned?: string[];
  /** A Stopped sandbox was started for this backup (and stopped again) (SPEC §14). */
  startedForBackup?: boolean;
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
}

export type BackupAllRun = BatchRun<BackupAllResult>;

export const BACKUP_ACTION = "backing up registered sandboxes";

function agentVersionOf(entry: RegistryEntry): string | null {
  return typeof entry.agentVersion === "string" ? entry.agentVersion : null;
}

/**
 * SPEC §6. Registry → preflight → lock → clean leftover staging → `sandbox list` → per-sandbox
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

async function backupRegistered(
  ctx: Context,
  options: BackupAllOptions,
  registry: Registry,
  result: BackupAllResult,
  hashPool: HashPool,
): Promise<BackupAllRun> {
  const backupsRoot = ctx.settings.paths.backupsRoot;
  const policy = { action: BACKUP_ACTION, rerunCommand: options.rerunCommand, strict: options.strict };
  const report = await runPreflight(ctx, options.gatewayName, ctx.abort.signal);
  const { warnings } = enforcePreflight(report, policy);
  options.onWarnings?.(warnings);
  const catalog: AgentCatalog = readAgentCatalog(ctx.settings.paths.catalogFile);

  const { lock, cleaned } = takeMaintenanceLock(ctx, "backup-all");
  let refusal: PreflightRefusal | undefined;
  // `--concurrency` bounds the transfers from the gateway. Each sandbox holds its slot for its
  // downloads only, so hashing one sandbox overlaps with the next one's transfer: up to
  // `concurrency` sandboxes transfer while as many more hash and seal.
  const transferSlots = new Slots(options.concurrency);
  const runStopped = () => ctx.abort.signal.aborted || refusal !== undefined;
  try {
    result.cleanedStaging = cleaned;
    // Read under the lock: no rebuild or restore can open or close a journal meanwhile.
    const ops = openOperations(ctx);
    // Sandboxes a killed run started for their backup are stopped again first (SPEC §14).
    const restopped = await stopLeftoverStartedSandboxes(ctx, { ...policy, report });
    if (restopped.length) {
      warnings.push(...restopped);
      options.onWarnings?.(restopped);
    }
    const listed = await listSandboxes(report, policy);
    options.onEvent?.({
      type: "planned",
      names: registry.names.map((n) => (isValidSandboxName(n) ? n : escapeForDisplay(n))),
    });

    const record = (outcome: SandboxBackupOutcome) => {
      result.sandboxes.push(outcome);
      if (outcome.status === "backed-up") result.summary.backedUp++;
      else if (outcome.status === "failed") result.summary.failed++;
      else result.summary.skipped++;
      options.onEvent?.({ type: "finished", outcome });
    };

    await forEachLimited(
      registry.names,
      // Every sandbox is in the pipeline at once: the transfer slots bound the gateway's load,
      // the hash pool bounds the CPU, and a sandbox creates nothing until it has a slot.
      registry.names.length,
      runStopped,
      async (name) => {
        let started = performance.now();
        let transferring = false;
        const elapsed = () => Math.round(performance.now() - started);
        if (!isValidSandboxName(name)) {
          record({
            name: escapeForDisplay(name),
            status: "failed",
            reason: "invalid sandbox name",
            durationMs: 0,
          });
          return;
        }
        const entry = registry.entries[name] as RegistryEntry;
        const op = ops.get(name);
        if (op && !(op.state === "interrupted" && op.journal?.phase === "registering")) {
          // Its live state is partial: a backup now would capture it (and could become "latest").
          const reason = unfinishedReason(op);
          warnings.push(`${name}: ${reason}`);
          record({ name, status: "skipped", reason, durationMs: 0 });
          return;
        }
        const row = listed.get(name);
        if (!row) {
          record({ name, status: "skipped", reason: "not listed by the gateway", durationMs: 0 });
          return;
        }
        // Transient phases are waited out (bounded) before deciding.
        const phase = await settlePhase(ctx, { ...policy, report }, name, row.phase);
        const startIt = phase === "Stopped" && !options.skipStopped;
        if (phase !== "Ready" && !startIt) {
          record({ name, status: "skipped", reason: `phase ${phase}, not Ready`, durationMs: 0 });
          return;
        }
        const unsupported = startIt ? startUnsupportedReason({ ...policy, report }) : null;
        if (unsupported) {
          record({ name, status: "skipped", reason: unsupported, durationMs: 0 });
          return;
        }
        const agentType = typeof entry.agent === "string" ? entry.agent : "";
        const agent = catalog[agentType];
        if (!agent) {
          record({
            name,
            status: "failed",
            reason: `unknown agent ${JSON.stringify(agentType)} (not in the catalog)`,
            durationMs: 0,
          });
          return;
        }
        options.onEvent?.({ type: "started", name });
        // A Stopped sandbox is started only once it holds its transfer slot, and stopped again
        // right after its downloads, whatever their outcome.
        let wasStarted = false;
        let stopped: StopOutcome | null = null;
        const power = startIt
          ? {
              beforeDownloads: async () => {
                await startStoppedSandbox(ctx, { ...policy, report }, name, "backup");
                wasStarted = true;
              },
              afterDownloads: async () => {
                if (wasStarted) stopped = await stopStartedSandbox(ctx, { ...policy, report }, name);
              },
            }
          : {};
        const stopFailure = (): string | null => {
          const outcome = stopped as StopOutcome | null;
          return outcome && !outcome.ok ? outcome.reason : null;
        };
        try {
          const backup = await backupSandbox(ctx, {
            name,
            agentType,
            agent,
            agentVersion: agentVersionOf(entry),
            gatewayName: options.gatewayName,
            reactive: { ...policy, report },
            onProgress: (progress) => {
              // Its duration counts from its transfer, not from its wait for a slot.
              if (progress.phase === "downloading" && !transferring) {
                transferring = true;
                started = performance.now();
              }
              options.onEvent?.({ type: "progress", name, progress });
            },
            transferSlots,
            hashPool,
            runStopped,
            ...power,
          });
          if (backup.warnings.length) options.onWarnings?.(backup.warnings);
          const pinned = pinnedBackups(ops, name);
          const pruned = options.keep && pinned ? pruneBackups(backupsRoot, name, options.keep, pinned) : [];
          const notStopped = stopFailure();
          record({
            name,
            status: notStopped ? "failed" : "backed-up",
            ...(notStopped ? { reason: `backed up, but ${notStopped}` } : {}),
            ...(wasStarted ? { startedForBackup: true } : {}),
            timestamp: backup.timestamp,
            path: backup.path,
            bytes: backup.bytes,
            files: backup.manifest.files.length,
            linkedFiles: backup.linkedFiles,
            bytesLinked: backup.bytesLinked,
            absentDirs: backup.manifest.absentDirs,
            ...(backup.manifest.skipped?.length ? { skippedFiles: backup.manifest.skipped } : {}),
            ...(pruned.length ? { pruned } : {}),
            durationMs: elapsed(),
          });
        } catch (error) {
          if (error instanceof PreflightRefusal) {
            refusal = error;
            // Stop the other transfers at once: the gateway's answers cannot be trusted.
            ctx.runner.killAll("SIGKILL");
            record({ name, status: "failed", reason: "schema mismatch", durationMs: elapsed() });
            return;
          }
          if (error instanceof SandboxBackupError && error.notStarted) {
            record({ name, status: "skipped", reason: error.message, durationMs: 0 });
            return;
          }
          if (error instanceof SandboxStartError) {
            record({
              name,
              status: error.cannotStart ? "skipped" : "failed",
              reason: error.message,
              durationMs: error.cannotStart ? 0 : elapsed(),
            });
            return;
          }
          const reason =
            refusal !== undefined
              ? "stopped: schema mismatch detected on another sandbox"
              : error instanceof SandboxBackupError
                ? error.message
                : `unexpected error: ${(error as Error).message}`;
          const notStopped = stopFailure();
          record({
            name,
            status: "failed",
            reason: notStopped ? `${reason}; ${notStopped}` : reason,
            ...(wasStarted ? { startedForBackup: true } : {}),
            durationMs: elapsed(),
          });
        }
      },
    );
    // Whatever an interrupt or a refusal kept from starting is reported, not silently dropped.
    const seen = new Set(result.sandboxes.map((s) => s.name));
    for (const name of registry.names) {
      const shown = isValidSandboxName(name) ? name : escapeForDisplay(name);
      if (!seen.has(shown))
        record({ name: shown, status: "skipped", reason: "not started (run stopped)", durationMs: 0 });
    }
  } finally {
    lock.release();
  }
  return finishBatch(ctx, result, report, warnings, refusal);
}

function unfinishedReason(op: OpenOperation): string {
  if (op.state === "unreadable") return `not backed up: ${op.reason}`;
  if (op.state === "in-progress") return `not backed up: ${op.reason}`;
  return `not backed up: unfinished ${op.reason}`;
}

/** Exit code of a finished run (SPEC §6): 1 if anything failed, or was skipped under --require-all. */
export function backupAllFailed(result: BackupAllResult): boolean {
  return result.summary.failed > 0 || (result.requireAll && result.summary.skipped > 0);
}
