import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import {
  ExecaProcessRunner,
  lifecycleSeconds,
  openshellLifecycleEnv,
  pinnedProbeEnv,
} from "../../src/adapters/process-runner.js";

function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

async function waitGone(pid: number, ms = 2000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (!alive(pid)) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return !alive(pid);
}

describe("ExecaProcessRunner", () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  const env = pinnedProbeEnv(process.env);

  it("captures stdout, stderr and the exit code without a shell", async () => {
    const runner = new ExecaProcessRunner();
    const r = await runner.run(
      "node",
      ["-e", "console.log('out $HOME'); console.error('err'); process.exit(3)"],
      {
        timeoutMs: 5000,
        env,
      },
    );
    expect(r.stdout).toBe("out $HOME\n");
    expect(r.stderr).toBe("err\n");
    expect(r.exitCode).toBe(3);
    expect(r.timedOut).toBe(false);
    expect(r.startError).toBeNull();
  });

  it("reports a program that cannot be started", async () => {
    const r = await new ExecaProcessRunner().run("/nonexistent/openshell", ["--version"], {
      timeoutMs: 2000,
      env,
    });
    expect(r.startError).toMatch(/ENOENT/);
    expect(r.exitCode).toBeNull();
  });

  it("kills the whole process group on timeout and does not wait for a grandchild holding the pipes", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "runner-"));
    dirs.push(dir);
    const pidFile = path.join(dir, "grandchild.pid");
    const script = `
      const { spawn } = require("node:child_process");
      const g = spawn("sleep", ["300"], { stdio: "inherit" });
      require("node:fs").writeFileSync(${JSON.stringify(pidFile)}, String(g.pid));
      console.log("started");
      setInterval(() => {}, 1000);
    `;
    const started = Date.now();
    const r = await new ExecaProcessRunner().run("node", ["-e", script], { timeoutMs: 600, env });
    const elapsed = Date.now() - started;
    expect(r.timedOut).toBe(true);
    expect(r.exitCode).toBeNull();
    expect(r.stdout).toContain("started");
    expect(elapsed).toBeLessThan(3000);
    const grandchild = Number(readFileSync(pidFile, "utf8"));
    expect(await waitGone(grandchild)).toBe(true);
  });

  it("caps captured output and flags truncation", async () => {
    const r = await new ExecaProcessRunner().run("node", ["-e", "process.stdout.write('x'.repeat(5000))"], {
      timeoutMs: 5000,
      env,
      maxBytes: 1000,
    });
    expect(r.stdout.length).toBe(1000);
    expect(r.truncated).toBe(true);
  });

  it("kills the group when aborted", async () => {
    const controller = new AbortController();
    const runner = new ExecaProcessRunner();
    const p = runner.run("sleep", ["30"], { timeoutMs: 30_000, env, signal: controller.signal });
    setTimeout(() => controller.abort(), 100);
    const r = await p;
    expect(r.aborted).toBe(true);
    expect(runner.liveCount).toBe(0);
  });
});

describe("pinnedProbeEnv", () => {
  it("drops OPENSHELL_* and keeps DOCKER_* and the rest", () => {
    const pinned = pinnedProbeEnv({
      OPENSHELL_GATEWAY: "evil",
      OPENSHELL_ENDPOINT: "http://10.0.0.1",
      DOCKER_HOST: "unix:///run/user/docker.sock",
      PATH: "/usr/bin",
    });
    expect(pinned).toEqual({ DOCKER_HOST: "unix:///run/user/docker.sock", PATH: "/usr/bin" });
  });

  it("keeps OPENSHELL_WORKSPACE (a workspace scopes the CLI, never redirects it); drops the rest", () => {
    const pinned = pinnedProbeEnv({
      OPENSHELL_WORKSPACE: "team-a",
      OPENSHELL_GATEWAY_ENDPOINT: "http://10.0.0.1:8080",
      OPENSHELL_WORKSPACES: "look-alike",
      PATH: "/usr/bin",
    });
    expect(pinned).toEqual({ OPENSHELL_WORKSPACE: "team-a", PATH: "/usr/bin" });
  });

  it("unsets COLUMNS (miette wraps by it) and sets both OpenShell lifecycle timeouts, overriding ambient ones", () => {
    const pinned = pinnedProbeEnv(
      { COLUMNS: "40", OPENSHELL_PROVISION_TIMEOUT: "5", OPENSHELL_LIFECYCLE_TIMEOUT: "5", PATH: "/usr/bin" },
      61_001,
    );
    expect(pinned).toEqual({
      PATH: "/usr/bin",
      OPENSHELL_PROVISION_TIMEOUT: "62",
      OPENSHELL_LIFECYCLE_TIMEOUT: "62",
    });
    expect(openshellLifecycleEnv(300_000)).toEqual({
      OPENSHELL_PROVISION_TIMEOUT: "300",
      OPENSHELL_LIFECYCLE_TIMEOUT: "300",
    });
    expect(lifecycleSeconds(1)).toBe(1);
  });
});
