import fs from "node:fs";
import path from "node:path";
import type { AgentSpec } from "../adapters/agent-catalog.js";
import { createStaging, hashTree, sealBackup } from "../adapters/backup-store.js";
import type { HashPool } from "../adapters/hash-pool.js";
import type { Context } from "../context.js";
import { type BackupManifest, backupTimestamp } from "../domain/backup-manifest.js";
import type { Slots } from "./bounded-pool.js";
import { checkStateQuery, type ReactiveContext } from "./preflight.js";

export interface BackupProgress {
  /** `starting`/`stopping`: a Stopped sandbox started for its backup and stopped again (SPEC §14). */
  phase: "queued" | "starting" | "downloading" | "stopping" | "hashing" | "sealing";
  bytes: number;
}

export interface SandboxBackupRequest {
  name: string;
  agentType: string;
  agent: AgentSpec;
  agentVersion: string | null;
  gatewayName: string;
  reactive: Omit<ReactiveContext, "query">;
  onProgress?: (progress: BackupProgress) => void;
  /**
   * Bounds the transfers running at once across sandboxes (backup-all's `--concurrency`). The
   * slot is held for the downloads only: hashing and sealing overlap with the next transfer.
   */
  transferSlots?: Slots;
  /** Shared hashing workers (one pool per run instead of one per sandbox). */
  hashPool?: HashPool;
  /** Checked once a transfer slot is free: true means the run stopped, start nothing. */
  runStopped?: () => boolean;
  /**
   * Runs once the transfer slot is held, before the first download (starting a Stopped
   * sandbox); an error fails the backup before anything was written.
   */
  beforeDownloads?: () => Promise<void>;
  /** Runs right after the downloads, whatever their outcome (stopping it again). Must not throw. */
  afterDownloads?: () => Promise<void>;
}

export interface SandboxBackup {
  timestamp: string;
  path: string;
  manifest: BackupManifest;
  bytes: number;
}

/** A backup of one sandbox failed; no complete-looking directory was left behind. */
export class SandboxBackupError extends Error {
  /** True when the run stopped while this sandbox was still waiting for a transfer slot. */
  readonly notStarted: boolean;

  constructor(message: string, options: { notStarted?: boolean } = {}) {
    super(message);
    this.notStarted = options.notStarted ?? false;
    this.name = "SandboxBackupError";
  }
}

const PATH_NOT_FOUND = /sandbox path not found/i;

function dirSize(dir: string): number {
  let total = 0;
  const stack = [dir];
  while (stack.length) {
    const current = stack.pop() as string;
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(current, { withFileTypes: true });
    } catch {
      continue;
    }
    for (const e of entries) {
      const p = path.join(current, e.name);
      if (e.isDirectory()) stack.push(p);
      else if (e.isFile()) {
        try {
          total += fs.statSync(p).size;
        } catch {
          // vanished
        }
      }
    }
  }
  return total;
}

/**
 * Backs up one Ready sandbox (SPEC §6 step 4): download each state dir into a staging
 * directory, hash and fsync every file, write the manifest, rename into place. Any failure —
 * or an interrupt — removes the staging directory, so nothing incomplete ever looks complete.
 * A schema mismatch on a transfer is a reactive refusal (PreflightRefusal, exit 3).
 */
export async function backupSandbox(ctx: Context, request: SandboxBackupRequest): Promise<SandboxBackup> {
  const { name, agent } = request;
  const signal = ctx.abort.signal;
  let releaseSlot: (() => void) | undefined;
  if (request.transferSlots) {
    request.onProgress?.({ phase: "queued", bytes: 0 });
    releaseSlot = await request.transferSlots.acquire();
  }
  let staging: string | undefined;
  let sealed = false;
  // Download progress is the staging tree's size, sampled: OpenShell's own progress output is
  // not a stable format to parse.
  let sampler: NodeJS.Timeout | undefined;
  try {
    if (signal.aborted || request.runStopped?.()) {
      throw new SandboxBackupError("not started (run stopped)", { notStarted: true });
    }
    if (request.beforeDownloads) {
      request.onProgress?.({ phase: "starting", bytes: 0 });
      await request.beforeDownloads();
    }
    // The timestamp is when the data is taken, not when the sandbox was queued.
    const timestamp = backupTimestamp(ctx.now());
    const backedUpDirs: string[] = [];
    const absentDirs: string[] = [];
    let dir = "";
    try {
      dir = createStaging(ctx.settings.paths.backupsRoot, name, timestamp);
      staging = dir;
      for (const stateDir of agent.stateDirs) {
        if (signal.aborted) throw new SandboxBackupError(`interrupted by ${signal.reason}`);
        const dest = path.join(dir, path.posix.basename(stateDir));
        request.onProgress?.({ phase: "downloading", bytes: 0 });
        if (request.onProgress) {
          sampler = setInterval(
            () => request.onProgress?.({ phase: "downloading", bytes: dirSize(dir) }),
            500,
          );
          sampler.unref();
        }
        const result = await request.reactive.report.openshell.sandboxDownload(
          request.gatewayName,
          name,
          stateDir,
          dest,
          ctx.settings.transferTimeoutMs,
        );
        clearInterval(sampler);
        if (result.aborted) throw new SandboxBackupError(`interrupted by ${signal.reason}`);
        if (result.exitCode === 0) {
          backedUpDirs.push(stateDir);
          continue;
        }
        if (result.timedOut) {
          throw new SandboxBackupError(
            `download of ${stateDir} timed out after ${ctx.settings.transferTimeoutMs} ms`,
          );
        }
        // Throws on a schema mismatch (exit 3); a connection failure mid-run is this sandbox's failure.
        let failure: ReturnType<typeof checkStateQuery>;
        try {
          failure = checkStateQuery(result, {
            ...request.reactive,
            query: `sandbox download ${name} ${stateDir}`,
          });
        } catch (error) {
          if ((error as { code?: string }).code === "gateway_unreachable") {
            throw new SandboxBackupError(`gateway unreachable while downloading ${stateDir}`);
          }
          throw error;
        }
        if (failure && PATH_NOT_FOUND.test(`${result.stderr}\n${result.stdout}`)) {
          fs.rmSync(dest, { recursive: true, force: true });
          absentDirs.push(stateDir);
          continue;
        }
        throw new SandboxBackupError(
          `download of ${stateDir} failed: ${failure?.excerpt || `exit ${result.exitCode}`}`,
        );
      }
    } finally {
      clearInterval(sampler);
      if (request.afterDownloads) {
        request.onProgress?.({ phase: "stopping", bytes: 0 });
        await request.afterDownloads();
      }
    }
    releaseSlot?.();
    if (signal.aborted) throw new SandboxBackupError(`interrupted by ${signal.reason}`);
    let hashed = 0;
    const files = await hashTree(dir, {
      sync: true,
      pool: request.hashPool,
      onBytes: (n) => {
        hashed += n;
        request.onProgress?.({ phase: "hashing", bytes: hashed });
      },
    }).catch((error: unknown) => {
      // An interrupt closes the shared pool: hashing stops at once rather than finishing.
      if (signal.aborted) throw new SandboxBackupError(`interrupted by ${signal.reason}`);
      throw error;
    });
    if (signal.aborted) throw new SandboxBackupError(`interrupted by ${signal.reason}`);
    const manifest: BackupManifest = {
      version: 1,
      sandboxName: name,
      timestamp,
      agentType: request.agentType,
      agentVersion: request.agentVersion,
      stateDirs: agent.stateDirs,
      backedUpDirs,
      absentDirs,
      files,
      complete: true,
      nemoclawVersion: ctx.cliVersion,
    };
    request.onProgress?.({ phase: "sealing", bytes: hashed });
    const final = sealBackup(dir, manifest);
    sealed = true;
    return { timestamp, path: final, manifest, bytes: files.reduce((sum, f) => sum + f.size, 0) };
  } finally {
    releaseSlot?.();
    clearInterval(sampler);
    if (staging && !sealed) fs.rmSync(staging, { recursive: true, force: true });
  }
}
