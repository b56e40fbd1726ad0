import { realpathSync } from "node:fs";
import path from "node:path";
import { inspectClusterContainer } from "../adapters/docker.js";
import { classifyDockerError, parseDockerInspect } from "../adapters/docker-output.js";
import {
  fallbackGatewayBinaryCandidates,
  resolveFallbackGatewayBinary,
  resolveMarkerGatewayBinary,
  resolveOpenshellBinary,
} from "../adapters/gateway-binary.js";
import { OpenShellCli } from "../adapters/openshell-cli.js";
import { parseGatewayInfo, parseStatus, parseVersionOutput } from "../adapters/openshell-output.js";
import { LIFECYCLE_KILL_MARGIN_MS, type RunResult } from "../adapters/process-runner.js";
import type { Context } from "../context.js";
import { preflightRefusalLines, unknownWarningLines } from "../domain/diagnostics.js";
import { EnvironmentError, PreflightRefusal } from "../domain/errors.js";
import { decideVerdict } from "../domain/gateway-verdict.js";
import type {
  ClusterContainer,
  Evidence,
  GatewayInfo,
  GatewayStatus,
  Preflight,
  ResolvedGatewayBinary,
  VerdictResult,
} from "../domain/preflight-types.js";
import { isKnownPhase } from "../domain/sandbox-phases.js";
import { classifyOpenShellFailure, foldExcerpt } from "../domain/schema-mismatch.js";

export interface PreflightReport {
  preflight: Preflight;
  verdict: VerdictResult;
  /** The `openshell` CLI the preflight used; later state queries go through the same one. */
  openshell: OpenShellCli;
  gatewayName: string;
  /** The record on the Context (its warnings are filled in by enforcePreflight). */
  ran?: { preflight: Preflight; warnings: string[] };
}

export interface PreflightPolicy {
  /** `<action>` of the diagnostic of docs/design.md, "Diagnostic text" ("backing up registered sandboxes", …). */
  action: string;
  /** The exact command to rerun, for the recovery text. */
  rerunCommand: string;
  strict: boolean;
}

interface Probed<T> {
  evidence: Evidence;
  data: T;
}

/** Times one probe and turns its outcome into published evidence; a probe never throws. */
async function probe<T>(
  clock: () => number,
  name: string,
  fn: () => Promise<{ data: T; ok: boolean; value?: unknown; reason?: string }>,
): Promise<Probed<T | null>> {
  const started = clock();
  try {
    const { data, ok, value, reason } = await fn();
    const evidence: Evidence = { probe: name, ok, ms: Math.round(clock() - started) };
    if (value !== undefined) evidence.value = value;
    if (reason !== undefined) evidence.reason = reason;
    return { evidence, data };
  } catch (error) {
    return {
      evidence: {
        probe: name,
        ok: false,
        reason: error instanceof Error ? error.message : String(error),
        ms: Math.round(clock() - started),
      },
      data: null,
    };
  }
}

/** Why a run produced nothing usable, in a few words for the evidence list. */
function failureReason(result: RunResult, timeoutMs: number): string {
  if (result.startError) return `could not run ${path.basename(result.file)}: ${result.startError}`;
  if (result.timedOut) return `timed out after ${timeoutMs} ms (process group killed)`;
  if (result.aborted) return "aborted";
  const text = foldExcerpt(result.stderr || result.stdout, 200);
  const excerpt = classifyOpenShellFailure({
    stdout: result.stdout,
    stderr: result.stderr,
    exitCode: 1,
  })?.excerpt;
  return `exit ${result.exitCode ?? result.signal}${excerpt || text ? `: ${(excerpt ?? text).slice(0, 200)}` : ""}`;
}

async function probeBinaryVersion(
  ctx: Context,
  binary: { path: string; source: ResolvedGatewayBinary["source"] },
  signal?: AbortSignal,
): Promise<{ data: ResolvedGatewayBinary; ok: boolean; value?: unknown; reason?: string }> {
  const timeoutMs = ctx.settings.probeTimeoutMs;
  const result = await ctx.runner.run(binary.path, ["--version"], { env: ctx.probeEnv, timeoutMs, signal });
  const version = result.exitCode === 0 ? parseVersionOutput(result.stdout, "openshell-gateway") : null;
  const data: ResolvedGatewayBinary = { path: binary.path, source: binary.source, version };
  if (version) return { data, ok: true, value: { path: binary.path, source: binary.source, version } };
  return {
    data,
    ok: false,
    value: { path: binary.path, source: binary.source },
    reason: result.exitCode === 0 ? "no version in `--version` output" : failureReason(result, timeoutMs),
  };
}

/**
 * Gathers the evidence of docs/design.md, "Evidence probes" concurrently — every probe bounded by the probe timeout — and
 * decides the verdict. Read-only: it starts, stops, selects and writes nothing. Throws only
 * when `openshell` itself cannot be found (exit 4); every other failure is evidence.
 */
export async function runPreflight(
  ctx: Context,
  gatewayName: string,
  signal?: AbortSignal,
): Promise<PreflightReport> {
  const started = ctx.clock();
  const { settings } = ctx;
  const timeoutMs = settings.probeTimeoutMs;
  const found = resolveOpenshellBinary({
    override: settings.openshellBinOverride,
    pathEnv: ctx.env.PATH ?? "",
    home: settings.paths.home,
  });
  if (!found.ok) {
    throw new EnvironmentError("openshell_not_found", found.reason);
  }
  const openshell = new OpenShellCli({
    runner: ctx.runner,
    bin: found.path,
    env: ctx.probeEnv,
    timeoutMs,
    lifecycleTimeoutMs: settings.sandboxReadyTimeoutMs + LIFECYCLE_KILL_MARGIN_MS,
    signal,
  });

  const fallbackOptions = {
    override: settings.gatewayBinOverride,
    openshellPath: found.path,
    home: settings.paths.home,
  };

  const [installed, status, info, cluster, hostBinary] = await Promise.all([
    probe(ctx.clock, "openshell-version", async () => {
      const r = await openshell.version();
      const version = r.exitCode === 0 ? parseVersionOutput(r.stdout, "openshell") : null;
      return version
        ? { data: version, ok: true, value: { path: found.path, version } }
        : { data: null, ok: false, reason: failureReason(r, timeoutMs) };
    }),
    probe(ctx.clock, "gateway-status", async () => {
      const r = await openshell.status(gatewayName);
      if (r.startError || r.timedOut || r.aborted) {
        return { data: null as GatewayStatus | null, ok: false, reason: failureReason(r, timeoutMs) };
      }
      const parsed = parseStatus({ stdout: r.stdout, stderr: r.stderr, exitCode: r.exitCode ?? 1 });
      const ok = parsed.state === "connected";
      return { data: parsed, ok, value: parsed, ...(ok ? {} : { reason: `gateway ${parsed.state}` }) };
    }),
    probe(ctx.clock, "gateway-info", async () => {
      const r = await openshell.gatewayInfo(gatewayName);
      if (r.exitCode !== 0)
        return { data: null as GatewayInfo | null, ok: false, reason: failureReason(r, timeoutMs) };
      const parsed = parseGatewayInfo(r.stdout);
      return { data: parsed, ok: Boolean(parsed.endpoint), value: parsed };
    }),
    probe(ctx.clock, "cluster-container", async () => {
      const r = await inspectClusterContainer(ctx.runner, gatewayName, ctx.probeEnv, timeoutMs, signal);
      if (r.exitCode === 0) {
        const container = parseDockerInspect(r.stdout, `openshell-cluster-${gatewayName}`);
        return container
          ? { data: container as ClusterContainer | null, ok: true, value: container }
          : { data: null, ok: false, reason: "unrecognised docker inspect output" };
      }
      if (r.startError) return { data: null, ok: false, reason: "docker client not found" };
      const kind = r.timedOut ? "timeout" : classifyDockerError(r.stderr);
      // No such container is a definite, healthy answer: this host has no legacy cluster.
      return kind === "no-such-container"
        ? { data: null, ok: true, value: { present: false } }
        : {
            data: null,
            ok: false,
            reason: kind === "daemon-unavailable" ? "docker daemon unavailable" : failureReason(r, timeoutMs),
          };
    }),
    probeHostBinaries(ctx, fallbackOptions, signal),
  ]);

  const verdictInput = {
    gatewayName,
    installedVersion: installed.data,
    status: status.data,
    info: info.data,
    cluster: cluster.data,
    hostBinary: hostBinary.host,
    fallbackBinary: hostBinary.fallback,
  };
  const verdict = decideVerdict(verdictInput);
  const preflight: Preflight = {
    verdict: verdict.verdict,
    ...(verdict.issue ? { issue: verdict.issue } : {}),
    installedVersion: installed.data,
    gateway: verdict.gateway,
    evidence: [installed.evidence, status.evidence, info.evidence, cluster.evidence, ...hostBinary.evidence],
    durationMs: Math.round(ctx.clock() - started),
    ...(verdict.missing.length ? { missing: verdict.missing } : {}),
  };
  const ran = { preflight, warnings: [] as string[] };
  ctx.preflightRan = ran;
  return { preflight, verdict, openshell, gatewayName, ran };
}

/**
 * The host-process gateway binary: the trusted marker's (identity-checked) when there is one,
 * and always the fallback-order binary too — it is what `onboard --resume` would launch, so
 * its version decides whether the recovery advice is "onboard" or "reinstall". Both version
 * probes run concurrently with everything else.
 */
async function probeHostBinaries(
  ctx: Context,
  fallbackOptions: Parameters<typeof resolveFallbackGatewayBinary>[0],
  signal?: AbortSignal,
): Promise<{
  host: ResolvedGatewayBinary | null;
  fallback: ResolvedGatewayBinary | null;
  evidence: Evidence[];
}> {
  const markerStarted = ctx.clock();
  const marker = resolveMarkerGatewayBinary({
    markerPath: ctx.settings.paths.runtimeMarker,
    procRoot: ctx.procRoot,
  });
  const markerEvidence: Evidence = marker.ok
    ? {
        probe: "runtime-marker",
        ok: true,
        value: { gatewayBin: marker.path, pid: marker.pid, via: marker.via },
        ms: 0,
      }
    : { probe: "runtime-marker", ok: false, reason: marker.reason, ms: 0 };
  markerEvidence.ms = Math.round(ctx.clock() - markerStarted);

  const fallback = resolveFallbackGatewayBinary(fallbackOptions);
  // The usual healthy case: the marker's binary is the one the fallback order finds too.
  // Probe it once.
  const sameBinary = marker.ok && fallback.ok && sameFile(marker.path, fallback.path);
  const [markerProbe, fallbackProbe] = await Promise.all([
    marker.ok
      ? probe(ctx.clock, "gateway-binary-version", () =>
          probeBinaryVersion(ctx, { path: marker.path, source: "runtime-marker" }, signal),
        )
      : null,
    fallback.ok && !sameBinary
      ? probe(ctx.clock, marker.ok ? "fallback-gateway-binary-version" : "gateway-binary-version", () =>
          probeBinaryVersion(ctx, { path: fallback.path, source: fallback.source }, signal),
        )
      : null,
  ]);
  const evidence = [markerEvidence];
  if (markerProbe) evidence.push(markerProbe.evidence);
  if (fallbackProbe) evidence.push(fallbackProbe.evidence);
  if (!fallback.ok) {
    evidence.push({
      probe: marker.ok ? "fallback-gateway-binary" : "gateway-binary-version",
      ok: false,
      reason: `${fallback.reason} (looked in: ${fallbackGatewayBinaryCandidates(fallbackOptions)
        .map((c) => c.path)
        .join(", ")})`,
      ms: 0,
    });
  }
  const markerResult = markerProbe?.data ?? null;
  let fallbackResult = fallbackProbe?.data ?? null;
  if (sameBinary && markerResult && fallback.ok)
    fallbackResult = { ...markerResult, source: fallback.source };
  return {
    host: markerResult ?? fallbackResult,
    fallback: marker.ok ? fallbackResult : null,
    evidence,
  };
}

function sameFile(a: string, b: string): boolean {
  try {
    return realpathSync(a) === realpathSync(b);
  } catch {
    return false;
  }
}

/**
 * Applies the verdict: drift (or unknown under --strict) → PreflightRefusal (exit 3) carrying
 * the diagnostic of docs/design.md, "Diagnostic text"; unknown → warning lines for the caller to show; compatible → none.
 */
export function enforcePreflight(report: PreflightReport, policy: PreflightPolicy): { warnings: string[] } {
  const { preflight, verdict, gatewayName } = report;
  const base = {
    action: policy.action,
    rerunCommand: policy.rerunCommand,
    gatewayName,
    installedVersion: preflight.installedVersion,
    gateway: preflight.gateway,
    issues: verdict.issues,
    reinstallAdvised: verdict.reinstallAdvised,
  };
  if (verdict.verdict === "drift") {
    const lines = preflightRefusalLines(base);
    throw new PreflightRefusal("gateway_drift", refusalMessage(report), preflight, lines);
  }
  if (verdict.verdict === "unknown") {
    if (policy.strict) {
      const lines = preflightRefusalLines({ ...base, strictUnknown: { missing: verdict.missing } });
      throw new PreflightRefusal(
        "preflight_unknown",
        `gateway compatibility unknown under --strict: could not read ${verdict.missing.join("; ")}`,
        preflight,
        lines,
      );
    }
    const warnings = unknownWarningLines(verdict.missing);
    report.ran?.warnings.push(...warnings);
    return { warnings };
  }
  return { warnings: [] };
}

function refusalMessage(report: PreflightReport): string {
  const issue = report.verdict.issue;
  const installed = report.preflight.installedVersion ?? "unknown";
  if (!issue) return "OpenShell gateway schema preflight failed";
  const kind = issue.kind.replaceAll("_", " ");
  return `${kind}: installed OpenShell ${installed}, gateway ${issue.foundVersion ?? "unknown"}${
    issue.source ? ` (${issue.source})` : ""
  }`;
}

export interface ReactiveContext extends PreflightPolicy {
  report: PreflightReport;
  /** Set once a mutating step has run: changes the diagnostic's preservation wording. */
  modified?: { sandbox: string; backupPath: string; restoreCommand: string };
  /** What was queried, for the unreachable message ("sandbox list"). */
  query: string;
}

/**
 * The reactive check of docs/design.md, "The preflight decision", applied to every OpenShell state query after the preflight:
 * a schema mismatch refuses (exit 3, with the drift attached when one was resolved), a
 * connection failure is "gateway unreachable" (exit 4). Returns normally only when the query
 * neither mismatched nor failed to connect; other failures are the caller's to interpret —
 * but never as "stopped" or "missing".
 */
export function checkStateQuery(
  result: RunResult,
  reactive: ReactiveContext,
): ReturnType<typeof classifyOpenShellFailure> {
  if (result.startError) {
    throw new EnvironmentError(
      "openshell_failed",
      `could not run openshell for ${reactive.query}: ${result.startError}`,
    );
  }
  if (result.timedOut) {
    throw new EnvironmentError(
      "gateway_unreachable",
      `OpenShell gateway did not answer \`${reactive.query}\` within the timeout; sandbox state is unknown, nothing was changed by this query`,
    );
  }
  const failure = classifyOpenShellFailure({
    stdout: result.stdout,
    stderr: result.stderr,
    exitCode: result.exitCode ?? 1,
  });
  if (failure?.kind === "schema_mismatch") throw mismatchRefusal(failure.excerpt, reactive);
  if (failure?.kind === "unreachable") {
    throw new EnvironmentError(
      "gateway_unreachable",
      `OpenShell gateway '${reactive.report.gatewayName}' is unreachable (${reactive.query}): ${failure.excerpt}`,
    );
  }
  if (failure?.kind === "gateway_not_registered")
    throw notRegisteredError(reactive.report.gatewayName, failure.excerpt);
  return failure;
}

/** `openshell` does not know the gateway name (`× Unknown gateway 'NAME'.`): exit 4, advise onboard. */
export function notRegisteredError(gatewayName: string, excerpt: string): EnvironmentError {
  return new EnvironmentError(
    "gateway_not_registered",
    `OpenShell gateway '${gatewayName}' is not registered with this openshell CLI (${excerpt}); run \`nemoclaw onboard\` to start and register it`,
  );
}

/**
 * The reactive refusal (exit 3): the query's output shows the CLI and the gateway disagree on the
 * schema — a decode error, an Unimplemented RPC, or a phase outside the known set.
 */
export function mismatchRefusal(excerpt: string, reactive: ReactiveContext): PreflightRefusal {
  const { report } = reactive;
  const drift = report.verdict.issue;
  const issue = {
    kind: "protobuf_mismatch" as const,
    output: excerpt,
    ...(drift && drift.kind !== "protobuf_mismatch"
      ? { drift: drift.kind, foundVersion: drift.foundVersion, expectedVersion: drift.expectedVersion }
      : {}),
  };
  const preflight: Preflight = { ...report.preflight, verdict: "schema_mismatch", issue };
  const lines = preflightRefusalLines({
    action: reactive.action,
    rerunCommand: reactive.rerunCommand,
    gatewayName: report.gatewayName,
    installedVersion: report.preflight.installedVersion,
    gateway: report.preflight.gateway,
    issues: report.verdict.issues,
    reinstallAdvised: report.verdict.reinstallAdvised,
    reactive: { output: excerpt },
    modified: reactive.modified,
  });
  return new PreflightRefusal(
    "schema_mismatch",
    `OpenShell gateway/schema mismatch detected on \`${reactive.query}\`: ${excerpt}`,
    preflight,
    lines,
  );
}

/**
 * A phase outside the known set (`Unspecified` above all) in a `sandbox list` or `get`: the real
 * 0.0.52/0.0.53 protobuf drift is silent (exit 0, every phase `Unspecified`), so the phase itself
 * is the evidence. Refuses like any reactive mismatch.
 */
export function checkPhase(phase: string, reactive: ReactiveContext, output: string): void {
  if (isKnownPhase(phase)) return;
  const shown = phase.replace(/[^\x20-\x7e]/g, "?").slice(0, 40);
  throw mismatchRefusal(foldExcerpt(`unknown phase '${shown}': ${output}`), reactive);
}
