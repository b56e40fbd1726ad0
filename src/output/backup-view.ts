import type { BackupAllResult, BackupEvent, SandboxBackupOutcome } from "../actions/backup-all.js";
import type { BackupProgress } from "../actions/sandbox-backup.js";
import { escapeForDisplay } from "../domain/display.js";
import { backupTimestampDate, formatAge } from "../domain/duration.js";
import { formatBytes, formatDuration, formatTransfer, type LiveView } from "./live-view.js";
import type { Style } from "./style.js";
import { type Cell, renderTable, type TableRow } from "./table.js";

function outcomeDetail(outcome: SandboxBackupOutcome): string {
  if (outcome.status === "backed-up") {
    const absent = outcome.absentDirs?.length ? `, absent: ${outcome.absentDirs.join(", ")}` : "";
    const started = outcome.startedForBackup ? " (was Stopped: started for the backup, stopped again)" : "";
    const linked = outcome.linkedFiles
      ? ` (${outcome.linkedFiles} unchanged, linked: ${formatBytes(outcome.bytesLinked ?? 0)} not stored again)`
      : "";
    return `backed up ${outcome.files ?? 0} files, ${formatBytes(outcome.bytes ?? 0)}${linked} in ${formatDuration(outcome.durationMs)}${absent}${started}`;
  }
  return `${outcome.status}: ${outcome.reason ?? ""}`;
}

/** Bytes, and for a download its rate (OpenShell reports no download total: no bar, no ETA). */
function transferOf(started: Map<string, number>, event: { name: string; progress: BackupProgress }): string {
  const since = started.get(event.name);
  if (event.progress.phase !== "downloading" || since === undefined) return formatBytes(event.progress.bytes);
  return formatTransfer(event.progress.bytes, performance.now() - since);
}

/** Feeds backup events into the live view (TTY) or plain per-event lines. */
export function backupProgressListener(view: LiveView): (event: BackupEvent) => void {
  const phases = new Map<string, string>();
  // OpenShell reports no download total: downloads show bytes and rate, no bar or ETA.
  const downloadStarted = new Map<string, number>();
  return (event) => {
    switch (event.type) {
      case "planned":
        view.plan(event.names);
        break;
      case "started":
        // Shown once its transfer starts: it may first wait for a transfer slot.
        break;
      case "progress": {
        // A new phase is a milestone (one plain line); byte counts only refresh the live view.
        const { phase } = event.progress;
        if (phase === "queued") {
          view.update(event.name, "pending", "queued for a transfer slot");
          break;
        }
        if (phase === "starting" || phase === "stopping") {
          view.update(
            event.name,
            "running",
            phase === "starting" ? "starting (was Stopped)" : "stopping again",
            true,
          );
          break;
        }
        if (phases.get(event.name) !== phase) {
          phases.set(event.name, phase);
          if (phase === "downloading") downloadStarted.set(event.name, performance.now());
          view.update(event.name, "running", phase, true);
        }
        view.update(event.name, "running", `${phase} ${transferOf(downloadStarted, event)}`);
        break;
      }
      case "finished": {
        const o = event.outcome;
        view.update(
          o.name,
          o.status === "backed-up" ? "ok" : o.status === "failed" ? "failed" : "skipped",
          outcomeDetail(o),
        );
        break;
      }
    }
  };
}

/** A backup's age (`3h ago`) from its timestamp: the narrow form of a BACKUP cell. */
export function ageOf(timestamp: string): string {
  const taken = backupTimestampDate(timestamp);
  return taken ? `${formatAge(Math.max(0, (Date.now() - taken.getTime()) / 1000))} ago` : timestamp;
}

function markCell(o: SandboxBackupOutcome, style: Style): Cell {
  if (o.status === "backed-up") return { text: "✓", paint: style.green };
  if (o.status === "failed") return { text: "✗", paint: style.red };
  return { text: "-", paint: style.yellow };
}

/**
 * The result on a terminal: one aligned row per sandbox showing its backup's timestamp (the root
 * is printed once, below), then the same summary lines as without a terminal.
 */
function backupTable(result: BackupAllResult, style: Style, width?: number): string[] {
  const numeric = new Set(["SIZE", "FILES", "TIME"]);
  const header: Cell[] = ["", "NAME", "STATUS", "BACKUP", "SIZE", "FILES", "TIME", "DETAIL"].map((text) => ({
    text,
    paint: style.bold,
    right: numeric.has(text),
  }));
  const rows: TableRow[] = [header];
  for (const o of result.sandboxes) {
    const ok = o.status === "backed-up";
    const notes = ok
      ? [
          o.absentDirs?.length ? `absent: ${o.absentDirs.join(", ")}` : "",
          o.startedForBackup ? "was Stopped: started for the backup, stopped again" : "",
        ]
          .filter(Boolean)
          .join("; ")
      : (o.reason ?? "");
    rows.push([
      markCell(o, style),
      escapeForDisplay(o.name),
      { text: o.status, paint: ok ? undefined : o.status === "failed" ? style.red : style.yellow },
      // The timestamp; on a narrow terminal its age (the root is printed below, `backups list`
      // names every backup in full).
      ok && o.timestamp ? { text: o.timestamp, narrow: ageOf(o.timestamp) } : "",
      { text: ok ? formatBytes(o.bytes ?? 0) : "", right: true },
      { text: ok ? String(o.files ?? 0) : "", right: true },
      { text: o.durationMs ? formatDuration(o.durationMs) : "", right: true },
      notes,
    ]);
  }
  // DETAIL gives way; names and figures are never cut.
  return renderTable(rows, { width, cut: [7] });
}

/** `--keep`: which backups it removed, per sandbox, and the bytes that freed. */
function prunedLines(result: BackupAllResult, style: Style): string[] {
  const lines: string[] = [];
  let bytes = 0;
  let count = 0;
  for (const o of result.sandboxes) {
    if (!o.pruned?.length) continue;
    count += o.pruned.length;
    bytes += o.prunedBytes ?? 0;
    const stamps = o.pruned.map((p) => p.slice(p.lastIndexOf("/") + 1)).join(", ");
    lines.push(
      `${style.yellow("-")} ${escapeForDisplay(o.name)}: removed ${stamps} (${formatBytes(o.prunedBytes ?? 0)} freed)`,
    );
  }
  if (count) lines.push(`Pruned (--keep): ${count} old backup(s) removed, ${formatBytes(bytes)} freed`);
  return lines;
}

/**
 * The stdout part: per-sandbox results, then the summary lines of docs/design.md, "backup-all". `table` (stdout is a
 * terminal): aligned columns with timestamps instead of per-row paths; without it, the plain
 * `<name>: <detail> → <path>` lines scripts read.
 */
export function renderBackupSummary(
  result: BackupAllResult,
  style: Style,
  table = false,
  width?: number,
): string[] {
  const lines: string[] = table ? backupTable(result, style, width) : [];
  for (const o of table ? [] : result.sandboxes) {
    const mark =
      o.status === "backed-up"
        ? style.green("✓")
        : o.status === "failed"
          ? style.red("✗")
          : style.yellow("-");
    lines.push(`${mark} ${escapeForDisplay(o.name)}: ${outcomeDetail(o)}${o.path ? ` → ${o.path}` : ""}`);
  }
  lines.push(...prunedLines(result, style));
  if (result.interrupted)
    lines.push(style.yellow(`Interrupted by ${result.interrupted}: no further sandboxes were started.`));
  const { backedUp, failed, skipped } = result.summary;
  lines.push(`Backup summary: ${backedUp} backed up, ${failed} failed, ${skipped} skipped`);
  lines.push(`Backups stored in: ${result.backupsRoot}`);
  return lines;
}
