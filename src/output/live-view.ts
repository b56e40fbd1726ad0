import type { Writable } from "node:stream";
import type { Style } from "./style.js";

const SPINNER = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

export type RowState = "pending" | "running" | "ok" | "failed" | "skipped";

interface Row {
  name: string;
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
      this.rows.set(name, { name, state: "pending", detail: "waiting" });
      if (name.length > this.width) this.width = name.length;
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
    const row = known ?? { name, state, detail };
    // A row first seen here (never planned) is a change too: its first line must be printed.
    const changed = !known || row.state !== state;
    if (state === "running" && row.startedAt === undefined) row.startedAt = this.now();
    row.state = state;
    row.detail = detail;
    this.rows.set(name, row);
    if (name.length > this.width) this.width = name.length;
    if (this.live) return; // drawn by the timer
    // Waiting rows are not events: without a terminal only changes and results get a line.
    if (changed || milestone || (state !== "running" && state !== "pending"))
      this.out.write(`${this.line(row, false)}\n`);
  }

  /** Stops redrawing and leaves the final state of every row on screen. */
  finish(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (this.live) this.redraw();
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
    return `${this.symbol(row)} ${row.name.padEnd(this.width)}  ${row.detail}${elapsed}`;
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
