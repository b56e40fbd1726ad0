import type { AgentCatalog, AgentSpec } from "../../adapters/agent-catalog.js";
import type { Registry, RegistryEntry } from "../../adapters/registry.js";
import type { Context } from "../../context.js";
import { isValidSandboxName } from "../../domain/names.js";
import type { SandboxRow } from "../../domain/preflight-types.js";
import {
  type Classification,
  classifySandbox,
  classifyWithOperation,
} from "../../domain/upgrade-classification.js";
import { extractVersion } from "../../domain/versions.js";
import { forEachLimited } from "../bounded-pool.js";
import { type OpenOperation, startedOperations } from "../operations.js";
import { checkStateQuery, type PreflightReport } from "../preflight.js";

/** Version probes in flight at once: bounded so 200 sandboxes do not fork 200 processes. */
const PROBE_CONCURRENCY = 16;

export const CHECK_ACTION = "checking sandbox upgrade state";

export interface UpgradePolicy {
  gatewayName: string;
  strict: boolean;
  rerunCommand: string;
}

export function str(v: unknown): string | null {
  return typeof v === "string" && v.length > 0 ? v : null;
}

/** One live `sandbox exec … -- <versionCommand>` through the reactive check. */
async function probeAgentVersion(
  ctx: Context,
  report: PreflightReport,
  policy: { action: string; rerunCommand: string; strict: boolean },
  name: string,
  agent: AgentSpec,
): Promise<{ version: string | null; problem?: string }> {
  const result = await report.openshell.sandboxExec(
    report.gatewayName,
    name,
    agent.versionCommand,
    ctx.settings.probeTimeoutMs,
  );
  // A hanging agent is that sandbox's problem, not an unreachable gateway.
  if (result.timedOut)
    return { version: null, problem: `version probe timed out after ${ctx.settings.probeTimeoutMs} ms` };
  const failure = checkStateQuery(result, {
    ...policy,
    report,
    query: `sandbox exec ${name} -- ${agent.versionCommand.join(" ")}`,
  });
  if (failure || result.exitCode !== 0) {
    return {
      version: null,
      problem: `version probe failed: ${failure?.excerpt ?? `exit ${result.exitCode}`}`,
    };
  }
  const version = extractVersion(result.stdout);
  return version ? { version } : { version: null, problem: "version probe printed no version" };
}

/**
 * Classifies every registered sandbox (docs/design.md, "upgrade-sandboxes"); Ready ones are
 * probed concurrently. A sandbox with an open operations journal is `interrupted` (or
 * `in-progress`) whatever its probe would say, and is not probed: its live state is partial.
 * Journals of sandboxes that are no longer registered are reported too.
 */
export async function classifyRegistry(
  ctx: Context,
  report: PreflightReport,
  registry: Registry,
  catalog: AgentCatalog,
  listed: Map<string, SandboxRow>,
  policy: { action: string; rerunCommand: string; strict: boolean },
  ops: Map<string, OpenOperation> = new Map(),
): Promise<Classification[]> {
  const started = startedOperations(ctx);
  const probes = new Map<string, { version: string | null; problem?: string }>();
  const toProbe = registry.names.filter((name) => {
    const agent = catalog[str(registry.entries[name]?.agent) ?? ""];
    return isValidSandboxName(name) && agent && !ops.has(name) && listed.get(name)?.phase === "Ready";
  });
  await forEachLimited(
    toProbe,
    PROBE_CONCURRENCY,
    () => ctx.abort.signal.aborted,
    async (name) => {
      const agent = catalog[str(registry.entries[name]?.agent) ?? ""] as AgentSpec;
      probes.set(name, await probeAgentVersion(ctx, report, policy, name, agent));
    },
  );
  const rows = registry.names.map((name) => {
    const valid = isValidSandboxName(name);
    const entry = registry.entries[name] as RegistryEntry;
    const agentName = str(entry.agent);
    const probe = probes.get(name);
    const c = classifySandbox({
      name,
      valid,
      agent: agentName,
      expectedVersion: catalog[agentName ?? ""]?.expectedVersion ?? null,
      registryAgentVersion: str(entry.agentVersion),
      registryNemoclawVersion: str(entry.nemoclawVersion),
      cliVersion: ctx.cliVersion,
      phase: valid ? (listed.get(name)?.phase ?? null) : null,
      probedVersion: probe?.version ?? null,
      ...(probe?.problem ? { probeProblem: probe.problem } : {}),
    });
    const op = valid ? ops.get(name) : undefined;
    if (op) return classifyWithOperation(c, op);
    // A sandbox a killed run started and left running (docs/design.md, §18): unfinished too.
    const left = valid ? started.get(name) : undefined;
    return left ? classifyWithOperation(c, left) : c;
  });
  for (const [name, op] of ops) {
    if (registry.entries[name]) continue;
    rows.push(
      classifyWithOperation(
        {
          name,
          status: "missing",
          reason: "",
          current: null,
          expected: null,
          phase: listed.get(name)?.phase ?? null,
          versionSource: null,
        },
        { ...op, reason: `${op.reason} (no longer registered)` },
      ),
    );
  }
  return rows;
}
