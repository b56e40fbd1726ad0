// Starting a Stopped sandbox for nemoclaw's work and stopping it again (docs/design.md), against a
// scripted `openshell`: every call must be expected, so a call nobody scripted fails the test.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { PreflightReport } from "../../src/actions/preflight.js";
import {
  SandboxStartError,
  settlePhase,
  startStoppedSandbox,
  stopLeftoverStartedSandboxes,
  stopStartedSandbox,
  withSandboxRunning,
} from "../../src/actions/sandbox-power.js";
import { OpenShellCli } from "../../src/adapters/openshell-cli.js";
import type { ProcessRunner, RunResult } from "../../src/adapters/process-runner.js";
import { listStartedRecords, writeStartedRecord } from "../../src/adapters/started-record.js";
import { type Context, createContext } from "../../src/context.js";

type Answer = { exitCode: number | null; stdout?: string; stderr?: string; timedOut?: boolean };

/** `openshell` scripted by `-g GW sandbox SUB NAME`: each answer list is consumed in order (the last repeats). */
class ScriptedOpenShell implements ProcessRunner {
  readonly calls: string[] = [];
  constructor(private readonly script: Record<string, Answer[]>) {}
  async run(file: string, args: readonly string[]): Promise<RunResult> {
    const key = args.join(" ");
    this.calls.push(key);
    const answers = this.script[key];
    if (!answers?.length) throw new Error(`unexpected openshell call: ${key}`);
    const answer = (answers.length > 1 ? answers.shift() : answers[0]) as Answer;
    return {
      file,
      args,
      exitCode: answer.exitCode,
      signal: null,
      stdout: answer.stdout ?? "",
      stderr: answer.stderr ?? "",
      timedOut: answer.timedOut ?? false,
      aborted: false,
      startError: null,
      truncated: false,
      durationMs: 1,
    };
  }
}

const phase = (p: string): Answer => ({ exitCode: 0, stdout: `Sandbox:\n\n  Name: beta\n  Phase: ${p}\n` });
const GET = "-g nemoclaw sandbox get beta";
const START = "-g nemoclaw sandbox start beta";
const STOP = "-g nemoclaw sandbox stop beta";

const roots: string[] = [];
afterEach(() => {
  for (const dir of roots.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

function setup(script: Record<string, Answer[]>, installedVersion = "0.0.106") {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), "nemoclaw-power-"));
  roots.push(home);
  const ctx: Context = createContext({
    cliVersion: "0.1.0",
    packageRoot: process.cwd(),
    env: { HOME: home, PATH: "/usr/bin", NEMOCLAW_SANDBOX_READY_TIMEOUT_MS: "600" },
  });
  const runner = new ScriptedOpenShell(script);
  const report = {
    gatewayName: "nemoclaw",
    openshell: new OpenShellCli({ runner, bin: "/usr/bin/openshell", env: {}, timeoutMs: 1000 }),
    preflight: { installedVersion },
  } as unknown as PreflightReport;
  const reactive = {
    action: "backing up registered sandboxes",
    rerunCommand: "nemoclaw backup-all",
    strict: false,
    report,
  };
  return { ctx, runner, reactive, root: ctx.settings.paths.stateRoot };
}

const recordFile = (root: string) => path.join(root, "operations", "beta.started.json");

describe("startStoppedSandbox", () => {
  it("on an OpenShell older than 0.0.105 runs nothing and writes nothing", async () => {
    const { ctx, runner, reactive, root } = setup({}, "0.0.104");
    const error = await startStoppedSandbox(ctx, reactive, "beta", "backup").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SandboxStartError);
    expect((error as SandboxStartError).cannotStart).toBe(true);
    expect((error as Error).message).toBe("stopped; this OpenShell (0.0.104) cannot start it");
    expect(runner.calls).toEqual([]);
    expect(fs.existsSync(path.join(root, "operations"))).toBe(false);
  });

  it("a start rejected as a usage error (exit 2) is 'cannot start'; the record is removed again", async () => {
    const { ctx, runner, reactive, root } = setup({
      [START]: [{ exitCode: 2, stderr: "error: unrecognized subcommand 'start'\n" }],
    });
    const error = (await startStoppedSandbox(ctx, reactive, "beta", "backup").catch(
      (e: unknown) => e,
    )) as SandboxStartError;
    expect(error.cannotStart).toBe(true);
    expect(runner.calls).toEqual([START]);
    expect(fs.existsSync(recordFile(root))).toBe(false);
  });

  it("writes the record (dir 0700, file 0600) before `start`, then waits for Ready by the phase", async () => {
    const { ctx, runner, reactive, root } = setup({
      [START]: [{ exitCode: 0, stdout: "whatever the wording\n" }],
      [GET]: [phase("Starting"), phase("Ready")],
    });
    await startStoppedSandbox(ctx, reactive, "beta", "rebuild");
    expect(runner.calls).toEqual([START, GET, GET]);
    expect(fs.statSync(path.join(root, "operations")).mode & 0o777).toBe(0o700);
    expect(fs.statSync(recordFile(root)).mode & 0o777).toBe(0o600);
    const record = JSON.parse(fs.readFileSync(recordFile(root), "utf8"));
    expect(record).toMatchObject({ version: 1, sandbox: "beta", gateway: "nemoclaw", purpose: "rebuild" });
    expect(record.writer.pid).toBe(process.pid);
  });

  it("a start that never becomes Ready is bounded; it is stopped again only once it settled on Ready", async () => {
    const starting = Array.from({ length: 4 }, () => phase("Starting"));
    const { ctx, runner, reactive, root } = setup({
      [START]: [{ exitCode: 0 }],
      [GET]: [...starting, phase("Ready"), phase("Stopped")],
      [STOP]: [{ exitCode: 0 }],
    });
    const started = Date.now();
    const error = (await startStoppedSandbox(ctx, reactive, "beta", "backup").catch(
      (e: unknown) => e,
    )) as SandboxStartError;
    expect(Date.now() - started).toBeLessThan(4000);
    expect(error.cannotStart).toBe(false);
    expect(error.message).toMatch(/not Ready within 600 ms \(last phase: Starting\); left stopped$/);
    // The gateway stops only a Ready sandbox: no stop while it was Starting.
    const stopAt = runner.calls.indexOf(STOP);
    expect(stopAt).toBeGreaterThan(0);
    expect(runner.calls.slice(0, stopAt).filter((c) => c === GET)).toHaveLength(5);
    expect(fs.existsSync(recordFile(root))).toBe(false);
  });

  it("a start that settles on Error is not stopped; the failure says how to look at it", async () => {
    const starting = Array.from({ length: 4 }, () => phase("Starting"));
    const { ctx, runner, reactive, root } = setup({
      [START]: [{ exitCode: 0 }],
      [GET]: [...starting, phase("Error")],
    });
    const error = (await startStoppedSandbox(ctx, reactive, "beta", "backup").catch(
      (e: unknown) => e,
    )) as SandboxStartError;
    expect(runner.calls).not.toContain(STOP);
    expect(error.message).toContain("it is in phase Error (the gateway stops only a Ready sandbox)");
    expect(error.stopCommand).toBe("openshell -g nemoclaw sandbox get beta");
    expect(fs.existsSync(recordFile(root))).toBe(true);
  });

  it("a cut `sandbox start` is an outcome-unknown lifecycle failure, never 'nothing changed'", async () => {
    const { ctx, runner, reactive } = setup({
      [START]: [{ exitCode: null, timedOut: true }],
      [GET]: [phase("Ready"), phase("Ready"), phase("Stopped")],
      [STOP]: [{ exitCode: 0 }],
    });
    const error = (await startStoppedSandbox(ctx, reactive, "beta", "backup").catch(
      (e: unknown) => e,
    )) as SandboxStartError;
    expect(error.lifecycle).toBe(true);
    expect(error.message).toContain(
      "`openshell sandbox start beta` did not finish within 1s (killed at the bound); the sandbox may have changed (now: Ready); look before retrying",
    );
    expect(error.message).not.toContain("nothing was changed");
    expect(runner.calls).toContain(STOP);
  });
});

describe("stopStartedSandbox", () => {
  it("stops, polls until Stopped, then removes the record; the wording of `stop` is ignored", async () => {
    const { ctx, runner, reactive, root } = setup({
      [GET]: [phase("Ready"), phase("Stopping"), phase("Stopped")],
      [STOP]: [{ exitCode: 0, stdout: "✗ something alarming\n" }],
    });
    writeStartedRecord(root, { sandbox: "beta", gateway: "nemoclaw", purpose: "backup" });
    expect(await stopStartedSandbox(ctx, reactive, "beta")).toEqual({ ok: true });
    expect(runner.calls).toEqual([GET, STOP, GET, GET]);
    expect(fs.existsSync(recordFile(root))).toBe(false);
  });

  it("a failed stop names the exact command and keeps the record for the next run", async () => {
    const { ctx, reactive, root } = setup({
      [GET]: [phase("Ready")],
      [STOP]: [{ exitCode: 1, stderr: "Error:   × failed to stop sandbox beta\n" }],
    });
    writeStartedRecord(root, { sandbox: "beta", gateway: "nemoclaw", purpose: "backup" });
    const outcome = await stopStartedSandbox(ctx, reactive, "beta");
    expect(outcome).toMatchObject({ ok: false, command: "openshell -g nemoclaw sandbox stop beta" });
    expect(outcome.ok ? "" : outcome.reason).toContain("failed to stop sandbox beta");
    expect(fs.existsSync(recordFile(root))).toBe(true);
  });

  it("an exit 0 whose phase never becomes Stopped is a failure too (bounded)", async () => {
    const { ctx, reactive } = setup({ [GET]: [phase("Ready")], [STOP]: [{ exitCode: 0 }] });
    const outcome = await stopStartedSandbox(ctx, reactive, "beta");
    expect(outcome.ok).toBe(false);
    expect(outcome.ok ? "" : outcome.reason).toContain("still Ready after 600 ms");
  });
});

describe("leftovers and wrappers", () => {
  it("stops the sandboxes of this gateway's leftover records; other gateways' records stay", async () => {
    const { ctx, runner, reactive, root } = setup({
      [GET]: [phase("Ready"), phase("Stopped")],
      [STOP]: [{ exitCode: 0 }],
    });
    writeStartedRecord(root, { sandbox: "beta", gateway: "nemoclaw", purpose: "backup" });
    writeStartedRecord(root, { sandbox: "other", gateway: "staging", purpose: "restore" });
    const lines = await stopLeftoverStartedSandboxes(ctx, reactive);
    expect(lines).toEqual([
      "Sandbox beta was started for a backup by a run that did not finish; it is stopped again.",
    ]);
    expect(runner.calls).toEqual([GET, STOP, GET]);
    expect(listStartedRecords(root).map((r) => r.sandbox)).toEqual(["other"]);
  });

  it("a corrupt record is still handled; names that are not sandbox names are never used", async () => {
    const { ctx, reactive, root } = setup({ [GET]: [phase("Stopped")] });
    fs.mkdirSync(path.join(root, "operations"), { recursive: true });
    fs.writeFileSync(path.join(root, "operations", "beta.started.json"), "{not json");
    fs.writeFileSync(path.join(root, "operations", "..evil.started.json"), "{}");
    fs.writeFileSync(path.join(root, "operations", "beta.json"), "{}");
    expect(listStartedRecords(root)).toEqual([
      { sandbox: "beta", file: path.join(root, "operations", "beta.started.json"), record: null },
    ]);
    expect(await stopLeftoverStartedSandboxes(ctx, reactive)).toEqual([
      "Sandbox beta was started by a run that did not finish; it is stopped again.",
    ]);
    expect(fs.existsSync(path.join(root, "operations", "beta.json"))).toBe(true);
  });

  it("withSandboxRunning leaves a Ready sandbox alone and stops a started one even when the work fails", async () => {
    const ready = setup({});
    expect(
      await withSandboxRunning(ready.ctx, ready.reactive, "beta", "Ready", "rebuild", async () => 7),
    ).toEqual({
      value: 7,
      stop: null,
    });
    expect(ready.runner.calls).toEqual([]);
    const { ctx, runner, reactive } = setup({
      [START]: [{ exitCode: 0 }],
      [GET]: [phase("Ready"), phase("Ready"), phase("Stopped")],
      [STOP]: [{ exitCode: 0 }],
    });
    const failing = withSandboxRunning(ctx, reactive, "beta", "Stopped", "rebuild", async () => {
      throw new Error("rebuild broke");
    });
    await expect(failing).rejects.toThrow("rebuild broke");
    expect(runner.calls).toEqual([START, GET, GET, STOP, GET]);
  });

  it("settlePhase waits out a transient phase, bounded by the ready timeout", async () => {
    const { ctx, reactive } = setup({ [GET]: [phase("Stopping"), phase("Stopped")] });
    expect(await settlePhase(ctx, reactive, "beta", "Stopping")).toBe("Stopped");
    const stuck = setup({ [GET]: [phase("Starting")] });
    const started = Date.now();
    expect(await settlePhase(stuck.ctx, stuck.reactive, "beta", "Starting")).toBe("Starting");
    expect(Date.now() - started).toBeLessThan(2000);
    expect(await settlePhase(stuck.ctx, stuck.reactive, "beta", "Ready")).toBe("Ready");
  });
});
