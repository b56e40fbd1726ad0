import fs from "node:fs";
import path from "node:path";
import type { AgentSpec } from "../adapters/agent-catalog.js";
import { fsyncDir } from "../adapters/atomic-file.js";
import {
  createStaging,
  listBackups,
  MANIFEST_BODY,
  previousForLinking,
  STAGING_OWN,
  type SyncFilesystem,
  scanTree,
  sealStaging,
} from "../adapters/backup-store.js";
import type { HashPool } from "../adapters/hash-pool.js";
import { ManifestWriter } from "../adapters/manifest-stream.js";
import type { Context } from "../context.js";
import {
  type BackupManifest,
  backupTimestamp,
  entryBytes,
  humanPath,
  isSafeRelativePath,
  type ManifestHeader,
  type SkippedEntry,
} from "../domain/backup-manifest.js";
import { stripAnsi, unwrapMiette } from "../domain/schema-mismatch.js";
import type { Slots } from "./bounded-pool.js";
import { checkStateQuery, type ReactiveContext } from "./preflight.js";

export interface BackupProgress {
  /** `starting`/`stopping`: a Stopped sandbox started for its backup and stopped again (docs/design.md). */
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
  /**
   * Makes the sealed data durable: one `sync -f <staging>` (syncfs) by default, run through the
   * context's runner (killed on an interrupt); a non-zero exit fails the backup.
   */
  syncfs?: SyncFilesystem;
}

export interface SandboxBackup {
  timestamp: string;
  path: string;
  manifest: ManifestHeader;
  bytes: number;
  /** One line per special file not stored: the caller reports them as warnings. */
  warnings: string[];
  /** Files stored as hard links to the previous backup's identical files, and their bytes. */
  linkedFiles: number;
  bytesLinked: number;
}

/** The warning for a special file found in a sandbox's state and not stored. */
export function skippedWarning(sandbox: string, entry: SkippedEntry): string {
  const what = {
    fifo: "FIFO",
    socket: "socket",
    "block-device": "block device",
    "char-device": "character device",
    unknown: "special file",
  }[entry.type];
  return `sandbox ${sandbox}: ${what} ${humanPath(entry)} was not backed up (backups hold regular files and symlinks only)`;
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

/**
 * A state dir that does not exist in the sandbox, as `sandbox download` reports it (measured on
 * OpenShell 0.0.104 and 0.0.111): exit 1, `realpath: <dir>: No such file or directory`, then
 * `× failed to resolve sandbox source path '<dir>'` / `╰─▶ ssh probe exited with status exit
 * status: 1`. All three are required, naming that very dir: the same `failed to resolve` line
 * also follows a broken ssh probe (`Connection to sandbox closed by remote host.`, status 255),
 * which says nothing about the dir. Any other failure fails the backup.
 */
export function isAbsentStateDir(result: { exitCode: number | null; stderr: string }, dir: string): boolean {
  if (result.exitCode !== 1) return false;
  const lines = stripAnsi(result.stderr)
    .split(/\r?\n/)
    .map((line) => line.trim());
  const text = unwrapMiette(result.stderr);
  return (
    lines.includes(`realpath: ${dir}: No such file or directory`) &&
    text.includes(`failed to resolve sandbox source path '${dir}'`) &&
    /ssh probe exited with status exit status: 1(?!\d)/.test(text)
  );
}

const SOCKET_IGNORED = /^tar: (.+): socket ignored$/;

/**
 * Sockets a tar-based download dropped: tar says `tar: <path>: socket ignored` on stderr. They
 * are listed in the manifest like the special files found in staging, so none goes unmentioned.
 */
function socketsDropped(base: string, stderr: string): SkippedEntry[] {
  const found: SkippedEntry[] = [];
  for (const line of stripAnsi(stderr).split("\n")) {
    const m = SOCKET_IGNORED.exec(line.trim());
    const rel = m?.[1]?.replace(/^\.\//, "");
    if (rel && isSafeRelativePath(rel)) found.push({ path: `${base}/${rel}`, type: "socket" });
  }
  return found;
}

/**
 * Bytes written to the filesystem holding `dir` since `baseline` — what a download has put into
 * staging, give or take other writers. One `statfs` per sample: walking the staging tree every
 * half second would cost time proportional to the files already downloaded, on every sample.
 */
function writtenSince(dir: string): () => number {
  const used = () => {
    try {
      const s = fs.statfsSync(dir);
      return (s.blocks - s.bfree) * s.bsize;
    } catch {
      return 0;
    }
  };
  const baseline = used();
  return () => Math.max(0, used() - baseline);
}

/**
 * Backs up one Ready sandbox (docs/design.md, "backup-all"): download each state dir into a staging
 * directory, hash and fsync every file, write the manifest, rename into place. Any failure —
 * or an interrupt — removes the staging directory, so nothing incomplete ever looks complete.
 * A schema mismatch on a transfer is a reactive refusal (PreflightRefusal, exit 3).
 */
export async function backupSandbox(ctx: Context, request: SandboxBackupRequest): Promise<SandboxBackup> {
  const { name, agent } = request;
  const signal = ctx.abort.signal;
  const interrupted = () => new SandboxBackupError(`interrupted by ${signal.reason}`);
  let releaseSlot: (() => void) | undefined;
  if (request.transferSlots) {
    request.onProgress?.({ phase: "queued", bytes: 0 });
    releaseSlot = await request.transferSlots.acquire();
  }
  let staging: string | undefined;
  let sealed = false;
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
    let downloaded: Downloaded;
    try {
      staging = createStaging(ctx.settings.paths.backupsRoot, name, timestamp);
      downloaded = await downloadStateDirs(ctx, request, staging);
    } finally {
      if (request.afterDownloads) {
        request.onProgress?.({ phase: "stopping", bytes: 0 });
        await request.afterDownloads();
      }
    }
    const dir = staging;
    releaseSlot?.();
    if (signal.aborted) throw interrupted();
    let hashed = 0;
    const skipped: SkippedEntry[] = [];
    // Files identical to the previous complete backup's at the same path become hard links to
    // them after a byte proof (docs/design.md, "backup-all"): its manifest is read entry by entry
    // alongside the sorted walk of staging (a merge join), never held whole.
    const previous = listBackups(ctx.settings.paths.backupsRoot, name).find((b) => b.complete && b.manifest);
    const previousSource = previous ? previousForLinking(previous.path) : undefined;
    const writer = new ManifestWriter(path.join(dir, MANIFEST_BODY));
    let linkedFiles = 0;
    let bytesLinked = 0;
    try {
      await scanTree(
        dir,
        {
          skipped,
          exclude: STAGING_OWN,
          pool: request.hashPool,
          ...(previousSource ? { previous: previousSource } : {}),
          onBytes: (n) => {
            hashed += n;
            request.onProgress?.({ phase: "hashing", bytes: hashed });
          },
        },
        (entry, key, linked) => {
          writer.add(entry, key);
          if (linked) {
            linkedFiles++;
            bytesLinked += entry.size;
          }
        },
      ).catch((error: unknown) => {
        // An interrupt closes the shared pool: hashing stops at once rather than finishing.
        if (signal.aborted) throw interrupted();
        throw error;
      });
    } catch (error) {
      writer.abort();
      throw error;
    } finally {
      previousSource?.close();
    }
    if (signal.aborted) throw interrupted();
    const header: Omit<BackupManifest, "files"> = {
      version: 1,
      sandboxName: name,
      timestamp,
      agentType: request.agentType,
      agentVersion: request.agentVersion,
      stateDirs: agent.stateDirs,
      backedUpDirs: downloaded.backedUpDirs,
      absentDirs: downloaded.absentDirs,
      skipped: [...downloaded.droppedByTransfer, ...skipped],
      complete: true,
      nemoclawVersion: ctx.cliVersion,
    };
    removeSkipped(dir, skipped);
    request.onProgress?.({ phase: "sealing", bytes: hashed });
    const final = await sealStaging(dir, header, writer, request.syncfs ?? runnerSyncfs(ctx));
    sealed = true;
    return {
      timestamp,
      path: final,
      manifest: { ...header, fileCount: writer.fileCount, fileBytes: writer.fileBytes },
      bytes: writer.fileBytes,
      warnings: header.skipped?.map((entry) => skippedWarning(name, entry)) ?? [],
      linkedFiles,
      bytesLinked,
    };
  } finally {
    releaseSlot?.();
    if (staging && !sealed) fs.rmSync(staging, { recursive: true, force: true });
  }
}

/** Time allowed for `sync -f` to flush a backup (it writes what the download wrote). */
const SYNC_TIMEOUT_MS = 30 * 60_000;

/**
 * `sync -f <dir>` through the context's runner (no shell; killed with every other child on an
 * interrupt). `sync` is found on PATH like `docker`. Any non-zero exit fails the backup.
 */
function runnerSyncfs(ctx: Context): SyncFilesystem {
  return async (dir) => {
    const result = await ctx.runner.run("sync", ["-f", dir], {
      timeoutMs: SYNC_TIMEOUT_MS,
      env: { ...ctx.env },
      signal: ctx.abort.signal,
    });
    if (result.exitCode !== 0) {
      const why =
        result.startError ??
        (result.stderr.trim() ||
          (result.timedOut ? "timed out" : `exit ${result.exitCode ?? result.signal}`));
      throw new SandboxBackupError(
        `cannot make the backup durable: sync -f ${dir} failed (${why.split("\n")[0]})`,
      );
    }
  };
}

interface Downloaded {
  backedUpDirs: string[];
  absentDirs: string[];
  /** Special files the transfer itself left out (a tar stream drops sockets, with a warning). */
  droppedByTransfer: SkippedEntry[];
}

/** Every catalog state dir into staging: downloaded, or absent in the sandbox; else a failure. */
async function downloadStateDirs(
  ctx: Context,
  request: SandboxBackupRequest,
  dir: string,
): Promise<Downloaded> {
  const signal = ctx.abort.signal;
  const downloaded: Downloaded = { backedUpDirs: [], absentDirs: [], droppedByTransfer: [] };
  for (const stateDir of request.agent.stateDirs) {
    if (signal.aborted) throw new SandboxBackupError(`interrupted by ${signal.reason}`);
    const dest = path.join(dir, path.posix.basename(stateDir));
    const result = await downloadWithProgress(ctx, request, dir, stateDir, dest);
    if (result.aborted) throw new SandboxBackupError(`interrupted by ${signal.reason}`);
    if (result.exitCode === 0) {
      downloaded.backedUpDirs.push(stateDir);
      downloaded.droppedByTransfer.push(...socketsDropped(path.posix.basename(stateDir), result.stderr));
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
        query: `sandbox download ${request.name} ${stateDir}`,
      });
    } catch (error) {
      if ((error as { code?: string }).code === "gateway_unreachable") {
        throw new SandboxBackupError(`gateway unreachable while downloading ${stateDir}`);
      }
      throw error;
    }
    if (failure?.kind === "other" && isAbsentStateDir(result, stateDir)) {
      fs.rmSync(dest, { recursive: true, force: true });
      downloaded.absentDirs.push(stateDir);
      continue;
    }
    throw new SandboxBackupError(
      `download of ${stateDir} failed: ${failure?.excerpt || `exit ${result.exitCode}`}`,
    );
  }
  return downloaded;
}

/**
 * One `sandbox download`, its progress sampled from what reaches the staging filesystem:
 * OpenShell's own progress output is not a stable format to parse.
 */
async function downloadWithProgress(
  ctx: Context,
  request: SandboxBackupRequest,
  dir: string,
  stateDir: string,
  dest: string,
) {
  request.onProgress?.({ phase: "downloading", bytes: 0 });
  let sampler: NodeJS.Timeout | undefined;
  if (request.onProgress) {
    const written = writtenSince(dir);
    sampler = setInterval(() => request.onProgress?.({ phase: "downloading", bytes: written() }), 500);
    sampler.unref();
  }
  try {
    return await request.reactive.report.openshell.sandboxDownload(
      request.gatewayName,
      request.name,
      stateDir,
      dest,
      ctx.settings.transferTimeoutMs,
    );
  } finally {
    clearInterval(sampler);
  }
}

/**
 * Special files are listed, never stored: removed from staging so the sealed backup holds
 * exactly what its manifest lists (and a later verify finds no "extra" files).
 */
function removeSkipped(dir: string, skipped: SkippedEntry[]): void {
  const emptied = new Set<string>();
  for (const entry of skipped) {
    const at = Buffer.concat([Buffer.from(`${dir}/`), entryBytes(entry)]);
    fs.rmSync(at, { force: true });
    emptied.add(path.dirname(at.toString("latin1")));
  }
  for (const parent of emptied) fsyncDir(Buffer.from(parent, "latin1"));
}
