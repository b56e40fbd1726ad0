import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { build } from "esbuild";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { KillPoints, killPointConfig, normaliseLabel } from "../../src/adapters/kill-point.js";

const tmp: string[] = [];
function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kill-point-"));
  tmp.push(dir);
  return dir;
}

function alive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "latin1");
    return !/\) Z /.test(stat);
  } catch {
    return false;
  }
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, "SIGKILL");
  } catch {}
}

describe("kill-point seam: configuration and labels", () => {
  it("is inert when neither variable is set (and in this test process)", () => {
    expect(killPointConfig({})).toBeNull();
    expect(killPointConfig({ NEMOCLAW_TEST_KILL_POINTS: "", NEMOCLAW_TEST_KILL_AT: "" })).toBeNull();
    expect(killPointConfig(process.env)).toBeNull();
  });

  it("parses an ordinal or a label#n", () => {
    expect(killPointConfig({ NEMOCLAW_TEST_KILL_AT: "12" })).toEqual({ pointsFile: null, killAt: 12 });
    expect(
      killPointConfig({ NEMOCLAW_TEST_KILL_AT: "write ~/x#2", NEMOCLAW_TEST_KILL_POINTS: "/p" }),
    ).toEqual({
      pointsFile: "/p",
      killAt: "write ~/x#2",
    });
  });

  it("labels hold no run-specific text: home, timestamps, temp names", () => {
    expect(
      normaliseLabel("/h/u/.nemoclaw/rebuild-backups/beta/.2026-12-05T07-11-15-551Z.partial/x", "/h/u"),
    ).toBe("~/.nemoclaw/rebuild-backups/beta/.<ts>.partial/x");
    expect(normaliseLabel("/h/u/.nemoclaw/restore-verify/beta-clNzvU/.openclaw", "/h/u")).toBe(
      "~/.nemoclaw/restore-verify/beta-<tmp>/.openclaw",
    );
    expect(normaliseLabel("/d/.sandboxes.json.1234.0a1b2c3d4e5f.tmp", "/h/u")).toBe(
      "/d/.sandboxes.json.<tmp>",
    );
  });

  it("records every point with its ordinal and per-label count, and dies exactly at the chosen one", () => {
    const file = path.join(tempDir(), "points");
    const deaths: number[] = [];
    let n = 0;
    const byOrdinal = new KillPoints({ pointsFile: file, killAt: 3 }, () => deaths.push(++n), "/h");
    byOrdinal.reach("write", "/h/a.json");
    byOrdinal.reach("openshell", "sandbox get beta");
    byOrdinal.reach("write", "/h/a.json");
    byOrdinal.reach("write", "/h/a.json");
    expect(fs.readFileSync(file, "utf8")).toBe(
      "1\twrite ~/a.json#1\n2\topenshell sandbox get beta#1\n3\twrite ~/a.json#2\n4\twrite ~/a.json#3\n",
    );
    expect(deaths).toEqual([1]);

    const byLabel = new KillPoints(
      { pointsFile: null, killAt: "write ~/a.json#2" },
      () => deaths.push(++n),
      "/h",
    );
    byLabel.reach("write", "/h/a.json");
    expect(deaths).toEqual([1]);
    byLabel.reach("write", "/h/a.json");
    expect(deaths).toEqual([1, 2]);
    byLabel.reach("write", "/h/a.json");
    expect(deaths).toEqual([1, 2]);
  });
});

describe("kill-point seam: a real process", () => {
  let program: string;
  const pids: number[] = [];
  beforeAll(async () => {
    program = path.join(tempDir(), "child.mjs");
    await build({
      entryPoints: [path.join(import.meta.dirname, "support/kill-point-child.ts")],
      outfile: program,
      bundle: true,
      format: "esm",
      platform: "node",
      target: "node20",
      banner: {
        js: 'import { createRequire } from "node:module"; const require = createRequire(import.meta.url);',
      },
      logLevel: "warning",
    });
  });
  afterEach(() => {
    for (const pid of pids.splice(0)) killQuietly(pid);
  });
  afterAll(() => {
    for (const d of tmp.splice(0)) fs.rmSync(d, { recursive: true, force: true });
  });

  function run(dir: string, env: Record<string, string>, detached: boolean, stepSeconds = "0.1") {
    return new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
      const child = spawn(process.execPath, [program, dir, stepSeconds], {
        env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...env },
        detached,
        stdio: "ignore",
      });
      child.on("exit", (code, signal) => resolve({ code, signal }));
    });
  }

  function pidIn(dir: string, name: string): number {
    const pid = Number(fs.readFileSync(path.join(dir, name), "utf8"));
    pids.push(pid);
    return pid;
  }

  it("unset: every step runs, nothing is recorded", async () => {
    const dir = tempDir();
    const result = await run(dir, {}, true);
    expect(result).toEqual({ code: 0, signal: null });
    expect(fs.readdirSync(dir).sort()).toEqual(["a.txt", "b.txt", "finished", "sleeper.pid", "step.pid"]);
  });

  it("at a write: killed between temp file and rename, with the whole group it leads", async () => {
    const dir = tempDir();
    const points = path.join(tempDir(), "points");
    const result = await run(dir, { NEMOCLAW_TEST_KILL_AT: "2", NEMOCLAW_TEST_KILL_POINTS: points }, true);
    expect(result.signal).toBe("SIGKILL");
    const names = fs.readdirSync(dir);
    expect(names).toContain("a.txt");
    expect(names).not.toContain("b.txt");
    expect(names.some((n) => /^\.b\.txt\.\d+\.[0-9a-f]+\.tmp$/.test(n))).toBe(true);
    expect(names).not.toContain("finished");
    expect(fs.readFileSync(points, "utf8")).toBe(`1\twrite ${dir}/a.txt#1\n2\twrite ${dir}/b.txt#1\n`);
    const sleeper = pidIn(dir, "sleeper.pid");
    const deadline = Date.now() + 2000;
    while (alive(sleeper) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(alive(sleeper)).toBe(false);
  });

  it("at an OpenShell-like call: killed while the step runs; the step's own group outlives it", async () => {
    const dir = tempDir();
    const result = await run(dir, { NEMOCLAW_TEST_KILL_AT: "sleep 5#1" }, true, "5");
    expect(result.signal).toBe("SIGKILL");
    expect(fs.existsSync(path.join(dir, "finished"))).toBe(false);
    expect(alive(pidIn(dir, "step.pid"))).toBe(true);
  });

  it("never kills a group it does not lead: only itself", async () => {
    const dir = tempDir();
    const result = await run(dir, { NEMOCLAW_TEST_KILL_AT: "2" }, false);
    expect(result.signal).toBe("SIGKILL");
    expect(alive(pidIn(dir, "sleeper.pid"))).toBe(true);
  });
});
