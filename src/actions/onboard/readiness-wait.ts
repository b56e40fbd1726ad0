import type { LaunchedGateway } from "../../adapters/gateway-process.js";
import { OpenShellCli } from "../../adapters/openshell-cli.js";
import type { Context } from "../../context.js";
import {
  advanceReadiness,
  expireReadiness,
  initialReadiness,
  isTerminal,
  nextPollDelay,
  type ReadinessCriteria,
  type ReadinessState,
  type TerminalReadiness,
} from "../../domain/gateway-readiness.js";
import { type Installed, type OnboardOptions, statusOf, throwIfInterrupted } from "./onboard-run.js";

function sleepUnless(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}

/** A signal that aborts when either does. */
function eitherSignal(a: AbortSignal | undefined, b: AbortSignal): AbortSignal {
  if (a === undefined) return b;
  const controller = new AbortController();
  if (a.aborted || b.aborted) {
    controller.abort();
    return controller.signal;
  }
  const abort = () => controller.abort();
  a.addEventListener("abort", abort, { once: true });
  b.addEventListener("abort", abort, { once: true });
  return controller.signal;
}

/**
 * Step 4: poll `openshell status -g <gw>` until the readiness rule of docs/design.md, "onboard" holds, the launched
 * process exits (noticed at once: its exit aborts the poll in flight), or the deadline passes.
 */
export async function waitUntilHealthy(
  ctx: Context,
  options: OnboardOptions,
  installed: Installed,
  launched: LaunchedGateway,
  criteria: ReadinessCriteria,
): Promise<TerminalReadiness> {
  const started = ctx.clock();
  const timeoutMs = Math.round(criteria.deadline - started);
  const exitController = new AbortController();
  void launched.exited.then(() => exitController.abort());
  const pollSignal = eitherSignal(options.signal, exitController.signal);
  const cli = new OpenShellCli({
    runner: ctx.runner,
    bin: installed.openshell.bin,
    env: ctx.probeEnv,
    timeoutMs: ctx.settings.probeTimeoutMs,
    signal: pollSignal,
  });
  let state: ReadinessState = initialReadiness();
  const report = () => {
    const waiting =
      state.phase === "confirming"
        ? `Confirming gateway '${criteria.gatewayName}' (pid ${launched.pid}) stays up`
        : `Waiting for gateway '${criteria.gatewayName}' (pid ${launched.pid})${
            state.phase === "starting" && state.polls > 0 ? `: ${state.problem}` : ""
          }`;
    options.onProgress?.({
      kind: "waiting",
      message: waiting,
      elapsedMs: Math.round(ctx.clock() - started),
      timeoutMs,
    });
  };
  report();
  for (;;) {
    const delay = nextPollDelay(state, ctx.clock(), criteria);
    if (delay > 0) await sleepUnless(delay, pollSignal);
    throwIfInterrupted(options.signal);
    if (!launched.isRunning()) {
      state = advanceReadiness(state, { at: ctx.clock(), status: null, processAlive: false }, criteria);
    } else {
      state = expireReadiness(state, ctx.clock(), criteria);
    }
    if (isTerminal(state)) return state;

    const remaining = criteria.deadline - ctx.clock();
    const pollTimeout = Math.max(500, Math.min(ctx.settings.probeTimeoutMs, remaining));
    const result = await cli.status(criteria.gatewayName, pollTimeout);
    throwIfInterrupted(options.signal);
    // Liveness is read *after* the status poll: a gateway that answered and then died fails here.
    const processAlive = launched.isRunning();
    state = advanceReadiness(state, { at: ctx.clock(), status: statusOf(result), processAlive }, criteria);
    if (isTerminal(state)) return state;
    report();
  }
}
