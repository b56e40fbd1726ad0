import { resolveFallbackGatewayBinary, resolveOpenshellBinary } from "../../adapters/gateway-binary.js";
import { OpenShellCli } from "../../adapters/openshell-cli.js";
import { parseVersionOutput } from "../../adapters/openshell-output.js";
import type { Context } from "../../context.js";
import { EnvironmentError, PreflightRefusal } from "../../domain/errors.js";
import { binaryMismatchLines } from "../../domain/onboard-diagnostics.js";
import type { Evidence, Preflight } from "../../domain/preflight-types.js";
import { versionsEqual } from "../../domain/versions.js";
import { type Installed, type OnboardOptions, runFailure, throwIfInterrupted } from "./onboard-run.js";

/**
 * Step 1: the installed CLI version and the gateway binary `onboard` would launch — by the
 * fallback order, never the marker (the marker names what runs now, not what is installed).
 */
export async function checkInstalledVersions(ctx: Context, options: OnboardOptions): Promise<Installed> {
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
