import fs from "node:fs";
import {
  resolveFallbackGatewayBinary,
  resolveMarkerGatewayBinary,
  resolveOpenshellBinary,
} from "../adapters/gateway-binary.js";
import {
  desiredEnvHash,
  type LaunchedGateway,
  launchDetachedGateway,
  readLogSince,
  type StopSignal,
  stopGatewayProcess,
} from "../adapters/gateway-process.js";
import { OpenShellCli } from "../adapters/openshell-cli.js";
import { parseGatewayInfo, parseStatus, parseVersionOutput } from "../adapters/openshell-output.js";
import { checkPortFree, findPortHolder, type PortHolder } from "../adapters/port-probe.js";
import { isSameProcessInstance, processIsBinary } from "../adapters/process-identity.js";
import type { RunResult } from "../adapters/process-runner.js";
import {
  ensurePrivateDir,
  isGatewayBinaryPath,
  removeRuntimeMarker,
  writeGatewayPidFile,
  writeRuntimeMarker,
} from "../adapters/runtime-marker.js";
import type { Context } from "../context.js";
import { EnvironmentError, InterruptedError, PreflightRefusal } from "../domain/errors.js";
import {
  GATEWAY_DRIVER,
  gatewayEndpoint,
  gatewayLaunchEnv,
  LOG_TAIL_LINES,
  logTailLines,
} from "../domain/gateway-launch.js";
import {
  advanceReadiness,
  assessStatus,
  expireReadiness,
  initialReadiness,
  isTerminal,
  nextPollDelay,
  READINESS_DEFAULTS,
  type ReadinessCriteria,
  type ReadinessState,
  sameEndpoint,
  type TerminalReadiness,
} from "../domain/gateway-readiness.js";
import { binaryMismatchLines } from "../domain/onboard-diagnostics.js";
import type { Evidence, GatewayStatus, Preflight } from "../domain/preflight-types.js";
import { foldExcerpt, stripAnsi } from "../domain/schema-mismatch.js";
import { versionsEqual } from "../domain/versions.js";
import { takeMaintenanceLock } from "./maintenance.js";

/**
 * `nemoclaw onboard [--resume]` (docs/design.md, "onboard"): (re)start the host-process gateway with the installed
 * OpenShell version and wait until it is really healthy.
 *
 * Order matters for safety:
 * 1. read-only checks first (CLI version, the fallback-order gateway binary and its version): a
 *    binary that differs from the CLI is refused before anything is touched (exit 3);
 * 2. everything that mutates runs under the maintenance lock;
 * 3. only a process that passes the identity check of docs/design.md, "Binary resolution and identity" (re-checked, with its start time, right
 *    before every signal) is ever stopped; a stale marker naming someone else's pid is dropped,
 *    its process left alone;
 * 4. after a launch, any failure stops what was launched and removes the marker and pid file, so
 *    no marker is ever left pointing at a dead process.
 */

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
  failure?: { code: string; message: string };
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

/** Grace periods when stopping a gateway: a real one flushes its database on SIGTERM. */
const TERM_GRACE_MS = 10_000;
const KILL_GRACE_MS = 5_000;

function throwIfInterrupted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new InterruptedError(signal.reason === "SIGTERM" ? "SIGTERM" : "SIGINT");
}

/** Why a run gave nothing usable, in a few words. */
function runFailure(result: RunResult): string {
  if (result.startError) return `could not be run (${result.startError})`;
  if (result.timedOut) return "timed out";
  if (result.aborted) return "was aborted";
  const text = foldExcerpt(result.stderr || result.stdout, 160);
  if (result.exitCode !== 0)
    return `failed (exit ${result.exitCode ?? result.signal})${text ? `: ${text}` : ""}`;
  return `printed no version${text ? `: ${text}` : ""}`;
}

function statusOf(result: RunResult): GatewayStatus | null {
  if (result.startError || result.timedOut || result.aborted) return null;
  return parseStatus({ stdout: result.stdout, stderr: result.stderr, exitCode: result.exitCode ?? 1 });
}

/** The marker records the realpath, unless that would lose the `openshell-gateway` basename the marker rules require. */
function markerBinaryPath(bin: string): string {
  try {
    const real = fs.realpathSync(bin);
    return isGatewayBinaryPath(real) ? real : bin;
  } catch {
    return bin;
  }
}

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

/** A step after the launch failed: the launched gateway is stopped and the run reports "failed". */
class StartFailure extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = "StartFailure";
  }
}

interface Installed {
  openshell: OpenShellCli;
  version: string;
  binary: string;
}

export async function runOnboard(ctx: Context, options: OnboardOptions): Promise<OnboardReport> {
  const installed = await checkInstalledVersions(ctx, options);
  throwIfInterrupted(options.signal);
  const { lock } = takeMaintenanceLock(ctx, "onboard");
  try {
    return await onboardUnderLock(ctx, options, installed);
  } finally {
    lock.release();
  }
}

/**
 * Step 1: the installed CLI version and the gateway binary `onboard` would launch — by the
 * fallback order, never the marker (the marker names what runs now, not what is installed).
 */
async function checkInstalledVersions(ctx: Context, options: OnboardOptions): Promise<Installed> {
  const { settings } = ctx;
  const started = ctx.clock();
  const found = resolveOpenshellBinary({
    override: settings.openshellBinOverride,
    pathEnv: ctx.env.PATH ?? "",
    home: settings.paths.home,
  });
  if (!found.ok) throw new EnvironmentError("openshell_not_found", found.reason);
  const openshell = new OpenShellCli({
    runner: ctx.runner,
    bin: found.path,
    env: ctx.probeEnv,
    timeoutMs: settings.probeTimeoutMs,
    signal: options.signal,
  });
  const binary = resolveFallbackGatewayBinary({
    override: settings.gatewayBinOverride,
    openshellPath: found.path,
    home: settings.paths.home,
  });
  options.onProgress?.({ kind: "step", message: "Checking the installed OpenShell and its gateway binary" });
  const [cliRun, binaryRun] = await Promise.all([
    openshell.version(),
    binary.ok
      ? ctx.runner.run(binary.path, ["--version"], {
          env: ctx.probeEnv,
          timeoutMs: settings.probeTimeoutMs,
          signal: options.signal,
        })
      : Promise.resolve(null),
  ]);
  throwIfInterrupted(options.signal);

  const version = cliRun.exitCode === 0 ? parseVersionOutput(cliRun.stdout, "openshell") : null;
  if (version === null) {
    throw new EnvironmentError(
      "openshell_version_unreadable",
      `cannot read the installed OpenShell version: \`${found.path} --version\` ${runFailure(cliRun)}`,
    );
  }
  if (!binary.ok || binaryRun === null) {
    throw new EnvironmentError(
      "gateway_binary_not_found",
      `${binary.ok ? "openshell-gateway not found" : binary.reason}; reinstall OpenShell (it ships openshell-gateway beside openshell)`,
    );
  }
  const binaryVersion =
    binaryRun.exitCode === 0 ? parseVersionOutput(binaryRun.stdout, "openshell-gateway") : null;
  if (binaryVersion === null) {
    throw new EnvironmentError(
      "gateway_binary_unreadable",
      `cannot read the version of ${binary.path}: \`--version\` ${runFailure(binaryRun)}; refusing to launch a gateway of unknown version`,
    );
  }
  if (!versionsEqual(binaryVersion, version)) {
    const ms = Math.round(ctx.clock() - started);
    const evidence: Evidence[] = [
      { probe: "openshell-version", ok: true, value: { path: found.path, version }, ms: cliRun.durationMs },
      {
        probe: "gateway-binary-version",
        ok: true,
        value: { path: binary.path, source: binary.source, version: binaryVersion },
        ms: binaryRun.durationMs,
      },
    ];
    const preflight: Preflight = {
      verdict: "drift",
      issue: {
        kind: "host_process_drift",
        foundVersion: binaryVersion,
        expectedVersion: version,
        source: binary.path,
      },
      installedVersion: version,
      gateway: { mode: "host-process", binary: binary.path, binarySource: binary.source, binaryVersion },
      evidence,
      durationMs: ms,
    };
    throw new PreflightRefusal(
      "gateway_drift",
      `gateway binary ${binary.path} is OpenShell ${binaryVersion}, the installed CLI is ${version}: reinstall OpenShell so that both have the same version`,
      preflight,
      binaryMismatchLines({ installedVersion: version, binary: binary.path, binaryVersion }),
    );
  }
  return { openshell, version, binary: binary.path };
}

function portInUseError(
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

/** What the steps of one onboard share. */
interface OnboardRun {
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

type Stopped = OnboardResult["stopped"];

/**
 * docs/design.md, "onboard" steps 2–4 under the lock: retire the marker's gateway (or find it
 * already healthy), make sure the port is free, launch, then confirm it (marker, registration,
 * readiness); a start that fails leaves nothing running and no marker behind.
 */
async function onboardUnderLock(
  ctx: Context,
  options: OnboardOptions,
  installed: Installed,
): Promise<OnboardReport> {
  const { paths, gatewayPort: port } = ctx.settings;
  const stateDir = paths.gatewayStateDir;
  const endpoint = gatewayEndpoint(port);
  try {
    ensurePrivateDir(stateDir);
  } catch (error) {
    throw new EnvironmentError(
      "gateway_state_dir_unusable",
      `cannot use the gateway state directory: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  const desiredEnv = gatewayLaunchEnv(port, stateDir);
  const run: OnboardRun = {
    ctx,
    options,
    installed,
    port,
    stateDir,
    endpoint,
    desiredEnv,
    envHash: desiredEnvHash(desiredEnv),
    warnings: [],
    progress: options.onProgress ?? (() => {}),
    base: { gatewayName: options.gatewayName, version: installed.version, endpoint },
  };
  const retired = await retireMarkerGateway(run);
  if ("healthy" in retired) return retired.healthy;
  const { stopped } = retired;
  throwIfInterrupted(options.signal);
  const free = await checkPortFree(port);
  if (!free.free) {
    throw portInUseError(
      port,
      findPortHolder(port, ctx.procRoot),
      free.code,
      stopped ? ` (the previous gateway, pid ${stopped.pid}, was stopped)` : "",
    );
  }
  return launchAndConfirm(run, stopped);
}

/**
 * Step 2: the gateway the marker describes, if it is really running. Already healthy and ours →
 * the idempotent report; otherwise (with --resume) it is stopped — by pid, after its identity was
 * checked again — and the marker removed. A stale or unusable marker is discarded.
 */
async function retireMarkerGateway(
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

/** Step 3: launch the binary detached with exactly the launch environment. */
async function launchAndConfirm(run: OnboardRun, stopped: Stopped): Promise<OnboardReport> {
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
  let failure: { code: string; message: string } | null = null;
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
    // The readiness poll can see the process gone (a zombie) before its exit status arrived.
    if (readiness.phase === "exited")
      await Promise.race([launched.exited, new Promise<void>((resolve) => setTimeout(resolve, 500).unref())]);
    failure =
      readiness.phase === "exited"
        ? {
            code: "gateway_exited",
            message: `gateway '${gatewayName}' (pid ${pid}) ${describeExit(launched)} before it was confirmed ready`,
          }
        : {
            code: "gateway_start_timeout",
            message: `gateway '${gatewayName}' (pid ${pid}) was not ready within ${settings.gatewayStartTimeoutMs} ms (last check: ${readiness.problem})`,
          };
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

/**
 * `openshell gateway add <endpoint> --name <gw>` (an existing registration is fine when it points
 * at our endpoint; one pointing elsewhere is re-pointed), then `openshell gateway select <gw>`.
 */
async function registerGateway(
  openshell: OpenShellCli,
  gatewayName: string,
  endpoint: string,
  warnings: string[],
  progress: (event: OnboardProgress) => void,
): Promise<void> {
  progress({ kind: "step", message: `Registering gateway '${gatewayName}' at ${endpoint}` });
  const fail = (what: string, result: RunResult) =>
    new StartFailure("gateway_register_failed", `\`openshell ${what}\` ${runFailure(result)}`);
  const add = await openshell.gatewayAdd(endpoint, gatewayName);
  if (add.aborted) return;
  if (add.exitCode !== 0) {
    if (!/already exists/i.test(stripAnsi(`${add.stderr}\n${add.stdout}`))) throw fail("gateway add", add);
    const info = await openshell.gatewayInfo(gatewayName);
    const registered = info.exitCode === 0 ? parseGatewayInfo(info.stdout).endpoint : undefined;
    if (registered !== undefined && !sameEndpoint(registered, endpoint)) {
      const removed = await openshell.gatewayRemove(gatewayName);
      if (removed.exitCode !== 0) throw fail("gateway remove", removed);
      const again = await openshell.gatewayAdd(endpoint, gatewayName);
      if (again.exitCode !== 0) throw fail("gateway add", again);
      warnings.push(
        `Gateway '${gatewayName}' was registered at ${registered}; it now points at ${endpoint}.`,
      );
    }
  }
  const select = await openshell.gatewaySelect(gatewayName);
  if (select.aborted) return;
  if (select.exitCode !== 0) throw fail("gateway select", select);
}

/**
 * Step 4: poll `openshell status -g <gw>` until the readiness rule of docs/design.md, "onboard" holds, the launched
 * process exits (noticed at once: its exit aborts the poll in flight), or the deadline passes.
 */
async function waitUntilHealthy(
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
