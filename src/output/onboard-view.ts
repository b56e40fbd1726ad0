import type { Writable } from "node:stream";
import type { OnboardProgress, OnboardReport } from "../actions/onboard.js";
import type { Style } from "./style.js";

/** The final human output of `onboard`: results on stdout, failure details on stderr. */
export function renderOnboardOutcome(
  report: OnboardReport,
  style: Style,
  /** stdout may be a pipe while stderr is a terminal: its colour is decided apart. */
  stdoutStyle: Style = style,
): { stdout: string[]; stderr: string[] } {
  const { result, warnings, failure } = report;
  const stdout: string[] = [];
  const stderr: string[] = warnings.map((w) => `${style.yellow("Warning:")} ${w}`);
  if (result.stopped) {
    stdout.push(`Stopped the previous gateway (pid ${result.stopped.pid}, ${result.stopped.signal}).`);
  }
  switch (result.action) {
    case "already-healthy":
      stdout.push(
        `${stdoutStyle.green("✓")} NemoClaw gateway is already healthy (OpenShell ${result.version}, pid ${result.pid}); nothing was restarted.`,
      );
      break;
    case "started":
    case "restarted":
      stdout.push(
        `${stdoutStyle.green("✓")} NemoClaw gateway is healthy (OpenShell ${result.version}, pid ${result.pid})`,
      );
      break;
    case "failed": {
      stderr.push(`${style.red("Error:")} ${failure?.message ?? "the gateway did not start"}.`);
      if (report.cleanup === "stopped") {
        stderr.push("The gateway was stopped; its runtime marker and pid file were removed.");
      }
      const tail = result.logTail ?? [];
      if (tail.length > 0) {
        stderr.push(`Last ${tail.length} lines of ${result.logFile}:`, ...tail.map((line) => `  ${line}`));
      } else if (result.logFile && result.pid !== undefined) {
        stderr.push(`The gateway wrote nothing to ${result.logFile}.`);
      }
      break;
    }
  }
  return { stdout, stderr };
}

const FRAMES = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

/**
 * Live progress on stderr: a spinner line redrawn in place on a TTY, one plain line per new
 * message otherwise (a log or CI never sees carriage returns or repeated poll lines).
 */
export class OnboardProgressView {
  private message = "";
  /** While waiting: when the wait began and how long it may take, for a live elapsed counter. */
  private wait: { since: number; timeoutMs: number } | null = null;
  private frame = 0;
  private timer: NodeJS.Timeout | undefined;
  private drawn = false;

  constructor(
    private readonly stream: Writable,
    private readonly isTTY: boolean,
    private readonly style: Style,
    /** Terminal width: a redrawn line must never wrap, or `\r` would only clear its last row. */
    private readonly columns: number = 80,
  ) {}

  update(event: OnboardProgress): void {
    const changed = event.message !== this.message;
    this.message = event.message;
    this.wait =
      event.kind === "waiting" ? { since: Date.now() - event.elapsedMs, timeoutMs: event.timeoutMs } : null;
    if (!this.isTTY) {
      if (changed) this.stream.write(`${event.message}\n`);
      return;
    }
    if (this.timer === undefined) {
      this.timer = setInterval(() => this.draw(), 100);
      this.timer.unref();
    }
    this.draw();
  }

  private draw(): void {
    const frame = FRAMES[this.frame++ % FRAMES.length] ?? "-";
    const elapsed = this.wait
      ? ` (${Math.floor((Date.now() - this.wait.since) / 1000)}s of ${Math.round(this.wait.timeoutMs / 1000)}s)`
      : "";
    const room = Math.max(10, this.columns - 3 - elapsed.length);
    const chars = Array.from(this.message);
    const message = chars.length > room ? `${chars.slice(0, room - 1).join("")}…` : this.message;
    this.stream.write(`\r\x1b[2K${this.style.dim(frame)} ${message}${this.style.dim(elapsed)}`);
    this.drawn = true;
  }

  /** Stops the spinner and clears its line, so the final output starts on a clean line. */
  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    if (this.drawn) this.stream.write("\r\x1b[2K");
    this.drawn = false;
  }
}
