import fs from "node:fs";
import {
  type LaunchedGateway,
  launchDetachedGateway,
  readLogSince,
  stopGatewayProcess,
} from "../../adapters/gateway-process.js";
import {
  isGatewayBinaryPath,
  removeRuntimeMarker,
  writeGatewayPidFile,
  writeRuntimeMarker,
} from "../../adapters/runtime-marker.js";
import type { Context } from "../../context.js";
import type { ErrorCode } from "../../domain/error-codes.js";
import { InterruptedError } from "../../domain/errors.js";
import { GATEWAY_DRIVER, LOG_TAIL_LINES, logTailLines } from "../../domain/gateway-launch.js";
import { READINESS_DEFAULTS, type TerminalReadiness } from "../../domain/gateway-readiness.js";
import {
  KILL_GRACE_MS,
  type OnboardReport,
  type OnboardRun,
  StartFailure,
  type Stopped,
  TERM_GRACE_MS,
  throwIfInterrupted,
} from "./onboard-run.js";
import { waitUntilHealthy } from "./readiness-wait.js";
import { registerGateway } from "./register-gateway.js";

/** The marker records the realpath, unless that would lose the `openshell-gateway` basename the marker rules require. */
function markerBinaryPath(bin: string): string {
  try {
    const real = fs.realpathSync(bin);
    return isGatewayBinaryPath(real) ? real : bin;
  } catch {
    return bin;
  }
}

/** Step 3: launch the binary detached with exactly the launch environment. */
export async function launchAndConfirm(run: OnboardRun, stopped: Stopped): Promise<OnboardReport> {
  const { ctx, installed, stateDir, endpoint } = run;
  const paths = ctx.settings.paths;
  run.progress({
    kind: "step",
    message: `Starting ${installed.binary} (OpenShell ${installed.version}) on ${endpoint}`,
  });
  const launchedAt = ctx.clock();
  let launched: LaunchedGateway;
  try {
    launched = await launchDetachedGateway({
      bin: installed.binary,
      // The gateway gets exactly the OPENSHELL_* of docs/design.md, "Gateway launch environment":
      // not even the CLI's workspace.
      env: {
        ...Object.fromEntries(Object.entries(ctx.probeEnv).filter(([key]) => !key.startsWith("OPENSHELL_"))),
        ...run.desiredEnv,
      },
      logFile: paths.gatewayLog,
      cwd: stateDir,
      procRoot: ctx.procRoot,
    });
  } catch (error) {
    const message = `could not start ${installed.binary}: ${error instanceof Error ? error.message : String(error)}`;
    return {
      result: {
        action: "failed",
        ...run.base,
        gatewayBin: installed.binary,
        ...(stopped ? { stopped } : {}),
        logFile: paths.gatewayLog,
        logTail: [],
      },
      warnings: run.warnings,
      failure: { code: "gateway_launch_failed", message },
    };
  }
  return confirmLaunch(run, stopped, launched, launchedAt);
}

/**
 * Step 3 (marker, pid file, registration) and step 4 (readiness). Anything short of healthy
 * stops what was launched and removes the marker: it would point at a dead process.
 */
async function confirmLaunch(
  run: OnboardRun,
  stopped: Stopped,
  launched: LaunchedGateway,
  launchedAt: number,
): Promise<OnboardReport> {
  const { ctx, options, installed, stateDir, endpoint, warnings } = run;
  const { gatewayName } = options;
  const { settings } = ctx;
  const { pid } = launched;
  let failure: { code: ErrorCode; message: string } | null = null;
  let interrupted: InterruptedError | null = null;
  try {
    writeGatewayPidFile(stateDir, pid);
    writeRuntimeMarker(stateDir, {
      version: 1,
      pid,
      driver: GATEWAY_DRIVER,
      platform: process.platform,
      arch: process.arch,
      endpoint,
      desiredEnvHash: run.envHash,
      gatewayBin: markerBinaryPath(installed.binary),
      openshellVersion: installed.version,
      dockerHost: ctx.probeEnv.DOCKER_HOST || null,
      createdAt: ctx.now().toISOString(),
    });
    await registerGateway(installed.openshell, gatewayName, endpoint, warnings, run.progress);
    throwIfInterrupted(options.signal);
    const readiness = await waitUntilHealthy(ctx, options, installed, launched, {
      gatewayName,
      version: installed.version,
      endpoint,
      deadline: launchedAt + settings.gatewayStartTimeoutMs,
      ...READINESS_DEFAULTS,
    });
    if (readiness.phase === "healthy") {
      return {
        result: {
          action: stopped ? "restarted" : "started",
          ...run.base,
          pid,
          gatewayBin: installed.binary,
          ...(stopped ? { stopped } : {}),
          readyMs: Math.round(ctx.clock() - launchedAt),
        },
        warnings,
      };
    }
    failure = await readinessFailure(run, launched, readiness);
  } catch (error) {
    if (error instanceof InterruptedError) interrupted = error;
    else if (error instanceof StartFailure) failure = { code: error.code, message: error.message };
    else
      failure = { code: "onboard_failed", message: error instanceof Error ? error.message : String(error) };
  }
  // The start failed (or was interrupted): stop what we launched and leave no marker behind.
  const stillRunning = await abandonLaunch(ctx, launched, stateDir);
  if (stillRunning)
    warnings.push(`Gateway pid ${pid} did not exit after SIGKILL; its runtime marker was kept.`);
  if (interrupted) throw interrupted;
  return {
    result: {
      action: "failed",
      ...run.base,
      pid,
      gatewayBin: installed.binary,
      ...(stopped ? { stopped } : {}),
      logFile: settings.paths.gatewayLog,
      logTail: logTailLines(readLogSince(settings.paths.gatewayLog, launched.logOffset), LOG_TAIL_LINES),
    },
    warnings,
    failure: failure ?? { code: "onboard_failed", message: "gateway start failed" },
    cleanup: stillRunning ? "left-running" : "stopped",
  };
}

/** Why a gateway that did not become healthy failed: it exited, or the deadline passed. */
async function readinessFailure(
  run: OnboardRun,
  launched: LaunchedGateway,
  readiness: Exclude<TerminalReadiness, { phase: "healthy" }>,
): Promise<{ code: ErrorCode; message: string }> {
  const gateway = `gateway '${run.options.gatewayName}' (pid ${launched.pid})`;
  if (readiness.phase === "exited") {
    // The readiness poll can see the process gone (a zombie) before its exit status arrived.
    await Promise.race([launched.exited, new Promise<void>((resolve) => setTimeout(resolve, 500).unref())]);
    return {
      code: "gateway_exited",
      message: `${gateway} ${describeExit(launched)} before it was confirmed ready`,
    };
  }
  return {
    code: "gateway_start_timeout",
    message: `${gateway} was not ready within ${run.ctx.settings.gatewayStartTimeoutMs} ms (last check: ${readiness.problem})`,
  };
}

function describeExit(launched: LaunchedGateway): string {
  const exit = launched.exitInfo();
  if (exit?.signal) return `was killed by ${exit.signal}`;
  if (exit?.code !== null && exit?.code !== undefined) return `exited with code ${exit.code}`;
  return "exited";
}

/** Stops a gateway we launched (identity: our child, same instance) and removes marker + pid file. */
async function abandonLaunch(ctx: Context, launched: LaunchedGateway, stateDir: string): Promise<boolean> {
  const stop = await stopGatewayProcess(
    { pid: launched.pid, startTime: launched.startTime, isStillIt: launched.isRunning, group: true },
    { procRoot: ctx.procRoot, termGraceMs: TERM_GRACE_MS, killGraceMs: KILL_GRACE_MS },
  );
  if (stop.outcome === "still-running") return true;
  removeRuntimeMarker(stateDir);
  return false;
}
