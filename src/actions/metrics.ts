import { listBackups } from "../adapters/backup-store.js";
import { readMetricsFile, writeMetricsFile } from "../adapters/metrics-file.js";
import type { Context } from "../context.js";
import { backupTimestampDate } from "../domain/duration.js";
import { formatMetrics, type HostPicture } from "../domain/metrics.js";
import { backupKey, newestOffhostCopies, type RemoteSnapshot } from "../domain/offhost.js";
import { pushHost } from "./offhost.js";
import { openOperations } from "./operations.js";
import { hostStatus, type StatusRun } from "./status.js";

/**
 * `--metrics-file` (docs/design.md, "Metrics"): after the run, the host picture computed as
 * `status` computes it, this run's timestamps, the newest off-host copies when the repository
 * was read, and the other commands' series of the previous file — written atomically.
 * Returns warnings (a metrics failure never changes the command's exit code).
 */
export async function recordMetrics(
  ctx: Context,
  options: {
    file: string;
    command: string;
    exitCode: number;
    gatewayName: string;
    strict: boolean;
    /** `status` passes the run it already has. */
    status?: StatusRun;
    /** The repository's snapshots, when this run read them. */
    remote?: RemoteSnapshot[] | null;
  },
): Promise<string[]> {
  const warnings: string[] = [];
  let host: HostPicture | null = null;
  try {
    const run =
      options.status ??
      (await hostStatus(ctx, {
        gatewayName: options.gatewayName,
        strict: options.strict,
        rerunCommand: "nemoclaw status",
        maxAgeSeconds: 86_400,
        gatewayFlag: "",
      }));
    host = {
      verdict: run.result.verdict,
      sandboxes: run.result.sandboxes.map((row) => ({
        name: row.name,
        status: row.status,
        lastBackupSeconds: row.lastBackup
          ? (backupTimestampDate(row.lastBackup.timestamp)?.getTime() ?? 0) / 1000
          : null,
      })),
      unfinishedOperations: openOperations(ctx).size,
    };
  } catch (error) {
    warnings.push(`metrics: host picture not updated (${(error as Error).message})`);
  }
  let offhost: Map<string, number> | null = null;
  if (options.remote) {
    const local = new Set(
      listBackups(ctx.settings.paths.backupsRoot)
        .filter((b) => b.complete)
        .map((b) => backupKey(b.sandbox, b.timestamp)),
    );
    offhost = new Map();
    for (const [sandbox, snap] of newestOffhostCopies(options.remote, pushHost(), local)) {
      offhost.set(sandbox, (backupTimestampDate(snap.backup)?.getTime() ?? 0) / 1000);
    }
  }
  try {
    const text = formatMetrics(
      {
        command: options.command,
        atSeconds: ctx.now().getTime() / 1000,
        success: options.exitCode === 0,
        host,
        offhost,
      },
      readMetricsFile(options.file),
    );
    writeMetricsFile(options.file, text);
  } catch (error) {
    warnings.push(`metrics: could not write ${options.file} (${(error as Error).message})`);
  }
  return warnings;
}
