import type { Writable } from "node:stream";
import type { UploadProgress } from "../actions/upload-progress.js";
import { escapeForDisplay, neutralizeControls, sanitizeForTerminal } from "../domain/display.js";
import type { Style } from "./style.js";

const SPINNER = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

export type RowState = "pending" | "running" | "ok" | "failed" | "skipped";

interface Row {
  name: string;
  /** The name as shown: escaped (a registry key can hold anything). */
  shown: string;
  state: RowState;
  detail: string;
  startedAt?: number;
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = n / 1024;
  let i = 0;
  // Step up once the value would round to 1024.0 (1048575 B is "1.0 MiB", not "1024.0 KiB").
  while (v >= 1023.95 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(1)} ${units[i]}`;
}

export function formatDuration(ms: number): string {
  // Round first, then split: 119999 ms is "2m0s" (not "1m60s"), 59999 ms is "1m0s" (not "60.0s").
  const tenths = Math.round(ms / 100);
  if (tenths < 600) return `${(tenths / 10).toFixed(1)}s`;
  const seconds = Math.round(ms / 1000);
  return `${Math.floor(seconds / 60)}m${seconds % 60}s`;
}

/**
 * Erases the `n` lines just above the cursor (the live region; the cursor sits at the start of
 * the line below it): cursor up n, erase to the end of the screen. The one sequence the live view
 * uses to clear itself (PTY tests apply exactly these semantics to a transcript).
 */
export function eraseLines(n: number): string {
  return n > 0 ? `\x1b[${n}A\r\x1b[J` : "";
}

/**
 * A transfer's progress: bytes done and rate; with a known total also a bar, percent and ETA.
 * `elapsedMs` under half a second gives no rate (and no ETA): too early to be meaningful.
 */
export function formatTransfer(bytes: number, elapsedMs: number, total?: number, barWidth = 20): string {
  const rate = elapsedMs >= 500 ? bytes / (elapsedMs / 1000) : 0;
  const rateText = rate > 0 ? ` at ${formatBytes(Math.round(rate))}/s` : "";
  if (total === undefined || total <= 0) return `${formatBytes(bytes)}${rateText}`;
  const fraction = Math.min(1, Math.max(0, bytes / total));
  const filled = Math.round(fraction * barWidth);
  const bar = `[${"#".repeat(filled)}${"-".repeat(barWidth - filled)}]`;
  const percent = `${Math.floor(fraction * 100)}%`;
  const eta = rate > 0 && bytes < total ? `, ETA ${formatDuration(((total - bytes) / rate) * 1000)}` : "";
  return `${bar} ${percent} ${formatBytes(bytes)} / ${formatBytes(total)}${rateText}${eta}`;
}

/**
 * A restore's upload: the total is the manifest's bytes, so a bar and an ETA. The bytes between
 * directory boundaries are an estimate (docs/design.md, "Upload progress").
 */
export function uploadDetail(progress: UploadProgress): string {
  return `restoring state ${formatTransfer(progress.bytes, progress.elapsedMs, progress.total)}`;
}

/**
 * Per-item progress on stderr. On a TTY: a live region of one line per item, redrawn in place
 * (spinner, detail, elapsed time). Otherwise: one plain line per state change, nothing redrawn.
 */
export class LiveView {
  private readonly rows = new Map<string, Row>();
  /** The longest name so far: kept up to date, so a line costs the same however many rows exist. */
  private width = 4;
  private drawn = 0;
  private frame = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly out: Writable,
    private readonly live: boolean,
    private readonly style: Style,
    private readonly now: () => number = () => performance.now(),
    /** Lines the live region may use: more than the terminal has would break the redraw. */
    private readonly maxLines = Math.max(5, ((out as { rows?: number }).rows ?? 24) - 2),
  ) {}

  plan(names: readonly string[]): void {
    for (const name of names) {
      const shown = escapeForDisplay(name);
      this.rows.set(name, { name, shown, state: "pending", detail: "waiting" });
      if (shown.length > this.width) this.width = shown.length;
    }
    if (this.live && !this.timer) {
      this.timer = setInterval(() => this.redraw(), 100);
      this.timer.unref();
      this.redraw();
    }
  }

  /**
   * `milestone`: a step worth a line of its own without a terminal (e.g. "restoring state");
   * byte counters are not milestones — they only refresh the live view.
   */
  update(name: string, state: RowState, detail: string, milestone = false): void {
    const known = this.rows.get(name);
    const row = known ?? { name, shown: escapeForDisplay(name), state, detail };
    // A row first seen here (never planned) is a change too: its first line must be printed.
    const changed = !known || row.state !== state;
    if (state === "running" && row.startedAt === undefined) row.startedAt = this.now();
    row.state = state;
    row.detail = detail;
    this.rows.set(name, row);
    if (row.shown.length > this.width) this.width = row.shown.length;
    if (this.live) return; // drawn by the timer
    // Waiting rows are not events: without a terminal only changes and results get a line.
    if (changed || milestone || (state !== "running" && state !== "pending"))
      this.out.write(`${this.line(row, false)}\n`);
  }

  /**
   * Text that must scroll above the live region (e.g. warnings): the region is erased, the text
   * written, and the region drawn again below it, so the redraw never overwrites the text.
   */
  print(given: readonly string[]): void {
    if (given.length === 0) return;
    const coloured = this.style.red("x") !== "x";
    const lines = given.map((line) => sanitizeForTerminal(line, coloured));
    // Not (or no longer) redrawing: what is on screen stays, the text goes below it.
    if (!this.live || this.drawn === 0 || !this.timer) {
      this.out.write(`${lines.join("\n")}\n`);
      return;
    }
    this.out.write(`${eraseLines(this.drawn)}${lines.join("\n")}\n`);
    this.drawn = 0;
    if (this.timer) this.redraw();
  }

  /**
   * Stops redrawing. `clear` (the result follows on the same terminal): the live region is erased
   * so nothing is printed twice. Otherwise the final state of every row stays on screen (with a
   * redirected stdout it is all the terminal will show).
   */
  finish(options: { clear?: boolean } = {}): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (!this.live) return;
    if (options.clear) {
      if (this.drawn > 0) this.out.write(eraseLines(this.drawn));
      this.drawn = 0;
      return;
    }
    this.redraw();
  }

  private symbol(row: Row): string {
    switch (row.state) {
      case "ok":
        return this.style.green("✓");
      case "failed":
        return this.style.red("✗");
      case "skipped":
        return this.style.yellow("-");
      case "running":
        return this.live ? this.style.yellow(SPINNER[this.frame % SPINNER.length] as string) : "…";
      default:
        return this.style.dim("·");
    }
  }

  private line(row: Row, withElapsed: boolean): string {
    const elapsed =
      withElapsed && row.state === "running" && row.startedAt !== undefined
        ? this.style.dim(`  ${formatDuration(this.now() - row.startedAt)}`)
        : "";
    return `${this.symbol(row)} ${row.shown.padEnd(this.width)}  ${neutralizeControls(row.detail)}${elapsed}`;
  }

  /** Every row when they fit; otherwise the running ones first and one line counting the rest. */
  private frameLines(): string[] {
    const rows = [...this.rows.values()];
    if (rows.length <= this.maxLines) return rows.map((row) => this.line(row, true));
    // One pass per frame, whatever the number of rows.
    const counts: Record<RowState, number> = { pending: 0, running: 0, ok: 0, failed: 0, skipped: 0 };
    const running: Row[] = [];
    for (const r of rows) {
      counts[r.state]++;
      if (r.state === "running" && running.length < this.maxLines - 1) running.push(r);
    }
    const count = (state: RowState) => counts[state];
    const summary = this.style.dim(
      `  ${count("ok")} done, ${count("failed")} failed, ${count("skipped")} skipped, ${count("pending")} waiting, ${count("running")} running`,
    );
    return [...running.map((row) => this.line(row, true)), summary];
  }

  private redraw(): void {
    this.frame++;
    const lines = this.frameLines();
    // Move up over what we drew last time, then rewrite every line (clearing its tail).
    let text = this.drawn > 0 ? `\x1b[${this.drawn}A` : "";
    for (const line of lines) text += `\r\x1b[2K${line}\n`;
    // A shorter frame than the last one: clear what is left below it.
    if (lines.length < this.drawn) text += "\x1b[J";
    this.out.write(text);
    this.drawn = lines.length;
  }
}

/**
 * The one transient line of a restore's upload on a terminal (a one-row live view). `end()`
 * leaves a finished upload as one completed line and erases an unfinished one, so the step or
 * failure lines that follow are never mixed with a stale bar.
 */
export class UploadLine {
  private view: LiveView | undefined;
  private last: UploadProgress | undefined;

  constructor(
    private readonly out: Writable,
    private readonly style: Style,
    private readonly label: string,
  ) {}

  update(progress: UploadProgress): void {
    const first = !this.view;
    this.view ??= new LiveView(this.out, true, this.style);
    this.last = progress;
    this.view.update(this.label, "running", uploadDetail(progress));
    // Drawn from now on (its first frame already shows the bar, not "waiting").
    if (first) this.view.plan([]);
  }

  end(): void {
    const { view, last } = this;
    if (!view || !last) return;
    this.view = undefined;
    this.last = undefined;
    if (last.bytes < last.total || last.total === 0) {
      view.finish({ clear: true });
      return;
    }
    view.update(
      this.label,
      "ok",
      `state uploaded: ${formatBytes(last.total)} in ${formatDuration(last.elapsedMs)}`,
    );
    view.finish();
  }
}
