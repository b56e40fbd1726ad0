import type {
  GatewayFacts,
  GatewayMode,
  GatewayStatus,
  PreflightIssue,
  ResolvedGatewayBinary,
  VerdictInput,
  VerdictResult,
} from "./preflight-types.js";
import { clusterImageVersion, compareVersions } from "./versions.js";

/**
 * The gateway schema preflight verdict (docs/design.md, "The preflight decision"), from evidence already gathered.
 *
 * Guiding rule: only evidence that describes the gateway actually serving `<gw>` may cause or
 * clear drift. A stopped (or unrelated) leftover cluster container says nothing about the gateway
 * in use, a `status` for another gateway name says nothing about ours, and the runtime marker's
 * `openshellVersion` is the CLI version at launch time — never a gateway version.
 */

export const MISSING_INSTALLED_VERSION = "installed OpenShell version (`openshell --version`)";

// Defaults must match the URL scheme's implicit port: `gateway info` prints the endpoint as
// registered, which may omit the port.
const DEFAULT_PORTS: Record<string, number> = {
  "http:": 80,
  "ws:": 80,
  "grpc:": 80,
  "https:": 443,
  "wss:": 443,
  "grpcs:": 443,
};

/** Port of a gateway endpoint URL (`http://127.0.0.1:8080` → 8080; scheme default when absent). */
export function endpointPort(endpoint: string): number | null {
  const text = endpoint.trim();
  if (text === "") return null;
  // Without a scheme, `localhost:8080` would parse as scheme "localhost:".
  const withScheme = text.includes("://") ? text : `http://${text}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    return null;
  }
  if (url.port !== "") {
    const port = Number(url.port);
    return Number.isInteger(port) && port > 0 && port <= 65535 ? port : null;
  }
  return DEFAULT_PORTS[url.protocol.toLowerCase()] ?? null;
}

function connectedUnder(status: GatewayStatus | null, gatewayName: string, allowUnnamed: boolean): boolean {
  if (status === null || status.state !== "connected") return false;
  if (status.gatewayName === undefined) return allowUnnamed;
  return status.gatewayName === gatewayName;
}

/** A version compare that treats anything unreadable as "cannot tell" rather than as a difference. */
function differs(found: string | null | undefined, expected: string | null): boolean {
  if (found == null || expected === null) return false;
  const c = compareVersions(found, expected);
  return c !== null && c !== 0;
}

function readable(version: string | null | undefined): version is string {
  return version != null && compareVersions(version, version) !== null;
}

export function decideVerdict(input: VerdictInput): VerdictResult {
  const { gatewayName, status, info, cluster, hostBinary, fallbackBinary } = input;
  const installed = readable(input.installedVersion) ? input.installedVersion : null;

  // Served version: only a connected status for this gateway (an unnamed status block is
  // accepted: some OpenShell versions omit the Gateway line) — a status of another gateway or
  // a failed status tells nothing about what `<gw>` serves.
  const connectedHere = connectedUnder(status, gatewayName, true);
  const statusVersion = connectedHere && readable(status?.version) ? status?.version : undefined;
  // `gateway info` (≥ 0.0.85) asks the gateway too: its Version is a served version when
  // `status` gave none (and it does not describe a gateway it calls unhealthy).
  const infoVersion =
    readable(info?.version) && (info?.status === undefined || /healthy|connected/i.test(info.status))
      ? info?.version
      : undefined;
  const servedVersion = statusVersion ?? infoVersion;
  const servedSource = statusVersion !== undefined ? "`openshell status`" : "`openshell gateway info`";

  // Cluster activity needs the stricter, named match: the port check below only means something
  // when we know the status describes `<gw>`.
  const endpoint = info?.endpoint ?? status?.server;
  const port = endpoint === undefined ? null : endpointPort(endpoint);
  const clusterActive =
    cluster?.running &&
    connectedUnder(status, gatewayName, false) &&
    port !== null &&
    cluster.hostPorts.includes(port);

  let mode: GatewayMode;
  if (clusterActive) mode = "cluster";
  else if (hostBinary !== null || connectedHere) mode = "host-process";
  else mode = "none";

  // Evidence of what serves `<gw>` (docs/design.md, "The preflight decision"): a served version, a
  // running cluster container whose port the connected gateway uses, or a live runtime marker
  // whose process identity checked out. A binary merely found on disk (sibling or install
  // path) says nothing about which process serves: without such evidence the verdict is unknown.
  // A name `openshell` does not know (`status -g <gw>`: `No gateway configured.`) is served by
  // nothing nemoclaw can reach, whatever a runtime marker says about the port's gateway process.
  const notRegistered = status?.state === "no-gateway";
  const markerVouches = hostBinary?.source === "runtime-marker" && !notRegistered;
  const servingEvidence = servedVersion !== undefined || Boolean(clusterActive) || markerVouches;

  const gateway: GatewayFacts = { mode };
  let imageVersion: string | null = null;
  if (mode === "cluster" && cluster !== null) {
    gateway.image = cluster.image;
    imageVersion = clusterImageVersion(cluster.image);
    if (imageVersion !== null) gateway.imageVersion = imageVersion;
  }
  if (mode === "host-process" && hostBinary !== null) {
    gateway.binary = hostBinary.path;
    gateway.binarySource = hostBinary.source;
    if (hostBinary.version !== null) gateway.binaryVersion = hostBinary.version;
  }
  if (servedVersion !== undefined) gateway.servedVersion = servedVersion;

  const binaryVersion =
    mode === "host-process" && readable(hostBinary?.version) ? hostBinary?.version : undefined;

  const issues: PreflightIssue[] = [];
  if (installed !== null) {
    if (mode === "cluster" && cluster !== null && differs(imageVersion, installed)) {
      issues.push({
        kind: "image_drift",
        foundVersion: imageVersion ?? undefined,
        expectedVersion: installed,
        source: `cluster image ${cluster.image}`,
      });
    }
    if (
      mode === "host-process" &&
      hostBinary !== null &&
      servingEvidence &&
      differs(binaryVersion, installed)
    ) {
      issues.push({
        kind: "host_process_drift",
        foundVersion: binaryVersion,
        expectedVersion: installed,
        source: `gateway binary ${hostBinary.path}`,
      });
    }
    if (differs(servedVersion, installed)) {
      issues.push({
        kind: "served_version_drift",
        foundVersion: servedVersion,
        expectedVersion: installed,
        source: servedSource,
      });
    }
  }

  const reinstallAdvised = launchCandidateDrifted(hostBinary, fallbackBinary, installed);

  const [primary] = issues;
  if (primary !== undefined) {
    return { verdict: "drift", issue: primary, issues, gateway, missing: [], reinstallAdvised };
  }

  const missing: string[] = [];
  if (installed === null) missing.push(MISSING_INSTALLED_VERSION);
  const gatewayVersions = [mode === "cluster" ? imageVersion : null, binaryVersion, servedVersion].filter(
    readable,
  );
  if (!servingEvidence) missing.push(describeMissingServingEvidence(input));
  else if (gatewayVersions.length === 0) missing.push(describeMissingGatewayVersion(mode, input));

  if (missing.length > 0) {
    return { verdict: "unknown", issues: [], gateway, missing, reinstallAdvised };
  }
  return { verdict: "compatible", issues: [], gateway, missing: [], reinstallAdvised };
}

/**
 * `onboard --resume` launches the fallback-order binary. When that binary is itself drifted,
 * advising onboard would relaunch a drifted gateway and the advice would loop: say "reinstall".
 * A hostBinary that did not come from the runtime marker came from the fallback order, so it is
 * that binary (fallbackBinary is only supplied when it differs from hostBinary).
 */
function launchCandidateDrifted(
  hostBinary: ResolvedGatewayBinary | null,
  fallbackBinary: ResolvedGatewayBinary | null,
  installed: string | null,
): boolean {
  const candidates = [fallbackBinary, hostBinary?.source === "runtime-marker" ? null : hostBinary];
  return candidates.some((candidate) => candidate != null && differs(candidate.version, installed));
}

function describeMissingServingEvidence(input: VerdictInput): string {
  const why =
    input.status?.state === "no-gateway"
      ? `gateway '${input.gatewayName}' is not registered with openshell (\`openshell status -g ${input.gatewayName}\`: No gateway configured.; run \`nemoclaw onboard\`)`
      : input.status?.state === "unreachable"
        ? "`openshell status` could not reach it"
        : "`openshell status` reported no version";
  const binary = input.hostBinary
    ? `; the binary on disk (${input.hostBinary.path}) does not show what serves`
    : "";
  return `the version of the gateway serving '${input.gatewayName}' (${why}, and no live runtime marker vouches for a gateway process${binary})`;
}

function describeMissingGatewayVersion(mode: GatewayMode, input: VerdictInput): string {
  if (mode === "cluster" && input.cluster !== null) {
    return `gateway version (the cluster image \`${input.cluster.image}\` carries no readable version, and \`openshell status\` reported none)`;
  }
  if (mode === "host-process" && input.hostBinary !== null) {
    return `gateway version (\`${input.hostBinary.path} --version\` could not be read, and \`openshell status\` reported none)`;
  }
  return "gateway version (no running gateway reported one, and no gateway binary could be probed)";
}
