import { readAgentCatalog } from "../adapters/agent-catalog.js";
import { type BackupListing, listBackups } from "../adapters/backup-store.js";
import { type Registry, readRegistry } from "../adapters/registry.js";
import type { Context } from "../context.js";
import { backupTimestampDate } from "../domain/duration.js";
import { EnvironmentError, PreflightRefusal } from "../domain/errors.js";
import { isValidSandboxName } from "../domain/names.js";
import { pinnedBy } from "../domain/operation-journal.js";
import type { Preflight, SandboxRow } from "../domain/preflight-types.js";
import { type Classification, classifySandbox } from "../domain/upgrade-classification.js";
import {
  type OpenOperation,
  openOperations,
  type StartedOperation,
  startedOperations,
} from "./operations.js";
import { enforcePreflight, type PreflightReport, runPreflight } from "./preflight.js";
import { listSandboxes } from "./sandbox-state.js";
import { classifyRegistry } from "./upgrade-sandboxes.js";

export const STATUS_ACTION = "checking the host";

export type SandboxStatus = "current" | "stale" | "unknown" | "missing" | "interrupted" | "in-progress";

export interface StatusRow {
  name: string;
  /** The gateway's phase; `?` when the gateway could not be asked (unreachable or refused). */
  phase: string;
  agentVersion: string | null;
  expectedVersion: string | null;
  status: SandboxStatus;
  reason: string;
  lastBackup: { timestamp: string; ageSeconds: number } | null;
  /** The newest backup is older than --max-age (or there is none). */
  backupStale: boolean;
  pinnedBackups: string[];
  interrupted: { operation: string; phase: string; command: string | null } | null;
}

export interface StatusResult {
  gatewayName: string;
  verdict: Preflight["verdict"];
  /** Where the rows came from: the live gateway, or only the registry and the backups. */
  source: "gateway" | "registry";
  gatewayProblem: string | null;
  maxAgeSeconds: number;
  backupsRoot: string;
  sandboxes: StatusRow[];
  counts: {
    total: number;
    current: number;
    stale: number;
    unknown: number;
    missing: number;
    interrupted: number;
    neverBackedUp: number;
    oldBackup: number;
  };
  /** What to run, in order, when something needs action (empty: all good). */
  actions: string[];
}

export interface StatusRun {
  preflight: Preflight | null;
  result: StatusResult;
  warnings: string[];
  refusal: PreflightRefusal | null;
  unreachable: EnvironmentError | null;
}

function newestComplete(listings: BackupListing[], sandbox: string): BackupListing | undefined {
  return listings.find((b) => b.sandbox === sandbox && b.complete);
}

function rowStatus(c: Classification): SandboxStatus {
  return c.status === "invalid" ? "unknown" : c.status;
}

/**
 * Rows from the registry and the backups only (the gateway cannot be trusted or reached): the
 * registry's agent version against the catalog; the phase is unknown.
 */
function offlineClassification(
  ctx: Context,
  registry: Registry,
  ops: Map<string, OpenOperation>,
): Classification[] {
  const catalog = readAgentCatalog(ctx.settings.paths.catalogFile);
  const orphans = [...ops.keys()].filter((name) => !registry.entries[name]);
  return [...registry.names, ...orphans].map((name) => {
    const entry = registry.entries[name] ?? {};
    const agent = typeof entry.agent === "string" ? entry.agent : null;
    const text = (v: unknown) => (typeof v === "string" && v ? v : null);
    const valid = isValidSandboxName(name);
    return classifySandbox({
      name,
      valid,
      agent,
      expectedVersion: catalog[agent ?? ""]?.expectedVersion ?? null,
      registryAgentVersion: text(entry.agentVersion),
      registryNemoclawVersion: text(entry.nemoclawVersion),
      cliVersion: ctx.cliVersion,
      phase: "?",
      probedVersion: null,
    });
  });
}

function buildRows(
  ctx: Context,
  classes: Classification[],
  ops: Map<string, OpenOperation>,
  started: Map<string, StartedOperation>,
  maxAgeSeconds: number,
  live: boolean,
): StatusRow[] {
  const listings = listBackups(ctx.settings.paths.backupsRoot);
  const now = ctx.now().getTime();
  const rows = classes.map((c): StatusRow => {
    const valid = isValidSandboxName(c.name);
    const newest = valid ? newestComplete(listings, c.name) : undefined;
    const taken = newest ? backupTimestampDate(newest.timestamp) : null;
    const ageSeconds = taken ? Math.max(0, Math.round((now - taken.getTime()) / 1000)) : null;
    const op = valid ? ops.get(c.name) : undefined;
    const left = valid && !op ? started.get(c.name) : undefined;
    return {
      name: c.name,
      phase: live ? (c.phase ?? "-") : "?",
      agentVersion: c.current,
      expectedVersion: c.expected,
      status: rowStatus(c),
      reason: c.reason,
      lastBackup: newest && ageSeconds !== null ? { timestamp: newest.timestamp, ageSeconds } : null,
      backupStale: ageSeconds === null || ageSeconds > maxAgeSeconds,
      pinnedBackups: op?.journal ? pinnedBy(op.journal) : [],
      interrupted: op
        ? {
            operation: op.journal?.operation ?? "unknown",
            phase: op.journal?.phase ?? "unknown",
            command: op.command,
          }
        : left
          ? { operation: "started-for-backup", phase: "started", command: left.command }
          : null,
    };
  });
  return rows;
}

function countsOf(rows: StatusRow[]): StatusResult["counts"] {
  const counts = {
    total: rows.length,
    current: 0,
    stale: 0,
    unknown: 0,
    missing: 0,
    interrupted: 0,
    neverBackedUp: 0,
    oldBackup: 0,
  };
  for (const r of rows) {
    counts[r.status === "in-progress" ? "interrupted" : r.status]++;
    if (!r.lastBackup) counts.neverBackedUp++;
    else if (r.backupStale) counts.oldBackup++;
  }
  return counts;
}

function actionsFor(
  result: Omit<StatusResult, "actions">,
  gatewayFlag: string,
  refused: boolean,
  notRegistered: boolean,
): string[] {
  const actions: string[] = [];
  if (refused) actions.push("nemoclaw onboard --resume");
  if (notRegistered) actions.push("nemoclaw onboard  # start and register the NemoClaw gateway");
  else if (result.gatewayProblem && !refused)
    actions.push("openshell status  # bring the gateway back, then rerun nemoclaw status");
  for (const r of result.sandboxes) if (r.interrupted?.command) actions.push(r.interrupted.command);
  const { counts } = result;
  if (counts.neverBackedUp + counts.oldBackup > 0 && !refused)
    actions.push(`nemoclaw backup-all${gatewayFlag}`);
  if (counts.stale > 0 && !refused) actions.push(`nemoclaw upgrade-sandboxes --yes${gatewayFlag}`);
  return [...new Set(actions)];
}

/** Whether anything needs an operator (exit 1 when the gateway itself is fine). */
export function needsAction(result: StatusResult): boolean {
  const { counts } = result;
  return counts.total > counts.current || counts.neverBackedUp + counts.oldBackup > 0;
}

/**
 * `status` (docs/design.md, "status"): the preflight, then — only when it did not refuse — one
 * `sandbox list` and the version probes of `--check`; rows joined with the journals and the
 * backups. Read-only like `--check`: no lock, no writes, no gateway selection. On a refusal or an
 * unreachable gateway the rows come from the registry and the backups alone.
 */
export async function hostStatus(
  ctx: Context,
  options: {
    gatewayName: string;
    strict: boolean;
    rerunCommand: string;
    maxAgeSeconds: number;
    gatewayFlag: string;
  },
): Promise<StatusRun> {
  const registry = readRegistry(ctx.settings.paths.registryFile);
  const ops = openOperations(ctx);
  const policy = { action: STATUS_ACTION, rerunCommand: options.rerunCommand, strict: options.strict };
  const report: PreflightReport = await runPreflight(ctx, options.gatewayName, ctx.abort.signal);
  let warnings: string[] = [];
  let refusal: PreflightRefusal | null = null;
  let unreachable: EnvironmentError | null = null;
  let classes: Classification[] | null = null;
  try {
    ({ warnings } = enforcePreflight(report, policy));
    const catalog = readAgentCatalog(ctx.settings.paths.catalogFile);
    const listed: Map<string, SandboxRow> = await listSandboxes(report, policy, registry.names);
    classes = await classifyRegistry(ctx, report, registry, catalog, listed, policy, ops);
  } catch (error) {
    if (error instanceof PreflightRefusal) refusal = error;
    // An unregistered gateway name degrades like an unreachable gateway (rows from the registry
    // and the backups, exit 4), with `nemoclaw onboard` as the advice.
    else if (
      error instanceof EnvironmentError &&
      (error.code === "gateway_unreachable" || error.code === "gateway_not_registered")
    )
      unreachable = error;
    else throw error;
  }
  const live = classes !== null;
  const started = startedOperations(ctx);
  const rows = buildRows(
    ctx,
    classes ?? offlineClassification(ctx, registry, ops),
    ops,
    started,
    options.maxAgeSeconds,
    live,
  );
  if (!live) {
    for (const row of rows) {
      const op = ops.get(row.name) ?? started.get(row.name);
      if (op) {
        row.status = op.state === "in-progress" || op.state === "other-host" ? "in-progress" : "interrupted";
        row.reason = op.reason;
      }
    }
  }
  const partial = {
    gatewayName: options.gatewayName,
    verdict: refusal?.preflight.verdict ?? report.preflight.verdict,
    source: live ? ("gateway" as const) : ("registry" as const),
    gatewayProblem: refusal ? refusal.message : unreachable ? unreachable.message : null,
    maxAgeSeconds: options.maxAgeSeconds,
    backupsRoot: ctx.settings.paths.backupsRoot,
    sandboxes: rows,
    counts: countsOf(rows),
  };
  return {
    preflight: refusal?.preflight ?? report.preflight,
    result: {
      ...partial,
      actions: actionsFor(
        partial,
        options.gatewayFlag,
        refusal !== null,
        unreachable?.code === "gateway_not_registered",
      ),
    },
    warnings,
    refusal,
    unreachable,
  };
}
