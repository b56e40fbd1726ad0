import { compareVersions } from "./versions.js";

/**
 * docs/design.md, "upgrade-sandboxes". `invalid` is a registry entry whose name may not be used
 * at all; `interrupted` / `in-progress` come from an open operations journal, whose sandbox's
 * live state cannot be trusted (never `current`).
 */
export type UpgradeStatus =
  | "current"
  | "stale"
  | "unknown"
  | "missing"
  | "invalid"
  | "interrupted"
  | "in-progress";

export interface ClassificationInput {
  /** The registry key, already validated (`valid`). */
  name: string;
  valid: boolean;
  agent: string | null;
  /** From the catalog; null when the agent is not in it. */
  expectedVersion: string | null;
  registryAgentVersion: string | null;
  registryNemoclawVersion: string | null;
  cliVersion: string;
  /** The gateway's phase for this sandbox; null when `sandbox list` does not show it. */
  phase: string | null;
  /** The live probe's answer (Ready sandboxes only); null when not probed or it failed. */
  probedVersion: string | null;
  /** Why the probe gave nothing, for the reason text. */
  probeProblem?: string;
}

export interface Classification {
  name: string;
  status: UpgradeStatus;
  reason: string;
  current: string | null;
  expected: string | null;
  phase: string | null;
  versionSource: "probe" | "registry" | null;
}

export function classifySandbox(input: ClassificationInput): Classification {
  const base = {
    name: input.name,
    current: null as string | null,
    expected: input.expectedVersion,
    phase: input.phase,
    versionSource: null as Classification["versionSource"],
  };
  if (!input.valid) return { ...base, status: "invalid", reason: "invalid sandbox name" };
  if (input.phase === null) {
    return {
      ...base,
      status: "missing",
      reason: "not listed by the gateway (not deleted: check `openshell sandbox list`)",
    };
  }
  if (input.expectedVersion === null) {
    return {
      ...base,
      status: "unknown",
      reason: `agent ${JSON.stringify(input.agent ?? "")} is not in the catalog`,
    };
  }
  const current = input.probedVersion ?? input.registryAgentVersion;
  const versionSource: Classification["versionSource"] = input.probedVersion
    ? "probe"
    : input.registryAgentVersion
      ? "registry"
      : null;
  if (current === null) {
    const why = input.probeProblem ? ` (${input.probeProblem})` : "";
    return { ...base, status: "unknown", reason: `agent version unavailable${why}` };
  }
  const withVersion = { ...base, current, versionSource };
  const order = compareVersions(current, input.expectedVersion);
  if (order === null) {
    return {
      ...withVersion,
      status: "unknown",
      reason: `cannot compare agent version ${current} with ${input.expectedVersion}`,
    };
  }
  if (order < 0)
    return {
      ...withVersion,
      status: "stale",
      reason: `agent ${current} is older than ${input.expectedVersion}`,
    };
  if (input.registryNemoclawVersion !== null && input.registryNemoclawVersion !== input.cliVersion) {
    return {
      ...withVersion,
      status: "stale",
      reason: `built by nemoclaw ${input.registryNemoclawVersion}, this is ${input.cliVersion}`,
    };
  }
  return { ...withVersion, status: "current", reason: "up to date" };
}

/** An open journal overrides whatever the live probe said: the state is partial until finished. */
export function classifyWithOperation(
  c: Classification,
  op: {
    state: "interrupted" | "in-progress" | "other-host" | "other-gateway" | "unreadable";
    reason: string;
  },
): Classification {
  return {
    ...c,
    status: op.state === "in-progress" || op.state === "other-host" ? "in-progress" : "interrupted",
    reason: op.reason,
    versionSource: c.versionSource,
  };
}

/** `--check` exits 1 when anything needs attention: stale, unknown, missing (or invalid). */
export function needsAttention(c: Classification): boolean {
  return c.status !== "current";
}
