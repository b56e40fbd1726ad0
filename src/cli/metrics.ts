import { recordMetrics } from "../actions/metrics.js";
import type { StatusRun } from "../actions/status.js";
import { resolveMetricsFile } from "../adapters/metrics-file.js";
import type { Context } from "../context.js";
import type { RemoteSnapshot } from "../domain/offhost.js";
import type { Outcome } from "./nemoclaw-command.js";

/** What a command with `--metrics-file` collects while it runs, for `finalize`. */
export interface MetricsPlan {
  file: string;
  gatewayName: string;
  strict: boolean;
  /** `status` hands over the run it already has. */
  status?: StatusRun;
  /** The repository's snapshots, when the run read them. */
  remote?: RemoteSnapshot[] | null;
}

/** The checked `--metrics-file` (usage error before any work), or undefined without one. */
export function metricsFileOf(ctx: Context, value: string | undefined): string | undefined {
  if (value === undefined || value === "") return undefined;
  return resolveMetricsFile(value, ctx.settings.paths.stateRoot);
}

/**
 * Writes the metrics for a finished run (success or failure); a metrics failure is a warning on
 * the outcome, never another exit code.
 */
export async function finalizeMetrics(
  ctx: Context | undefined,
  plan: MetricsPlan | undefined,
  command: string,
  outcome: Outcome,
): Promise<Outcome> {
  if (!ctx || !plan) return outcome;
  const { file, ...rest } = plan;
  const warnings = await recordMetrics(ctx, { file, command, exitCode: outcome.exitCode, ...rest });
  if (warnings.length === 0) return outcome;
  return {
    ...outcome,
    warnings: [...outcome.warnings, ...warnings],
    stderr: [...(outcome.stderr ?? []), ...warnings],
  };
}
