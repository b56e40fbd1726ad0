import type { Writable } from "node:stream";
import type { IOStreams } from "../context.js";
import { neutralizeControls } from "../domain/display.js";
import { LiveView } from "./live-view.js";
import type { Style } from "./style.js";
import { ellipsize } from "./table.js";

/**
 * The one progress printer (docs/design.md, "On a terminal, and without one"), in three forms:
 * `tty` — redrawn in place on stderr (spinner, then a ✓ once done); `plain` — one line per event,
 * no escape codes (a log, CI, NO_COLOR); `json` — nothing at all (stdout carries one document,
 * stderr stays quiet). Per-item progress (backup-all, upgrade-sandboxes) is a LiveView of rows;
 * a sequence of steps (restore, an interactive rebuild's prompt) is a StepList.
 */
export type ProgressForm = "tty" | "plain" | "json";

export function progressForm(io: IOStreams, json: boolean): ProgressForm {
  if (json) return "json";
  return io.color ? "tty" : "plain";
}

/** A sink for the `json` form: progress is computed but never shown. */
const NOWHERE = { write: () => true } as unknown as Writable;

/** Per-item rows in the given form. */
export function progressRows(io: IOStreams, form: ProgressForm, style: Style): LiveView {
  return new LiveView(form === "json" ? NOWHERE : io.stderr, form === "tty", style);
}

const FRAMES = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

/**
 * Steps shown once each. On a terminal the running step is one spinner line, rewritten as
 * `✓ <step>` when the next begins (or `✗` when the work failed); without one, `… <step>` once.
 */
export class StepList {
  private current: string | null = null;
  /** The step shown last (running or done): a repeat of it is not shown again. */
  private last: string | null = null;
  /** The running step's line was taken over (an upload bar): it is not drawn again. */
  private handedOver = false;
  private frame = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly out: Writable,
    private readonly form: ProgressForm,
    private readonly style: Style,
  ) {}

  step(text: string): void {
    if (this.form === "json") return;
    const shown = neutralizeControls(text);
    // The same step again (a backup verified before and after the prompt) is still that step.
    if (shown === this.current || shown === this.last) return;
    this.done();
    this.last = shown;
    if (this.form === "plain") {
      this.out.write(`${this.style.dim("…")} ${shown}\n`);
      return;
    }
    this.current = shown;
    this.handedOver = false;
    this.draw();
    this.timer = setInterval(() => this.draw(), 100);
    this.timer.unref();
  }

  /** The running step's line gives way to another live line (an upload bar), which reports it. */
  handOver(): void {
    if (this.current === null || this.handedOver) return;
    this.stopTimer();
    this.out.write("\r\x1b[2K");
    this.handedOver = true;
  }

  /** Marks the running step done (or failed) and leaves it on screen; no-op when none runs. */
  done(ok = true): void {
    this.stopTimer();
    if (this.current === null) return;
    if (!this.handedOver)
      this.out.write(`\r\x1b[2K${ok ? this.style.green("✓") : this.style.red("✗")} ${this.current}\n`);
    this.current = null;
    this.handedOver = false;
  }

  private draw(): void {
    if (this.current === null || this.handedOver) return;
    const spinner = this.style.yellow(FRAMES[this.frame++ % FRAMES.length] as string);
    // A redrawn line must never wrap, or `\r` would only clear its last row.
    const columns = (this.out as { columns?: number }).columns;
    const room = columns && columns > 10 ? columns - 3 : 77;
    this.out.write(`\r\x1b[2K${spinner} ${ellipsize(this.current, room)}`);
  }

  private stopTimer(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
