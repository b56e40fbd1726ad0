import { type AgentCatalog, type AgentSpec, readAgentCatalog } from "../adapters/agent-catalog.js";
import { JournalHandle, readJournal } from "../adapters/operations-journal.js";
import { type Registry, type RegistryEntry, readRegistry } from "../adapters/registry.js";
import { describeRegistryLockHolder, registryLockHolder } from "../adapters/registry-lock.js";
import type { Context } from "../context.js";
import { EnvironmentError, PreflightRefusal, UsageError } from "../domain/errors.js";
import { isValidSandboxName } from "../domain/names.js";
import {
  finishingCommand,
  gatewayArg,
  type OperationJournal,
  safetyBackupsOf,
  wayBackCommand,
} from "../domain/operation-journal.js";
import type { Preflight, SandboxRow } from "../domain/preflight-types.js";
import {
  type Classification,
  classifySandbox,
  classifyWithOperation,
} from "../domain/upgrade-classification.js";
import { extractVersion } from "../domain/versions.js";
import { type BatchRun, finishBatch } from "./batch-run.js";
import { forEachLimited } from "./bounded-pool.js";
import { takeMaintenanceLock } from "./maintenance.js";
import { type DriveResult, driveOperation, type SafetyBackupLine } from "./operation-driver.js";
import {
  modifiedReactive,
  type OpenOperation,
  openOperations,
  resumeOperation,
  startedOperations,
} from "./operations.js";
import { checkStateQuery, enforcePreflight, type PreflightReport, runPreflight } from "./preflight.js";
import { takeProvenBackup, UnprovenBackupError } from "./proof.js";
import type { RebuildOutcome } from "./rebuild-outcome.js";
import type { SandboxBackup } from "./sandbox-backup.js";
import { stopLeftoverStartedSandboxes } from "./sandbox-power.js";
import { createFormFor, listSandboxes } from "./sandbox-state.js";
import { rebuildLeavingPhase, stoppedRebuildSkip } from "./stopped-rebuild.js";
import type { UploadProgress } from "./upload-progress.js";

export type { RebuildOutcome, RebuildStatus } from "./rebuild-outcome.js";

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

export type UpgradeEvent =
  | { type: "planned"; names: string[] }
  /** The stale sandboxes about to be rebuilt (each asked first on a terminal), once classified. */
  | { type: "plan"; rebuild: Classification[] }
  | { type: "step"; name: string; step: string }
  | { type: "upload"; name: string; progress: UploadProgress }
  | { type: "finished"; outcome: RebuildOutcome };

export interface UpgradeOptions extends UpgradePolicy {
  concurrency: number;
  /** Limit the run to these sandboxes (empty: all). */
  names?: string[];
  /** Per-sandbox confirmation (TTY without --yes); absent means yes. */
  confirm?: (c: Classification) => Promise<boolean>;
  onEvent?: (event: UpgradeEvent) => void;
  onWarnings?: (warnings: string[]) => void;
}

export interface UpgradeResult {
  gatewayName: string;
  sandboxes: RebuildOutcome[];
  summary: { rebuilt: number; restored: number; failed: number; skipped: number; current: number };
  interrupted: "SIGINT" | "SIGTERM" | null;
}

export type UpgradeRun = BatchRun<UpgradeResult>;

interface RunState {
  ctx: Context;
  report: PreflightReport;
  options: UpgradeOptions;
  catalog: AgentCatalog;
  clock: () => number;
}

/** The two recovery commands of a rebuild that did not finish (docs/design.md, "Recovery"). */
function rebuildRecovery(name: string, backupTs: string, gateway: string) {
  return {
    recoveryCommand: wayBackCommand(name, backupTs, gateway),
    finishCommand: `nemoclaw upgrade-sandboxes --yes ${name}${gatewayArg(gateway)}`,
  };
}

/** Every safety backup a journal holds, each with the command that restores it. */
function safetyLines(ctx: Context, journal: OperationJournal): SafetyBackupLine[] {
  return safetyBackupsOf(journal).map((timestamp) => ({
    timestamp,
    path: `${ctx.settings.paths.backupsRoot}/${journal.sandbox}/${timestamp}`,
    command: `nemoclaw restore ${journal.sandbox} --backup ${timestamp} --yes${gatewayArg(journal.gateway)}`,
  }));
}

/** A DriveResult of a rebuild journal as the run's outcome for that sandbox. */
function rebuildOutcomeOf(
  drive: DriveResult,
  base: { name: string; from: string | null; to: string | null },
  backup: { timestamp: string; path: string },
  resumed: boolean,
  elapsed: number,
  image: string | null,
  gateway: string,
  safety: SafetyBackupLine[] = [],
): RebuildOutcome {
  const common = {
    ...base,
    backup,
    durationMs: elapsed,
    ...(resumed ? { resumed: true } : {}),
    ...(safety.length ? { safetyBackups: safety } : {}),
  };
  const gw = gatewayArg(gateway);
  switch (drive.status) {
    case "done":
      return {
        ...common,
        status: "rebuilt",
        reason: `${
          resumed ? `finished the interrupted rebuild from ${image ?? "its image"}` : `rebuilt from ${image}`
        }${
          drive.safetyBackups.length
            ? `; the live state had changed since its upload and was saved first in ${drive.safetyBackups.map((b) => b.timestamp).join(", ")}`
            : ""
        }`,
        attempts: drive.attempts,
      };
    case "abandoned":
      return {
        ...common,
        status: "skipped",
        reason: `the interrupted rebuild never deleted the sandbox; its journal was dropped (backup ${backup.timestamp} kept)`,
      };
    case "registry-failed":
      return {
        ...common,
        status: "failed",
        reason: `rebuilt; registry not updated: ${drive.why}; rerun \`nemoclaw upgrade-sandboxes --yes ${base.name}${gw}\` to retry the registry update only`,
        finishCommand: `nemoclaw upgrade-sandboxes --yes ${base.name}${gw}`,
      };
    case "failed":
      return {
        ...common,
        status: "failed",
        reason: `rebuild failed after the delete: ${drive.why}; its state is preserved in ${backup.path}`,
        ...rebuildRecovery(base.name, backup.timestamp, gateway),
        ...(drive.code ? { code: drive.code } : {}),
        attempts: drive.attempts,
      };
  }
}

/** One stale Ready sandbox: backup → journal → delete → create → restore → verify → registry. */
async function rebuildOne(
  run: RunState,
  c: Classification,
  agentType: string,
  agent: AgentSpec,
  emit: (step: string) => void,
): Promise<RebuildOutcome> {
  const { ctx, report, options } = run;
  const started = run.clock();
  const name = c.name;
  const action = `rebuilding sandbox '${name}'`;
  const policy = { action, rerunCommand: options.rerunCommand, strict: options.strict };
  const base = { name, from: c.current, to: agent.expectedVersion };
  const elapsed = () => Math.round(run.clock() - started);

  // The installed version decides the form of `sandbox create`: unreadable → no delete at all.
  if (createFormFor(report.preflight.installedVersion) === null) {
    return {
      ...base,
      status: "failed",
      reason:
        "not rebuilt: the installed OpenShell version could not be read, so the form of `sandbox create` is unknown; nothing was changed",
      durationMs: elapsed(),
    };
  }
  emit("backing up");
  let backup: SandboxBackup;
  try {
    // Re-hashed in full once sealed: the delete below relies on every byte of it.
    backup = await takeProvenBackup(ctx, {
      name,
      agentType,
      agent,
      agentVersion: c.current,
      gatewayName: options.gatewayName,
      reactive: { ...policy, report },
    });
  } catch (error) {
    if (error instanceof PreflightRefusal) throw error;
    if (error instanceof UnprovenBackupError) {
      return {
        ...base,
        status: "failed",
        reason: `${error.message}; sandbox not rebuilt, nothing was changed`,
        backup: error.backup,
        durationMs: elapsed(),
      };
    }
    return {
      ...base,
      status: "failed",
      reason: `backup failed, sandbox not rebuilt: ${(error as Error).message}`,
      durationMs: elapsed(),
    };
  }
  if (backup.warnings.length) options.onWarnings?.(backup.warnings);
  const backupRef = { timestamp: backup.timestamp, path: backup.path };
  if (ctx.abort.signal.aborted) {
    return {
      ...base,
      status: "skipped",
      reason: "not rebuilt (run stopped after its backup)",
      backup: backupRef,
      durationMs: elapsed(),
    };
  }
  // Written (fsynced) before the delete: from here on a killed run is finished by the next one.
  const handle = JournalHandle.open(
    ctx.settings.paths.stateRoot,
    {
      version: 1,
      operation: "rebuild",
      sandbox: name,
      gateway: options.gatewayName,
      backup: backup.timestamp,
      safetyBackup: null,
      image: agent.image,
      finalPhase: c.phase === "Stopped" ? "Stopped" : "Ready",
      phase: "deleting",
      startedAt: ctx.now().toISOString(),
      command: options.rerunCommand,
    },
    { now: ctx.now, procRoot: ctx.procRoot },
  );
  const { recoveryCommand } = rebuildRecovery(name, backup.timestamp, options.gatewayName);
  // Sandbox delete (in the driver): its state is held by `backup`, proven just above.
  const drive = await driveOperation(ctx, {
    report,
    handle,
    backup: { ...backupRef, manifest: backup.manifest },
    agent,
    reactive: modifiedReactive(report, policy, name, backupRef, recoveryCommand),
    resumed: false,
    emit,
    onUpload: (progress) => options.onEvent?.({ type: "upload", name, progress }),
  });
  if (drive.status === "abandoned") {
    return {
      ...base,
      status: "failed",
      reason: `the sandbox was not rebuilt (nothing was deleted): ${drive.why}`,
      backup: backupRef,
      durationMs: elapsed(),
    };
  }
  if (drive.status === "done" && drive.warnings.length) options.onWarnings?.(drive.warnings);
  return rebuildOutcomeOf(drive, base, backupRef, false, elapsed(), agent.image, options.gatewayName);
}

/**
 * Finishes one interrupted operation found in the journals. null: the delete never happened,
 * the journal was dropped and the sandbox is classified like any other.
 */
async function finishOne(
  run: RunState,
  op: OpenOperation,
  emit: (step: string) => void,
): Promise<RebuildOutcome | null> {
  const started = run.clock();
  const name = op.sandbox;
  const journal = op.journal;
  const base = { name, from: null, to: null };
  const action = `${journal?.operation === "restore" ? "restoring" : "rebuilding"} sandbox '${name}'`;
  const policy = { action, rerunCommand: run.options.rerunCommand, strict: run.options.strict };
  const resumed = await resumeOperation(run.ctx, {
    report: run.report,
    op,
    policy,
    emit,
    onUpload: (progress) => run.options.onEvent?.({ type: "upload", name, progress }),
    catalog: run.catalog,
  });
  const elapsed = Math.round(run.clock() - started);
  if (resumed.status === "abandoned") return null;
  if (resumed.status === "abandoned-destroyed") {
    if (resumed.warnings.length) run.options.onWarnings?.(resumed.warnings);
    return {
      ...base,
      status: "skipped",
      reason: resumed.why,
      ...(journal
        ? {
            backup: {
              timestamp: journal.backup,
              path: `${run.ctx.settings.paths.backupsRoot}/${name}/${journal.backup}`,
            },
          }
        : {}),
      recoveryCommand: resumed.wayBack,
      durationMs: elapsed,
    };
  }
  if (resumed.status === "done" && resumed.warnings.length) run.options.onWarnings?.(resumed.warnings);
  if (resumed.status === "not-resumable" || resumed.status === "backup-unusable" || !journal) {
    return {
      ...base,
      status: "failed",
      reason: `unfinished operation not resumed: ${"why" in resumed ? resumed.why : op.reason}`,
      durationMs: elapsed,
    };
  }
  const backupRef = {
    timestamp: journal.backup,
    path: `${run.ctx.settings.paths.backupsRoot}/${name}/${journal.backup}`,
  };
  // Every safety backup the operation holds now (the journal is re-read: a resumed run may have
  // added one), with its restore command.
  const onDisk = readJournal(run.ctx.settings.paths.stateRoot, name);
  const held = safetyLines(run.ctx, onDisk?.ok ? onDisk.journal : journal);
  const saved = resumed.status === "done" ? resumed.safetyBackups : [];
  const safety = [...held, ...saved.filter((b) => !held.some((h) => h.timestamp === b.timestamp))];
  if (journal.operation === "restore") {
    if (resumed.status === "done") {
      return {
        ...base,
        status: "restored",
        reason: `finished the interrupted restore of backup ${journal.backup}${
          saved.length
            ? `; the live state had changed since its upload and was saved first in ${saved.map((b) => b.timestamp).join(", ")}`
            : ""
        }`,
        backup: backupRef,
        resumed: true,
        ...(safety.length ? { safetyBackups: safety } : {}),
        durationMs: elapsed,
      };
    }
    const finish = finishingCommand(journal);
    return {
      ...base,
      status: "failed",
      reason: `interrupted restore not finished: ${"why" in resumed ? resumed.why : ""}; run \`${finish}\``,
      backup: backupRef,
      finishCommand: finish,
      resumed: true,
      ...(safety.length ? { safetyBackups: safety } : {}),
      durationMs: elapsed,
    };
  }
  return rebuildOutcomeOf(resumed, base, backupRef, true, elapsed, journal.image, journal.gateway, safety);
}

/**
 * `upgrade-sandboxes` without --check: under the lock, finish every interrupted operation first
 * (from its journal), then rebuild each stale Ready sandbox. Up-to-date sandboxes are untouched;
 * not-Ready, unknown and missing ones are skipped with a reason. A sandbox with an open journal
 * is never backed up anew (that would capture partial state). A schema mismatch after a
 * mutating step stops everything (exit 3).
 */
export async function upgradeSandboxes(ctx: Context, options: UpgradeOptions): Promise<UpgradeRun> {
  const initial = readRegistry(ctx.settings.paths.registryFile);
  const result: UpgradeResult = {
    gatewayName: options.gatewayName,
    sandboxes: [],
    summary: { rebuilt: 0, restored: 0, failed: 0, skipped: 0, current: 0 },
    interrupted: null,
  };
  const wanted = new Set(options.names ?? []);
  const initialOps = openOperations(ctx);
  for (const name of wanted) {
    if (!initial.entries[name] && !initialOps.has(name)) {
      throw new UsageError(
        `sandbox ${name} is not registered and has no unfinished operation`,
        "no_such_sandbox",
      );
    }
  }
  if (initial.names.length === 0 && initialOps.size === 0) return { preflight: null, result, warnings: [] };
  const checkPolicy = { action: CHECK_ACTION, rerunCommand: options.rerunCommand, strict: options.strict };
  const report = await runPreflight(ctx, options.gatewayName, ctx.abort.signal);
  const { warnings } = enforcePreflight(report, checkPolicy);
  options.onWarnings?.(warnings);
  const catalog = readAgentCatalog(ctx.settings.paths.catalogFile);
  const run: RunState = { ctx, report, options, catalog, clock: ctx.clock };

  const { lock } = takeMaintenanceLock(ctx, "upgrade-sandboxes");
  let refusal: PreflightRefusal | undefined;
  const inScope = (name: string) => wanted.size === 0 || wanted.has(name);
  const done = new Set<string>();
  const record = (outcome: RebuildOutcome) => {
    done.add(outcome.name);
    result.sandboxes.push(outcome);
    const key = outcome.status === "declined" ? "skipped" : outcome.status;
    result.summary[key]++;
    options.onEvent?.({ type: "finished", outcome });
  };
  const guard = async (name: string, fn: () => Promise<RebuildOutcome | null>) => {
    try {
      const outcome = await fn();
      if (outcome) record(outcome);
    } catch (error) {
      if (!(error instanceof PreflightRefusal)) throw error;
      refusal = error;
      record({ name, status: "failed", reason: "schema mismatch", from: null, to: null, durationMs: 0 });
    }
  };
  try {
    // Sandboxes a killed run started and never stopped are stopped again first.
    const restopped = await stopLeftoverStartedSandboxes(ctx, { ...checkPolicy, report });
    if (restopped.length) {
      warnings.push(...restopped);
      options.onWarnings?.(restopped);
    }
    // Re-read under the lock: another command may have changed the registry or the journals.
    const ops = [...openOperations(ctx).values()].filter((op) => inScope(op.sandbox));
    options.onEvent?.({ type: "planned", names: ops.map((op) => op.sandbox) });
    await forEachLimited(
      ops,
      options.concurrency,
      () => ctx.abort.signal.aborted || refusal !== undefined,
      (op) =>
        guard(op.sandbox, () =>
          finishOne(run, op, (step) => options.onEvent?.({ type: "step", name: op.sandbox, step })),
        ),
    );
    for (const op of ops) {
      if (!done.has(op.sandbox) && (ctx.abort.signal.aborted || refusal !== undefined))
        record({
          name: op.sandbox,
          status: "skipped",
          reason: "not started (run stopped)",
          from: null,
          to: null,
          durationMs: 0,
        });
    }
    if (!ctx.abort.signal.aborted && refusal === undefined)
      await rebuildStale(run, inScope, done, record, guard);
  } finally {
    lock.release();
  }
  return finishBatch(ctx, result, report, warnings, refusal);
}

async function rebuildStale(
  run: RunState,
  inScope: (name: string) => boolean,
  done: ReadonlySet<string>,
  record: (outcome: RebuildOutcome) => void,
  guard: (name: string, fn: () => Promise<RebuildOutcome | null>) => Promise<void>,
): Promise<void> {
  const { ctx, report, options, catalog } = run;
  const checkPolicy = { action: CHECK_ACTION, rerunCommand: options.rerunCommand, strict: options.strict };
  const registry = readRegistry(ctx.settings.paths.registryFile);
  const listed = await listSandboxes(report, checkPolicy, registry.names);
  const classes = (
    await classifyRegistry(ctx, report, registry, catalog, listed, checkPolicy, openOperations(ctx))
  ).filter((c) => inScope(c.name) && !done.has(c.name));
  options.onEvent?.({ type: "planned", names: classes.map((c) => c.name) });
  const rebuild: Classification[] = [];
  for (const c of classes) {
    const base = { name: c.name, from: c.current, to: c.expected, durationMs: 0 };
    const cannotStart = stoppedRebuildSkip(report, checkPolicy, c);
    if (c.status === "invalid") record({ ...base, status: "failed", reason: "invalid sandbox name" });
    else if (c.status === "current") record({ ...base, status: "current", reason: "up to date" });
    else if (c.status === "interrupted" || c.status === "in-progress")
      record({ ...base, status: "failed", reason: c.reason });
    else if (c.status !== "stale") record({ ...base, status: "skipped", reason: `${c.status}: ${c.reason}` });
    else if (c.phase !== "Ready" && c.phase !== "Stopped")
      record({ ...base, status: "skipped", reason: `stale but ${c.phase}, not Ready` });
    else if (cannotStart) record({ ...base, status: "skipped", reason: cannotStart });
    else rebuild.push(c);
  }
  options.onEvent?.({ type: "plan", rebuild });
  // NemoClaw's registry lock held by a live process: fail before anything destructive starts.
  const lockDir = `${ctx.settings.paths.registryFile}.lock`;
  const holder = rebuild.length ? registryLockHolder(lockDir, { procRoot: ctx.procRoot }) : null;
  if (holder) {
    throw new EnvironmentError(
      "registry_locked",
      `${describeRegistryLockHolder(lockDir, holder)}; no sandbox was rebuilt, rerun when it is released`,
    );
  }
  await forEachLimited(
    rebuild,
    options.concurrency,
    () => ctx.abort.signal.aborted,
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
      const emit = (step: string) => options.onEvent?.({ type: "step", name: c.name, step });
      // A stale Stopped sandbox is started, rebuilt like a Ready one, and left Stopped.
      await guard(c.name, () =>
        rebuildLeavingPhase(ctx, { ...checkPolicy, report }, c, emit, () =>
          rebuildOne(run, c, agentType, catalog[agentType] as AgentSpec, emit),
        ),
      );
    },
  );
  for (const c of rebuild) {
    if (!done.has(c.name)) {
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
}
