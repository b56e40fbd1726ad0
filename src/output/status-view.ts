import type { StatusResult, StatusRow } from "../actions/status.js";
import { escapeForDisplay } from "../domain/display.js";
import { formatAge } from "../domain/duration.js";
import type { Preflight } from "../domain/preflight-types.js";
import type { Style } from "./style.js";
import { type Cell, renderTable, type TableRow, wrapText } from "./table.js";

/** Aligned columns; the last column is never padded (no trailing blanks). */
export function alignColumns(given: string[][]): string[] {
  return renderTable(given);
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

/** The newest backup: its timestamp and age; on a narrow terminal the age only. */
function backupCell(r: StatusRow, style: Style): Cell {
  if (!r.lastBackup) return { text: "never", paint: style.red };
  const age = `${formatAge(r.lastBackup.ageSeconds)} ago`;
  const old = r.backupStale ? " old" : "";
  return {
    text: `${r.lastBackup.timestamp} (${age})${old}`,
    narrow: `${age}${old}`,
    ...(r.backupStale ? { paint: style.yellow } : {}),
  };
}

function statusCell(r: StatusRow, style: Style): Cell {
  if (r.status === "current") return { text: r.status, paint: style.green };
  if (r.status === "interrupted" || r.status === "in-progress") return { text: r.status, paint: style.red };
  return { text: r.status, paint: style.yellow };
}

/** The columns every table with these columns shows, in this order (docs/design.md, "Tables"). */
export const SANDBOX_COLUMNS = ["NAME", "PHASE", "VERSION", "STATUS", "LAST BACKUP", "NOTE"] as const;

/**
 * `status` on stdout: the verdict, the gateway, one aligned row per sandbox, the counts and —
 * when anything needs action — the commands to run, in order. Colour is applied after
 * alignment so escape codes never skew the columns.
 */
export function renderStatus(
  result: StatusResult,
  preflight: Preflight | null,
  style: Style,
  /** The terminal's width (stdout is a terminal), else undefined: no fitting. */
  width?: number,
): string[] {
  const head: string[] = [];
  const v = result.verdict;
  if (result.gatewayProblem && (v === "compatible" || v === "unknown"))
    head.push(
      `${style.red("✗")} ${/is not registered with this openshell CLI/.test(result.gatewayProblem) ? "Gateway not registered" : "Gateway unreachable"} — ${result.gatewayProblem}`,
    );
  else if (v === "compatible") head.push(`${style.green("✓")} Gateway preflight: compatible`);
  else if (v === "unknown" && !result.gatewayProblem)
    head.push(`${style.yellow("!")} Gateway preflight: unknown (could not prove compatibility)`);
  else
    head.push(
      `${style.red("✗")} Gateway preflight: ${v}${result.gatewayProblem ? ` — ${result.gatewayProblem}` : ""}`,
    );
  // On a terminal long prose is wrapped at words, never cut by the terminal mid-word.
  const lines = head.flatMap((line) => wrapText(line, width));
  lines.push(...wrapText(gatewayLine(preflight, result.gatewayName), width, "    "));
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
    const rows: TableRow[] = [SANDBOX_COLUMNS.map((text) => ({ text, paint: style.bold }))];
    for (const r of result.sandboxes) {
      rows.push([
        escapeForDisplay(r.name),
        r.phase,
        `${r.agentVersion ?? "?"} → ${r.expectedVersion ?? "?"}`,
        statusCell(r, style),
        backupCell(r, style),
        [
          r.status === "current" ? "" : r.reason,
          r.pinnedBackups.length ? `pinned: ${r.pinnedBackups.join(", ")}` : "",
        ]
          .filter(Boolean)
          .join("; "),
      ]);
    }
    // NOTE gives way first; names, phases and versions are never cut.
    lines.push(...renderTable(rows, { width, cut: [5] }));
  }
  const c = result.counts;
  lines.push("");
  lines.push(
    ...wrapText(
      `${c.total} sandbox(es): ${c.current} current, ${c.stale} stale, ${c.unknown} unknown, ${c.missing} missing, ${c.interrupted} interrupted; ${c.neverBackedUp} never backed up, ${c.oldBackup} with a backup older than ${formatAge(result.maxAgeSeconds)}.`,
      width,
    ),
  );
  if (result.actions.length) {
    lines.push("To do, in this order:");
    for (const action of result.actions) lines.push(`  ${action}`);
  } else if (result.verdict === "compatible" || result.verdict === "unknown") {
    lines.push(`${style.green("✓")} Nothing needs action: safe to upgrade, every sandbox is backed up.`);
  }
  return lines;
}
