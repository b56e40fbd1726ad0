// A stub ProcessRunner (the idea of the GitHub CLI's internal/run/stub.go): tests register what
// each command answers, every call is recorded, and a call nobody registered fails loudly —
// both at the call (the run rejects, naming the argv) and afterwards (`assertAllUsed`), so a
// caller that swallows the rejection still fails the test. A registration nobody called fails
// `assertAllUsed` too, unless it was registered `optional` (a simulated world's handler).
import { PassThrough } from "node:stream";
import { fileURLToPath } from "node:url";
import type { PreflightReport } from "../../../src/actions/preflight.js";
import { type HostPaths, type HostSettings, resolveHostSettings } from "../../../src/adapters/host-paths.js";
import { OpenShellCli } from "../../../src/adapters/openshell-cli.js";
import type {
  ManagedProcessRunner,
  ProcessRunner,
  RunOptions,
  RunResult,
} from "../../../src/adapters/process-runner.js";
import type { Context } from "../../../src/context.js";
import { decideVerdict } from "../../../src/domain/gateway-verdict.js";

/** The repository root (this file is test/unit/support/stub-runner.ts). */
export const REPO_ROOT = fileURLToPath(new URL("../../../", import.meta.url));

/**
 * Matches the arguments after the binary: an array compares element by element (a string
 * exactly, a RegExp by `test`) and must have the same length; a function decides alone.
 */
export type ArgvMatcher = readonly (string | RegExp)[] | ((args: readonly string[], file: string) => boolean);

export type StubAnswer = Partial<RunResult>;
export type StubHandler = (
  args: readonly string[],
  options: RunOptions,
) => StubAnswer | RunResult | Promise<StubAnswer | RunResult>;

export interface StubCall {
  file: string;
  args: readonly string[];
  options: RunOptions;
}

export interface RegisterOptions {
  /** How many calls this registration answers (default: any number). */
  times?: number;
  /** The pid handed to `onSpawn` (default: the stub's `spawnPid`; null: never call onSpawn). */
  pid?: number | null;
  /** Try this registration before every earlier one (a per-test override of a shared setup). */
  first?: boolean;
  /**
   * This registration may go unused without failing `assertAllUsed`: only for a simulated world
   * (a handler that answers whatever the code under test asks of a fake sandbox, like
   * workflow-host's `registerSandboxes`), never for a call a test expects. The default, as in the
   * GitHub CLI's `run.Stub`, is that an unused registration fails the test.
   */
  optional?: boolean;
}

interface Registration {
  matcher: ArgvMatcher;
  answer: StubAnswer | StubHandler;
  times: number;
  used: number;
  pid: number | null | undefined;
  optional: boolean;
  label: string;
}

/** A pid no process holds on any sane Linux host (PID_MAX_LIMIT − 1): `trackChild` records nothing. */
export const NO_SUCH_PID = 4_194_303;

function describeMatcher(matcher: ArgvMatcher): string {
  if (typeof matcher === "function") return matcher.name ? `<predicate ${matcher.name}>` : "<predicate>";
  return matcher.map((m) => (typeof m === "string" ? m : String(m))).join(" ");
}

function matches(matcher: ArgvMatcher, file: string, args: readonly string[]): boolean {
  if (typeof matcher === "function") return matcher(args, file);
  if (matcher.length !== args.length) return false;
  return matcher.every((m, i) => {
    const arg = args[i] as string;
    return typeof m === "string" ? m === arg : m.test(arg);
  });
}

/** A complete RunResult: exit 0, empty output, unless `partial` says otherwise. */
export function runResult(file: string, args: readonly string[], partial: StubAnswer = {}): RunResult {
  return {
    file,
    args,
    exitCode: 0,
    signal: null,
    stdout: "",
    stderr: "",
    timedOut: false,
    aborted: false,
    startError: null,
    truncated: false,
    durationMs: 1,
    ...partial,
  };
}

/** Exit 0 with `stdout`. */
export function ok(stdout = ""): StubAnswer {
  return { exitCode: 0, stdout };
}

/** A failed run: `stderr`, exit `code` (1 by default, like miette's errors). */
export function fail(stderr: string, code = 1): StubAnswer {
  return { exitCode: code, stderr };
}

export class StubRunner implements ManagedProcessRunner {
  readonly calls: StubCall[] = [];
  /** Signals an interrupt asked `killAll` to send (nothing real runs under a stub). */
  readonly killed: NodeJS.Signals[] = [];

  killAll(signal: NodeJS.Signals = "SIGKILL"): void {
    this.killed.push(signal);
  }
  /** Calls that no registration answered (each also made its run reject). */
  readonly unmatched: StubCall[] = [];
  private readonly registrations: Registration[] = [];

  /** `spawnPid`: what `onSpawn` receives by default — a pid that names no process. */
  constructor(public spawnPid: number = NO_SUCH_PID) {}

  /**
   * Registers an answer. Registrations are tried in order; one whose `times` is used up is
   * skipped, so a `times: 1` registered before a general one answers the first call only.
   */
  register(matcher: ArgvMatcher, answer: StubAnswer | StubHandler, options: RegisterOptions = {}): this {
    const registration: Registration = {
      matcher,
      answer,
      times: options.times ?? Number.POSITIVE_INFINITY,
      used: 0,
      pid: options.pid,
      optional: options.optional ?? false,
      label: describeMatcher(matcher),
    };
    if (options.first) this.registrations.unshift(registration);
    else this.registrations.push(registration);
    return this;
  }

  /** Shorthand for `register(matcher, answer, { times: 1 })`. */
  once(matcher: ArgvMatcher, answer: StubAnswer | StubHandler, options: Omit<RegisterOptions, "times"> = {}) {
    return this.register(matcher, answer, { ...options, times: 1 });
  }

  async run(file: string, args: readonly string[], options: RunOptions): Promise<RunResult> {
    const reg = this.registrations.find((r) => r.used < r.times && matches(r.matcher, file, args));
    // `sync -f <staging>` (the one syncfs that seals a backup) succeeds, unrecorded, unless a test
    // registers an answer for it: durability is not what these tests are about.
    if (!reg && file === "sync" && args[0] === "-f") return runResult(file, args);
    const call: StubCall = { file, args: [...args], options };
    this.calls.push(call);
    if (!reg) {
      this.unmatched.push(call);
      throw new Error(`stub-runner: no stub registered for: ${[file, ...args].join(" ")}`);
    }
    reg.used++;
    const pid = reg.pid === undefined ? this.spawnPid : reg.pid;
    if (pid !== null) options.onSpawn?.(pid);
    const answer = typeof reg.answer === "function" ? await reg.answer(call.args, options) : reg.answer;
    return runResult(file, call.args, answer);
  }

  /** The recorded calls as `args.join(" ")` (the binary left out), in order. */
  commands(): string[] {
    return this.calls.map((c) => c.args.join(" "));
  }

  /** Registrations that no call used (optional ones left out). */
  unused(): string[] {
    return this.registrations.filter((r) => r.used === 0 && !r.optional).map((r) => r.label);
  }

  /**
   * Throws when a call went unanswered, or a registration not marked `optional` was never used.
   * `allowUnused` is for the stub runner's own tests only; workflow tests never pass it.
   */
  assertAllUsed(options: { allowUnused?: boolean } = {}): void {
    const problems: string[] = [];
    for (const call of this.unmatched) {
      problems.push(`unregistered call: ${[call.file, ...call.args].join(" ")}`);
    }
    if (!options.allowUnused) {
      for (const label of this.unused()) problems.push(`registered but never called: ${label}`);
    }
    if (problems.length) throw new Error(`stub-runner:\n  ${problems.join("\n  ")}`);
  }
}

export interface FakeContextOverrides extends Partial<Omit<Context, "settings">> {
  settings?: Partial<Omit<HostSettings, "paths">> & { paths?: Partial<HostPaths> };
  gatewayName?: string;
}

export interface FakeContext {
  ctx: Context;
  /** A compatible preflight whose `openshell` runs through the stub (binary `openshell`). */
  report: PreflightReport;
}

/** The fixed clock of fake contexts. */
export const FIXED_NOW = new Date("2026-11-29T12:00:00.000Z");

/**
 * A Context whose host lives under `tmpRoot` (state root `<tmpRoot>/state`, backups, registry
 * under it; the repo's catalog), with short timeouts, the real /proc, a fixed clock, and a
 * compatible PreflightReport whose OpenShell CLI runs through `runner`.
 */
export function fakeContext(
  tmpRoot: string,
  runner: ManagedProcessRunner,
  overrides: FakeContextOverrides = {},
): FakeContext {
  const { settings: settingOverrides, gatewayName: gatewayOverride, ...rest } = overrides;
  const env = { HOME: tmpRoot, NEMOCLAW_HOME: `${tmpRoot}/state` };
  const base = resolveHostSettings(env, tmpRoot, REPO_ROOT);
  const gatewayName = gatewayOverride ?? "nemoclaw";
  const settings: HostSettings = {
    ...base,
    gatewayName,
    probeTimeoutMs: 1000,
    transferTimeoutMs: 1000,
    sandboxReadyTimeoutMs: 2000,
    gatewayStartTimeoutMs: 1000,
    ...settingOverrides,
    paths: { ...base.paths, ...settingOverrides?.paths },
  };
  const sink = () => new PassThrough().resume();
  const ctx: Context = {
    cliVersion: "0.9.0-test",
    packageRoot: REPO_ROOT,
    env,
    settings,
    runner,
    probeEnv: {},
    procRoot: "/proc",
    now: () => FIXED_NOW,
    clock: () => performance.now(),
    io: {
      stdin: new PassThrough(),
      stdout: sink(),
      stderr: sink(),
      stdoutIsTTY: false,
      stderrIsTTY: false,
      stdinIsTTY: false,
      color: false,
      stdoutColor: false,
    },
    abort: new AbortController(),
    ...rest,
  };
  return { ctx, report: fakeReport(runner, gatewayName) };
}

/** A compatible (0.0.44 everywhere) PreflightReport: enough for checkStateQuery's diagnostics. */
export function fakeReport(runner: ProcessRunner, gatewayName = "nemoclaw"): PreflightReport {
  const verdict = decideVerdict({
    gatewayName,
    installedVersion: "0.0.44",
    status: { state: "connected", gatewayName, server: "http://127.0.0.1:8080", version: "0.0.44" },
    info: { endpoint: "http://127.0.0.1:8080" },
    cluster: null,
    hostBinary: { path: "/usr/local/bin/openshell-gateway", source: "runtime-marker", version: "0.0.44" },
    fallbackBinary: null,
  });
  return {
    gatewayName,
    verdict,
    openshell: new OpenShellCli({ runner, bin: "openshell", env: {}, timeoutMs: 1000 }),
    preflight: {
      verdict: verdict.verdict,
      ...(verdict.issue ? { issue: verdict.issue } : {}),
      installedVersion: "0.0.44",
      gateway: verdict.gateway,
      evidence: [],
      durationMs: 1,
    },
  };
}
