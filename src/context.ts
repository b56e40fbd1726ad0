import fs from "node:fs";
import os from "node:os";
import type { Writable } from "node:stream";
import { type HostSettings, resolveHostSettings } from "./adapters/host-paths.js";
import { ExecaProcessRunner, type ManagedProcessRunner, pinnedProbeEnv } from "./adapters/process-runner.js";
import type { Preflight } from "./domain/preflight-types.js";

/** Where output goes and how it may look (the GitHub CLI's IOStreams idea). */
export interface IOStreams {
  stdin: NodeJS.ReadableStream;
  stdout: Writable;
  stderr: Writable;
  stdoutIsTTY: boolean;
  stderrIsTTY: boolean;
  stdinIsTTY: boolean;
  /**
   * Colour and live (redrawn) progress on stderr: only on a TTY, never with NO_COLOR or
   * TERM=dumb. Without it, progress is one plain line per event and carries no escape codes.
   */
  color: boolean;
  /** Colour on stdout, decided the same way for stdout's own terminal. */
  stdoutColor: boolean;
  /**
   * stdout and stderr are the same terminal (same device): a live view on stderr may be erased
   * before the result goes to stdout. Absent means no.
   */
  sameTerminal?: boolean;
}

/** The same terminal device behind two file descriptors (both TTYs, same rdev/dev+ino). */
export function fdsShareTerminal(a: number, b: number): boolean {
  try {
    const x = fs.fstatSync(a);
    const y = fs.fstatSync(b);
    return x.rdev === y.rdev && x.dev === y.dev && x.ino === y.ino;
  } catch {
    return false;
  }
}

/** Erase the live view when the work ends: it is live (a TTY with colour) and the result follows on that terminal. */
export function clearsLiveView(io: IOStreams): boolean {
  return io.color && io.stdoutIsTTY && io.stderrIsTTY && io.sameTerminal === true;
}

/**
 * Built once per command and passed down to actions, so tests inject fakes without module
 * mocking. Holds no mutable state of its own besides the runner's live-process set.
 */
export interface Context {
  cliVersion: string;
  packageRoot: string;
  env: NodeJS.ProcessEnv;
  settings: HostSettings;
  runner: ManagedProcessRunner;
  /** The environment every OpenShell/Docker probe runs with (docs/design.md, "The preflight decision"). */
  probeEnv: Record<string, string>;
  procRoot: string;
  now: () => Date;
  /** Monotonic milliseconds (durations, deadlines, polls): injectable so tests control time. */
  clock: () => number;
  io: IOStreams;
  /** Aborted on SIGINT/SIGTERM; its `reason` is the signal name. Long work stops starting new steps. */
  abort: AbortController;
  /**
   * Set once the gateway preflight ran (with the warnings it gave): a later failure's JSON
   * envelope still carries it; `preflight: null` means no preflight ran.
   */
  preflightRan?: { preflight: Preflight; warnings: string[] };
}

export type InterruptSignal = "SIGINT" | "SIGTERM";

/** The signal that interrupted this command, if any. */
export function interruptedBy(ctx: Context): InterruptSignal | null {
  return ctx.abort.signal.aborted ? (ctx.abort.signal.reason as InterruptSignal) : null;
}

export function processIOStreams(env: NodeJS.ProcessEnv): IOStreams {
  const stdoutIsTTY = Boolean(process.stdout.isTTY);
  const stderrIsTTY = Boolean(process.stderr.isTTY);
  const noColor = env.NO_COLOR !== undefined && env.NO_COLOR !== "";
  return {
    stdin: process.stdin,
    stdout: process.stdout,
    stderr: process.stderr,
    stdoutIsTTY,
    stderrIsTTY,
    stdinIsTTY: Boolean(process.stdin.isTTY),
    color: stderrIsTTY && !noColor && env.TERM !== "dumb",
    stdoutColor: stdoutIsTTY && !noColor && env.TERM !== "dumb",
    sameTerminal: stdoutIsTTY && stderrIsTTY && fdsShareTerminal(1, 2),
  };
}

export interface ContextOptions {
  cliVersion: string;
  packageRoot: string;
  gatewayFlag?: string;
  env?: NodeJS.ProcessEnv;
  io?: IOStreams;
}

export function createContext(options: ContextOptions): Context {
  const env = options.env ?? process.env;
  const settings = resolveHostSettings(
    env,
    env.HOME || os.homedir(),
    options.packageRoot,
    options.gatewayFlag,
  );
  return {
    cliVersion: options.cliVersion,
    packageRoot: options.packageRoot,
    env,
    settings,
    runner: new ExecaProcessRunner(),
    probeEnv: pinnedProbeEnv(env, settings.sandboxReadyTimeoutMs),
    procRoot: "/proc",
    now: () => new Date(),
    clock: () => performance.now(),
    io: options.io ?? processIOStreams(env),
    abort: new AbortController(),
  };
}
