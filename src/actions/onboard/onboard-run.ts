import type { StopSignal } from "../../adapters/gateway-process.js";
import type { OpenShellCli } from "../../adapters/openshell-cli.js";
import { parseStatus } from "../../adapters/openshell-output.js";
import type { RunResult } from "../../adapters/process-runner.js";
import type { Context } from "../../context.js";
import type { ErrorCode } from "../../domain/error-codes.js";
import { InterruptedError } from "../../domain/errors.js";
import type { GatewayStatus } from "../../domain/preflight-types.js";
import { foldExcerpt } from "../../domain/schema-mismatch.js";

// What `onboard` takes and reports, and what its stages (the files beside this one) share.

export type OnboardAction = "already-healthy" | "started" | "restarted" | "failed";

export interface OnboardResult {
  action: OnboardAction;
  gatewayName: string;
  /** The installed OpenShell version (the gateway binary has the same one, or onboard refuses). */
  version: string;
  endpoint: string;
  /** The gateway process: the running one, the one started, or the one that failed to start. */
  pid?: number;
  /** Its binary, path as found. */
  gatewayBin?: string;
  /** The previous gateway this run stopped. */
  stopped?: { pid: number; signal: StopSignal };
  /** Set when a start failed: the log and the last lines this launch wrote to it. */
  logFile?: string;
  logTail?: string[];
  /** How long the gateway took from launch to confirmed healthy. */
  readyMs?: number;
}

export interface OnboardReport {
  result: OnboardResult;
  warnings: string[];
  /** Set exactly when `result.action` is "failed" (exit 1). */
  failure?: { code: ErrorCode; message: string };
  /**
   * After a failed start: whether the launched gateway was stopped (and its marker and pid file
   * removed) or could not be stopped (marker kept so the next run can identify it). Absent when
   * nothing was launched.
   */
  cleanup?: "stopped" | "left-running";
}

/** Progress for the renderer: a step, or the readiness wait (updated on every poll). */
export type OnboardProgress =
  | { kind: "step"; message: string }
  | { kind: "waiting"; message: string; elapsedMs: number; timeoutMs: number };

export interface OnboardOptions {
  gatewayName: string;
  /** `--resume`: repair — restart a running gateway that is not healthy. */
  resume: boolean;
  /** Aborted with reason "SIGINT" / "SIGTERM" when the operator interrupts. */
  signal?: AbortSignal;
  onProgress?: (event: OnboardProgress) => void;
}

export interface Installed {
  openshell: OpenShellCli;
  version: string;
  binary: string;
}

/** What the steps of one onboard share. */
export interface OnboardRun {
  ctx: Context;
  options: OnboardOptions;
  installed: Installed;
  port: number;
  stateDir: string;
  endpoint: string;
  desiredEnv: Record<string, string>;
  envHash: string;
  warnings: string[];
  progress: (event: OnboardProgress) => void;
  base: { gatewayName: string; version: string; endpoint: string };
}

export type Stopped = OnboardResult["stopped"];

/** Grace periods when stopping a gateway: a real one flushes its database on SIGTERM. */
export const TERM_GRACE_MS = 10_000;
export const KILL_GRACE_MS = 5_000;
/** A step after the launch failed: the launched gateway is stopped and the run reports "failed". */
export class StartFailure extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
    this.name = "StartFailure";
  }
}

export function throwIfInterrupted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new InterruptedError(signal.reason === "SIGTERM" ? "SIGTERM" : "SIGINT");
}

/** Why a run gave nothing usable, in a few words. */
export function runFailure(result: RunResult): string {
  if (result.startError) return `could not be run (${result.startError})`;
  if (result.timedOut) return "timed out";
  if (result.aborted) return "was aborted";
  const text = foldExcerpt(result.stderr || result.stdout, 160);
  if (result.exitCode !== 0)
    return `failed (exit ${result.exitCode ?? result.signal})${text ? `: ${text}` : ""}`;
  return `printed no version${text ? `: ${text}` : ""}`;
}

export function statusOf(result: RunResult): GatewayStatus | null {
  if (result.startError || result.timedOut || result.aborted) return null;
  return parseStatus({ stdout: result.stdout, stderr: result.stderr, exitCode: result.exitCode ?? 1 });
}
