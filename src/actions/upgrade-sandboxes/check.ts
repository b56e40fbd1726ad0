import { readAgentCatalog } from "../../adapters/agent-catalog.js";
import { readRegistry } from "../../adapters/registry.js";
import type { Context } from "../../context.js";
import type { Preflight } from "../../domain/preflight-types.js";
import type { Classification } from "../../domain/upgrade-classification.js";
import { openOperations } from "../operations.js";
import { enforcePreflight, runPreflight } from "../preflight.js";
import { listSandboxes } from "../sandbox-state.js";
import { CHECK_ACTION, classifyRegistry, type UpgradePolicy } from "./classify.js";

export interface CheckResult {
  gatewayName: string;
  sandboxes: Classification[];
  counts: { current: number; stale: number; unknown: number; missing: number; interrupted: number };
}

function countsOf(list: Classification[]): CheckResult["counts"] {
  const counts = { current: 0, stale: 0, unknown: 0, missing: 0, interrupted: 0 };
  for (const c of list) {
    if (c.status === "invalid") counts.unknown++;
    else if (c.status === "in-progress") counts.interrupted++;
    else counts[c.status]++;
  }
  return counts;
}

/**
 * `upgrade-sandboxes --check`: strictly read-only — no lock, no registry write, no backup, no
 * journal change; it does not even create `rebuild-backups/`, `locks/` or `operations/`.
 */
export async function checkUpgrades(
  ctx: Context,
  policy: UpgradePolicy,
): Promise<{ preflight: Preflight | null; result: CheckResult; warnings: string[] }> {
  const registry = readRegistry(ctx.settings.paths.registryFile);
  const ops = openOperations(ctx);
  const empty = { gatewayName: policy.gatewayName, sandboxes: [], counts: countsOf([]) };
  if (registry.names.length === 0 && ops.size === 0) return { preflight: null, result: empty, warnings: [] };
  const actionPolicy = { action: CHECK_ACTION, rerunCommand: policy.rerunCommand, strict: policy.strict };
  const report = await runPreflight(ctx, policy.gatewayName, ctx.abort.signal);
  const { warnings } = enforcePreflight(report, actionPolicy);
  const catalog = readAgentCatalog(ctx.settings.paths.catalogFile);
  const listed = await listSandboxes(report, actionPolicy, registry.names);
  const sandboxes = await classifyRegistry(ctx, report, registry, catalog, listed, actionPolicy, ops);
  return {
    preflight: report.preflight,
    result: { gatewayName: policy.gatewayName, sandboxes, counts: countsOf(sandboxes) },
    warnings,
  };
}
