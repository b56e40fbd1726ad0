import { type AgentCatalog, type AgentSpec, readAgentCatalog } from "../adapters/agent-catalog.js";
import { MaintenanceLock } from "../adapters/maintenance-lock.js";
import {
  type Registry,
  type RegistryEntry,
  readRegistry,
  updateRegistryEntry,
} from "../adapters/registry.js";
import type { Context } from "../context.js";
import { PreflightRefusal } from "../domain/errors.js";
import { escapeForDisplay, isValidSandboxName } from "../domain/names.js";
import type { Preflight, SandboxRow } from "../domain/preflight-types.js";
import { type Classification, classifySandbox } from "../domain/upgrade-classification.js";
import { extractVersion, versionsEqual } from "../domain/versions.js";
import { type BatchRun, finishBatch } from "./batch-run.js";
import { forEachLimited } from "./bounded-pool.js";
import { checkStateQuery, enforcePreflight, type PreflightReport, runPreflight } from "./preflight.js";
import { backupSandbox, type SandboxBackup } from "./sandbox-backup.js";
import { stopLeftoverStartedSandboxes } from "./sandbox-power.js";
import {
  createSandbox,
  listSandboxes,
  restoreStateDirs,
  SandboxStepError,
  sandboxPresence,
} from "./sandbox-state.js";
import { rebuildLeavingPhase, stoppedRebuildSkip } from "./stopped-rebuild.js";

/** Version probes in flight at once: bounded so 200 sandboxes do not fork 200 processes. */
const PROBE_CONCURRENCY = 16;

export const CHECK_ACTION = "checking sandbox upgrade state";

export interface UpgradePolicy {
  gatewayName: string;
  strict: boolean;
  rerunCommand: string;
}

function str(v: unknown): string | null {
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

/** Classifies every registered sandbox (SPEC §8 step 3); Ready ones are probed concurrently. */
export async function classifyRegistry(
  ctx: Context,
  report: PreflightReport,
  registry: Registry,
  catalog: AgentCatalog,
  listed: Map<string, SandboxRow>,
  policy: { action: string; rerunCommand: string; strict: boolean },
): Promise<Classification[]> {
  const probes = new Map<string, { version: string | null; problem?: string }>();
  const toProbe = registry.names.filter((name) => {
    const agent = catalog[str(registry.entries[name]?.agent) ?? ""];
    return isValidSandboxName(name) && agent && listed.get(name)?.phase === "Ready";
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
  return registry.names.map((name) => {
    const valid = isValidSandboxName(name);
    const entry = registry.entries[name] as RegistryEntry;
    const agentName = str(entry.agent);
    const probe = probes.get(name);
    return classifySandbox({
      name: valid ? name : escapeForDisplay(name),
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
  });
}

export interface CheckResult {
  gatewayName: string;
  sandboxes: Classification[];
  counts: { current: number; stale: number; unknown: number; missing: number };
}

function countsOf(list: Classification[]): CheckResult["counts"] {
  const counts = { current: 0, stale: 0, unknown: 0, missing: 0 };
  for (const c of list) {
    if (c.status === "invalid") counts.unknown++;
    else counts[c.status]++;
  }
  return counts;
}

/**
 * `upgrade-sandboxes --check` (SPEC §8 step 4): strictly read-only — no lock, no registry
 * write, no backup; it does not even create `rebuild-backups/` or `locks/`.
 */
export async function checkUpgrades(
  ctx: Context,
  policy: UpgradePolicy,
): Promise<{ preflight: Preflight | null; result: CheckResult; warnings: string[] }> {
  const registry = readRegistry(ctx.settings.paths.registryFile);
  const empty = { gatewayName: policy.gatewayName, sandboxes: [], counts: countsOf([]) };
  if (registry.names.length === 0) return { preflight: null, result: empty, warnings: [] };
  const actionPolicy = { action: CHECK_ACTION, rerunCommand: policy.rerunCommand, strict: policy.strict };
  const report = await runPreflight(ctx, policy.gatewayName, ctx.abort.signal);
  const { warnings } = enforcePreflight(report, actionPolicy);
  const catalog = readAgentCatalog(ctx.settings.paths.catalogFile);
  const listed = await listSandboxes(report, actionPolicy);
  const sandboxes = await classifyRegistry(ctx, report, registry, catalog, listed, actionPolicy);
  return {
    preflight: report.preflight,
    result: { gatewayName: policy.gatewayName, sandboxes, counts: countsOf(sandboxes) },
    warnings,
  };
}

export type RebuildStatus = "rebuilt" | "failed" | "skipped" | "current" | "declined";

export interface RebuildOutcome {
  name: string;
  status: RebuildStatus;
  reason: string;
  from: string | null;
  to: string | null;
  backup?: { timestamp: string; path: string };
  /** For a failure after the delete: the command that brings the sandbox back. */
  recoveryCommand?: string;
  attempts?: number;
  durationMs: number;
}

export type UpgradeEvent =
  | { type: "planned"; names: string[] }
  | { type: "step"; name: string; step: string }
  | { type: "finished"; outcome: RebuildOutcome };

export interface UpgradeOptions extends UpgradePolicy {
  concurrency: number;
  /** Per-sandbox confirmation (TTY without --yes); absent means yes. */
  confirm?: (c: Classification) => Promise<boolean>;
  onEvent?: (event: UpgradeEvent) => void;
  onWarnings?: (warnings: string[]) => void;
}

export interface UpgradeResult {
  gatewayName: string;
  sandboxes: RebuildOutcome[];
  summary: { rebuilt: number; failed: number; skipped: number; current: number };
  interrupted: "SIGINT" | "SIGTERM" | null;
}

export type UpgradeRun = BatchRun<UpgradeResult>;

/** One stale Ready sandbox: backup → delete → create → Ready → restore → verify → registry. */
async function rebuildOne(
  ctx: Context,
  report: PreflightReport,
  options: UpgradeOptions,
  c: Classification,
  agentType: string,
  agent: AgentSpec,
  emit: (step: string) => void,
): Promise<RebuildOutcome> {
  const started = performance.now();
  const name = c.name;
  const action = `rebuilding sandbox '${name}'`;
  const policy = { action, rerunCommand: options.rerunCommand, strict: options.strict };
  const base = { name, from: c.current, to: agent.expectedVersion };
  const elapsed = () => Math.round(performance.now() - started);

  emit("backing up");
  let backup: SandboxBackup;
  try {
    backup = await backupSandbox(ctx, {
      name,
      agentType,
      agent,
      agentVersion: c.current,
      gatewayName: options.gatewayName,
      reactive: { ...policy, report },
    });
  } catch (error) {
    if (error instanceof PreflightRefusal) throw error;
    return {
      ...base,
      status: "failed",
      reason: `backup failed, sandbox not rebuilt: ${(error as Error).message}`,
      durationMs: elapsed(),
    };
  }
  const backupRef = { timestamp: backup.timestamp, path: backup.path };
  const recoveryCommand = `nemoclaw restore ${name} --backup ${backup.timestamp} --create --yes`;
  const modified = {
    ...policy,
    report,
    modified: { sandbox: name, backupPath: backup.path, restoreCommand: recoveryCommand },
  };

  emit("deleting");
  const deleted = await report.openshell.sandboxDelete(report.gatewayName, name);
  checkStateQuery(deleted, { ...modified, query: `sandbox delete ${name}` });
  if (deleted.exitCode !== 0) {
    // Not deleted: nothing was lost and the old sandbox still runs.
    return {
      ...base,
      status: "failed",
      reason: `sandbox delete failed; the sandbox was not rebuilt: ${(deleted.stderr || deleted.stdout).trim().slice(0, 200)}`,
      backup: backupRef,
      durationMs: elapsed(),
    };
  }

  let lastError = "";
  for (let attempt = 1; attempt <= 2; attempt++) {
    try {
      if (attempt > 1) {
        emit("retrying");
        // A half-made sandbox from the first attempt is replaced.
        const presence = await sandboxPresence(modified, name);
        if (presence.exists) {
          const again = await report.openshell.sandboxDelete(report.gatewayName, name);
          checkStateQuery(again, { ...modified, query: `sandbox delete ${name}` });
        }
      }
      emit(`creating from ${agent.image}`);
      await createSandbox(ctx, modified, name, agent.image);
      emit("restoring state");
      await restoreStateDirs(ctx, modified, name, backup);
      emit("verifying agent version");
      const probed = await probeAgentVersion(ctx, report, modified, name, agent);
      if (!probed.version || !versionsEqual(probed.version, agent.expectedVersion)) {
        throw new SandboxStepError(
          "verify-version",
          `agent version after rebuild is ${probed.version ?? "unknown"}${probed.problem ? ` (${probed.problem})` : ""}, expected ${agent.expectedVersion}`,
        );
      }
      updateRegistryEntry(ctx.settings.paths.registryFile, name, {
        agentVersion: probed.version,
        nemoclawVersion: ctx.cliVersion,
        imageTag: agent.image,
      });
      return {
        ...base,
        status: "rebuilt",
        reason: `rebuilt from ${agent.image}`,
        backup: backupRef,
        attempts: attempt,
        durationMs: elapsed(),
      };
    } catch (error) {
      if (error instanceof PreflightRefusal) throw error;
      lastError = (error as Error).message;
      if (ctx.abort.signal.aborted) break;
    }
  }
  return {
    ...base,
    status: "failed",
    reason: `rebuild failed after the delete: ${lastError}; its state is preserved in ${backup.path}`,
    backup: backupRef,
    recoveryCommand,
    attempts: 2,
    durationMs: elapsed(),
  };
}

/**
 * SPEC §8 step 5: under the lock, with the registry re-read, rebuild each stale Ready sandbox.
 * Up-to-date sandboxes are untouched; not-Ready, unknown and missing ones are skipped with a
 * reason. A schema mismatch after a mutating step stops everything (exit 3).
 */
export async function upgradeSandboxes(ctx: Context, options: UpgradeOptions): Promise<UpgradeRun> {
  const initial = readRegistry(ctx.settings.paths.registryFile);
  const result: UpgradeResult = {
    gatewayName: options.gatewayName,
    sandboxes: [],
    summary: { rebuilt: 0, failed: 0, skipped: 0, current: 0 },
    interrupted: null,
  };
  if (initial.names.length === 0) return { preflight: null, result, warnings: [] };
  const checkPolicy = { action: CHECK_ACTION, rerunCommand: options.rerunCommand, strict: options.strict };
  const report = await runPreflight(ctx, options.gatewayName, ctx.abort.signal);
  const { warnings } = enforcePreflight(report, checkPolicy);
  options.onWarnings?.(warnings);
  const catalog = readAgentCatalog(ctx.settings.paths.catalogFile);

  const lock = MaintenanceLock.acquire(ctx.settings.paths.maintenanceLock, { command: "upgrade-sandboxes" });
  let refusal: PreflightRefusal | undefined;
  try {
    const registry = readRegistry(ctx.settings.paths.registryFile);
    // Sandboxes a killed run started and never stopped are stopped again first (SPEC §14).
    const restopped = await stopLeftoverStartedSandboxes(ctx, { ...checkPolicy, report });
    if (restopped.length) {
      warnings.push(...restopped);
      options.onWarnings?.(restopped);
    }
    const listed = await listSandboxes(report, checkPolicy);
    const classes = await classifyRegistry(ctx, report, registry, catalog, listed, checkPolicy);
    options.onEvent?.({ type: "planned", names: classes.map((c) => c.name) });
    const record = (outcome: RebuildOutcome) => {
      result.sandboxes.push(outcome);
      const key =
        outcome.status === "declined" ? "skipped" : outcome.status === "rebuilt" ? "rebuilt" : outcome.status;
      result.summary[key]++;
      options.onEvent?.({ type: "finished", outcome });
    };
    const rebuild: Classification[] = [];
    for (const c of classes) {
      const base = { name: c.name, from: c.current, to: c.expected, durationMs: 0 };
      const cannotStart = stoppedRebuildSkip(report, checkPolicy, c);
      if (c.status === "invalid") record({ ...base, status: "failed", reason: "invalid sandbox name" });
      else if (c.status === "current") record({ ...base, status: "current", reason: "up to date" });
      else if (c.status !== "stale")
        record({ ...base, status: "skipped", reason: `${c.status}: ${c.reason}` });
      else if (c.phase !== "Ready" && c.phase !== "Stopped")
        record({ ...base, status: "skipped", reason: `stale but ${c.phase}, not Ready` });
      else if (cannotStart) record({ ...base, status: "skipped", reason: cannotStart });
      else rebuild.push(c);
    }
    await forEachLimited(
      rebuild,
      options.concurrency,
      () => ctx.abort.signal.aborted || refusal !== undefined,
      async (c) => {
        if (options.confirm && !(await options.confirm(c))) {
          record({
            name: c.name,
            status: "declined",
            reason: "declined at the prompt",
            from: c.current,
            to: c.expected,
            durationMs: 0,
          });
          return;
        }
        const agentType = str(registry.entries[c.name]?.agent) as string;
        try {
          const emit = (step: string) => options.onEvent?.({ type: "step", name: c.name, step });
          // A stale Stopped sandbox is started, rebuilt like a Ready one, and left Stopped (SPEC §14).
          record(
            await rebuildLeavingPhase(ctx, { ...checkPolicy, report }, c, emit, () =>
              rebuildOne(ctx, report, options, c, agentType, catalog[agentType] as AgentSpec, emit),
            ),
          );
        } catch (error) {
          if (!(error instanceof PreflightRefusal)) throw error;
          refusal = error;
          record({
            name: c.name,
            status: "failed",
            reason: "schema mismatch",
            from: c.current,
            to: c.expected,
            durationMs: 0,
          });
        }
      },
    );
    const seen = new Set(result.sandboxes.map((s) => s.name));
    for (const c of rebuild) {
      if (!seen.has(c.name)) {
        record({
          name: c.name,
          status: "skipped",
          reason: "not started (run stopped)",
          from: c.current,
          to: c.expected,
          durationMs: 0,
        });
      }
    }
  } finally {
    lock.release();
  }
  return finishBatch(ctx, result, report, warnings, refusal);
}
