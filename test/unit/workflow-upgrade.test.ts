// upgrade-sandboxes at action level (--check and the rebuild), over the stub runner.
import { execFileSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { checkUpgrades, type UpgradeOptions, upgradeSandboxes } from "../../src/actions/upgrade-sandboxes.js";
import { journalFile } from "../../src/adapters/operations-journal.js";
import { EnvironmentError } from "../../src/domain/errors.js";
import { ExitCode } from "../../src/domain/exit-codes.js";
import { fail } from "./support/stub-runner.js";
import {
  addSandbox,
  entry,
  GATEWAY,
  type Host,
  IMAGE,
  interruptedJournal,
  makeHost,
  registerPreflight,
  registerSandboxes,
  sealedBackup,
  workCalls,
  writeRegistry,
} from "./support/workflow-host.js";

const NOW_TS = "2026-11-29T12-00-00-000Z";
const OLD = "2026.6.0";
const NEW = "2026.7.1";
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

const policy = { gatewayName: GATEWAY, strict: false, rerunCommand: "nemoclaw upgrade-sandboxes --yes" };
const options = (extra: Partial<UpgradeOptions> = {}): UpgradeOptions => ({
  ...policy,
  concurrency: 1,
  ...extra,
});

function registry(h: Host): Record<string, Record<string, unknown>> {
  return JSON.parse(readFileSync(h.ctx.settings.paths.registryFile, "utf8")).sandboxes;
}

/** Every file and directory under the state root, with its mtime (to prove nothing was written). */
function snapshot(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      out.push(`${path.relative(root, p)} ${statSync(p).mtimeMs}`);
      if (e.isDirectory()) walk(p);
    }
  };
  walk(root);
  return out.sort();
}

/** The verbs of the calls that touch `name` (get/delete/create/upload/download/exec …). */
function verbsFor(h: Host, name: string): string[] {
  return workCalls(h.stub)
    .filter((c) => c.startsWith(`-g ${GATEWAY} sandbox `) && c.split(" ").includes(name))
    .map((c) => {
      const a = c.split(" ");
      if (a[3] === "exec") return a.slice(a.indexOf("--") + 1).join(" ");
      if (a[3] === "download") return `download ${a[5]}`;
      return a[3] === "upload" ? `upload ${a[6]}` : (a[3] as string);
    });
}

describe("upgrade-sandboxes --check (checkUpgrades)", () => {
  it("classifies current / stale (probe vs registry) / unknown / missing / interrupted, and writes nothing", async () => {
    const h = host();
    writeRegistry(h, {
      fresh: entry("fresh"),
      // The registry says current; the live probe says old: the probe wins.
      "probed-old": entry("probed-old", { agentVersion: NEW }),
      "reg-old": entry("reg-old", { agentVersion: OLD }),
      "no-probe": entry("no-probe", { agentVersion: null }),
      odd: entry("odd", { agent: "nobody" }),
      gone: entry("gone"),
      broken: entry("broken"),
    });
    addSandbox(h, "fresh");
    addSandbox(h, "probed-old").agentVersion = OLD;
    addSandbox(h, "reg-old", undefined, "Error"); // not Ready: not probed, the registry decides
    addSandbox(h, "no-probe");
    addSandbox(h, "odd");
    addSandbox(h, "broken");
    sealedBackup(h, "broken", "2026-11-28T10-00-00-000Z");
    interruptedJournal(h, "broken", "creating", "2026-11-28T10-00-00-000Z");
    registerPreflight(h);
    registerSandboxes(h, (args) =>
      args[3] === "exec" && args[5] === "no-probe"
        ? fail("Error:   × exec failed: no such binary\n", 127)
        : undefined,
    );
    const before = snapshot(h.root);
    const { result } = await checkUpgrades(h.ctx, policy);
    const by = Object.fromEntries(result.sandboxes.map((c) => [c.name, c]));
    expect(by.fresh).toMatchObject({ status: "current", current: NEW, versionSource: "probe" });
    expect(by["probed-old"]).toMatchObject({ status: "stale", current: OLD, versionSource: "probe" });
    expect(by["reg-old"]).toMatchObject({
      status: "stale",
      current: OLD,
      versionSource: "registry",
      phase: "Error",
    });
    expect(by["no-probe"]?.status).toBe("unknown");
    expect(by["no-probe"]?.reason).toContain("version probe failed");
    expect(by.odd).toMatchObject({ status: "unknown", reason: 'agent "nobody" is not in the catalog' });
    expect(by.gone?.status).toBe("missing");
    expect(by.broken?.status).toBe("interrupted");
    expect(result.counts).toEqual({ current: 1, stale: 2, unknown: 2, missing: 1, interrupted: 1 });
    // Probed: exactly the Ready, catalogued, journal-free ones.
    const probed = workCalls(h.stub)
      .filter((c) => c.includes(" exec "))
      .map((c) => c.split(" ")[5])
      .sort();
    expect(probed).toEqual(["fresh", "no-probe", "probed-old"]);
    expect(workCalls(h.stub).filter((c) => /sandbox (delete|create|upload|download) /.test(c))).toEqual([]);
    expect(snapshot(h.root)).toEqual(before);
    expect(existsSync(h.ctx.settings.paths.locksDir)).toBe(false);
  });
});

describe("upgradeSandboxes (the rebuild)", () => {
  it("rebuilds a stale sandbox: backup → delete → create → restore → verify → registry updated", async () => {
    const h = host();
    writeRegistry(h, { alpha: entry("alpha", { agentVersion: OLD, imageTag: "old" }), beta: entry("beta") });
    addSandbox(h, "alpha", { ".openclaw/config.json": '{"a":1}\n' }).agentVersion = OLD;
    addSandbox(h, "beta");
    registerPreflight(h);
    registerSandboxes(h);
    const run = await upgradeSandboxes(h.ctx, options());
    const by = Object.fromEntries(run.result.sandboxes.map((s) => [s.name, s]));
    expect(by.alpha).toMatchObject({ status: "rebuilt", from: OLD, to: NEW, attempts: 1 });
    expect(by.alpha?.backup?.timestamp).toBe(NOW_TS);
    expect(by.beta?.status).toBe("current");
    expect(run.result.summary).toMatchObject({ rebuilt: 1, current: 1, failed: 0 });
    const verbs = verbsFor(h, "alpha");
    // Probe, backup download, then the destructive steps in order.
    expect(verbs.slice(0, 2)).toEqual(["openclaw --version", "download /sandbox/.openclaw"]);
    const order = ["delete", "create", "upload /sandbox"].map((v) => verbs.indexOf(v));
    expect(order.every((i) => i > 1)).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
    expect(verbsFor(h, "beta")).toEqual(["openclaw --version"]);
    expect(registry(h).alpha).toMatchObject({ agentVersion: NEW, imageTag: IMAGE, gatewayName: GATEWAY });
    expect(registry(h).beta?.imageTag).toBeUndefined();
    expect(readFileSync(path.join(h.root, "boxes/alpha/sandbox/.openclaw/config.json"), "utf8")).toBe(
      '{"a":1}\n',
    );
    expect(existsSync(journalFile(h.ctx.settings.paths.stateRoot, "alpha"))).toBe(false);
    expect(run.refusal).toBeUndefined();
  });

  it("create failing twice: one retry, then FAILED with the recovery and finish commands", async () => {
    const h = host();
    writeRegistry(h, { alpha: entry("alpha", { agentVersion: OLD }) });
    addSandbox(h, "alpha").agentVersion = OLD;
    registerPreflight(h);
    registerSandboxes(h, (args) =>
      args[3] === "create" ? fail("Error:   × image pull failed: manifest unknown\n") : undefined,
    );
    const run = await upgradeSandboxes(h.ctx, options());
    const [alpha] = run.result.sandboxes;
    expect(alpha).toMatchObject({
      name: "alpha",
      status: "failed",
      attempts: 2,
      recoveryCommand: `nemoclaw restore alpha --backup ${NOW_TS} --create --yes`,
      finishCommand: "nemoclaw upgrade-sandboxes --yes alpha",
    });
    expect(verbsFor(h, "alpha").filter((v) => v === "create")).toHaveLength(2);
    expect(verbsFor(h, "alpha").filter((v) => v === "delete")).toHaveLength(1);
    // The backup stays, the journal stays open for the finishing run, the registry is untouched.
    expect(
      existsSync(path.join(h.ctx.settings.paths.backupsRoot, "alpha", NOW_TS, "rebuild-manifest.json")),
    ).toBe(true);
    expect(existsSync(journalFile(h.ctx.settings.paths.stateRoot, "alpha"))).toBe(true);
    expect(registry(h).alpha?.agentVersion).toBe(OLD);
  });

  it("an interrupted journal is finished first, from its backup (no new backup of partial state)", async () => {
    const h = host();
    const TS = "2026-11-28T10-00-00-000Z";
    writeRegistry(h, {
      alpha: entry("alpha", { agentVersion: OLD }),
      beta: entry("beta", { agentVersion: OLD }),
    });
    // Killed after the delete: the sandbox is gone, the journal says "creating".
    addSandbox(h, "alpha", {}, null).agentVersion = OLD;
    addSandbox(h, "beta").agentVersion = OLD;
    sealedBackup(h, "alpha", TS);
    interruptedJournal(h, "alpha", "creating", TS, { image: IMAGE });
    registerPreflight(h);
    registerSandboxes(h);
    const run = await upgradeSandboxes(h.ctx, options());
    expect(run.result.sandboxes.map((s) => [s.name, s.status, s.resumed ?? false])).toEqual([
      ["alpha", "rebuilt", true],
      ["beta", "rebuilt", false],
    ]);
    // alpha: no version probe and no new backup before its create; then restore and verify.
    const alpha = verbsFor(h, "alpha");
    const create = alpha.indexOf("create");
    expect(create).toBeGreaterThanOrEqual(0);
    expect(alpha.slice(0, create).filter((v) => v.startsWith("download") || v.endsWith("--version"))).toEqual(
      [],
    );
    expect(alpha).not.toContain("delete");
    expect(alpha.slice(create)).toEqual(
      expect.arrayContaining(["upload /sandbox", "download /sandbox/.openclaw"]),
    );
    // The first call touching beta comes after alpha's last.
    const calls = workCalls(h.stub);
    const lastAlpha = calls.map((c) => c.split(" ").includes("alpha")).lastIndexOf(true);
    const firstBeta = calls.findIndex((c) => c.split(" ").includes("beta") && !c.startsWith("sandbox list"));
    expect(firstBeta).toBeGreaterThan(lastAlpha);
    expect(readdirSync(path.join(h.root, "boxes/alpha/sandbox/.openclaw"))).toEqual(["x"]);
    expect(readdirSync(path.join(h.ctx.settings.paths.backupsRoot, "alpha"))).toEqual([TS]);
    expect(existsSync(journalFile(h.ctx.settings.paths.stateRoot, "alpha"))).toBe(false);
  });

  it("reports a backup's special-file warning once", async () => {
    const h = host();
    writeRegistry(h, { alpha: entry("alpha", { agentVersion: OLD }) });
    const box = addSandbox(h, "alpha");
    box.agentVersion = OLD;
    const fifo = path.join(box.fsRoot, "sandbox/.openclaw/agent.fifo");
    execFileSync("mkfifo", [fifo]);
    registerPreflight(h);
    registerSandboxes(h, (args) => {
      if (args[3] !== "download" || !existsSync(fifo)) return undefined;
      // cpSync refuses FIFOs: copy the rest, then make the FIFO in the download as OpenShell would.
      const [dir, dest] = [args[5] as string, args[6] as string];
      cpSync(path.join(box.fsRoot, dir), dest, { recursive: true, filter: (src) => src !== fifo });
      execFileSync("mkfifo", [path.join(dest, "agent.fifo")]);
      return { exitCode: 0 };
    });
    const warnings: string[] = [];
    const run = await upgradeSandboxes(h.ctx, options({ onWarnings: (w) => warnings.push(...w) }));
    expect(run.result.sandboxes[0]?.status).toBe("rebuilt");
    expect(warnings.filter((w) => w.includes("agent.fifo"))).toHaveLength(1);
  });

  it("sandbox names limit the run", async () => {
    const h = host();
    writeRegistry(h, {
      alpha: entry("alpha", { agentVersion: OLD }),
      beta: entry("beta", { agentVersion: OLD }),
    });
    addSandbox(h, "alpha").agentVersion = OLD;
    addSandbox(h, "beta").agentVersion = OLD;
    registerPreflight(h);
    registerSandboxes(h);
    const run = await upgradeSandboxes(h.ctx, options({ names: ["beta"] }));
    expect(run.result.sandboxes.map((s) => [s.name, s.status])).toEqual([["beta", "rebuilt"]]);
    expect(verbsFor(h, "alpha").filter((v) => v !== "openclaw --version")).toEqual([]);
    expect(registry(h).alpha?.agentVersion).toBe(OLD);
    expect(registry(h).beta?.agentVersion).toBe(NEW);
  });

  it("an unregistered name is a usage error before anything runs", async () => {
    const h = host();
    writeRegistry(h, { alpha: entry("alpha") });
    const error = await upgradeSandboxes(h.ctx, options({ names: ["nope"] })).catch((e: unknown) => e);
    expect((error as { exitCode: number }).exitCode).toBe(ExitCode.Usage);
    expect(h.stub.calls).toEqual([]);
  });

  it("a held registry lock before the rebuild → EnvironmentError (exit 4), nothing backed up or deleted", async () => {
    const h = host();
    writeRegistry(h, { alpha: entry("alpha", { agentVersion: OLD }) });
    addSandbox(h, "alpha").agentVersion = OLD;
    const lockDir = `${h.ctx.settings.paths.registryFile}.lock`;
    mkdirSync(lockDir);
    writeFileSync(path.join(lockDir, "owner"), `${process.pid}\n`);
    registerPreflight(h);
    registerSandboxes(h);
    const error = await upgradeSandboxes(h.ctx, options()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EnvironmentError);
    expect((error as EnvironmentError).exitCode).toBe(ExitCode.Environment);
    expect((error as EnvironmentError).code).toBe("registry_locked");
    expect(verbsFor(h, "alpha")).toEqual(["openclaw --version"]);
    expect(existsSync(path.join(h.ctx.settings.paths.backupsRoot, "alpha"))).toBe(false);
    // The maintenance lock was released on the way out.
    expect(readdirSync(h.ctx.settings.paths.locksDir)).toEqual([]);
  });
});
