import type { BackupSummary, BackupVerification } from "../actions/backups.js";
import type { RestoreResult } from "../actions/restore.js";
import { formatBytes } from "./live-view.js";
import type { Style } from "./style.js";

export function renderBackupList(backups: BackupSummary[], root: string, style: Style): string[] {
  if (backups.length === 0) return [`No backups in ${root}.`];
  const lines: string[] = [];
  let current = "";
  for (const b of backups) {
    if (b.sandbox !== current) {
      current = b.sandbox;
      lines.push(style.bold(b.sandbox));
    }
    lines.push(
      b.complete
        ? `  ${b.timestamp}  ${formatBytes(b.size).padStart(10)}  ${String(b.fileCount).padStart(6)} files  agent ${b.agentVersion ?? "unknown"}`
        : `  ${b.timestamp}  ${style.red("CORRUPT")}: ${b.corrupt}`,
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
      lines.push(`${style.red("✗")} ${r.sandbox} ${r.timestamp}: VANISHED (${r.corrupt})`);
      continue;
    }
    if (r.corrupt) {
      lines.push(`${style.red("✗")} ${r.sandbox} ${r.timestamp}: CORRUPT (${r.corrupt})`);
      continue;
    }
    lines.push(`${style.red("✗")} ${r.sandbox} ${r.timestamp}: mismatch`);
    for (const p of r.missing) lines.push(`    missing: ${p}`);
    for (const p of r.changed) lines.push(`    changed: ${p}`);
    for (const p of r.modeChanged) lines.push(`    mode:    ${p}`);
    for (const p of r.extra) lines.push(`    extra:   ${p}`);
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
  if (r.repairedModes > 0) lines.push(`  Modes set back after upload (umask): ${r.repairedModes} files`);
  lines.push(
    r.safetyBackup
      ? `  Safety backup of the previous state: ${r.safetyBackup.path}`
      : "  No safety backup: the sandbox did not exist before.",
  );
  return lines;
}
