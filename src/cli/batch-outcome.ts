import type { InterruptSignal } from "../context.js";
import type { PreflightRefusal } from "../domain/errors.js";
import { ExitCode, exitCodeForSignal } from "../domain/exit-codes.js";

/**
 * Exit code and error of a per-sandbox batch (backup-all, upgrade-sandboxes) that got as far as
 * starting work, so its summary is printed whatever happened: a reactive refusal (3) wins over
 * an interrupt (130/143), which wins over per-sandbox failures (1).
 */
export function batchOutcome(
  refusal: PreflightRefusal | undefined,
  interrupted: InterruptSignal | null,
  failure: { code: string; message: string } | null,
): { exitCode: ExitCode; error?: { code: string; message: string; diagnostic?: string[] } } {
  if (refusal) {
    return {
      exitCode: ExitCode.Refused,
      error: { code: refusal.code, message: refusal.message, diagnostic: refusal.diagnostic },
    };
  }
  if (interrupted) {
    return {
      exitCode: exitCodeForSignal(interrupted),
      error: { code: "interrupted", message: `interrupted by ${interrupted}` },
    };
  }
  if (failure) return { exitCode: ExitCode.Failed, error: failure };
  return { exitCode: ExitCode.Ok };
}
