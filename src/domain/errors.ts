import type { ErrorCode } from "./error-codes.js";
import { ExitCode, exitCodeForSignal } from "./exit-codes.js";
import type { Preflight } from "./preflight-types.js";

/**
 * Typed failures. Each carries a stable machine `code` (the JSON envelope's `error.code`) and
 * its exit code; `exitCodeFor` is the one place that maps any thrown value to an exit code.
 */
export abstract class NemoclawError extends Error {
  abstract readonly code: ErrorCode;
  abstract readonly exitCode: ExitCode;
}

/** Bad flag, bad argument, or a mutating command in a non-interactive session without --yes. */
export class UsageError extends NemoclawError {
  readonly exitCode = ExitCode.Usage;
  constructor(
    message: string,
    readonly code: ErrorCode = "usage",
  ) {
    super(message);
    this.name = "UsageError";
  }
}

/** The host is not ready: openshell missing, gateway unreachable, registry unreadable, lock held. */
export class EnvironmentError extends NemoclawError {
  readonly exitCode = ExitCode.Environment;
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
    this.name = "EnvironmentError";
  }
}

/** The gateway preflight (or a reactive schema check) refused: nothing was changed. */
export class PreflightRefusal extends NemoclawError {
  readonly exitCode = ExitCode.Refused;
  constructor(
    readonly code: "gateway_drift" | "schema_mismatch" | "preflight_unknown",
    message: string,
    readonly preflight: Preflight,
    /** The full diagnostic of docs/design.md, "The preflight decision", one entry per line. */
    readonly diagnostic: string[],
  ) {
    super(message);
    this.name = "PreflightRefusal";
  }
}

/** SIGINT / SIGTERM arrived; work was stopped and cleaned up. */
export class InterruptedError extends NemoclawError {
  readonly code: ErrorCode = "interrupted";
  readonly exitCode: ExitCode;
  constructor(readonly signal: "SIGINT" | "SIGTERM") {
    super(`interrupted by ${signal}`);
    this.name = "InterruptedError";
    this.exitCode = exitCodeForSignal(signal);
  }
}

export function exitCodeFor(error: unknown): ExitCode {
  if (error instanceof NemoclawError) return error.exitCode;
  return ExitCode.Failed;
}

export function errorCodeFor(error: unknown): ErrorCode {
  if (error instanceof NemoclawError) return error.code;
  return "internal";
}
