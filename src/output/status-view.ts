import type { StatusResult, StatusRow } from "../actions/status.js";
import { escapeForDisplay, neutralizeControls } from "../domain/display.js";
import { formatAge } from "../domain/duration.js";
import type { Preflight } from "../domain/preflight-types.js";
import type { Style } from "./style.js";

/** Aligned columns; the last column is never padded (no trailing blanks). */
export function alignColumns(given: string[][]): string[] {
  const rows = given.map((row) => row.map((cell) => neutralizeControls(cell)));
  const widths: number[] = [];
  for (const row of rows) {
    row.forEach((cell, i) => {
      widths[i] = Math.max(widths[i] ?? 0, cell.length);
    });
  }
  return rows.map((row) =>
    row
      .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
      .join("  ")
      .trimEnd(),
  );
}

function gatewayLine(preflight: Preflight | null, gatewayName: string): string {
  if (!preflight) return `  Gateway '${gatewayName}'`;
  const g = preflight.gateway;
  const parts: string[] = [g.mode];
  if (g.image) parts.push(`${g.image} (${g.imageVersion ?? "unknown"})`);
  if (g.binary) parts.push(`${g.binary} (${g.binaryVersion ?? "unknown"})`);
  if (g.servedVersion) parts.push(`serving ${g.servedVersion}`);
  return `  OpenShell ${preflight.installedVersion ?? "unknown"} · gateway '${gatewayName}': ${parts.join(", ")}`;
}

function backupCell(r: StatusRow, style: Style): string {
  if (!r.lastBackup) return style.red("never");
  const text = `${r.lastBackup.timestamp} (${formatAge(r.lastBackup.ageSeconds)} ago)`;
  return r.backupStale ? style.yellow(`${text} old`) : text;
}

function statusCell(r: StatusRow, style: Style): string {
  if (r.status === "current") return style.green(r.status);
  if (r.status === "interrupted" || r.status === "in-progress") return style.red(r.status);
  return style.yellow(r.status);
}

/**
 * `status` on stdout: the verdict, the gateway, one aligned row per sandbox, the counts and —
 * when anything needs action — the commands to run, in order. Colour is applied after
 * alignment so escape codes never skew the columns.
 */
export function renderStatus(result: StatusResult, preflight: Preflight | null, style: Style): string[] {
  const lines: string[] = [];
  const v = result.verdict;
  if (result.gatewayProblem && (v === "compatible" || v === "unknown"))
    lines.push(
      `${style.red("✗")} ${/is not registered with this openshell CLI/.test(result.gatewayProblem) ? "Gateway not registered" : "Gateway unreachable"} — ${result.gatewayProblem}`,
    );
  else if (v === "compatible") lines.push(`${style.green("✓")} Gateway preflight: compatible`);
  else if (v === "unknown" && !result.gatewayProblem)
    lines.push(`${style.yellow("!")} Gateway preflight: unknown (could not prove compatibility)`);
  else
    lines.push(
      `${style.red("✗")} Gateway preflight: ${v}${result.gatewayProblem ? ` — ${result.gatewayProblem}` : ""}`,
    );
  lines.push(gatewayLine(preflight, result.gatewayName));
  if (result.source === "registry") {
    lines.push(
      style.dim("  Sandbox rows come from the registry and the backups only (the gateway was not asked)."),
    );
  }
  lines.push(style.dim(`  Backups: ${result.backupsRoot}`));
  lines.push("");
  if (result.sandboxes.length === 0) {
    lines.push("No sandboxes registered.");
  } else {
    const header = ["NAME", "PHASE", "VERSION", "STATUS", "LAST BACKUP", "NOTE"];
    const plain = result.sandboxes.map((r) => [
      escapeForDisplay(r.name),
      r.phase,
      `${r.agentVersion ?? "?"} → ${r.expectedVersion ?? "?"}`,
      r.status,
      r.lastBackup
        ? `${r.lastBackup.timestamp} (${formatAge(r.lastBackup.ageSeconds)} ago)${r.backupStale ? " old" : ""}`
        : "never",
      [
        r.status === "current" ? "" : r.reason,
        r.pinnedBackups.length ? `pinned: ${r.pinnedBackups.join(", ")}` : "",
      ]
        .filter(Boolean)
        .join("; "),
    ]);
    const aligned = alignColumns([header, ...plain]);
    lines.push(style.bold(aligned[0] as string));
    result.sandboxes.forEach((r, i) => {
      let line = aligned[i + 1] as string;
      const cells = plain[i] as string[];
      // Colour the status and backup cells in place (same text, so alignment holds).
      line = line.replace(` ${cells[3]} `, ` ${statusCell(r, style)} `);
      line = line.replace(cells[4] as string, backupCell(r, style));
      lines.push(line);
    });
  }
  const c = result.counts;
  lines.push("");
  lines.push(
    `${c.total} sandbox(es): ${c.current} current, ${c.stale} stale, ${c.unknown} unknown, ${c.missing} missing, ${c.interrupted} interrupted; ${c.neverBackedUp} never backed up, ${c.oldBackup} with a backup older than ${formatAge(result.maxAgeSeconds)}.`,
  );
  if (result.actions.length) {
    lines.push("To do, in this order:");
    for (const action of result.actions) lines.push(`  ${action}`);
  } else if (result.verdict === "compatible" || result.verdict === "unknown") {
    lines.push(`${style.green("✓")} Nothing needs action: safe to upgrade, every sandbox is backed up.`);
  }
  return lines;
}
