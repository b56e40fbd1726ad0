// Lifecycle calls (docs/design.md, "Lifecycle calls"): the create form by installed version, the
// outcome-unknown message, and the OpenShell CLI's argv and bounds for create/start/stop.
import { describe, expect, it } from "vitest";
import { createFormFor, lifecycleDetail, lifecycleMessage } from "../../src/actions/sandbox-state.js";
import { OpenShellCli } from "../../src/adapters/openshell-cli.js";
import type { ProcessRunner, RunOptions, RunResult } from "../../src/adapters/process-runner.js";

class Recorder implements ProcessRunner {
  readonly calls: { args: readonly string[]; timeoutMs: number }[] = [];
  async run(file: string, args: readonly string[], options: RunOptions): Promise<RunResult> {
    this.calls.push({ args, timeoutMs: options.timeoutMs });
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
    };
  }
}

const result = (overrides: Partial<RunResult>): RunResult => ({
  file: "openshell",
  args: [],
  exitCode: 0,
  signal: null,
  stdout: "",
  stderr: "",
  timedOut: false,
  aborted: false,
  startError: null,
  truncated: false,
  durationMs: 1,
  ...overrides,
});

describe("createFormFor", () => {
  it.each([
    ["0.0.44", "true-command"],
    ["0.0.104", "true-command"],
    ["0.0.110", "true-command"],
    ["0.0.111", "detach"],
    ["0.0.112-dev.3+gabc", "detach"],
  ])("OpenShell %s → %s", (version, form) => {
    expect(createFormFor(version)).toBe(form);
  });

  it("an unreadable installed version has no form (refuse before any delete)", () => {
    expect(createFormFor(null)).toBeNull();
  });
});

describe("OpenShellCli lifecycle calls", () => {
  it("create uses the form given; create, start and stop are bounded by the lifecycle bound, not the probe timeout", async () => {
    const runner = new Recorder();
    const cli = new OpenShellCli({
      runner,
      bin: "openshell",
      env: {},
      timeoutMs: 15_000,
      lifecycleTimeoutMs: 330_000,
    });
    await cli.sandboxCreate("nemoclaw", "alpha", "img:1", "true-command");
    await cli.sandboxCreate("nemoclaw", "alpha", "img:1", "detach");
    await cli.sandboxStart("nemoclaw", "alpha");
    await cli.sandboxStop("nemoclaw", "alpha");
    await cli.sandboxGet("nemoclaw", "alpha");
    expect(runner.calls.map((c) => c.args.join(" "))).toEqual([
      "-g nemoclaw sandbox create --name alpha --from img:1 --no-tty -- true",
      "-g nemoclaw sandbox create --name alpha --from img:1 --detach",
      "-g nemoclaw sandbox start alpha",
      "-g nemoclaw sandbox stop alpha",
      "-g nemoclaw sandbox get alpha",
    ]);
    expect(runner.calls.map((c) => c.timeoutMs)).toEqual([330_000, 330_000, 330_000, 330_000, 15_000]);
  });
});

describe("lifecycle messages", () => {
  it("say the outcome is unknown and to look first, never that nothing changed", () => {
    const text = lifecycleMessage("create", "alpha", 300, "Provisioning", "killed at the bound");
    expect(text).toBe(
      "`openshell sandbox create alpha` did not finish within 300s (killed at the bound); the sandbox may have changed (now: Provisioning); look before retrying",
    );
    expect(text).not.toContain("nothing");
  });

  it("describe what happened to the process", () => {
    expect(lifecycleDetail(result({ exitCode: 0 }))).toBeNull();
    expect(lifecycleDetail(result({ exitCode: null, timedOut: true }))).toBe("killed at the bound");
    expect(
      lifecycleDetail(
        result({ exitCode: 1, stderr: "Error:   × sandbox provisioning timed out after 3s\n" }),
      ),
    ).toBe("exit 1: Error: sandbox provisioning timed out after 3s");
  });
});
