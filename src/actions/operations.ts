import { type AgentCatalog, readAgentCatalog } from "../adapters/agent-catalog.js";
import {
  appendHistoryOrWarn,
  closeJournal,
  type FoundJournal,
  JournalHandle,
  readJournals,
  stopOrphanChild,
  writerState,
} from "../adapters/operations-journal.js";
import { readRegistry } from "../adapters/registry.js";
import { type LeftoverStartedRecord, listStartedRecords } from "../adapters/started-record.js";
import type { Context } from "../context.js";
import type { ManifestHeader } from "../domain/backup-manifest.js";
import {
  abandonCommand,
  DEFAULT_GATEWAY,
  describeInterruption,
  finishingCommand,
  gatewayArg,
  type OperationJournal,
  pinnedBy,
  wayBackCommand,
} from "../domain/operation-journal.js";
import { type DriveResult, driveOperation } from "./operation-driver.js";
import type { PreflightReport, ReactiveContext } from "./preflight.js";
import { proveBackup } from "./proof.js";
import { sandboxPresence } from "./sandbox-state.js";
import type { UploadProgress } from "./upload-progress.js";

/**
 * What the journals say about the host, for every command (they are read first; reading
 * writes nothing). `interrupted`: a dead run left the operation half done; `in-progress`: its
 * writer still runs; `other-host`: written on another host (never resumed from here);
 * `other-gateway`: a dead run's operation on another gateway (finished only by a command for
 * that gateway); `unreadable`: the journal cannot be trusted, so it is reported and never
 * removed automatically.
 */
export type OperationState = "interrupted" | "in-progress" | "other-host" | "other-gateway" | "unreadable";

export interface OpenOperation {
  sandbox: string;
  state: OperationState;
  journal: OperationJournal | null;
  /** One line for tables: what is unfinished and why it matters. */
  reason: string;
  /**
   * The command that finishes it (with `--gateway` for another gateway), or for a journal no
   * command can finish from here (other host, unreadable) the one that drops it; null while
   * its writer still runs.
   */
  command: string | null;
  file: string;
}

/**
 * One journal as every command sees it. `gateway` is the gateway this command works on: a
 * journal of another gateway is never finished, replaced or removed by it.
 */
export function describeOperation(
  found: FoundJournal,
  procRoot: string,
  gateway = DEFAULT_GATEWAY,
): OpenOperation {
  if (!found.ok) {
    const command = abandonCommand(found.sandbox);
    return {
      sandbox: found.sandbox,
      state: "unreadable",
      journal: null,
      reason: `operations journal ${found.file} is unreadable (${found.reason}); the sandbox's state cannot be trusted: inspect it, restore from a backup, then drop the journal with \`${command}\``,
      command,
      file: found.file,
    };
  }
  const { journal } = found;
  const writer = writerState(journal.writer, procRoot);
  if (writer === "alive" || writer === "self") {
    return {
      sandbox: found.sandbox,
      state: "in-progress",
      journal,
      reason: `${journal.operation} in progress (pid ${journal.writer.pid})`,
      command: null,
      file: found.file,
    };
  }
  if (writer === "other-host") {
    const command = abandonCommand(found.sandbox);
    return {
      sandbox: found.sandbox,
      state: "other-host",
      journal,
      reason: `${journal.operation} in progress on host ${journal.writer.hostname} (pid ${journal.writer.pid}); not resumed from here (if no nemoclaw runs there, drop it with \`${command}\`)`,
      command,
      file: found.file,
    };
  }
  const command = finishingCommand(journal);
  if (journal.gateway !== gateway) {
    return {
      sandbox: found.sandbox,
      state: "other-gateway",
      journal,
      reason: `${describeInterruption(journal)} on gateway '${journal.gateway}'; its state is kept in backup ${journal.backup}; nothing is done to it for gateway '${gateway}': run \`${command}\` to finish it`,
      command,
      file: found.file,
    };
  }
  return {
    sandbox: found.sandbox,
    state: "interrupted",
    journal,
    reason: `${describeInterruption(journal)}; its state is kept in backup ${journal.backup}; run \`${command}\` to finish it`,
    command,
    file: found.file,
  };
}

export function openOperations(ctx: Context): Map<string, OpenOperation> {
  const ops = new Map<string, OpenOperation>();
  for (const [sandbox, found] of readJournals(ctx.settings.paths.stateRoot)) {
    ops.set(sandbox, describeOperation(found, ctx.procRoot, ctx.settings.gatewayName));
  }
  return ops;
}

/**
 * Backups of `sandbox` that retention must keep because an open journal names them; null when
 * a journal cannot be read, in which case nothing of that sandbox may be pruned at all.
 */
export function pinnedBackups(ops: Map<string, OpenOperation>, sandbox: string): Set<string> | null {
  const op = ops.get(sandbox);
  if (!op) return new Set();
  if (!op.journal) return null;
  return new Set(pinnedBy(op.journal));
}

export type ResumeResult =
  | DriveResult
  | { status: "not-resumable"; why: string }
  | { status: "backup-unusable"; why: string }
  /** A rebuild of a sandbox the operator destroyed: closed, nothing re-created. */
  | { status: "abandoned-destroyed"; why: string; wayBack: string; warnings: string[] };

export interface ResumeRequest {
  report: PreflightReport;
  op: OpenOperation;
  policy: { action: string; rerunCommand: string; strict: boolean };
  emit: (step: string) => void;
  onUpload?: (progress: UploadProgress) => void;
  catalog?: AgentCatalog;
}

/** The journal's backup, re-verified: a resume never restores from a backup that changed. */
export async function verifiedJournalBackup(
  ctx: Context,
  journal: OperationJournal,
  timestamp = journal.backup,
): Promise<{ timestamp: string; path: string; manifest: ManifestHeader } | string> {
  return proveBackup(ctx, journal.sandbox, timestamp);
}

export function modifiedReactive(
  report: PreflightReport,
  policy: ResumeRequest["policy"],
  sandbox: string,
  backup: { timestamp: string; path: string },
  restoreCommand: string,
): Omit<ReactiveContext, "query"> {
  return { ...policy, report, modified: { sandbox, backupPath: backup.path, restoreCommand } };
}

/**
 * Finishes an interrupted operation (docs/design.md, "Resume"): refuses unreadable or live
 * journals, stops the dead run's orphaned OpenShell step, re-verifies the journal's backup
 * (a failure touches nothing and keeps the journal), takes the journal over and drives it from
 * its phase.
 */
export async function resumeOperation(ctx: Context, req: ResumeRequest): Promise<ResumeResult> {
  const { op } = req;
  if (op.state !== "interrupted" || !op.journal) return { status: "not-resumable", why: op.reason };
  const journal = op.journal;
  if (journal.gateway !== req.report.gatewayName) {
    return {
      status: "not-resumable",
      why: `the interrupted ${journal.operation} ran against gateway '${journal.gateway}'; run \`${finishingCommand(journal)}\``,
    };
  }
  if (await stopOrphanChild(journal, ctx.procRoot)) {
    req.emit(`stopped the interrupted run's OpenShell process (pid ${journal.child?.pid})`);
  }
  const destroyed = await abandonIfDestroyed(ctx, req.report, req.policy, journal);
  if (destroyed) return destroyed;
  req.emit(`verifying backup ${journal.backup}`);
  const backup = await verifiedJournalBackup(ctx, journal);
  if (typeof backup === "string") return { status: "backup-unusable", why: `${backup}; nothing was touched` };
  const catalog = req.catalog ?? readAgentCatalog(ctx.settings.paths.catalogFile);
  const handle = JournalHandle.open(ctx.settings.paths.stateRoot, journal, {
    now: ctx.now,
    procRoot: ctx.procRoot,
  });
  return driveOperation(ctx, {
    report: req.report,
    handle,
    backup,
    agent: catalog[backup.manifest.agentType],
    reactive: modifiedReactive(req.report, req.policy, journal.sandbox, backup, finishingCommand(journal)),
    resumed: true,
    emit: req.emit,
    onUpload: req.onUpload,
  });
}

/**
 * A rebuild journal whose sandbox is neither registered nor present in OpenShell: the operator
 * destroyed it. Finishing would re-create a sandbox nobody wants (and then fail forever at the
 * registry), so the journal is closed (`abandoned-auto`), nothing is created, its backups stay,
 * and the way back is returned. Never for a restore journal. null: not such a journal.
 */
export async function abandonIfDestroyed(
  ctx: Context,
  report: PreflightReport,
  policy: ResumeRequest["policy"],
  journal: OperationJournal,
): Promise<{ status: "abandoned-destroyed"; why: string; wayBack: string; warnings: string[] } | null> {
  if (journal.operation !== "rebuild") return null;
  let registered = true;
  try {
    registered = readRegistry(ctx.settings.paths.registryFile).entries[journal.sandbox] !== undefined;
  } catch {
    return null; // an unreadable registry proves nothing
  }
  if (registered) return null;
  const seen = await sandboxPresence({ ...policy, report }, journal.sandbox);
  if (seen.exists) return null;
  const warning = closeJournal(ctx.settings.paths.stateRoot, journal, "abandoned-auto", ctx.now());
  const wayBack = wayBackCommand(journal.sandbox, journal.backup, journal.gateway);
  return {
    status: "abandoned-destroyed",
    why: `the interrupted rebuild's sandbox was destroyed (neither registered nor in OpenShell): its journal was closed and nothing was re-created; its state is kept in backup ${journal.backup}; to bring it back run \`${wayBack}\``,
    wayBack,
    warnings: warning ? [warning] : [],
  };
}

/** Records a journal that is replaced by a new operation (history outcome `replaced`). */
export function recordReplaced(ctx: Context, journal: OperationJournal): string | null {
  return appendHistoryOrWarn(ctx.settings.paths.stateRoot, journal, "replaced", ctx.now());
}

/**
 * A `.started.json` record (docs/design.md, "Operations directory"): a Stopped sandbox nemoclaw
 * started for its own work. Left behind by a run that died, it means the sandbox is still
 * running: an unfinished operation (`started-for-backup`) until `backup-all` stops it again.
 */
export interface StartedOperation {
  sandbox: string;
  state: OperationState;
  /** The record's gateway (null when the record cannot be parsed). */
  gateway: string | null;
  purpose: string | null;
  reason: string;
  command: string | null;
  file: string;
}

export function describeStarted(
  leftover: LeftoverStartedRecord,
  procRoot: string,
  gateway = DEFAULT_GATEWAY,
): StartedOperation {
  const { sandbox, record, file } = leftover;
  const base = { sandbox, file, gateway: record?.gateway ?? null, purpose: record?.purpose ?? null };
  if (!record) {
    const command = `nemoclaw backup-all${gatewayArg(gateway)}`;
    return {
      ...base,
      state: "unreadable",
      reason: `started record ${file} is unreadable; sandbox ${sandbox} may still be running: run \`${command}\` to stop it again`,
      command,
    };
  }
  const writer = writerState(
    {
      pid: record.writer.pid,
      hostname: record.writer.hostname,
      bootId: record.writer.bootId ?? null,
      startTick: record.writer.startTick ?? null,
    },
    procRoot,
  );
  if (writer === "alive" || writer === "self") {
    return {
      ...base,
      state: "in-progress",
      reason: `started for a ${record.purpose} (pid ${record.writer.pid} still running)`,
      command: null,
    };
  }
  if (writer === "other-host") {
    return {
      ...base,
      state: "other-host",
      reason: `started for a ${record.purpose} on host ${record.writer.hostname}; not stopped from here`,
      command: null,
    };
  }
  const command = `nemoclaw backup-all${gatewayArg(record.gateway)}`;
  return {
    ...base,
    state: record.gateway === gateway ? "interrupted" : "other-gateway",
    reason: `started for a ${record.purpose} by a run that did not finish; it is still running: run \`${command}\` to stop it again`,
    command,
  };
}

/** Every started record, by sandbox. Reading writes nothing. */
export function startedOperations(ctx: Context): Map<string, StartedOperation> {
  const found = new Map<string, StartedOperation>();
  for (const leftover of listStartedRecords(ctx.settings.paths.stateRoot)) {
    found.set(leftover.sandbox, describeStarted(leftover, ctx.procRoot, ctx.settings.gatewayName));
  }
  return found;
}
