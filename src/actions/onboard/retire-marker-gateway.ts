import { resolveMarkerGatewayBinary } from "../../adapters/gateway-binary.js";
import { stopGatewayProcess } from "../../adapters/gateway-process.js";
import { checkPortFree, findPortHolder, type PortHolder } from "../../adapters/port-probe.js";
import { isSameProcessInstance, processIsBinary } from "../../adapters/process-identity.js";
import { removeRuntimeMarker } from "../../adapters/runtime-marker.js";
import { EnvironmentError } from "../../domain/errors.js";
import { assessStatus, sameEndpoint } from "../../domain/gateway-readiness.js";
import {
  KILL_GRACE_MS,
  type OnboardReport,
  type OnboardRun,
  type Stopped,
  statusOf,
  TERM_GRACE_MS,
  throwIfInterrupted,
} from "./onboard-run.js";

export function portInUseError(
  port: number,
  holder: PortHolder | null,
  code: string,
  note: string,
): EnvironmentError {
  const who = holder ? ` by pid ${holder.pid} (${holder.name})` : "";
  const what = code === "EADDRINUSE" ? `is already in use${who}` : `cannot be bound (${code})${who}`;
  return new EnvironmentError(
    "port_in_use",
    `gateway port ${port} on 127.0.0.1 ${what}; stop that process or choose another port with NEMOCLAW_GATEWAY_PORT${note}`,
  );
}

/**
 * Step 2: the gateway the marker describes, if it is really running. Already healthy and ours →
 * the idempotent report; otherwise (with --resume) it is stopped — by pid, after its identity was
 * checked again — and the marker removed. A stale or unusable marker is discarded.
 */
export async function retireMarkerGateway(
  run: OnboardRun,
): Promise<{ healthy: OnboardReport } | { stopped: Stopped }> {
  const { ctx, options, installed, warnings, stateDir, endpoint } = run;
  const { gatewayName } = options;
  const marker = resolveMarkerGatewayBinary({
    markerPath: ctx.settings.paths.runtimeMarker,
    procRoot: ctx.procRoot,
  });
  if (!marker.ok) {
    if (marker.markerStatus === "ok") {
      // The marker parsed but its pid is dead or another program: nothing of ours runs there.
      warnings.push(`Discarded a stale runtime marker (${marker.reason}); that process was not signalled.`);
      removeRuntimeMarker(stateDir);
    } else if (marker.markerStatus !== "absent") {
      warnings.push(`Replacing an unusable runtime marker: ${marker.reason}.`);
    }
    return { stopped: undefined };
  }
  const { pid, startTime } = marker;
  const stillIt = () =>
    isSameProcessInstance(pid, startTime, ctx.procRoot) &&
    processIsBinary(pid, marker.path, ctx.procRoot).match &&
    isSameProcessInstance(pid, startTime, ctx.procRoot);
  let problem: string | null = null;
  if (!sameEndpoint(marker.marker.endpoint, endpoint)) {
    problem = `it serves ${marker.marker.endpoint}, not ${endpoint}`;
  } else if (marker.marker.desiredEnvHash !== undefined && marker.marker.desiredEnvHash !== run.envHash) {
    problem = "it was launched with a different configuration";
  } else {
    const assessment = assessStatus(statusOf(await installed.openshell.status(gatewayName)), {
      gatewayName,
      version: installed.version,
      endpoint,
    });
    throwIfInterrupted(options.signal);
    if (!assessment.healthy) problem = assessment.problem;
    else if (!stillIt()) problem = "the gateway process exited";
  }
  if (problem === null) {
    return {
      healthy: { result: { action: "already-healthy", ...run.base, pid, gatewayBin: marker.path }, warnings },
    };
  }
  if (!options.resume) {
    throw new EnvironmentError(
      "gateway_needs_repair",
      `gateway '${gatewayName}' (pid ${pid}) is running but ${problem}; run \`nemoclaw onboard --resume\` to restart it with OpenShell ${installed.version}`,
    );
  }
  // Fail closed before stopping anything: if a third process holds our port, restarting cannot help.
  const early = await checkPortFree(run.port);
  if (!early.free) {
    const holder = findPortHolder(run.port, ctx.procRoot);
    if (holder !== null && holder.pid !== pid && holder.ppid !== pid) {
      throw portInUseError(run.port, holder, early.code, "; the running gateway was left alone");
    }
  }
  run.progress({ kind: "step", message: `Stopping gateway pid ${pid} (${problem})` });
  const stop = await stopGatewayProcess(
    { pid, startTime, isStillIt: stillIt },
    { procRoot: ctx.procRoot, termGraceMs: TERM_GRACE_MS, killGraceMs: KILL_GRACE_MS },
  );
  if (stop.outcome === "still-running") {
    throw new EnvironmentError(
      "gateway_stop_failed",
      `gateway pid ${pid} is still running after ${stop.signal}; nothing was started`,
    );
  }
  removeRuntimeMarker(stateDir);
  if (stop.outcome === "stopped") return { stopped: { pid, signal: stop.signal } };
  warnings.push(`Gateway pid ${pid} exited before it could be stopped; it was not signalled.`);
  return { stopped: undefined };
}
