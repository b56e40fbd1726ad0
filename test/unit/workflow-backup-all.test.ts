// backup-all at action level: the preflight, `sandbox list` and every transfer answered by the
// stub runner, the sandboxes' state dirs on disk. No simulator, no real process.
import { existsSync, readdirSync } from "node:fs";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { type BackupAllOptions, backupAll, backupAllFailed } from "../../src/actions/backup-all.js";
import { batchOutcome } from "../../src/cli/batch-outcome.js";
import { PreflightRefusal } from "../../src/domain/errors.js";
import { ExitCode } from "../../src/domain/exit-codes.js";
import { fail } from "./support/stub-runner.js";
import {
  addSandbox,
  entry,
  GATEWAY,
  type Host,
  interruptedJournal,
  MISMATCH,
  makeHost,
  registerPreflight,
  registerSandboxes,
  sealedBackup,
  workCalls,
  writeRegistry,
} from "./support/workflow-host.js";

const NOW_TS = "2026-11-29T12-00-00-000Z";
const hosts: Host[] = [];
afterEach(() => {
  for (const h of hosts.splice(0)) {
    h.stub.assertAllUsed();
    h.cleanup();
  }
});

function host(): Host {
  const h = makeHost();
  hosts.push(h);
  return h;
}

function options(extra: Partial<BackupAllOptions> = {}): BackupAllOptions {
  return {
    gatewayName: GATEWAY,
    requireAll: false,
    concurrency: 2,
    skipStopped: false,
    strict: false,
    rerunCommand: "nemoclaw backup-all",
    ...extra,
  };
}

function backupsOf(h: Host, name: string): string[] {
  const dir = path.join(h.ctx.settings.paths.backupsRoot, name);
  return existsSync(dir)
    ? readdirSync(dir)
        .filter((d) => !d.startsWith("."))
        .sort()
    : [];
}

/** Files left in the locks directory (the maintenance lock file is removed on release). */
function lockFiles(h: Host): string[] {
  const dir = h.ctx.settings.paths.locksDir;
  return existsSync(dir) ? readdirSync(dir) : [];
}

describe("backup-all (action level)", () => {
  it("refuses on drift: PreflightRefusal (exit 3), no sandbox call, nothing downloaded, no lock file", async () => {
    const h = host();
    writeRegistry(h, { alpha: entry("alpha") });
    addSandbox(h, "alpha");
    registerPreflight(h, { served: "0.0.43" });
    registerSandboxes(h);
    const error = await backupAll(h.ctx, options()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PreflightRefusal);
    expect((error as PreflightRefusal).exitCode).toBe(ExitCode.Refused);
    expect(workCalls(h.stub)).toEqual([]);
    expect(existsSync(h.ctx.settings.paths.backupsRoot)).toBe(false);
    expect(lockFiles(h)).toEqual([]);
  });

  it("an empty registry: nothing runs, not even the preflight", async () => {
    const h = host();
    writeRegistry(h, {});
    const run = await backupAll(h.ctx, options());
    expect(run.result.registered).toBe(0);
    expect(run.preflight).toBeNull();
    expect(h.stub.calls).toEqual([]);
  });

  it("backs up a Ready sandbox: list, download of each state dir, a sealed backup on disk", async () => {
    const h = host();
    writeRegistry(h, { alpha: entry("alpha") });
    addSandbox(h, "alpha", { ".openclaw/config.json": "{}\n", ".openclaw/w/notes.md": "milk\n" });
    registerPreflight(h);
    registerSandboxes(h);
    const run = await backupAll(h.ctx, options());
    expect(run.result.summary).toEqual({ backedUp: 1, failed: 0, skipped: 0 });
    expect(run.result.sandboxes[0]).toMatchObject({
      name: "alpha",
      status: "backed-up",
      timestamp: NOW_TS,
      files: 2,
    });
    const calls = workCalls(h.stub);
    expect(calls[0]).toBe(`sandbox list -g ${GATEWAY} --limit 1000 --offset 0`);
    expect(calls).toContain(
      `-g ${GATEWAY} sandbox download alpha /sandbox/.openclaw ${calls
        .find((c) => c.includes("download"))
        ?.split(" ")
        .at(-1)}`,
    );
    expect(calls.filter((c) => c.includes("delete") || c.includes("upload") || c.includes("rm -rf"))).toEqual(
      [],
    );
    expect(backupsOf(h, "alpha")).toEqual([NOW_TS]);
    expect(
      existsSync(path.join(h.ctx.settings.paths.backupsRoot, "alpha", NOW_TS, ".openclaw/w/notes.md")),
    ).toBe(true);
    expect(backupAllFailed(run.result)).toBe(false);
    expect(lockFiles(h)).toEqual([]);
  });

  it("skips: not listed, not Ready, invalid name, unknown agent, open journal, --skip-stopped", async () => {
    const h = host();
    writeRegistry(h, {
      gone: entry("gone"),
      errored: entry("errored"),
      "Bad Name": entry("Bad Name"),
      weird: entry("weird", { agent: "nobody" }),
      journaled: entry("journaled"),
      stopped: entry("stopped"),
      good: entry("good"),
    });
    addSandbox(h, "errored", undefined, "Error");
    addSandbox(h, "weird");
    addSandbox(h, "journaled");
    addSandbox(h, "stopped", undefined, "Stopped");
    addSandbox(h, "good");
    interruptedJournal(h, "journaled", "deleting", "2026-11-28T10-00-00-000Z");
    registerPreflight(h);
    registerSandboxes(h);
    const run = await backupAll(h.ctx, options({ skipStopped: true }));
    const by = Object.fromEntries(run.result.sandboxes.map((s) => [s.name, s]));
    expect(by.gone).toMatchObject({ status: "skipped", reason: "not listed by the gateway" });
    expect(by.errored).toMatchObject({ status: "skipped", reason: "phase Error, not Ready" });
    expect(by.stopped).toMatchObject({ status: "skipped", reason: "phase Stopped, not Ready" });
    expect(Object.values(by).find((s) => s.reason === "invalid sandbox name")?.status).toBe("failed");
    expect(by.weird).toMatchObject({
      status: "failed",
      reason: 'unknown agent "nobody" (not in the catalog)',
    });
    expect(by.journaled?.status).toBe("skipped");
    expect(by.journaled?.reason).toContain("run `nemoclaw upgrade-sandboxes --yes journaled` to finish it");
    expect(by.good?.status).toBe("backed-up");
    expect(run.result.summary).toEqual({ backedUp: 1, failed: 2, skipped: 4 });
    // Only the one backed-up sandbox was downloaded; nothing was started.
    const calls = workCalls(h.stub);
    expect(calls.filter((c) => c.includes(" download ")).map((c) => c.split(" ")[4])).toEqual(["good"]);
    expect(calls.filter((c) => c.includes(" start "))).toEqual([]);
    expect(backupsOf(h, "weird")).toEqual([]);
    expect(backupsOf(h, "journaled")).toEqual([]);
    expect(backupAllFailed(run.result)).toBe(true);
  });

  it("a Stopped sandbox on OpenShell 0.0.44 (no `sandbox start`) is skipped with the version in the reason", async () => {
    const h = host();
    writeRegistry(h, { alpha: entry("alpha") });
    addSandbox(h, "alpha", undefined, "Stopped");
    registerPreflight(h);
    registerSandboxes(h);
    const run = await backupAll(h.ctx, options());
    expect(run.result.sandboxes[0]?.status).toBe("skipped");
    expect(run.result.sandboxes[0]?.reason).toContain("0.0.44");
    expect(workCalls(h.stub)).toEqual([`sandbox list -g ${GATEWAY} --limit 1000 --offset 0`]);
  });

  it("a Stopped sandbox on 0.0.105 is started, backed up and stopped again (startedForBackup)", async () => {
    const h = host();
    writeRegistry(h, { alpha: entry("alpha") });
    addSandbox(h, "alpha", undefined, "Stopped");
    registerPreflight(h, { cli: "0.0.105", served: "0.0.105", gatewayBinary: "0.0.105" });
    const record = path.join(h.ctx.settings.paths.stateRoot, "operations", "alpha.started.json");
    const recordAt: Record<string, boolean> = {};
    registerSandboxes(h, (args) => {
      if (args[3] === "start" || args[3] === "download" || args[3] === "stop")
        recordAt[args[3]] = existsSync(record);
      return undefined;
    });
    const run = await backupAll(h.ctx, options());
    // Recorded before the start, kept through the download and until the stop.
    expect(recordAt).toEqual({ start: true, download: true, stop: true });
    expect(existsSync(record)).toBe(false);
    expect(run.result.sandboxes[0]).toMatchObject({
      status: "backed-up",
      startedForBackup: true,
      timestamp: NOW_TS,
    });
    const verbs = workCalls(h.stub)
      .filter((c) => c.startsWith("-g "))
      .map((c) => c.split(" ")[3]);
    const [start, download, stop] = ["start", "download", "stop"].map((v) => verbs.indexOf(v)) as [
      number,
      number,
      number,
    ];
    expect(start).toBeGreaterThanOrEqual(0);
    expect(download).toBeGreaterThan(start);
    expect(stop).toBeGreaterThan(download);
    expect(h.sandboxes.get("alpha")?.phase).toBe("Stopped");
  });

  it("one sandbox's failed download does not stop the others; failure → exit 1", async () => {
    const h = host();
    writeRegistry(h, { alpha: entry("alpha"), beta: entry("beta"), gamma: entry("gamma") });
    for (const n of ["alpha", "beta", "gamma"]) addSandbox(h, n);
    registerPreflight(h);
    registerSandboxes(h, (args) =>
      args[3] === "download" && args[4] === "beta"
        ? fail("Error:   × upload failed: disk gone\n")
        : undefined,
    );
    const run = await backupAll(h.ctx, options({ concurrency: 1 }));
    const status = Object.fromEntries(run.result.sandboxes.map((s) => [s.name, s.status]));
    expect(status).toEqual({ alpha: "backed-up", beta: "failed", gamma: "backed-up" });
    expect(backupsOf(h, "beta")).toEqual([]);
    expect(backupsOf(h, "gamma")).toEqual([NOW_TS]);
    // No staging of the failed download is left behind.
    expect(readdirSync(path.join(h.ctx.settings.paths.backupsRoot, "beta")).filter((d) => d !== "")).toEqual(
      [],
    );
    const outcome = batchOutcome(
      run.refusal,
      null,
      backupAllFailed(run.result) ? { code: "backup_failed", message: "x" } : null,
    );
    expect(outcome.exitCode).toBe(ExitCode.Failed);
  });

  it("--keep prunes old backups but keeps the one an open journal names", async () => {
    const h = host();
    writeRegistry(h, { alpha: entry("alpha") });
    addSandbox(h, "alpha");
    const old = ["2026-11-20T10-00-00-000Z", "2026-11-21T10-00-00-000Z", "2026-11-22T10-00-00-000Z"];
    for (const ts of old) sealedBackup(h, "alpha", ts);
    // Interrupted while registering: backed up anyway, and its backup is pinned.
    interruptedJournal(h, "alpha", "registering", old[0] as string);
    registerPreflight(h);
    registerSandboxes(h);
    const run = await backupAll(h.ctx, options({ keep: 1 }));
    expect(run.result.sandboxes[0]?.status).toBe("backed-up");
    expect(backupsOf(h, "alpha")).toEqual([old[0], NOW_TS]);
    expect(run.result.sandboxes[0]?.pruned?.map((p) => path.basename(p)).sort()).toEqual([old[1], old[2]]);
  });

  it("--keep without a journal keeps only the newest N", async () => {
    const h = host();
    writeRegistry(h, { alpha: entry("alpha") });
    addSandbox(h, "alpha");
    for (const ts of ["2026-11-20T10-00-00-000Z", "2026-11-21T10-00-00-000Z"]) sealedBackup(h, "alpha", ts);
    registerPreflight(h);
    registerSandboxes(h);
    await backupAll(h.ctx, options({ keep: 2 }));
    expect(backupsOf(h, "alpha")).toEqual(["2026-11-21T10-00-00-000Z", NOW_TS]);
  });

  it("requireAll: a skip alone fails the run", async () => {
    const h = host();
    writeRegistry(h, { alpha: entry("alpha"), beta: entry("beta") });
    addSandbox(h, "alpha");
    registerPreflight(h);
    registerSandboxes(h);
    const lax = await backupAll(h.ctx, options());
    expect(lax.result.summary).toEqual({ backedUp: 1, failed: 0, skipped: 1 });
    expect(backupAllFailed(lax.result)).toBe(false);
    expect(backupAllFailed({ ...lax.result, requireAll: true })).toBe(true);
  });

  it("a schema mismatch mid-run stops everything: refusal, kill, no further backups (exit 3)", async () => {
    const h = host();
    writeRegistry(h, { alpha: entry("alpha"), beta: entry("beta"), gamma: entry("gamma") });
    for (const n of ["alpha", "beta", "gamma"]) addSandbox(h, n);
    registerPreflight(h);
    registerSandboxes(h, (args) =>
      args[3] === "download" && args[4] === "alpha" ? fail(MISMATCH) : undefined,
    );
    const run = await backupAll(h.ctx, options({ concurrency: 1 }));
    expect(run.refusal).toBeInstanceOf(PreflightRefusal);
    expect(h.stub.killed).toContain("SIGKILL");
    const by = Object.fromEntries(run.result.sandboxes.map((s) => [s.name, s]));
    expect(by.alpha).toMatchObject({ status: "failed", reason: "schema mismatch" });
    expect(run.result.summary.backedUp).toBe(0);
    const downloads = workCalls(h.stub).filter((c) => c.includes(" download "));
    expect(downloads.map((c) => c.split(" ")[4])).toEqual(["alpha"]);
    for (const n of ["alpha", "beta", "gamma"]) expect(backupsOf(h, n)).toEqual([]);
    expect(batchOutcome(run.refusal, "SIGINT", { code: "backup_failed", message: "" }).exitCode).toBe(
      ExitCode.Refused,
    );
    expect(lockFiles(h)).toEqual([]);
  });
});
