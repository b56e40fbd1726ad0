import { type AgentCatalog, readAgentCatalog } from "../adapters/agent-catalog.js";
import { listBackups, verifyBackup } from "../adapters/backup-store.js";
import {
  appendHistory,
  type FoundJournal,
  JournalHandle,
  readJournals,
  stopOrphanChild,
  writerState,
} from "../adapters/operations-journal.js";
import type { Context } from "../context.js";
import type { BackupManifest } from "../domain/backup-manifest.js";
import {
  describeInterruption,
  finishingCommand,
  type OperationJournal,
  pinnedBy,
} from "../domain/operation-journal.js";
import { type DriveResult, driveOperation } from "./operation-driver.js";
import type { PreflightReport, ReactiveContext } from "./preflight.js";
import type { UploadProgress } from "./upload-progress.js";

/**
 * What the journals say about the host, for every command (they are read first; reading
 * writes nothing). `interrupted`: a dead run left the operation half done; `in-progress`: its
 * writer still runs; `unreadable`: the journal cannot be trusted, so it is reported and never
 * removed automatically.
 */
export interface OpenOperation {
  sandbox: string;
  state: "interrupted" | "in-progress" | "unreadable";
  journal: OperationJournal | null;
  /** One line for tables: what is unfinished and why it matters. */
  reason: string;
  /** The one command that finishes it (absent for an unreadable journal). */
  command: string | null;
  file: string;
}

export function describeOperation(found: FoundJournal, procRoot: string): OpenOperation {
  if (!found.ok) {
    return {
      sandbox: found.sandbox,
      state: "unreadable",
      journal: null,
      reason: `operations journal ${found.file} is unreadable (${found.reason}); the sandbox's state cannot be trusted: inspect it, restore from a backup, then remove the file`,
      command: null,
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
    return {
      sandbox: found.sandbox,
      state: "in-progress",
      journal,
      reason: `${journal.operation} in progress on host ${journal.writer.hostname} (pid ${journal.writer.pid}); not resumed from here`,
      command: null,
      file: found.file,
    };
  }
  const command = finishingCommand(journal);
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
    ops.set(sandbox, describeOperation(found, ctx.procRoot));
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
  | { status: "backup-unusable"; why: string };

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
): Promise<{ timestamp: string; path: string; manifest: BackupManifest } | string> {
  const listing = listBackups(ctx.settings.paths.backupsRoot, journal.sandbox).find(
    (b) => b.timestamp === timestamp,
  );
  if (!listing) return `backup ${timestamp} of ${journal.sandbox} no longer exists`;
  if (!listing.manifest) return `backup ${listing.path} is corrupt (${listing.corrupt})`;
  const check = await verifyBackup(listing);
  if (!check.ok) {
    return `backup ${listing.path} no longer verifies (${check.missing.length} missing, ${check.changed.length} changed, ${check.extra.length} extra files)`;
  }
  return { timestamp, path: listing.path, manifest: listing.manifest };
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
      why: `the interrupted ${journal.operation} ran against gateway '${journal.gateway}'; rerun with --gateway ${journal.gateway}`,
    };
  }
  if (await stopOrphanChild(journal, ctx.procRoot)) {
    req.emit(`stopped the interrupted run's OpenShell process (pid ${journal.child?.pid})`);
  }
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

/** Records a journal that is replaced by a new operation (history outcome `replaced`). */
export function recordReplaced(ctx: Context, journal: OperationJournal): void {
  appendHistory(ctx.settings.paths.stateRoot, journal, "replaced", ctx.now());
}
