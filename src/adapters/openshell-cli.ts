import type { ProcessRunner, RunResult } from "./process-runner.js";

export interface OpenShellCliOptions {
  runner: ProcessRunner;
  /** The resolved `openshell` executable (the order of docs/design.md, "Binary resolution and identity"). */
  bin: string;
  /** Pinned probe environment (docs/design.md, "The preflight decision"). */
  env: Record<string, string>;
  timeoutMs: number;
  /**
   * The bound of `sandbox create`, `start` and `stop`, which block until the target phase: the
   * sandbox ready timeout plus a kill margin (never the probe timeout). Defaults to `timeoutMs`.
   */
  lifecycleTimeoutMs?: number;
  signal?: AbortSignal;
}

/** How `sandbox create` is called: `--detach` exists only from OpenShell 0.0.111. */
export type CreateForm = "detach" | "true-command";

export interface RunOverrides {
  timeoutMs?: number;
  onStderr?: (chunk: string) => void;
  /** The child's pid once it runs (the operations journal records the step's process). */
  onSpawn?: (pid: number) => void;
}

/**
 * The `openshell` calls nemoclaw makes, argv only (never a shell). Returns raw results: parsing
 * lives in openshell-output.ts and the schema-mismatch check in the domain, so every caller
 * decides explicitly what a failure means.
 */
export class OpenShellCli {
  constructor(private readonly options: OpenShellCliOptions) {}

  get bin(): string {
    return this.options.bin;
  }

  /**
   * The same CLI without the abort signal: for the calls that must still run after an
   * interrupt — stopping a sandbox that was started for a backup (docs/design.md).
   */
  detached(): OpenShellCli {
    return new OpenShellCli({ ...this.options, signal: undefined });
  }

  run(args: readonly string[], overrides: RunOverrides = {}) {
    return this.options.runner.run(this.options.bin, args, {
      env: this.options.env,
      timeoutMs: overrides.timeoutMs ?? this.options.timeoutMs,
      signal: this.options.signal,
      onStderr: overrides.onStderr,
      onSpawn: overrides.onSpawn,
    });
  }

  version(): Promise<RunResult> {
    return this.run(["--version"]);
  }

  status(gateway: string, timeoutMs?: number): Promise<RunResult> {
    return this.run(["status", "-g", gateway], { timeoutMs });
  }

  gatewayInfo(gateway: string): Promise<RunResult> {
    return this.run(["gateway", "info", "-g", gateway]);
  }

  /** Registers `endpoint` under `name`; an existing name fails with "… already exists …". */
  gatewayAdd(endpoint: string, name: string): Promise<RunResult> {
    return this.run(["gateway", "add", endpoint, "--name", name]);
  }

  /** Makes `name` the active gateway (what `openshell` uses without `-g`). */
  gatewaySelect(name: string): Promise<RunResult> {
    return this.run(["gateway", "select", name]);
  }

  /** Forgets the registration of `name` (never touches the gateway process or its data). */
  gatewayRemove(name: string): Promise<RunResult> {
    return this.run(["gateway", "remove", name]);
  }

  /**
   * One page of `sandbox list`: at most `limit` rows from `offset` (both flags exist on every
   * supported CLI; without `--limit` the CLI returns 100 rows).
   */
  sandboxList(gateway: string, page: { limit: number; offset: number }): Promise<RunResult> {
    return this.run([
      "sandbox",
      "list",
      "-g",
      gateway,
      "--limit",
      String(page.limit),
      "--offset",
      String(page.offset),
    ]);
  }

  sandboxGet(gateway: string, name: string): Promise<RunResult> {
    return this.run(["-g", gateway, "sandbox", "get", name]);
  }

  sandboxExec(
    gateway: string,
    name: string,
    command: readonly string[],
    timeoutMs?: number,
    onSpawn?: (pid: number) => void,
  ): Promise<RunResult> {
    return this.run(["-g", gateway, "sandbox", "exec", "-n", name, "--no-tty", "--", ...command], {
      timeoutMs,
      onSpawn,
    });
  }

  /** Extracts the contents of `sandboxDir` into local `dest` (created if missing). */
  sandboxDownload(
    gateway: string,
    name: string,
    sandboxDir: string,
    dest: string,
    timeoutMs: number,
  ): Promise<RunResult> {
    return this.run(["-g", gateway, "sandbox", "download", name, sandboxDir, dest], { timeoutMs });
  }

  /**
   * Uploads `localDir` to `<dest>/<basename(localDir)>`. Always `--no-git-ignore`: without it
   * OpenShell silently skips git-ignored files, and a restore would quietly lose them.
   */
  sandboxUpload(
    gateway: string,
    name: string,
    localDir: string,
    dest: string,
    timeoutMs: number,
    onSpawn?: (pid: number) => void,
  ): Promise<RunResult> {
    return this.run(["-g", gateway, "sandbox", "upload", name, localDir, dest, "--no-git-ignore"], {
      timeoutMs,
      onSpawn,
    });
  }

  /** The bound of a create/start/stop call. */
  get lifecycleTimeoutMs(): number {
    return this.options.lifecycleTimeoutMs ?? this.options.timeoutMs;
  }

  /**
   * `sandbox create`, which blocks until the sandbox is Ready (OPENSHELL_PROVISION_TIMEOUT).
   * `detach` (≥ 0.0.111): `--detach`, no command. `true-command` (< 0.0.111, which rejects
   * `--detach` with a usage error): `--no-tty -- true`, the sandbox is kept when `true` ends.
   * From 0.0.111 a command after `--` becomes the sandbox's main process, so never both.
   */
  sandboxCreate(
    gateway: string,
    name: string,
    image: string,
    form: CreateForm,
    onSpawn?: (pid: number) => void,
  ): Promise<RunResult> {
    const base = ["-g", gateway, "sandbox", "create", "--name", name, "--from", image];
    const args = form === "detach" ? [...base, "--detach"] : [...base, "--no-tty", "--", "true"];
    return this.run(args, { onSpawn, timeoutMs: this.lifecycleTimeoutMs });
  }

  /**
   * `sandbox start NAME` (OpenShell ≥ 0.0.105; older CLIs exit 2 with a usage error). Blocks until
   * Ready (OPENSHELL_LIFECYCLE_TIMEOUT): judge by the exit code and then the phase, never by the wording.
   */
  sandboxStart(gateway: string, name: string): Promise<RunResult> {
    return this.run(["-g", gateway, "sandbox", "start", name], { timeoutMs: this.lifecycleTimeoutMs });
  }

  /**
   * `sandbox stop NAME` (OpenShell ≥ 0.0.105): the gateway stops only a Ready (or Stopping)
   * sandbox; blocks until Stopped (OPENSHELL_LIFECYCLE_TIMEOUT). Confirm the phase afterwards.
   */
  sandboxStop(gateway: string, name: string): Promise<RunResult> {
    return this.run(["-g", gateway, "sandbox", "stop", name], { timeoutMs: this.lifecycleTimeoutMs });
  }

  sandboxDelete(gateway: string, name: string, onSpawn?: (pid: number) => void): Promise<RunResult> {
    return this.run(["-g", gateway, "sandbox", "delete", name], { onSpawn });
  }
}
