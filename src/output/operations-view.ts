import type { AbandonPlan, AbandonResult, OperationsListResult } from "../actions/operations-admin.js";
import type { Style } from "./style.js";
import { renderTable, type TableRow } from "./table.js";

/** `operations list`: one aligned row per journal and started record, then each command. */
export function renderOperationsList(r: OperationsListResult, style: Style): string[] {
  if (r.operations.length === 0) return [`No unfinished operations (${r.operationsDir}).`];
  const header: TableRow = ["SANDBOX", "KIND", "STATE", "PHASE", "GATEWAY", "PINS", "COMMAND"].map(
    (text) => ({
      text,
      paint: style.bold,
    }),
  );
  const rows: TableRow[] = [header];
  for (const o of r.operations) {
    rows.push([
      o.sandbox,
      o.kind,
      { text: o.state, paint: o.state === "in-progress" ? style.yellow : style.red },
      o.phase ?? "?",
      o.gateway ?? "?",
      o.pins.join(",") || "-",
      o.command ?? "-",
    ]);
  }
  const lines = renderTable(rows);
  lines.push("");
  for (const o of r.operations) lines.push(`${o.sandbox}: ${o.reason}`);
  lines.push("", `${r.open} unfinished operation(s) in ${r.operationsDir}.`);
  return lines;
}

/** What `operations abandon` is about to drop (shown before the prompt, and in the result). */
export function renderAbandonPlan(p: AbandonPlan): string[] {
  const lines = [
    `Unfinished ${p.kind} of sandbox ${p.sandbox}: ${p.state}${p.phase ? `, phase ${p.phase}` : ""}${p.gateway ? `, gateway ${p.gateway}` : ""}`,
    `  File: ${p.file}`,
    `  The sandbox holds now: ${p.holds}`,
  ];
  if (p.pins.length === 0) lines.push("  It pins no backup.");
  for (const pin of p.pins) {
    lines.push(
      `  Pins ${pin.role === "backup" ? "backup" : "safety backup"} ${pin.timestamp}: ${pin.path}${pin.exists ? "" : " (missing!)"}`,
    );
  }
  return lines;
}

export function renderAbandonResult(r: AbandonResult, style: Style): string[] {
  const lines = renderAbandonPlan(r);
  if (!r.abandoned) {
    lines.push("Not abandoned; nothing was changed.");
    return lines;
  }
  lines.push(
    `${style.green("✓")} Dropped the ${r.kind === "started-for-backup" ? "started record" : "journal"} of ${r.sandbox} (history: abandoned). Its backups are kept, no longer pinned; the sandbox was not touched.`,
  );
  if (r.wayBack.length) {
    lines.push("To bring a pinned state back, run one of:");
    for (const c of r.wayBack) lines.push(`  ${c}`);
  }
  return lines;
}
