import { EnvironmentError, UsageError } from "../domain/errors.js";
import {
  checkFoundErrors,
  parseSnapshots,
  type RemoteSnapshot,
  repositoryNotConfigured,
  resticMessage,
} from "../domain/offhost.js";
import type { ProcessRunner, RunResult } from "./process-runner.js";

/**
 * The restic CLI (Debian's `restic`, ≥ 0.14), run without a shell through the process runner.
 * The repository and its password come from restic's own variables (`RESTIC_REPOSITORY`,
 * `RESTIC_REPOSITORY_FILE`, `RESTIC_PASSWORD_FILE`, `RESTIC_PASSWORD`, `RESTIC_PASSWORD_COMMAND`)
 * or `--repo`; nemoclaw never reads or stores the password itself.
 */

export interface ResticOptions {
  runner: ProcessRunner;
  /** The caller's environment; restic gets it whole (its credentials, cache dir and backend settings live there). */
  env: Record<string, string | undefined>;
  /** `--repo`: passed to restic as `--repo` (overrides RESTIC_REPOSITORY). */
  repo?: string;
  timeoutMs: number;
  signal?: AbortSignal;
  /** The program; `restic` from PATH unless a test names another. */
  program?: string;
}

/** restic could not open, read or lock the repository (wrong password, unreachable, locked): exit 4. */
export class RepositoryError extends EnvironmentError {
  constructor(message: string) {
    super("repository_unavailable", message);
    this.name = "RepositoryError";
  }
}

/** One restic command failed for one backup (a push or a pull): the caller decides (exit 1). */
export class ResticCommandError extends Error {
  constructor(
    message: string,
    readonly result: RunResult,
  ) {
    super(message);
    this.name = "ResticCommandError";
  }
}

export interface BackupSummary {
  snapshotId: string;
  filesNew: number;
  filesChanged: number;
  filesUnmodified: number;
  dataAdded: number;
}

export interface CheckResult {
  ok: boolean;
  /** What was read: `subset 1/10` or `all`. */
  readData: string;
  /** restic's message when the check failed. */
  message: string | null;
}

/** The repository to use, or a usage error (exit 2) naming what is missing. */
export function configuredRestic(options: ResticOptions): Restic {
  const missing = repositoryNotConfigured(options.env, options.repo);
  if (missing) throw new UsageError(missing, "repository_not_configured");
  return new Restic(options);
}

export class Restic {
  constructor(private readonly options: ResticOptions) {}

  /** Where the repository is, for messages (never the password). */
  get location(): string {
    return (
      this.options.repo ??
      this.options.env.RESTIC_REPOSITORY ??
      `(from ${this.options.env.RESTIC_REPOSITORY_FILE})`
    );
  }

  private async run(
    args: string[],
    extra: { cwd?: string; env?: Record<string, string> } = {},
  ): Promise<RunResult> {
    const repoArgs = this.options.repo ? ["--repo", this.options.repo] : [];
    const result = await this.options.runner.run(this.options.program ?? "restic", [...repoArgs, ...args], {
      env: { ...this.options.env, ...extra.env },
      timeoutMs: this.options.timeoutMs,
      signal: this.options.signal,
      ...(extra.cwd ? { cwd: extra.cwd } : {}),
    });
    if (result.startError) {
      throw new EnvironmentError(
        "restic_not_found",
        `restic could not be started (${result.startError}): install it (Debian: apt-get install restic)`,
      );
    }
    return result;
  }

  private failure(result: RunResult, what: string): string {
    if (result.timedOut) return `restic ${what} timed out after ${this.options.timeoutMs} ms`;
    if (result.aborted) return `restic ${what} was interrupted`;
    return resticMessage(result.stderr);
  }

  /**
   * nemoclaw's snapshots in the repository. The first contact of every remote command: any
   * failure here (wrong password, unreachable, locked, no repository) is exit 4 with restic's
   * message. `noLock`: read-only (`status --remote`).
   */
  async snapshots(options: { noLock?: boolean } = {}): Promise<RemoteSnapshot[]> {
    const result = await this.run([
      ...(options.noLock ? ["--no-lock"] : []),
      "snapshots",
      "--json",
      "--tag",
      "nemoclaw",
    ]);
    if (result.exitCode !== 0) {
      throw new RepositoryError(`restic repository ${this.location}: ${this.failure(result, "snapshots")}`);
    }
    try {
      return parseSnapshots(result.stdout);
    } catch (error) {
      throw new RepositoryError(
        `restic repository ${this.location}: unreadable snapshot list (${(error as Error).message})`,
      );
    }
  }

  /**
   * `restic backup <relativePath>` run in `cwd`: the snapshot's tree holds `relativePath`, so a
   * restore never depends on the absolute path the backup had on this host.
   */
  async backup(options: {
    cwd: string;
    relativePath: string;
    tags: string[];
    host: string;
    time: string;
  }): Promise<BackupSummary> {
    const args = ["backup", "--json", "--quiet", "--host", options.host, "--time", options.time];
    for (const tag of options.tags) args.push("--tag", tag);
    args.push("--", options.relativePath);
    const result = await this.run(args, { cwd: options.cwd, env: { TZ: "UTC" } });
    if (result.exitCode !== 0) throw new ResticCommandError(this.failure(result, "backup"), result);
    const summary = lastJsonLine(result.stdout, "summary");
    const id = typeof summary?.snapshot_id === "string" ? summary.snapshot_id : "";
    if (!summary || id === "") throw new ResticCommandError("restic backup printed no summary", result);
    return {
      snapshotId: id,
      filesNew: num(summary.files_new),
      filesChanged: num(summary.files_changed),
      filesUnmodified: num(summary.files_unmodified),
      dataAdded: num(summary.data_added),
    };
  }

  /** `restic restore <id> --target <dir>`: the snapshot's tree (relative paths) under `target`. */
  async restore(snapshotId: string, target: string): Promise<void> {
    const result = await this.run(["restore", snapshotId, "--target", target]);
    if (result.exitCode !== 0) throw new ResticCommandError(this.failure(result, "restore"), result);
  }

  /** `restic check` reading a subset of the data (`1/10`) or all of it. */
  async check(readData: "all" | string): Promise<CheckResult> {
    const args = readData === "all" ? ["check", "--read-data"] : ["check", `--read-data-subset=${readData}`];
    const result = await this.run(args);
    if (result.exitCode === 0) return { ok: true, readData, message: null };
    const output = `${result.stdout}\n${result.stderr}`;
    if (!result.timedOut && !result.aborted && checkFoundErrors(output)) {
      return { ok: false, readData, message: damageSummary(output) };
    }
    throw new RepositoryError(`restic repository ${this.location}: ${this.failure(result, "check")}`);
  }
}

function num(value: unknown): number {
  return typeof value === "number" && Number.isFinite(value) ? value : 0;
}

function lastJsonLine(stdout: string, type: string): Record<string, unknown> | null {
  let found: Record<string, unknown> | null = null;
  for (const line of stdout.split("\n")) {
    const trimmed = line.trim();
    if (!trimmed.startsWith("{")) continue;
    try {
      const doc = JSON.parse(trimmed) as Record<string, unknown>;
      if (doc.message_type === type) found = doc;
    } catch {
      // restic may interleave plain lines; only its JSON documents count
    }
  }
  return found;
}

/** The first lines of `restic check` that name the damage, joined into one line. */
function damageSummary(output: string): string {
  const lines = output
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => /error|damaged|does not match|invalid|not found|Fatal/i.test(l));
  return (lines.slice(0, 3).join("; ") || "restic check found errors").slice(0, 500);
}
