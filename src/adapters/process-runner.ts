import path from "node:path";
import { killPoint } from "./kill-point.js";

/** 1 MiB per stream (docs/design.md, "Security and robustness rules"): OpenShell output is small; anything bigger is noise or an attack. */
export const OUTPUT_CAP_BYTES = 1024 * 1024;

/** Grace after killing a timed-out group before we stop waiting for its pipes to close. */
const PIPE_GRACE_MS = 100;

export interface RunOptions {
  /** Hard bound on the whole run; on expiry the child's process group is SIGKILLed. */
  timeoutMs: number;
  /** The complete environment of the child (nothing is inherited beyond it). */
  env: Record<string, string | undefined>;
  cwd?: string;
  maxBytes?: number;
  /** Aborting kills the child's process group (SIGTERM, then SIGKILL) and resolves at once. */
  signal?: AbortSignal;
  /** Called with each stderr chunk as it arrives (transfer progress). */
  onStderr?: (chunk: string) => void;
  /** Called once the child runs, with its pid (= its process group id): journals record it. */
  onSpawn?: (pid: number) => void;
}

export interface RunResult {
  file: string;
  args: readonly string[];
  /** null when the child was killed by a signal, timed out or never started. */
  exitCode: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  aborted: boolean;
  /** Set when the program could not be started (ENOENT, EACCES …). */
  startError: string | null;
  truncated: boolean;
  durationMs: number;
}

export interface ProcessRunner {
  run(file: string, args: readonly string[], options: RunOptions): Promise<RunResult>;
}

/** A runner that also knows its live children, so an interrupt can kill every process group. */
export interface ManagedProcessRunner extends ProcessRunner {
  killAll(signal?: NodeJS.Signals): void;
}

/**
 * `OPENSHELL_*` variables an `openshell` call keeps (docs/design.md): the workspace (OpenShell ≥
 * 0.0.88) scopes which sandboxes the CLI sees; it never redirects to another gateway.
 */
export const KEPT_OPENSHELL_VARIABLES: ReadonlySet<string> = new Set(["OPENSHELL_WORKSPACE"]);

/**
 * The environment probes run with: the caller's environment minus every `OPENSHELL_*` variable,
 * which could silently point a probe at a different gateway (docs/design.md, "The preflight decision"), except the workspace.
 * `DOCKER_*` is kept: it is how the user reaches Docker.
 */
export function pinnedProbeEnv(
  env: NodeJS.ProcessEnv,
  sandboxReadyTimeoutMs?: number,
): Record<string, string> {
  const pinned: Record<string, string> = {};
  for (const [key, value] of Object.entries(env)) {
    if (value === undefined) continue;
    if (key.startsWith("OPENSHELL_") && !KEPT_OPENSHELL_VARIABLES.has(key)) continue;
    // miette wraps reports at COLUMNS; unset, every probe's errors wrap the same way.
    if (key === "COLUMNS") continue;
    pinned[key] = value;
  }
  if (sandboxReadyTimeoutMs !== undefined)
    Object.assign(pinned, openshellLifecycleEnv(sandboxReadyTimeoutMs));
  return pinned;
}

/**
 * `sandbox create` blocks until Ready bounded by OPENSHELL_PROVISION_TIMEOUT, `start`/`stop` until
 * Ready/Stopped bounded by OPENSHELL_LIFECYCLE_TIMEOUT (seconds, 300 by default): both are set
 * explicitly to nemoclaw's sandbox ready timeout, rounded up to whole seconds.
 */
export function openshellLifecycleEnv(sandboxReadyTimeoutMs: number): Record<string, string> {
  const seconds = String(lifecycleSeconds(sandboxReadyTimeoutMs));
  return { OPENSHELL_PROVISION_TIMEOUT: seconds, OPENSHELL_LIFECYCLE_TIMEOUT: seconds };
}

export function lifecycleSeconds(sandboxReadyTimeoutMs: number): number {
  return Math.max(1, Math.ceil(sandboxReadyTimeoutMs / 1000));
}

/** nemoclaw kills a create/start/stop's process group this long after OpenShell's own bound. */
export const LIFECYCLE_KILL_MARGIN_MS = 30_000;

class CappedText {
  private readonly chunks: Buffer[] = [];
  private size = 0;
  truncated = false;
  constructor(private readonly cap: number) {}
  push(chunk: Buffer): void {
    if (this.size >= this.cap) {
      this.truncated = true;
      return;
    }
    const room = this.cap - this.size;
    const kept = chunk.length > room ? chunk.subarray(0, room) : chunk;
    if (kept.length < chunk.length) this.truncated = true;
    this.chunks.push(kept);
    this.size += kept.length;
  }
  text(): string {
    return Buffer.concat(this.chunks).toString("utf8");
  }
}

function killGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    // Negative pid: the whole process group the child leads (it was spawned detached).
    process.kill(-pid, signal);
  } catch {
    // Already gone.
  }
}

/**
 * Runs programs without a shell, each as the leader of its own process group, with a hard
 * timeout that kills the whole group and resolves even when a grandchild still holds the pipes.
 * Live groups are tracked so an interrupted command can kill them all (`killAll`).
 */
/**
 * execa is loaded on the first run, not at start-up: commands that start no process (`backups
 * list`, `--help`) never pay for it.
 */
let execaModule: Promise<typeof import("execa")> | undefined;
const loadExeca = () => {
  execaModule ??= import("execa");
  return execaModule;
};

export class ExecaProcessRunner implements ManagedProcessRunner {
  private readonly live = new Set<number>();

  killAll(signal: NodeJS.Signals = "SIGKILL"): void {
    for (const pid of this.live) killGroup(pid, signal);
  }

  get liveCount(): number {
    return this.live.size;
  }

  async run(file: string, args: readonly string[], options: RunOptions): Promise<RunResult> {
    const started = performance.now();
    const { execa } = await loadExeca();
    const cap = options.maxBytes ?? OUTPUT_CAP_BYTES;
    const out = new CappedText(cap);
    const err = new CappedText(cap);
    const base = { file, args, stdout: "", stderr: "", truncated: false };

    if (options.signal?.aborted) {
      return {
        ...base,
        exitCode: null,
        signal: null,
        timedOut: false,
        aborted: true,
        startError: null,
        durationMs: 0,
      };
    }

    const child = execa(file, args, {
      env: options.env,
      extendEnv: false,
      cwd: options.cwd,
      detached: true,
      reject: false,
      buffer: false,
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
      cleanup: false,
      windowsHide: true,
    });
    const pid = child.pid;
    if (pid !== undefined) {
      this.live.add(pid);
      options.onSpawn?.(pid);
      // The step runs now (its child leads its own group and outlives us if we are killed).
      killPoint(path.basename(file), args.join(" "));
    }
    child.stdout?.on("data", (chunk: Buffer) => out.push(chunk));
    child.stderr?.on("data", (chunk: Buffer) => {
      err.push(chunk);
      options.onStderr?.(chunk.toString("utf8"));
    });

    let timedOut = false;
    let aborted = false;
    let forceResolve: (() => void) | undefined;
    const forced = new Promise<void>((resolve) => {
      forceResolve = resolve;
    });
    const stopWaiting = () => {
      // The group is dead or dying; a grandchild that escaped it may keep the pipes open:
      // do not let that hang us.
      setTimeout(() => {
        child.stdout?.destroy();
        child.stderr?.destroy();
        forceResolve?.();
      }, PIPE_GRACE_MS).unref();
    };
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(pid, "SIGKILL");
      stopWaiting();
    }, options.timeoutMs);
    const onAbort = () => {
      aborted = true;
      killGroup(pid, "SIGTERM");
      setTimeout(() => killGroup(pid, "SIGKILL"), 500).unref();
      stopWaiting();
    };
    options.signal?.addEventListener("abort", onAbort, { once: true });

    const settled = await Promise.race([child.then((r) => r), forced.then(() => null)]);
    clearTimeout(timer);
    options.signal?.removeEventListener("abort", onAbort);
    if (pid !== undefined) {
      this.live.delete(pid);
      // A normal exit can still leave background grandchildren in the group; they are ours.
      if (timedOut || aborted) killGroup(pid, "SIGKILL");
    }

    const startError =
      settled?.failed && settled.exitCode === undefined && !settled.isTerminated && !timedOut && !aborted
        ? (settled.originalMessage ?? settled.shortMessage ?? "could not start")
        : null;
    return {
      file,
      args,
      exitCode: timedOut || aborted ? null : (settled?.exitCode ?? null),
      signal: settled?.signal ?? null,
      stdout: out.text(),
      stderr: err.text(),
      timedOut,
      aborted,
      startError,
      truncated: out.truncated || err.truncated,
      durationMs: Math.round(performance.now() - started),
    };
  }
}
