import type { Writable } from "node:stream";
import type {
  CheckResult,
  RebuildOutcome,
  UpgradeEvent,
  UpgradeResult,
} from "../actions/upgrade-sandboxes.js";
import { escapeForDisplay } from "../domain/display.js";
import type { Classification } from "../domain/upgrade-classification.js";
import { ageOf } from "./backup-view.js";
import { formatDuration, LiveView, uploadDetail } from "./live-view.js";
import type { ProgressForm } from "./progress.js";
import type { Style } from "./style.js";
import { type Cell, renderTable, type TableRow, wrapText } from "./table.js";

/** One row per classified sandbox in the columns of `status` (the NOTE column is cut first). */
function classificationTable(
  sandboxes: readonly Classification[],
  style: Style,
  width: number | undefined,
): string[] {
  const rows: TableRow[] = [
    ["NAME", "PHASE", "VERSION", "STATUS", "NOTE"].map((text) => ({ text, paint: style.bold })),
  ];
  for (const c of sandboxes) {
    rows.push([
      escapeForDisplay(c.name),
      c.phase ?? "-",
      `${c.current ?? "?"} → ${c.expected ?? "?"}`,
      c.status,
      c.reason,
    ]);
  }
  return renderTable(rows, { width, cut: [4] });
}

/** `--check`: the columns of `status`, in its order (docs/design.md, "Tables"). */
export function renderCheckTable(result: CheckResult, style: Style, width?: number): string[] {
  const lines = classificationTable(result.sandboxes, style, width);
  const { stale, unknown, missing, interrupted } = result.counts;
  lines.push("");
  if (stale + unknown + missing + interrupted === 0) {
    lines.push("All sandboxes are up to date.");
    return lines;
  }
  lines.push(
    ...wrapText(
      `${stale} stale, ${unknown} unknown, ${missing} missing, ${interrupted} interrupted. Run \`nemoclaw upgrade-sandboxes --yes\` to finish interrupted operations and rebuild stale sandboxes (their state is backed up and restored).`,
      width,
    ),
  );
  return lines;
}

function outcomeLine(o: RebuildOutcome, style: Style): string {
  const mark =
    o.status === "rebuilt" || o.status === "restored"
      ? style.green("✓")
      : o.status === "failed"
        ? style.red("✗")
        : o.status === "current"
          ? style.green("=")
          : style.yellow("-");
  const label = o.status === "failed" ? "FAILED" : o.status;
  return `${mark} ${escapeForDisplay(o.name)}: ${label} — ${o.reason}${o.durationMs ? ` (${formatDuration(o.durationMs)})` : ""}`;
}

export function upgradeProgressListener(view: LiveView): (event: UpgradeEvent) => void {
  return (event) => {
    if (event.type === "planned") view.plan(event.names);
    else if (event.type === "step") view.update(event.name, "running", event.step, true);
    else if (event.type === "upload") view.update(event.name, "running", uploadDetail(event.progress));
    else if (event.type === "finished") {
      const o = event.outcome;
      view.update(
        o.name,
        o.status === "rebuilt" || o.status === "restored" || o.status === "current"
          ? "ok"
          : o.status === "failed"
            ? "failed"
            : "skipped",
        `${o.status}: ${o.reason}`,
      );
    }
  };
}

/** A backup's timestamp; on a narrow terminal its age. */
function backupCell(timestamp: string | undefined): Cell {
  return timestamp ? { text: timestamp, narrow: ageOf(timestamp) } : { text: "" };
}

function markCell(o: RebuildOutcome, style: Style): Cell {
  if (o.status === "rebuilt" || o.status === "restored") return { text: "✓", paint: style.green };
  if (o.status === "failed") return { text: "✗", paint: style.red };
  if (o.status === "current") return { text: "=", paint: style.green };
  return { text: "-", paint: style.yellow };
}

/** Each safety backup an operation holds, and on a line of its own the command that restores it. */
function safetyBackupLines(o: RebuildOutcome): string[] {
  return (o.safetyBackups ?? []).flatMap((b) => [`    Safety backup: ${b.path}`, b.command]);
}

/**
 * The result on a terminal: one aligned row per sandbox, then — for each failure — its backup's
 * full path and the commands that bring it back or finish it, each on a line of its own.
 */
function upgradeTable(result: UpgradeResult, style: Style, width?: number): string[] {
  const header: Cell[] = ["", "NAME", "VERSION", "STATUS", "BACKUP", "TIME", "DETAIL"].map((text) => ({
    text,
    paint: style.bold,
    right: text === "TIME",
  }));
  const rows: TableRow[] = [header];
  for (const o of result.sandboxes) {
    const failed = o.status === "failed";
    rows.push([
      markCell(o, style),
      escapeForDisplay(o.name),
      o.from || o.to ? `${o.from ?? "?"} → ${o.to ?? "?"}` : "",
      { text: failed ? "FAILED" : o.status, paint: failed ? style.red : undefined },
      backupCell(o.backup?.timestamp),
      { text: o.durationMs ? formatDuration(o.durationMs) : "", right: true },
      o.reason,
    ]);
  }
  // DETAIL gives way first, then the backup's timestamp becomes its age (the failure lines below
  // name every backup in full).
  const lines = renderTable(rows, { width, cut: [6] });
  for (const o of result.sandboxes) {
    if (
      !(
        (o.status === "failed" && o.backup) ||
        o.recoveryCommand ||
        o.finishCommand ||
        o.safetyBackups?.length
      )
    )
      continue;
    lines.push("");
    const mark = markCell(o, style);
    lines.push(
      `${mark.paint ? mark.paint(mark.text) : mark.text} ${escapeForDisplay(o.name)}: ${o.status === "failed" ? "FAILED" : o.status} — ${o.reason}`,
    );
    if (o.status === "failed" && o.backup) lines.push(`    Backup: ${o.backup.path}`);
    // On a line of its own, so an operator (or a script) can copy it as is.
    if (o.recoveryCommand) lines.push(o.recoveryCommand);
    if (o.finishCommand) lines.push(o.finishCommand);
    lines.push(...safetyBackupLines(o));
  }
  return lines;
}

/**
 * The stdout part. `table` (stdout is a terminal): aligned rows, failures' paths and commands
 * below them; without it, the plain `<name>: <status> — <reason>` lines scripts read.
 */
export function renderUpgradeSummary(
  result: UpgradeResult,
  style: Style,
  table = false,
  width?: number,
): string[] {
  const lines: string[] = table ? upgradeTable(result, style, width) : [];
  for (const o of table ? [] : result.sandboxes) {
    lines.push(outcomeLine(o, style));
    if (o.status === "failed" && o.backup) lines.push(`    Backup: ${o.backup.path}`);
    // On a line of its own, so an operator (or a script) can copy it as is.
    if (o.recoveryCommand) lines.push(o.recoveryCommand);
    if (o.finishCommand) lines.push(o.finishCommand);
    lines.push(...safetyBackupLines(o));
  }
  if (result.interrupted)
    lines.push(style.yellow(`Interrupted by ${result.interrupted}: no further sandboxes were started.`));
  const { rebuilt, restored, failed, skipped, current } = result.summary;
  lines.push(
    `Upgrade summary: ${rebuilt} rebuilt, ${failed} failed, ${skipped} skipped, ${current} up to date${
      restored ? `, ${restored} interrupted restore(s) finished` : ""
    }`,
  );
  return lines;
}

/**
 * Interactive `upgrade-sandboxes` (a terminal, no --yes): the plan before the first question —
 * what will be asked and what is left as it is — then, after each answer, that rebuild's
 * progress live until it ends (docs/design.md, "upgrade-sandboxes").
 */
export class InteractiveUpgrade {
  private readonly settled: RebuildOutcome[] = [];
  private view: LiveView | undefined;

  constructor(
    private readonly out: Writable,
    private readonly form: ProgressForm,
    private readonly style: Style,
    private readonly width?: number,
  ) {}

  /** The listener to pass as `onEvent`. */
  readonly onEvent = (event: UpgradeEvent): void => {
    if (event.type === "plan") this.out.write(`${this.planLines(event.rebuild).join("\n")}\n`);
    else if (event.type === "finished") {
      if (this.view && event.outcome.status !== "declined") this.finishView(event.outcome);
      else if (!this.view) this.settled.push(event.outcome);
    } else if (this.view && event.type === "step") this.view.update(event.name, "running", event.step, true);
    else if (this.view && event.type === "upload")
      this.view.update(event.name, "running", uploadDetail(event.progress));
  };

  /** After a "yes": this sandbox's rebuild is shown live from now on. */
  started(name: string): void {
    this.view = new LiveView(this.out, this.form === "tty", this.style);
    this.view.plan([name]);
    this.view.update(name, "running", "starting", true);
  }

  /** Stops any live line (an interrupt, a failure): nothing may redraw after the run. */
  stop(): void {
    this.view?.finish();
    this.view = undefined;
  }

  private finishView(o: RebuildOutcome): void {
    const state =
      o.status === "rebuilt" || o.status === "restored" ? "ok" : o.status === "failed" ? "failed" : "skipped";
    this.view?.update(o.name, state, `${o.status === "failed" ? "FAILED" : o.status}: ${o.reason}`);
    this.stop();
  }

  private planLines(rebuild: readonly Classification[]): string[] {
    const { style } = this;
    if (rebuild.length === 0) return [];
    const lines = [
      style.bold(
        `Plan: rebuild ${rebuild.length} stale sandbox(es), asking for each (state backed up, restored and verified):`,
      ),
    ];
    lines.push(...classificationTable(rebuild, style, this.width).map((l) => `  ${l}`));
    const left = this.settled.filter((o) => o.status !== "declined");
    if (left.length) {
      const byStatus = new Map<string, string[]>();
      for (const o of left)
        byStatus.set(o.status, [...(byStatus.get(o.status) ?? []), escapeForDisplay(o.name)]);
      lines.push(
        `  Left as they are: ${[...byStatus].map(([status, names]) => `${names.join(", ")} (${status === "current" ? "up to date" : status})`).join("; ")}`,
      );
    }
    return lines;
  }
}
