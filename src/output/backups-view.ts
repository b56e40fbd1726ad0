import type { BackupSummary, BackupVerification, PruneResult } from "../actions/backups.js";
import type { RestoreResult } from "../actions/restore.js";
import { neutralizeControls } from "../domain/display.js";
import { formatBytes } from "./live-view.js";
import { colourFirstLine, type Style } from "./style.js";
import { type Cell, renderTable, type TableRow } from "./table.js";

/** On a terminal: one aligned row per backup (its timestamp; the root once, above), then disk use. */
function backupListTable(
  backups: BackupSummary[],
  root: string,
  style: Style,
  diskBytes: Record<string, number>,
  width?: number,
): string[] {
  const header: Cell[] = ["SANDBOX", "BACKUP", "SIZE", "FILES", "AGENT", "NOTE"].map((text) => ({
    text,
    paint: style.bold,
    right: text === "SIZE" || text === "FILES",
  }));
  const rows: TableRow[] = [header];
  for (const b of backups) {
    rows.push(
      b.complete
        ? [
            b.sandbox,
            b.timestamp,
            { text: formatBytes(b.size), right: true },
            { text: String(b.fileCount), right: true },
            b.agentVersion ?? "unknown",
            b.pinned ? { text: "pinned (an unfinished operation needs it)", paint: style.yellow } : "",
          ]
        : [b.sandbox, b.timestamp, "", "", "", { text: `CORRUPT: ${b.corrupt}`, paint: style.red }],
    );
  }
  const lines = [`Backups in ${root}:`, ...renderTable(rows, { width, cut: [5] })];
  const sandboxes = [...new Set(backups.map((b) => b.sandbox))].filter((s) => diskBytes[s] !== undefined);
  if (sandboxes.length) {
    lines.push("", style.dim("On disk (hard links counted once):"));
    for (const line of renderTable(
      sandboxes.map((s) => [`  ${s}`, { text: formatBytes(diskBytes[s] ?? 0), right: true }]),
    ))
      lines.push(line);
  }
  return lines;
}

/**
 * `backups list`. `table` (stdout is a terminal): aligned columns; without it, the grouped plain
 * lines scripts read.
 */
export function renderBackupList(
  backups: BackupSummary[],
  root: string,
  style: Style,
  diskBytes: Record<string, number> = {},
  table = false,
  width?: number,
): string[] {
  if (backups.length === 0) return [`No backups in ${root}.`];
  if (table) return backupListTable(backups, root, style, diskBytes, width);
  const lines: string[] = [`Backups in ${root}:`];
  let current = "";
  for (const b of backups) {
    if (b.sandbox !== current) {
      current = b.sandbox;
      const disk = diskBytes[b.sandbox];
      lines.push(
        `${style.bold(b.sandbox)}${disk !== undefined ? style.dim(`  ${formatBytes(disk)} on disk (hard links counted once)`) : ""}`,
      );
    }
    lines.push(
      b.complete
        ? `  ${b.timestamp}  ${formatBytes(b.size).padStart(10)}  ${String(b.fileCount).padStart(6)} files  agent ${b.agentVersion ?? "unknown"}${b.pinned ? `  ${style.yellow("pinned")} (an unfinished operation needs it)` : ""}`
        : `  ${b.timestamp}  ${style.red("CORRUPT")}: ${neutralizeControls(b.corrupt ?? "")}`,
    );
  }
  return lines;
}

export function renderVerification(results: BackupVerification[], style: Style): string[] {
  if (results.length === 0) return ["No backups to verify."];
  const lines: string[] = [];
  for (const r of results) {
    if (r.ok) {
      lines.push(`${style.green("✓")} ${r.sandbox} ${r.timestamp}: ${r.checkedFiles} files intact`);
      continue;
    }
    if (r.vanished) {
      lines.push(
        `${style.red("✗")} ${r.sandbox} ${r.timestamp}: VANISHED (${neutralizeControls(r.corrupt ?? "")})`,
      );
      continue;
    }
    if (r.corrupt) {
      lines.push(`${style.red("✗")} ${r.sandbox} ${r.timestamp}: CORRUPT (${neutralizeControls(r.corrupt)})`);
      continue;
    }
    lines.push(`${style.red("✗")} ${r.sandbox} ${r.timestamp}: mismatch`);
    // File names come from the sandbox. The lists hold a UTF-8 name exactly (never with a
    // backslash: such names are recorded as bytes) or a name's bytes already escaped as `\xNN`;
    // escaping the control characters gives the escaped form of docs/design.md for both.
    for (const p of r.missing) lines.push(`    missing: ${neutralizeControls(p)}`);
    for (const p of r.changed) lines.push(`    changed: ${neutralizeControls(p)}`);
    for (const p of r.modeChanged) lines.push(`    mode:    ${neutralizeControls(p)}`);
    for (const p of r.extra) lines.push(`    extra:   ${neutralizeControls(p)}`);
  }
  const failed = results.filter((r) => !r.ok).length;
  lines.push(`Verified ${results.length} backup(s): ${results.length - failed} intact, ${failed} failed`);
  return lines;
}

export function renderRestoreResult(r: RestoreResult, style: Style): string[] {
  const lines = [
    `${style.green("✓")} Restored sandbox ${r.sandbox} from backup ${r.backup.timestamp}${r.created ? " (sandbox created)" : ""}: ${r.verifiedFiles} files verified by re-download.`,
  ];
  if (r.restoredDirs.length) lines.push(`  Restored: ${r.restoredDirs.join(", ")}`);
  if (r.removedDirs.length) lines.push(`  Removed (absent in the backup): ${r.removedDirs.join(", ")}`);
  if (r.resumed)
    lines.push(`  Finished the interrupted ${r.resumed.operation} (it had stopped at: ${r.resumed.phase}).`);
  if (r.repairedModes > 0) lines.push(`  Modes set back after upload (umask): ${r.repairedModes} files`);
  lines.push(
    r.safetyBackup
      ? `  Safety backup of the previous state: ${r.safetyBackup.path}`
      : r.resumed
        ? "  No safety backup: the interrupted operation had already replaced the previous state (its backup holds it)."
        : "  No safety backup: the sandbox did not exist before.",
  );
  // Every safety backup held (a resumed restore that found the live state changed saved it too),
  // each restore command on a line of its own.
  for (const b of r.safetyBackups ?? [])
    lines.push(`  Safety backup ${b.timestamp}: ${b.path}`, `    ${b.command}`);
  if (r.registered) lines.push(`  Registered sandbox ${r.sandbox} (it was not in the registry).`);
  return lines;
}

/**
 * A restore that stopped after changing the sandbox: the error, the safety backup's full path
 * and each recovery command on a line of its own (scripts and tired operators copy them).
 */
export function renderRestoreFailure(
  e: { message: string; diagnostic: string[]; safetyBackup: { path: string } | null; recovery: string[] },
  style: Style,
): string[] {
  const lines = e.diagnostic.length
    ? colourFirstLine(e.diagnostic, style.red)
    : [`${style.red("Error:")} ${e.message}`];
  if (e.safetyBackup) lines.push(`Safety backup of the state before this restore: ${e.safetyBackup.path}`);
  const [first] = e.recovery;
  const retry = e.recovery[e.recovery.length - 1];
  if (e.recovery.length >= 2 && retry) {
    lines.push(
      "To bring back the state from before this restore, run:",
      ...e.recovery.slice(0, -1).map((c) => `  ${c}`),
    );
    lines.push("To retry the restore, run:", `  ${retry}`);
  } else if (first) {
    lines.push("To finish the restore, run:", `  ${first}`);
  }
  return lines;
}

/** `backups prune`: each backup removed (or that would be), then what it freed. */
export function renderPrune(r: PruneResult, style: Style): string[] {
  const verb = r.dryRun ? "would remove" : "removed";
  const lines: string[] = [];
  for (const s of r.sandboxes) {
    for (const b of s.removed) lines.push(`${style.yellow("-")} ${s.sandbox} ${b.timestamp}: ${verb}`);
    for (const ts of s.corrupt)
      lines.push(`${style.red("!")} ${s.sandbox} ${ts}: CORRUPT, left in place (inspect it)`);
    if (s.pinned.length)
      lines.push(`  ${s.sandbox}: pinned by an unfinished operation: ${s.pinned.join(", ")}`);
    if (s.skipped) lines.push(`${style.yellow("!")} ${s.sandbox}: ${s.skipped}`);
    for (const f of s.failed ?? [])
      lines.push(`${style.red("✗")} ${s.sandbox} ${f.timestamp}: NOT removed (see the error below)`);
  }
  lines.push(
    `Prune summary (keep ${r.keep}): ${r.removed} backup(s) ${verb}, ${formatBytes(r.bytesFreed)} ${r.dryRun ? "would be " : ""}freed.`,
  );
  return lines;
}

/** `backups prune` that could not remove some backups: one error line per backup, naming what is left. */
export function renderPruneFailure(r: PruneResult, style: Style): string[] {
  const lines: string[] = [];
  for (const s of r.sandboxes)
    for (const f of s.failed ?? []) lines.push(`${style.red("Error:")} ${neutralizeControls(f.error)}`);
  lines.push(
    `${style.red("Error:")} ${r.failed} backup(s) could not be removed; the others were pruned. Fix the cause (unmount, chattr -i, permissions) and run the prune again.`,
  );
  return lines;
}
