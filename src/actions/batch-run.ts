import { type Context, type InterruptSignal, interruptedBy } from "../context.js";
import type { PreflightRefusal } from "../domain/errors.js";
import type { Preflight } from "../domain/preflight-types.js";
import type { PreflightReport } from "./preflight.js";

/** What a per-sandbox batch (backup-all, upgrade-sandboxes) returns once its work has started. */
export interface BatchRun<R> {
  preflight: Preflight | null;
  result: R;
  warnings: string[];
  /** A reactive refusal raised after per-sandbox work had started (summary still printed). */
  refusal?: PreflightRefusal;
}

/**
 * Ends a batch: records whether an interrupt stopped it, and reports the refusal's preflight
 * (the mismatch found mid-run) over the up-front one when a refusal stopped it.
 */
export function finishBatch<R extends { interrupted: InterruptSignal | null }>(
  ctx: Context,
  result: R,
  report: PreflightReport,
  warnings: string[],
  refusal: PreflightRefusal | undefined,
): BatchRun<R> {
  result.interrupted = interruptedBy(ctx);
  return {
    preflight: refusal?.preflight ?? report.preflight,
    result,
    warnings,
    ...(refusal ? { refusal } : {}),
  };
}
