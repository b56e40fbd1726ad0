/**
 * Shared data model of the gateway schema preflight (docs/design.md, "JSON envelope" and "The preflight decision").
 * Pure types: parsers (adapters) produce them, the verdict (domain) consumes them,
 * renderers (output) print them. The JSON envelope's `preflight` member is `Preflight`.
 */

export type Verdict = "compatible" | "drift" | "unknown" | "schema_mismatch";
export type IssueKind = "image_drift" | "host_process_drift" | "served_version_drift" | "protobuf_mismatch";
export type GatewayMode = "cluster" | "host-process" | "none";
export type BinarySource = "runtime-marker" | "env" | "sibling" | "standard-path";

/** One probe's outcome, as published in `preflight.evidence`. */
export interface Evidence {
  probe: string;
  ok: boolean;
  value?: unknown;
  reason?: string;
  ms: number;
}

/** `openshell status` parsed. `state` is derived from the `Status:` line or the error form. */
export type GatewayConnectionState =
  | "connected" // "Connected" or "Connected (HTTP)"
  | "error" // "Status: Error"
  | "disconnected" // "Status: Disconnected"
  | "unreachable" // miette connect error (with or without the header on stdout)
  | "no-gateway" // "No gateway configured."
  | "unknown"; // anything we could not understand

export interface GatewayStatus {
  state: GatewayConnectionState;
  /** The exact text after `Status:` (ANSI stripped), e.g. "Connected (HTTP)". */
  statusText?: string;
  gatewayName?: string;
  server?: string;
  authentication?: string;
  /** Version the running gateway reports (its health RPC). */
  version?: string;
}

/** `openshell gateway info -g NAME` parsed (both the ≤0.0.84 and ≥0.0.85 forms). */
export interface GatewayInfo {
  gatewayName?: string;
  endpoint?: string;
  status?: string;
  version?: string;
}

/** `docker inspect --type container openshell-cluster-<gw>` parsed. */
export interface ClusterContainer {
  name: string;
  image: string;
  running: boolean;
  /** Published host ports, numeric, deduplicated. */
  hostPorts: number[];
}

export interface SandboxRow {
  name: string;
  /** Only printed by OpenShell ≤ 0.0.36. */
  namespace?: string;
  /** The leading WORKSPACE column of a CLI working in a workspace (OpenShell ≥ 0.0.88). */
  workspace?: string;
  /** `YYYY-MM-DD HH:MM:SS`, or null for `-`. */
  created: string | null;
  phase: string;
}

/** The host-process gateway binary the preflight settled on, with its probed version. */
export interface ResolvedGatewayBinary {
  /** Path as found (before symlink resolution); its basename is always `openshell-gateway`. */
  path: string;
  source: BinarySource;
  /** null when the `--version` probe failed, timed out or printed nothing parseable. */
  version: string | null;
}

/** Everything the verdict needs; each member is null when its probe failed or found nothing. */
export interface VerdictInput {
  gatewayName: string;
  installedVersion: string | null;
  status: GatewayStatus | null;
  info: GatewayInfo | null;
  cluster: ClusterContainer | null;
  /** From the trusted marker, else the fallback order. */
  hostBinary: ResolvedGatewayBinary | null;
  /** The binary the fallback order resolves (what `onboard --resume` would launch), when it differs from hostBinary. */
  fallbackBinary: ResolvedGatewayBinary | null;
}

export interface GatewayFacts {
  mode: GatewayMode;
  binary?: string;
  binarySource?: BinarySource;
  binaryVersion?: string;
  image?: string;
  imageVersion?: string;
  servedVersion?: string;
}

export interface PreflightIssue {
  kind: IssueKind;
  /** What the gateway side runs / reports (absent for a protobuf mismatch without a resolvable drift). */
  foundVersion?: string;
  expectedVersion?: string;
  /** Human description of where `foundVersion` came from (image ref, binary path, `openshell status`). */
  source?: string;
  /** For protobuf_mismatch: the OpenShell output excerpt (≤ 260 chars, whitespace folded). */
  output?: string;
  /** For protobuf_mismatch: the up-front drift that explains it, when one could be resolved. */
  drift?: Exclude<IssueKind, "protobuf_mismatch">;
}

export interface VerdictResult {
  verdict: Exclude<Verdict, "schema_mismatch">;
  issue?: PreflightIssue;
  /** Every drift found (primary first); `issue` is issues[0]. */
  issues: PreflightIssue[];
  gateway: GatewayFacts;
  /** For `unknown`: what could not be read, human words ("installed OpenShell version", …). */
  missing: string[];
  /** True when the drifted binary is the one `onboard --resume` would launch: advise reinstalling. */
  reinstallAdvised: boolean;
}

export interface Preflight {
  verdict: Verdict;
  issue?: PreflightIssue;
  installedVersion: string | null;
  gateway: GatewayFacts;
  evidence: Evidence[];
  durationMs: number;
  /** Not in the published minimum, but useful: what was missing for `unknown`. */
  missing?: string[];
}
