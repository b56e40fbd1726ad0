import { desiredEnvHash } from "../adapters/gateway-process.js";
import { checkPortFree, findPortHolder } from "../adapters/port-probe.js";
import { ensurePrivateDir } from "../adapters/runtime-marker.js";
import type { Context } from "../context.js";
import { EnvironmentError } from "../domain/errors.js";
import { gatewayEndpoint, gatewayLaunchEnv } from "../domain/gateway-launch.js";
import { takeMaintenanceLock } from "./maintenance.js";
import { checkInstalledVersions } from "./onboard/installed-versions.js";
import { launchAndConfirm } from "./onboard/launch-gateway.js";
import {
  type Installed,
  type OnboardOptions,
  type OnboardReport,
  type OnboardRun,
  throwIfInterrupted,
} from "./onboard/onboard-run.js";
import { portInUseError, retireMarkerGateway } from "./onboard/retire-marker-gateway.js";

export type {
  OnboardAction,
  OnboardOptions,
  OnboardProgress,
  OnboardReport,
  OnboardResult,
} from "./onboard/onboard-run.js";

/**
 * `nemoclaw onboard [--resume]` (docs/design.md, "onboard"): (re)start the host-process gateway
 * with the installed OpenShell version and wait until it is really healthy.
 *
 * Order matters for safety:
 * 1. read-only checks first (CLI version, the fallback-order gateway binary and its version): a
 *    binary that differs from the CLI is refused before anything is touched (exit 3);
 * 2. everything that mutates runs under the maintenance lock;
 * 3. only a process that passes the identity check of docs/design.md, "Binary resolution and
 *    identity" (re-checked, with its start time, right before every signal) is ever stopped; a stale marker naming someone else's pid is dropped,
 *    its process left alone;
 * 4. after a launch, any failure stops what was launched and removes the marker and pid file, so
 *    no marker is ever left pointing at a dead process.
 *
 * The stages live in ./onboard/, one file each: installed-versions.ts (step 1),
 * retire-marker-gateway.ts (step 2), launch-gateway.ts with register-gateway.ts and
 * readiness-wait.ts (steps 3–4); onboard-run.ts holds what they share.
 */

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
