// The exit-code chains that live inline in the command classes (status's 3 > 4 > 1 > 0, backup-all's
// batchOutcome inputs, upgrade --check's needsAttention, restore's cancel), run through each
// command's own `execute()` with a fake Context (createContext overridden) over the stub runner.
import { Config } from "@oclif/core";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import type { Outcome } from "../../src/cli/nemoclaw-command.js";
import BackupAll from "../../src/commands/backup-all.js";
import Restore from "../../src/commands/restore.js";
import Status from "../../src/commands/status.js";
import UpgradeSandboxes from "../../src/commands/upgrade-sandboxes.js";
import type { Context } from "../../src/context.js";
import { ExitCode } from "../../src/domain/exit-codes.js";
import { fail, REPO_ROOT } from "./support/stub-runner.js";
import {
  addSandbox,
  entry,
  type Host,
  makeHost,
  registerPreflight,
  registerSandboxes,
  sealedBackup,
  UNREACHABLE,
  writeRegistry,
} from "./support/workflow-host.js";

let config: Config;
beforeAll(async () => {
  config = await Config.load(REPO_ROOT);
});

const hosts: Host[] = [];
afterEach(() => {
  for (const h of hosts.splice(0)) {
    h.cleanup();
    h.stub.assertAllUsed();
  }
});

type Executable = new (argv: string[], config: Config) => { execute(): Promise<Outcome> };

/** Runs `Cmd`'s execute() with `argv`, its Context replaced by `ctx`: the Outcome, not printed. */
function execute(Cmd: unknown, argv: string[], ctx: Context): Promise<Outcome> {
  const Base = Cmd as Executable;
  class UnderTest extends Base {
    createContext(): Context {
      return ctx;
    }
  }
  return new UnderTest(argv, config).execute();
}

/** A host with alpha (current, backed up at 11:00 — an hour before the fixed clock). */
function host(): Host {
  const h = makeHost();
  hosts.push(h);
  writeRegistry(h, { alpha: entry("alpha") });
  addSandbox(h, "alpha");
  sealedBackup(h, "alpha", "2026-11-29T11-00-00-000Z");
  return h;
}

describe("status: 3 > 4 > 1 > 0 (inline in src/commands/status.ts)", () => {
  it("0: everything current and backed up within --max-age", async () => {
    const h = host();
    registerPreflight(h);
    registerSandboxes(h);
    const out = await execute(Status, ["--json"], h.ctx);
    expect(out.exitCode).toBe(ExitCode.Ok);
    expect(out.error).toBeUndefined();
  });

  it("1: the backup is older than --max-age", async () => {
    const h = host();
    registerPreflight(h);
    registerSandboxes(h);
    const out = await execute(Status, ["--max-age", "30m"], h.ctx);
    expect(out.exitCode).toBe(ExitCode.Failed);
    expect(out.error?.code).toBe("action_needed");
  });

  it("4 beats 1: an unreachable gateway with an old backup", async () => {
    const h = host();
    registerPreflight(h, { unreachable: true });
    registerSandboxes(h, () => fail(UNREACHABLE));
    const out = await execute(Status, ["--max-age", "30m"], h.ctx);
    expect(out.exitCode).toBe(ExitCode.Environment);
  });

  it("3 beats everything: drift", async () => {
    const h = host();
    registerPreflight(h, { served: "0.0.43" });
    registerSandboxes(h);
    const out = await execute(Status, ["--max-age", "30m"], h.ctx);
    expect(out.exitCode).toBe(ExitCode.Refused);
    expect(out.error?.diagnostic?.length).toBeGreaterThan(0);
  });
});

describe("backup-all (src/commands/backup-all.ts)", () => {
  it("an empty registry → 0 with its message", async () => {
    const h = makeHost();
    hosts.push(h);
    writeRegistry(h, {});
    const out = await execute(BackupAll, [], h.ctx);
    expect(out.exitCode).toBe(ExitCode.Ok);
    expect(out.stdout).toEqual(["No sandboxes registered. Nothing to back up."]);
  });

  it("a skipped sandbox → 0; with --require-all → 1 (backup_failed)", async () => {
    // Two hosts: the fixed clock would give both runs' backups of alpha the same timestamp.
    const [lax, h] = [host(), host()];
    for (const x of [lax, h]) {
      writeRegistry(x, { alpha: entry("alpha"), ghost: entry("ghost") });
      registerPreflight(x);
      registerSandboxes(x);
    }
    expect((await execute(BackupAll, ["--json"], lax.ctx)).exitCode).toBe(ExitCode.Ok);
    const strict = await execute(BackupAll, ["--json", "--require-all"], h.ctx);
    expect(strict.exitCode).toBe(ExitCode.Failed);
    expect(strict.error).toEqual({ code: "backup_failed", message: "0 failed, 1 skipped (--require-all)" });
  });

  it("interrupted before the summary → 130 (the abort reason), over the failure", async () => {
    const h = host();
    registerPreflight(h);
    registerSandboxes(h, (args) => {
      if (args[3] === "download") {
        h.ctx.abort.abort("SIGINT");
        return { exitCode: null, signal: "SIGKILL", aborted: true };
      }
      return undefined;
    });
    const out = await execute(BackupAll, ["--json"], h.ctx);
    expect(out.exitCode).toBe(ExitCode.Interrupted);
    expect(out.error?.code).toBe("interrupted");
  });
});

describe("upgrade-sandboxes --check (src/commands/upgrade-sandboxes.ts)", () => {
  it("all current → 0; a stale sandbox → 1 with the counts", async () => {
    const h = host();
    registerPreflight(h);
    registerSandboxes(h);
    expect((await execute(UpgradeSandboxes, ["--check", "--json"], h.ctx)).exitCode).toBe(ExitCode.Ok);
    (h.sandboxes.get("alpha") as { agentVersion: string }).agentVersion = "2026.6.0";
    const out = await execute(UpgradeSandboxes, ["--check", "--json"], h.ctx);
    expect(out.exitCode).toBe(ExitCode.Failed);
    expect(out.error?.message).toBe("1 stale, 0 unknown, 0 missing");
  });
});

describe("restore (src/commands/restore.ts)", () => {
  it("without --yes and without a terminal → usage error (2) before anything runs", async () => {
    const h = host();
    const error = await execute(Restore, ["alpha"], h.ctx).catch((e: unknown) => e);
    expect((error as { exitCode: number }).exitCode).toBe(ExitCode.Usage);
    expect(h.stub.calls).toEqual([]);
  });
});
