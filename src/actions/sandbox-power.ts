import { lifecycleSeconds } from "../adapters/process-runner.js";
import { listStartedRecords, removeStartedRecord, writeStartedRecord } from "../adapters/started-record.js";
import type { Context } from "../context.js";
import { NemoclawError, PreflightRefusal } from "../domain/errors.js";
import { ExitCode } from "../domain/exit-codes.js";
import { cannotStartReason, canStartStop, isTransientPhase, stopCommand } from "../domain/sandbox-phases.js";
import { checkStateQuery, type ReactiveContext } from "./preflight.js";
import {
  LifecycleOutcomeUnknown,
  lifecycleDetail,
  lifecycleMessage,
  phaseForMessage,
  sandboxPresence,
  waitForReady,
} from "./sandbox-state.js";

/**
 * Stopped sandboxes (docs/design.md): start one for nemoclaw's own work and return it to `Stopped`
 * afterwards, recording the start in `operations/<sandbox>.started.json` first so that a run
 * killed in between leaves the next run to stop it again. Decisions are made from exit codes
 * and the phase `sandbox get` reports, never from the wording of `start`/`stop`.
 */

type Reactive = Omit<ReactiveContext, "query">;

export type StartPurpose = "backup" | "rebuild" | "restore";

/** Why a Stopped sandbox could not be made Ready; `cannotStart` means nothing was attempted. */
export class SandboxStartError extends Error {
  constructor(
    message: string,
    /** True when this OpenShell has no `sandbox start`: a skip, not a failure. */
    readonly cannotStart: boolean,
    /** Set when stopping it again after a failed start also failed: the command to run. */
    readonly stopCommand?: string,
    /** The `sandbox start` itself was cut or failed: its outcome is unknown (docs/design.md). */
    readonly lifecycle = false,
  ) {
    super(message);
    this.name = "SandboxStartError";
  }
}

export type StopOutcome = { ok: true } | { ok: false; reason: string; command: string };

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The same reactive context with an `openshell` that keeps working after an interrupt. */
function detachedReactive(reactive: Reactive): Reactive {
  return { ...reactive, report: { ...reactive.report, openshell: reactive.report.openshell.detached() } };
}

/**
 * Waits out `Stopping`, `Starting` and `Provisioning` (polling `sandbox get`), bounded by the
 * sandbox ready timeout; returns the phase it settled on, or the transient phase it was still in
 * at the deadline. "absent" when the sandbox disappeared meanwhile.
 */
export async function settlePhase(
  ctx: Context,
  reactive: Reactive,
  name: string,
  phase: string,
): Promise<string> {
  if (!isTransientPhase(phase)) return phase;
  const deadline = ctx.clock() + ctx.settings.sandboxReadyTimeoutMs;
  let current = phase;
  for (let delay = 200; isTransientPhase(current); delay = Math.min(delay * 2, 2000)) {
    const left = deadline - ctx.clock();
    if (ctx.abort.signal.aborted || left <= 0) break;
    // The last poll lands on the deadline, not a whole delay before it.
    await sleep(Math.min(delay, left));
    const presence = await sandboxPresence(reactive, name);
    current = presence.exists ? presence.phase : "absent";
  }
  return current;
}

/** Why this OpenShell cannot start sandboxes, or null when it can (by `openshell --version`). */
export function startUnsupportedReason(reactive: Reactive): string | null {
  const installed = reactive.report.preflight.installedVersion;
  return canStartStop(installed) ? null : cannotStartReason(installed);
}

/**
 * Starts a Stopped sandbox and waits until it is Ready (bounded by the sandbox ready timeout).
 * The started record is written before `sandbox start` runs. On any failure the sandbox is left
 * as it was found (stopped again) and a SandboxStartError explains; a `start` rejected as a
 * usage error (exit 2: an OpenShell older than 0.0.105) is `cannotStart`.
 */
export async function startStoppedSandbox(
  ctx: Context,
  reactive: Reactive,
  name: string,
  purpose: StartPurpose,
): Promise<void> {
  const unsupported = startUnsupportedReason(reactive);
  if (unsupported) throw new SandboxStartError(unsupported, true);
  const { report } = reactive;
  const stateRoot = ctx.settings.paths.stateRoot;
  writeStartedRecord(stateRoot, { sandbox: name, gateway: report.gatewayName, purpose });
  const result = await report.openshell.sandboxStart(report.gatewayName, name);
  if (result.exitCode === 2) {
    removeStartedRecord(stateRoot, name);
    throw new SandboxStartError(cannotStartReason(report.preflight.installedVersion), true);
  }
  try {
    if (result.aborted) throw new Error(`interrupted by ${ctx.abort.signal.reason}`);
    const detail = lifecycleDetail(result);
    if (detail !== null) {
      // A decode error, an Unimplemented RPC or an unknown gateway keep their meaning.
      if (!result.timedOut && !result.startError)
        checkStateQuery(result, { ...reactive, query: `sandbox start ${name}` });
      const now = await phaseForMessage(reactive, name);
      throw new LifecycleOutcomeUnknown(
        "start",
        lifecycleMessage("start", name, lifecycleSeconds(ctx.settings.sandboxReadyTimeoutMs), now, detail),
      );
    }
    checkStateQuery(result, { ...reactive, query: `sandbox start ${name}` });
    await waitForReady(ctx, reactive, name);
  } catch (error) {
    // A schema mismatch: the gateway cannot be trusted to stop it either; the record stays and
    // the next run stops it again. Anything else (an interrupt included) stops it now.
    if (error instanceof PreflightRefusal) throw error;
    const stopped = await stopStartedSandbox(ctx, reactive, name);
    if (error instanceof NemoclawError && !ctx.abort.signal.aborted) {
      if (stopped.ok) throw error;
      throw new SandboxStartError(`${error.message}; ${stopped.reason}`, false, stopped.command);
    }
    const message = ctx.abort.signal.aborted
      ? `interrupted by ${ctx.abort.signal.reason} while starting it`
      : `could not start it: ${(error as Error).message}`;
    const lifecycle = error instanceof LifecycleOutcomeUnknown;
    if (stopped.ok) throw new SandboxStartError(`${message}; left stopped`, false, undefined, lifecycle);
    throw new SandboxStartError(`${message}; ${stopped.reason}`, false, stopped.command, lifecycle);
  }
}

/**
 * Returns a sandbox nemoclaw started to `Stopped`: `sandbox stop`, then poll until the phase is
 * `Stopped` (bounded by the sandbox ready timeout). Runs even after an interrupt. Never throws:
 * a failure names the exact command for the operator. The started record is removed only once
 * the sandbox is seen Stopped (or gone).
 */
export async function stopStartedSandbox(
  ctx: Context,
  reactive: Reactive,
  name: string,
): Promise<StopOutcome> {
  const live = detachedReactive(reactive);
  const { report } = live;
  const command = stopCommand(report.gatewayName, name);
  const failed = (why: string): StopOutcome => ({
    ok: false,
    reason: `stopping it again failed (${why}); run: ${command}`,
    command,
  });
  try {
    const presence = await sandboxPresence(live, name);
    // The gateway stops only a Ready (or Stopping) sandbox: after a cut start wait (bounded) for
    // it to settle on Ready or Error first.
    const phase = presence.exists ? await settlePhase(ctx, live, name, presence.phase) : "absent";
    if (phase === "Error") {
      const look = `openshell -g ${report.gatewayName} sandbox get ${name}`;
      return {
        ok: false,
        reason: `stopping it again is not possible: it is in phase Error (the gateway stops only a Ready sandbox); look with: ${look}`,
        command: look,
      };
    }
    if (phase === "Starting" || phase === "Provisioning") {
      return failed(
        `still ${phase} after ${ctx.settings.sandboxReadyTimeoutMs} ms; run it once the sandbox is Ready`,
      );
    }
    if (phase !== "Stopped" && phase !== "absent") {
      const result = await report.openshell.sandboxStop(report.gatewayName, name);
      const detail = lifecycleDetail(result);
      if (detail !== null) {
        if (!result.timedOut && !result.aborted && !result.startError)
          checkStateQuery(result, { ...live, query: `sandbox stop ${name}` });
        const now = await phaseForMessage(live, name);
        return failed(
          lifecycleMessage("stop", name, lifecycleSeconds(ctx.settings.sandboxReadyTimeoutMs), now, detail),
        );
      }
      const deadline = ctx.clock() + ctx.settings.sandboxReadyTimeoutMs;
      let current = "Stopping";
      for (let delay = 100; ; delay = Math.min(delay * 2, 2000)) {
        const now = await sandboxPresence(live, name);
        current = now.exists ? now.phase : "absent";
        if (current === "Stopped" || current === "absent") break;
        const left = deadline - ctx.clock();
        if (left <= 0) return failed(`still ${current} after ${ctx.settings.sandboxReadyTimeoutMs} ms`);
        await sleep(Math.min(delay, left));
      }
    }
    removeStartedRecord(ctx.settings.paths.stateRoot, name);
    return { ok: true };
  } catch (error) {
    return failed((error as Error).message);
  }
}

/**
 * Sandboxes a killed run started and never stopped (their `.started.json` records). Call while
 * holding the maintenance lock, after the preflight: each is stopped again. Returns one warning
 * line per record handled.
 */
export async function stopLeftoverStartedSandboxes(ctx: Context, reactive: Reactive): Promise<string[]> {
  const lines: string[] = [];
  for (const leftover of listStartedRecords(ctx.settings.paths.stateRoot)) {
    if (leftover.record && leftover.record.gateway !== reactive.report.gatewayName) continue;
    const outcome = await stopStartedSandbox(ctx, reactive, leftover.sandbox);
    const purpose = leftover.record ? ` for a ${leftover.record.purpose}` : "";
    lines.push(
      outcome.ok
        ? `Sandbox ${leftover.sandbox} was started${purpose} by a run that did not finish; it is stopped again.`
        : `Sandbox ${leftover.sandbox} was started${purpose} by a run that did not finish; ${outcome.reason}`,
    );
  }
  return lines;
}

/**
 * Runs `work` on a sandbox that must be Ready, leaving it in the phase it was found in: a
 * `Stopped` one is started first (SandboxStartError when that fails; nothing else happened) and
 * stopped again afterwards, whatever `work`'s outcome — except after a schema mismatch, when the
 * gateway's answers cannot be trusted and the started record leaves the stop to the next run.
 * `stop` is null when the sandbox was not started here.
 */
export async function withSandboxRunning<T>(
  ctx: Context,
  reactive: Reactive,
  name: string,
  phase: string | null,
  purpose: StartPurpose,
  work: () => Promise<T>,
): Promise<{ value: T; stop: StopOutcome | null }> {
  if (phase !== "Stopped") return { value: await work(), stop: null };
  await startStoppedSandbox(ctx, reactive, name, purpose);
  let value: T;
  try {
    value = await work();
  } catch (error) {
    if (!(error instanceof PreflightRefusal)) await stopStartedSandbox(ctx, reactive, name);
    throw error;
  }
  return { value, stop: await stopStartedSandbox(ctx, reactive, name) };
}

/** `restore` into a Stopped sandbox: start it (true), or a NemoclawError saying nothing changed. */
export async function startForRestore(ctx: Context, reactive: Reactive, name: string): Promise<true> {
  try {
    await startStoppedSandbox(ctx, reactive, name, "restore");
    return true;
  } catch (error) {
    if (!(error instanceof SandboxStartError)) throw error;
    // A cut or failed `sandbox start` may have changed the sandbox: never "nothing was changed".
    if (error.lifecycle) throw new SandboxLifecycleError(`sandbox ${name} was Stopped and ${error.message}`);
    throw new SandboxNotStartedError(`sandbox ${name} is Stopped and ${error.message}; nothing was changed`);
  }
}

/** A create, start or stop was cut or failed; its outcome is unknown (exit 1). */
export class SandboxLifecycleError extends NemoclawError {
  readonly code = "lifecycle_outcome_unknown";
  readonly exitCode = ExitCode.Failed;
}

/** A restore could not start its Stopped sandbox (exit 1, nothing changed). */
export class SandboxNotStartedError extends NemoclawError {
  readonly code = "sandbox_not_started";
  readonly exitCode = ExitCode.Failed;
}

/**
 * After a failed `restore` into a sandbox it started: stop it again and return the error to
 * throw (a failed stop is appended to the message). A schema mismatch leaves the stop to the
 * next run (the started record stays).
 */
export async function leaveStopped(
  ctx: Context,
  reactive: Reactive,
  name: string,
  started: boolean,
  error: unknown,
): Promise<unknown> {
  if (!started || error instanceof PreflightRefusal) return error;
  const stop = await stopStartedSandbox(ctx, reactive, name);
  if (!stop.ok && error instanceof Error) error.message = `${error.message}; ${stop.reason}`;
  return error;
}
