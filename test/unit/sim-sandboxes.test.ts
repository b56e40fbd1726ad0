// Self-test of the simulator's sandboxes (test/sim): real file trees per sandbox, download/upload
// with OpenShell's git-ignore trap, exec (agent version per image, rm -rf confined to the sandbox),
// create/delete with a ready delay, and the transfer / gateway fault knobs. backup-all, restore and
// upgrade-sandboxes are tested end to end against exactly this behaviour, so it is pinned here.
// Trees are compared with hashes computed here, independently of the simulator's own `tree`.

import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { exec, type Run, simctl, simctlOk } from "./support/sim-process.js";

const ANSI_RE = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, "g");
const ESC = String.fromCharCode(27);
const OPENCLAW_IMAGE = "ghcr.io/nvidia/nemoclaw/sandbox-openclaw:2026.7.1";
const HERMES_IMAGE = "ghcr.io/nvidia/nemoclaw/sandbox-hermes:0.19.0";

const strip = (text: string): string => text.replace(ANSI_RE, "");

interface Host {
  dir: string;
  bin: string;
}

const tempDirs: string[] = [];

function tempDir(prefix = "nemoclaw-simsb-"): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}

// One host with a running gateway for the whole file (starting one per test would triple the run
// time); after each test its sandboxes, knobs, counters and call log are reset.
let host: Host;
let pristineConfig: string;

beforeAll(async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "nemoclaw-sim-"));
  host = { dir, bin: path.join(dir, "bin") };
  await simctlOk("init", dir, "--port", "0");
  await simctlOk("start-gateway", dir);
  pristineConfig = fs.readFileSync(path.join(dir, "state/config.json"), "utf8");
});

afterEach(() => {
  for (const dir of tempDirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
  if (!host) return;
  const state = path.join(host.dir, "state");
  fs.writeFileSync(path.join(state, "config.json"), pristineConfig);
  fs.rmSync(path.join(state, "sandboxes"), { recursive: true, force: true });
  fs.mkdirSync(path.join(state, "sandboxes"));
  fs.rmSync(path.join(state, "counters"), { recursive: true, force: true });
  // The config is reset behind simctl's back, so the caches `simctl set` would drop go too.
  for (const cache of ["fast-exec", "replay", "fast-transfer"])
    fs.rmSync(path.join(state, cache), { recursive: true, force: true });
  fs.writeFileSync(path.join(state, "calls.log"), "");
});

afterAll(async () => {
  if (!host) return;
  const stopped = await simctl("stop", host.dir);
  fs.rmSync(host.dir, { recursive: true, force: true });
  if (stopped.code !== 0) throw new Error(`simctl stop failed: ${stopped.stderr}`);
});

function setKnobs(host: Host, knobs: Record<string, unknown>): void {
  const file = path.join(host.dir, "state/config.json");
  fs.writeFileSync(file, JSON.stringify({ ...JSON.parse(fs.readFileSync(file, "utf8")), ...knobs }));
}

function openshell(host: Host, ...args: string[]): Promise<Run> {
  return exec(path.join(host.bin, "openshell"), args, {
    PATH: process.env.PATH,
    HOME: path.join(host.dir, "home"),
  });
}

/** `openshell -g nemoclaw sandbox exec -n NAME --no-tty -- AGENT --version`, nemoclaw's version probe. */
const versionProbe = (host: Host, name: string, agent: string) =>
  openshell(host, "-g", "nemoclaw", "sandbox", "exec", "-n", name, "--no-tty", "--", agent, "--version");
/** `openshell -g GATEWAY sandbox download NAME FROM DEST`, the form nemoclaw uses. */
const download = (host: Host, gateway: string, name: string, from: string, dest: string) =>
  openshell(host, "-g", gateway, "sandbox", "download", name, from, dest);
const sbExec = (host: Host, name: string, ...cmd: string[]) =>
  openshell(host, "sandbox", "exec", "-n", name, "--no-tty", "--", ...cmd);

const rootOf = (host: Host, name: string) => path.join(host.dir, "state/sandboxes", name, "root");

interface Entry {
  type: "file" | "dir" | "link";
  mode: number;
  size?: number;
  sha256?: string;
  target?: string;
}

/** Every entry under `dir` (relative path → type, mode, size, SHA-256 or link target), never following links. */
function snapshot(dir: string): Record<string, Entry> {
  const result: Record<string, Entry> = {};
  const visit = (abs: string, rel: string): void => {
    for (const name of fs.readdirSync(abs).sort()) {
      const childAbs = path.join(abs, name);
      const childRel = rel ? `${rel}/${name}` : name;
      const stat = fs.lstatSync(childAbs);
      const mode = stat.mode & 0o7777;
      if (stat.isSymbolicLink())
        result[childRel] = { type: "link", mode: 0, target: fs.readlinkSync(childAbs) };
      else if (stat.isDirectory()) {
        result[childRel] = { type: "dir", mode };
        visit(childAbs, childRel);
      } else {
        const sha256 = createHash("sha256").update(fs.readFileSync(childAbs)).digest("hex");
        result[childRel] = { type: "file", mode, size: stat.size, sha256 };
      }
    }
  };
  visit(dir, "");
  return result;
}

const filesOf = (snap: Record<string, Entry>): string[] =>
  Object.keys(snap).filter((k) => snap[k]?.type === "file");

describe("sandbox file trees: download", () => {
  it("downloads the contents of a seeded state dir byte-for-byte (names, modes, empty dirs, symlinks)", async () => {
    await simctlOk("add-sandbox", host.dir, "alpha", "--image", OPENCLAW_IMAGE, "--seed");
    const stateDir = path.join(rootOf(host, "alpha"), "sandbox/.openclaw");
    expect(await simctlOk("sandbox-path", host.dir, "alpha")).toBe(rootOf(host, "alpha"));
    expect(await simctlOk("sandbox-path", host.dir, "alpha", "/sandbox/.openclaw")).toBe(stateDir);

    const dest = path.join(tempDir(), "backup/.openclaw"); // parent missing too: created
    const r = await download(host, "nemoclaw", "alpha", "/sandbox/.openclaw", dest);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain(`${ESC}[`);
    expect(strip(r.stderr)).toMatch(
      /^Downloading alpha:\/sandbox\/\.openclaw → .*\n(?:.*\n)*✓ Downloaded \d+ files/,
    );

    const source = snapshot(stateDir);
    expect(snapshot(dest)).toEqual(source);
    expect(source).toMatchObject({
      "workspace/My Notes.md": { type: "file" },
      "workspace/résumé – ünïcode ✓.txt": { type: "file" },
      "workspace/run.sh": { type: "file", mode: 0o755 },
      "workspace/notes-link": { type: "link", target: "My Notes.md" },
      "credentials/token": { type: "file", mode: 0o600 },
      "empty-dir": { type: "dir" },
      "cache/blobs/0001.bin": { type: "file", size: 2048 },
      ".gitignore": { type: "file" },
    });
    expect(source["media/photo.bin"]?.size).toBeGreaterThan(4096);
    expect(fs.readdirSync(path.join(dest, "empty-dir"))).toEqual([]);
    // The simulator's own listing agrees with the independent one.
    const [local, inSandbox] = await Promise.all([
      simctlOk("tree", host.dir, "--local", dest),
      simctlOk("tree", host.dir, "alpha", "/sandbox/.openclaw"),
    ]);
    expect(local).toBe(inSandbox);
    expect(inSandbox).toContain("l - - - workspace/notes-link -> My Notes.md");
  });

  it("seeds a big file and many small files fast; --files copies a local tree in", async () => {
    const fixture = tempDir();
    fs.mkdirSync(path.join(fixture, "sub dir"), { recursive: true });
    fs.writeFileSync(path.join(fixture, "sub dir/a.txt"), "A");
    await simctlOk(
      "add-sandbox",
      host.dir,
      "beta",
      "--image",
      HERMES_IMAGE,
      "--files",
      `/sandbox/extra=${fixture}`,
    );
    const seeded = await simctlOk("seed-sandbox", host.dir, "beta", "--big-mib", "3", "--small-files", "120");
    expect(seeded).toBe(path.join(rootOf(host, "beta"), "sandbox/.hermes"));
    const snap = snapshot(seeded);
    expect(snap["media/big.bin"]?.size).toBe(3 * 1024 * 1024);
    expect(filesOf(snap).filter((f) => f.startsWith("small/"))).toHaveLength(120);
    expect(snap["config.yaml"]?.type).toBe("file");
    expect(fs.readFileSync(path.join(rootOf(host, "beta"), "sandbox/extra/sub dir/a.txt"), "utf8")).toBe("A");
  });

  it("fails like the real CLI on a missing path, a missing sandbox and a not-Ready one, and refuses '..'", async () => {
    await Promise.all([
      simctlOk("add-sandbox", host.dir, "alpha", "--seed"),
      simctlOk("add-sandbox", host.dir, "stopped", "--phase", "Error"),
    ]);
    const dest = path.join(tempDir(), "out");
    const [absent, noSandbox, notReady, traversal] = await Promise.all([
      openshell(host, "sandbox", "download", "alpha", "/sandbox/.hermes", dest),
      openshell(host, "sandbox", "download", "nope", "/sandbox/.openclaw", dest),
      openshell(host, "sandbox", "download", "stopped", "/sandbox", dest),
      openshell(host, "sandbox", "download", "alpha", "/sandbox/../../../../etc", dest),
    ]);
    expect(absent.code).toBe(1);
    // Measured on OpenShell 0.0.104 and 0.0.111.
    expect(strip(absent.stderr)).toContain("realpath: /sandbox/.hermes: No such file or directory");
    expect(strip(absent.stderr)).toContain("× failed to resolve sandbox source path '/sandbox/.hermes'");
    expect(strip(absent.stderr)).toContain("╰─▶ ssh probe exited with status exit status: 1");
    expect(noSandbox.code).toBe(1);
    expect(strip(noSandbox.stderr)).toContain("sandbox not found");
    expect(notReady.code).toBe(1);
    expect(strip(notReady.stderr)).toContain('status: FailedPrecondition, message: "sandbox is not ready"');
    expect(traversal.code).toBe(1);
    expect(strip(traversal.stderr)).toContain("must not contain '..'");
    expect(fs.existsSync(dest)).toBe(false);
  });

  it("downloadFailAfterBytes breaks off midway (exit 1, transport error, partial DEST) for one sandbox only", async () => {
    await Promise.all([
      simctlOk("add-sandbox", host.dir, "alpha", "--seed"),
      simctlOk("add-sandbox", host.dir, "beta", "--seed"),
    ]);
    await simctlOk("set", host.dir, "downloadFailAfterBytes=3000", "downloadFailSandbox=alpha");
    const work = tempDir();
    const [failed, ok] = await Promise.all([
      openshell(host, "sandbox", "download", "alpha", "/sandbox/.openclaw", path.join(work, "a")),
      openshell(host, "sandbox", "download", "beta", "/sandbox/.openclaw", path.join(work, "b")),
    ]);
    expect(failed.code).toBe(1);
    expect(strip(failed.stderr)).toContain("× failed to download /sandbox/.openclaw from sandbox alpha");
    expect(strip(failed.stderr)).toContain("transport error");
    expect(failed.stderr).not.toContain("failed to resolve sandbox source path");
    const partial = snapshot(path.join(work, "a"));
    const bytes = filesOf(partial).reduce((sum, f) => sum + (partial[f]?.size ?? 0), 0);
    expect(bytes).toBe(3000);
    expect(filesOf(partial).length).toBeLessThan(
      filesOf(snapshot(path.join(rootOf(host, "alpha"), "sandbox/.openclaw"))).length,
    );
    expect(ok.code).toBe(0);
    expect(snapshot(path.join(work, "b"))).toEqual(
      snapshot(path.join(rootOf(host, "beta"), "sandbox/.openclaw")),
    );
  });

  it("transferDelayMs, downloadBytesPerSec and execDelayMs slow things down", async () => {
    await simctlOk("add-sandbox", host.dir, "alpha", "--seed");
    setKnobs(host, { transferDelayMs: 200, downloadBytesPerSec: 20_000, execDelayMs: 300 });
    let started = Date.now();
    const r = await openshell(
      host,
      "sandbox",
      "download",
      "alpha",
      "/sandbox/.openclaw",
      path.join(tempDir(), "d"),
    );
    expect(r.code).toBe(0);
    // ~7 KiB at 20 kB/s after a 200 ms delay.
    expect(Date.now() - started).toBeGreaterThanOrEqual(450);
    started = Date.now();
    expect((await sbExec(host, "alpha", "true")).code).toBe(0);
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
  });
});

describe("sandbox file trees: upload", () => {
  /** A local tree with ignored and kept files, exercising the supported .gitignore syntax. */
  function localTree(): string {
    const dir = path.join(tempDir(), "my state");
    const files: Record<string, string> = {
      ".gitignore":
        "# comment\n\n*.log\ncache/\nbuild/**\n/root-only.txt\n[ab].tmp\n!keep.log\ntrailing.txt   \n",
      "a.log": "x",
      "keep.log": "kept by negation",
      "deep/x.log": "x",
      "cache/c.bin": "x",
      "nested/cache/c.bin": "x",
      "build/out/o.bin": "x",
      "root-only.txt": "x",
      "nested/root-only.txt": "kept: anchored pattern only matches at the top",
      "a.tmp": "x",
      "c.tmp": "kept",
      "trailing.txt": "x",
      "cache.txt": "kept: cache/ matches directories only",
      "sub/.gitignore": "secret.json\n",
      "sub/secret.json": "x",
      "secret.json": "kept: the nested .gitignore applies to its own subtree",
      "notes with spaces.md": "kept",
    };
    for (const [rel, content] of Object.entries(files)) {
      fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
      fs.writeFileSync(path.join(dir, rel), content);
    }
    fs.mkdirSync(path.join(dir, "empty"));
    fs.symlinkSync("keep.log", path.join(dir, "link"));
    fs.chmodSync(path.join(dir, "c.tmp"), 0o751);
    return dir;
  }

  it("lands at DEST/<basename>; without --no-git-ignore git-ignored files are silently skipped", async () => {
    await simctlOk("add-sandbox", host.dir, "alpha");
    const local = localTree();
    const [plain, full] = await Promise.all([
      openshell(host, "sandbox", "upload", "alpha", local, "/sandbox/plain"),
      openshell(
        host,
        "-g",
        "nemoclaw",
        "sandbox",
        "upload",
        "alpha",
        local,
        "/sandbox/full",
        "--no-git-ignore",
      ),
    ]);
    expect(plain.code).toBe(0);
    expect(full.code).toBe(0);
    expect(strip(plain.stderr)).toMatch(
      /^Uploading .*my state → alpha:\/sandbox\/plain\/my state\n(?:.*\n)*✓ Uploaded/,
    );
    expect(plain.stderr).not.toMatch(/ignor|skip/i);

    const root = rootOf(host, "alpha");
    expect(snapshot(path.join(root, "sandbox/full/my state"))).toEqual(snapshot(local));
    const kept = filesOf(snapshot(path.join(root, "sandbox/plain/my state"))).sort();
    expect(kept).toEqual(
      [
        ".gitignore",
        "c.tmp",
        "cache.txt",
        "keep.log",
        "nested/root-only.txt",
        "notes with spaces.md",
        "secret.json",
        "sub/.gitignore",
      ].sort(),
    );
    const plainSnap = snapshot(path.join(root, "sandbox/plain/my state"));
    expect(plainSnap.empty?.type).toBe("dir");
    expect(plainSnap.link).toEqual({ type: "link", mode: 0, target: "keep.log" });
    expect(plainSnap["c.tmp"]?.mode).toBe(0o751);
  });

  it("round-trips a seeded state dir: download, rm -rf, upload --no-git-ignore restores every byte", async () => {
    await simctlOk("add-sandbox", host.dir, "alpha", "--image", OPENCLAW_IMAGE, "--seed");
    const stateDir = path.join(rootOf(host, "alpha"), "sandbox/.openclaw");
    const before = snapshot(stateDir);
    const backup = path.join(tempDir(), ".openclaw");
    expect((await openshell(host, "sandbox", "download", "alpha", "/sandbox/.openclaw", backup)).code).toBe(
      0,
    );
    await simctlOk("write-file", host.dir, "alpha", "/sandbox/.openclaw/extra.txt", "not in the backup");
    expect(fs.readFileSync(path.join(stateDir, "extra.txt"), "utf8")).toBe("not in the backup");

    // Upload merges like tar: without the rm -rf the extra file would survive.
    expect((await sbExec(host, "alpha", "rm", "-rf", "/sandbox/.openclaw")).code).toBe(0);
    expect((await sbExec(host, "alpha", "test", "-d", "/sandbox/.openclaw")).code).toBe(1);
    const up = await openshell(host, "sandbox", "upload", "alpha", backup, "/sandbox", "--no-git-ignore");
    expect(up.code).toBe(0);
    expect(snapshot(stateDir)).toEqual(before);

    // The trap: the same restore without --no-git-ignore loses the git-ignored state.
    await sbExec(host, "alpha", "rm", "-rf", "/sandbox/.openclaw");
    await openshell(host, "sandbox", "upload", "alpha", backup, "/sandbox");
    const lossy = snapshot(stateDir);
    expect(lossy["gateway.log"]).toBeUndefined();
    expect(lossy["cache/models.json"]).toBeUndefined();
    expect(lossy["workspace/project/build/out.o"]).toBeUndefined();
    expect(lossy["logs/keep.log"]?.type).toBe("file");
  });

  it("uploadBytesPerSec limits the rate of an upload, which still lands whole", async () => {
    await simctlOk("add-sandbox", host.dir, "alpha");
    setKnobs(host, { uploadBytesPerSec: 100_000 });
    const local = path.join(tempDir(), "big");
    fs.mkdirSync(local);
    fs.writeFileSync(path.join(local, "payload.bin"), Buffer.alloc(50_000, 7));
    const started = Date.now();
    const up = await openshell(host, "sandbox", "upload", "alpha", local, "/sandbox", "--no-git-ignore");
    expect(up.code).toBe(0);
    // 50 kB at 100 kB/s.
    expect(Date.now() - started).toBeGreaterThanOrEqual(450);
    expect(snapshot(path.join(rootOf(host, "alpha"), "sandbox/big"))).toEqual(snapshot(local));
  });

  it("uploadFailAfterBytes breaks off an upload; a missing local dir is an error", async () => {
    await simctlOk("add-sandbox", host.dir, "alpha");
    setKnobs(host, { uploadFailAfterBytes: 10 });
    const local = localTree();
    const [failed, missing] = await Promise.all([
      openshell(host, "sandbox", "upload", "alpha", local, "/sandbox", "--no-git-ignore"),
      openshell(host, "sandbox", "upload", "alpha", path.join(local, "nope"), "/sandbox"),
    ]);
    expect(failed.code).toBe(1);
    expect(strip(failed.stderr)).toContain("transport error");
    expect(missing.code).toBe(1);
    expect(strip(missing.stderr)).toContain("local path does not exist");
  });
});

describe("sandbox exec", () => {
  it("answers the agent version of the sandbox's image, or an explicit --agent-version", async () => {
    await Promise.all([
      simctlOk("add-sandbox", host.dir, "claw", "--image", OPENCLAW_IMAGE),
      simctlOk("add-sandbox", host.dir, "herm", "--image", HERMES_IMAGE),
      simctlOk("add-sandbox", host.dir, "pinned", "--image", OPENCLAW_IMAGE, "--agent-version", "2026.6.30"),
      simctlOk("add-sandbox", host.dir, "bare"),
      simctlOk("add-sandbox", host.dir, "booting", "--phase", "Provisioning", "--image", OPENCLAW_IMAGE),
    ]);
    const [claw, herm, pinned, wrongAgent, bare, booting, unknown] = await Promise.all([
      sbExec(host, "claw", "openclaw", "--version"),
      sbExec(host, "herm", "hermes", "--version"),
      sbExec(host, "pinned", "openclaw", "--version"),
      sbExec(host, "claw", "hermes", "--version"),
      sbExec(host, "bare", "openclaw", "--version"),
      sbExec(host, "booting", "openclaw", "--version"),
      sbExec(host, "claw", "frobnicate", "--now"),
    ]);
    expect([claw.code, claw.stdout]).toEqual([0, "openclaw 2026.7.1\n"]);
    expect([herm.code, herm.stdout]).toEqual([0, "hermes 0.19.0\n"]);
    expect(pinned.stdout).toBe("openclaw 2026.6.30\n");
    expect(wrongAgent.code).toBe(127);
    expect(bare.code).toBe(127);
    expect(booting.code).toBe(1);
    expect(strip(booting.stderr)).toContain("is not ready (phase: Provisioning)");
    expect(unknown.code).toBe(127);
    expect(unknown.stderr).toContain('"frobnicate": executable file not found');
  });

  it("echo, cat, ls, test, mkdir", async () => {
    await simctlOk("add-sandbox", host.dir, "alpha", "--seed");
    const [echo, cat, ls, lsMissing, isDir, notDir, relCat] = await Promise.all([
      sbExec(host, "alpha", "echo", "hello", "world"),
      sbExec(host, "alpha", "cat", "/sandbox/.openclaw/workspace/My Notes.md"),
      sbExec(host, "alpha", "ls", "/sandbox/.openclaw/workspace"),
      sbExec(host, "alpha", "ls", "/sandbox/none"),
      sbExec(host, "alpha", "test", "-d", "/sandbox/.openclaw/empty-dir"),
      sbExec(host, "alpha", "test", "-d", "/sandbox/.openclaw/openclaw.json"),
      sbExec(host, "alpha", "cat", ".openclaw/workspace/notes-link"),
    ]);
    expect(echo.stdout).toBe("hello world\n");
    expect(cat.stdout).toBe("# Notes\n\nThings the agent must not forget.\n");
    expect(ls.stdout).toBe("My Notes.md\nnotes-link\nproject\nrun.sh\nrésumé – ünïcode ✓.txt\n");
    expect(lsMissing.code).toBe(2);
    expect([isDir.code, notDir.code]).toEqual([0, 1]);
    expect(relCat.stdout).toBe(cat.stdout);
    expect((await sbExec(host, "alpha", "mkdir", "-p", "/sandbox/a/b")).code).toBe(0);
    expect(fs.statSync(path.join(rootOf(host, "alpha"), "sandbox/a/b")).isDirectory()).toBe(true);
  });

  it("rm -rf and every other path stay inside the sandbox root (.., absolute and relative symlinks)", async () => {
    await Promise.all([
      simctlOk("add-sandbox", host.dir, "alpha", "--seed"),
      simctlOk("add-sandbox", host.dir, "beta", "--seed"),
    ]);
    const outside = tempDir();
    fs.writeFileSync(path.join(outside, "victim"), "must survive");
    const root = rootOf(host, "alpha");
    // An absolute link to a host directory, and a relative one climbing far above the root.
    fs.symlinkSync(outside, path.join(root, "sandbox/abs-escape"));
    fs.symlinkSync("../../../../../../../../..", path.join(root, "sandbox/rel-escape"));

    const results = await Promise.all([
      sbExec(host, "alpha", "rm", "-rf", "/sandbox/abs-escape/victim"),
      sbExec(host, "alpha", "cat", "/sandbox/abs-escape/victim"),
      sbExec(host, "alpha", "rm", "-rf", "/sandbox/../../beta"),
      sbExec(host, "alpha", "rm", "-rf", "../beta"),
      sbExec(host, "alpha", "rm", "-rf", "/"),
      sbExec(host, "alpha", "test", "-d", "/sandbox/rel-escape/sandbox/.openclaw"),
      openshell(host, "sandbox", "download", "alpha", "/sandbox/abs-escape", path.join(tempDir(), "x")),
      simctl("write-file", host.dir, "alpha", "/sandbox/../../x", "no"),
    ]);
    const [rmAbs, catAbs, rmDots, rmRel, rmRoot, relInside, dlAbs, writeDots] = results;
    expect(rmAbs.code).toBe(0); // -f on a path that does not exist *inside* the sandbox
    expect(catAbs.code).toBe(1);
    expect(rmDots.code).toBe(1);
    expect(rmRel.code).toBe(1);
    expect(rmRoot.code).toBe(1);
    expect(strip(rmRoot.stderr)).toContain("dangerous to operate recursively on '/'");
    // `..` stops at the sandbox root: the climbing link points at the root itself.
    expect(relInside.code).toBe(0);
    expect(dlAbs.code).toBe(1);
    expect(strip(dlAbs.stderr)).toContain("failed to resolve sandbox source path");
    expect(writeDots.code).toBe(2);
    expect(fs.readFileSync(path.join(outside, "victim"), "utf8")).toBe("must survive");
    expect(fs.existsSync(path.join(rootOf(host, "beta"), "sandbox/.openclaw/openclaw.json"))).toBe(true);

    // rm removes a link itself, never its target; a real dir is removed, and only it.
    expect((await sbExec(host, "alpha", "rm", "-rf", "/sandbox/abs-escape", "/sandbox/.openclaw")).code).toBe(
      0,
    );
    expect(fs.existsSync(path.join(root, "sandbox/abs-escape"))).toBe(false);
    expect(fs.existsSync(path.join(root, "sandbox/.openclaw"))).toBe(false);
    expect(fs.existsSync(path.join(root, "sandbox/rel-escape"))).toBe(true);
    expect(fs.readFileSync(path.join(outside, "victim"), "utf8")).toBe("must survive");
  });

  it("an upload replaces a symlink at its target instead of writing through it", async () => {
    await simctlOk("add-sandbox", host.dir, "alpha");
    const outside = tempDir();
    const local = path.join(tempDir(), "payload");
    fs.mkdirSync(local);
    fs.writeFileSync(path.join(local, "file"), "uploaded");
    fs.mkdirSync(path.join(rootOf(host, "alpha"), "sandbox/dest"));
    fs.symlinkSync(outside, path.join(rootOf(host, "alpha"), "sandbox/dest/payload"));
    const r = await openshell(host, "sandbox", "upload", "alpha", local, "/sandbox/dest");
    expect(r.code).toBe(0);
    expect(fs.readdirSync(outside)).toEqual([]);
    expect(fs.lstatSync(path.join(rootOf(host, "alpha"), "sandbox/dest/payload")).isDirectory()).toBe(true);
  });
});

describe("sandbox create / delete", () => {
  it("create blocks until Ready (`-- true` before 0.0.111), with an empty /sandbox; delete removes it", async () => {
    setKnobs(host, { sandboxReadyDelayMs: 700 });
    const image = "ghcr.io/nvidia/nemoclaw/sandbox-openclaw:2026.8.0";
    // 0.0.44 (the default CLI) has no --detach: clap rejects it, exit 2, nothing created.
    const detach = await openshell(host, "sandbox", "create", "--name", "gamma", "--from", image, "--detach");
    expect(detach.code).toBe(2);
    expect(strip(detach.stderr)).toContain("error: unexpected argument '--detach' found");
    expect(strip(detach.stderr)).toContain("tip: to pass '--detach' as a value, use '-- --detach'");
    const started = Date.now();
    const creating = openshell(
      host,
      "sandbox",
      "create",
      "--name",
      "gamma",
      "--from",
      image,
      "--no-tty",
      "--",
      "true",
    );
    await new Promise((resolve) => setTimeout(resolve, 250));
    const [get, early, dup] = await Promise.all([
      openshell(host, "sandbox", "get", "gamma"),
      sbExec(host, "gamma", "true"),
      openshell(host, "sandbox", "create", "--name", "gamma", "--from", image, "--no-tty", "--", "true"),
    ]);
    if (Date.now() - started < 600) {
      expect(strip(get.stdout)).toContain("  Phase: Provisioning\n");
      expect(early.code).toBe(1);
    }
    expect(dup.code).toBe(1);
    expect(strip(dup.stderr)).toContain("× sandbox 'gamma' already exists");
    const created = await creating;
    expect(Date.now() - started).toBeGreaterThanOrEqual(650);
    expect(created.code).toBe(0);
    expect(strip(created.stdout)).toContain("Created sandbox: gamma\n");
    const [list, version, ls] = await Promise.all([
      openshell(host, "sandbox", "list"),
      sbExec(host, "gamma", "openclaw", "--version"),
      sbExec(host, "gamma", "ls", "-A", "/sandbox"),
    ]);
    expect(strip(list.stdout)).toMatch(/\ngamma {2}\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} {2}Ready\n/);
    expect(version.stdout).toBe("openclaw 2026.8.0\n");
    expect([ls.code, ls.stdout]).toEqual([0, ""]);

    const deleted = await openshell(host, "sandbox", "delete", "gamma");
    expect(strip(deleted.stdout)).toBe("✓ Deleted sandbox gamma\n");
    expect(fs.existsSync(path.join(host.dir, "state/sandboxes/gamma"))).toBe(false);
    const [gone, list2] = await Promise.all([
      openshell(host, "sandbox", "get", "gamma"),
      openshell(host, "sandbox", "list"),
    ]);
    expect(strip(gone.stderr)).toContain("sandbox not found");
    expect(strip(list2.stdout)).toBe("No sandboxes found.\n");
  });

  it("from 0.0.111: --detach blocks until Ready; a command after `--` becomes the main process (Error)", async () => {
    setKnobs(host, { cliVersion: "0.0.111", sandboxReadyDelayMs: 300 });
    const detach = await openshell(
      host,
      "sandbox",
      "create",
      "--name",
      "one",
      "--from",
      OPENCLAW_IMAGE,
      "--detach",
    );
    expect(detach.code).toBe(0);
    expect(strip((await openshell(host, "sandbox", "get", "one")).stdout)).toContain("  Phase: Ready\n");
    const cmd = await openshell(
      host,
      "sandbox",
      "create",
      "--name",
      "two",
      "--from",
      OPENCLAW_IMAGE,
      "--no-tty",
      "--",
      "true",
    );
    expect(cmd.code).toBe(1);
    expect(strip(cmd.stderr)).toContain(
      "× sandbox entered error phase while provisioning: MainProcessExited:",
    );
    expect(strip((await openshell(host, "sandbox", "get", "two")).stdout)).toContain("  Phase: Error\n");
  });

  it("createFailTimes fails the next N creates, createFail all; neverReady times out at OPENSHELL_PROVISION_TIMEOUT", async () => {
    await simctlOk("set", host.dir, "createFailTimes=1", "neverReady=true", "sandboxReadyDelayMs=0");
    const create = (name: string) =>
      exec(
        path.join(host.bin, "openshell"),
        ["sandbox", "create", "--name", name, "--from", OPENCLAW_IMAGE, "--no-tty", "--", "true"],
        {
          PATH: process.env.PATH,
          HOME: path.join(host.dir, "home"),
          OPENSHELL_PROVISION_TIMEOUT: "1",
        },
      );
    const first = await create("one");
    expect(first.code).toBe(1);
    expect(strip(first.stderr)).toContain("failed to create sandbox one");
    const started = Date.now();
    const second = await create("one");
    expect(second.code).toBe(1);
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
    expect(strip(second.stdout)).toContain("Created sandbox: one");
    expect(strip(second.stderr)).toContain("× sandbox provisioning timed out after 1s");
    expect(strip((await openshell(host, "sandbox", "get", "one")).stdout)).toContain(
      "  Phase: Provisioning\n",
    );
    setKnobs(host, { createFail: true });
    expect((await create("two")).code).toBe(1);
    expect(strip((await openshell(host, "sandbox", "list")).stdout)).not.toContain("two");
  });
});

describe("sandbox stop / start (OpenShell >= 0.0.105)", () => {
  const phaseOf = async (name: string) =>
    /Phase: (\S+)/.exec(strip((await openshell(host, "sandbox", "get", name)).stdout))?.[1];

  it("stop blocks until Stopped, start until Ready (as measured on 0.0.111); a non-running sandbox refuses downloads", async () => {
    setKnobs(host, { cliVersion: "0.0.106", sandboxStopDelayMs: 1000, sandboxStartDelayMs: 300 });
    await simctlOk("add-sandbox", host.dir, "alpha", "--image", OPENCLAW_IMAGE, "--seed");
    let started = Date.now();
    const stopping = openshell(host, "sandbox", "stop", "alpha");
    await new Promise((resolve) => setTimeout(resolve, 300));
    const seen = await phaseOf("alpha");
    if (Date.now() - started < 900) expect(seen).toBe("Stopping");
    const stop = await stopping;
    expect(stop.code).toBe(0);
    expect(strip(stop.stdout)).toBe("✓ Stopped sandbox alpha\n");
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
    expect(strip((await openshell(host, "sandbox", "list")).stdout)).toMatch(/\nalpha {2}.* {2}Stopped\n/);
    const dest = tempDir();
    const [download, execd] = await Promise.all([
      openshell(host, "sandbox", "download", "alpha", "/sandbox/.openclaw", dest),
      sbExec(host, "alpha", "true"),
    ]);
    expect(download.code).toBe(1);
    expect(strip(download.stderr)).toContain(
      "× code: 'The system is not in a state required for the operation's execution', message: \"sandbox is not ready\"",
    );
    expect(strip(execd.stderr)).toContain(
      "sandbox 'alpha' is not ready (phase: Stopped); wait for it to reach Ready",
    );
    expect(fs.readdirSync(dest)).toEqual([]);
    // Stopping a Stopped sandbox answers the same again.
    expect((await openshell(host, "sandbox", "stop", "alpha")).code).toBe(0);

    started = Date.now();
    const start = await openshell(host, "sandbox", "start", "alpha");
    expect(start.code).toBe(0);
    expect(strip(start.stdout)).toBe("✓ Started sandbox alpha\n");
    expect(Date.now() - started).toBeGreaterThanOrEqual(280);
    expect(await phaseOf("alpha")).toBe("Ready");
    // Its files survived the stop and start.
    expect((await sbExec(host, "alpha", "test", "-f", "/sandbox/.openclaw/openclaw.json")).code).toBe(0);
  });

  it("stopFail fails a stop; stop only from Ready; startNeverReady times out at OPENSHELL_LIFECYCLE_TIMEOUT", async () => {
    setKnobs(host, { cliVersion: "0.0.106", stopFail: true, startNeverReady: true, sandboxStartDelayMs: 0 });
    await simctlOk("add-sandbox", host.dir, "alpha", "--image", OPENCLAW_IMAGE);
    await simctlOk("add-sandbox", host.dir, "beta", "--phase", "Stopped", "--image", OPENCLAW_IMAGE);
    await simctlOk("add-sandbox", host.dir, "gamma", "--phase", "Error", "--image", OPENCLAW_IMAGE);
    const stop = await openshell(host, "sandbox", "stop", "alpha");
    expect(stop.code).toBe(1);
    expect(strip(stop.stderr)).toContain("failed to stop sandbox alpha");
    expect(await phaseOf("alpha")).toBe("Ready");
    const start = await exec(path.join(host.bin, "openshell"), ["sandbox", "start", "beta"], {
      PATH: process.env.PATH,
      HOME: path.join(host.dir, "home"),
      OPENSHELL_LIFECYCLE_TIMEOUT: "1",
    });
    expect(start.code).toBe(1);
    expect(strip(start.stderr)).toContain("× timed out after 1s waiting for sandbox to reach Ready");
    expect(await phaseOf("beta")).toBe("Starting");
    // The gateway stops only a Ready (or Stopping) sandbox; it starts only a Stopped one.
    const notReady = await openshell(host, "sandbox", "stop", "beta");
    expect(notReady.code).toBe(1);
    expect(strip(notReady.stderr)).toContain("sandbox must be Ready to stop (current phase: Starting)");
    const bad = await openshell(host, "sandbox", "start", "gamma");
    expect(bad.code).toBe(1);
    expect(strip(bad.stderr)).toContain("sandbox must be Stopped to start (current phase: Error)");
  });

  it("older CLIs reject stop/start as a clap usage error (exit 2); their hosts never show the new phases", async () => {
    setKnobs(host, { cliVersion: "0.0.104" });
    const refused = await simctl("add-sandbox", host.dir, "beta", "--phase", "Stopped");
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain("exists only from OpenShell 0.0.105");
    await simctlOk("add-sandbox", host.dir, "alpha", "--image", OPENCLAW_IMAGE);
    for (const sub of ["stop", "start"]) {
      const run = await openshell(host, "sandbox", sub, "alpha");
      expect(run.code).toBe(2);
      expect(strip(run.stderr)).toContain(`unrecognized subcommand '${sub}'`);
    }
    expect(await phaseOf("alpha")).toBe("Ready");
  });

  it("from 0.0.88 a workspace (OPENSHELL_WORKSPACE) leads the list with a WORKSPACE column", async () => {
    setKnobs(host, { cliVersion: "0.0.106" });
    await simctlOk("add-sandbox", host.dir, "alpha", "--image", OPENCLAW_IMAGE);
    const run = await exec(path.join(host.bin, "openshell"), ["sandbox", "list"], {
      PATH: process.env.PATH,
      HOME: path.join(host.dir, "home"),
      OPENSHELL_WORKSPACE: "team-a",
    });
    expect(strip(run.stdout)).toMatch(/^WORKSPACE {2}NAME {3}CREATED {14}PHASE\nteam-a {5}alpha {2}/);
    expect(strip((await openshell(host, "sandbox", "list")).stdout)).toMatch(/^NAME {2}/);
  });
});

describe("gateway faults on sandbox calls", () => {
  it("schemaMismatch and unreachable break every sandbox call and change nothing; all calls are logged", async () => {
    await simctlOk("add-sandbox", host.dir, "alpha", "--seed");
    const local = tempDir();
    const before = snapshot(rootOf(host, "alpha"));
    const calls: string[][] = [
      ["sandbox", "list"],
      ["sandbox", "get", "alpha"],
      ["sandbox", "exec", "-n", "alpha", "--no-tty", "--", "rm", "-rf", "/sandbox/.openclaw"],
      ["sandbox", "download", "alpha", "/sandbox/.openclaw", path.join(local, "d")],
      ["sandbox", "upload", "alpha", local, "/sandbox", "--no-git-ignore"],
      ["sandbox", "create", "--name", "new", "--from", OPENCLAW_IMAGE, "--no-tty", "--", "true"],
      ["sandbox", "delete", "alpha"],
    ];
    setKnobs(host, { schemaMismatch: "tonic14" });
    for (const r of await Promise.all(calls.map((args) => openshell(host, ...args)))) {
      expect(r.code).toBe(1);
      expect(strip(r.stderr)).toContain("failed to decode Protobuf message");
    }
    setKnobs(host, { schemaMismatch: null, unreachable: true });
    for (const r of await Promise.all(calls.map((args) => openshell(host, ...args)))) {
      expect(r.code).toBe(1);
      expect(strip(r.stderr)).toContain("Connection refused (os error 111)");
    }
    expect(snapshot(rootOf(host, "alpha"))).toEqual(before);
    expect(fs.existsSync(path.join(local, "d"))).toBe(false);
    const logged = fs
      .readFileSync(path.join(host.dir, "state/calls.log"), "utf8")
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as { tool: string; args: string[] })
      .filter((c) => c.tool === "openshell" && c.args[0] === "sandbox");
    expect(logged).toHaveLength(2 * calls.length);
    expect(logged.filter((c) => c.args[1] === "delete")).toHaveLength(2);
  });

  it("gatewayGoneAfterCalls: the gateway goes away after N sandbox calls (status too)", async () => {
    await simctlOk("add-sandbox", host.dir, "alpha");
    await openshell(host, "sandbox", "list"); // before the knob: not counted
    await simctlOk("set", host.dir, "gatewayGoneAfterCalls=2");
    expect((await openshell(host, "sandbox", "list")).code).toBe(0);
    expect((await openshell(host, "status")).code).toBe(0);
    expect((await sbExec(host, "alpha", "true")).code).toBe(0);
    const [list, status] = await Promise.all([openshell(host, "sandbox", "list"), openshell(host, "status")]);
    expect(list.code).toBe(1);
    expect(strip(list.stderr)).toContain("client error (Connect)");
    expect(status.code).toBe(1);
    await simctlOk("set", host.dir, "gatewayGoneAfterCalls=null");
    expect((await openshell(host, "sandbox", "list")).code).toBe(0);
  });

  it("schemaMismatchAfterCalls: the first N sandbox calls work, later ones get the decode error", async () => {
    await simctlOk("add-sandbox", host.dir, "alpha", "--phase", "Ready", "--image", OPENCLAW_IMAGE);
    await simctlOk("set", host.dir, "schemaMismatchAfterCalls=1");
    expect((await openshell(host, "sandbox", "list")).code).toBe(0);
    const broken = await openshell(host, "sandbox", "get", "alpha");
    expect(broken.code).toBe(1);
    expect(strip(broken.stderr)).toContain("failed to decode Protobuf message");
    expect((await openshell(host, "status")).code).toBe(0);
  });

  it("fastExec answers version probes from the bash wrapper, and drops a sandbox's entry when it changes", async () => {
    await simctlOk("add-sandbox", host.dir, "alpha", "--phase", "Ready", "--image", OPENCLAW_IMAGE);
    await simctlOk("set", host.dir, "fastExec=true");
    const fast = await versionProbe(host, "alpha", "openclaw");
    expect(fast).toMatchObject({ code: 0, stdout: "openclaw 2026.7.1\n" });
    expect(fs.readFileSync(path.join(host.dir, "state/calls.log"), "utf8")).toContain('"fast":true');
    // Another agent's CLI is not answered from the cache.
    const other = await versionProbe(host, "alpha", "hermes");
    expect(other.code).toBe(127);
    // A changed sandbox falls back to the full simulator, which sees the new image.
    await simctlOk("add-sandbox", host.dir, "alpha", "--phase", "Ready", "--image", HERMES_IMAGE);
    const changed = await versionProbe(host, "alpha", "hermes");
    expect(changed).toMatchObject({ code: 0, stdout: "hermes 0.19.0\n" });
    // An exec-affecting knob turns the cache off altogether.
    await simctlOk("set", host.dir, "schemaMismatch=tonic14");
    expect(fs.existsSync(path.join(host.dir, "state/fast-exec"))).toBe(false);
  });
});

describe("native-speed knobs (benchmark only)", () => {
  const lastCall = () => {
    const lines = fs.readFileSync(path.join(host.dir, "state/calls.log"), "utf8").trim().split("\n");
    return JSON.parse(lines[lines.length - 1] as string);
  };

  it("fastQueries replays a recorded read-only answer and drops every recording when state changes", async () => {
    await simctlOk("add-sandbox", host.dir, "alpha", "--phase", "Ready", "--image", OPENCLAW_IMAGE);
    await simctlOk("set", host.dir, "fastQueries=true");
    const first = await openshell(host, "sandbox", "list", "-g", "nemoclaw");
    expect(first.code).toBe(0);
    expect(lastCall().fast).toBeUndefined();
    const again = await openshell(host, "sandbox", "list", "-g", "nemoclaw");
    expect(again).toEqual(first);
    expect(lastCall()).toMatchObject({ args: ["sandbox", "list", "-g", "nemoclaw"], fast: true });
    // An error answer is replayed with its stderr and exit code.
    const unknown = await openshell(host, "gateway", "info", "-g", "nope");
    expect(unknown.code).toBe(1);
    expect(await openshell(host, "gateway", "info", "-g", "nope")).toEqual(unknown);
    expect(lastCall().fast).toBe(true);
    // Other arguments are another question: answered by the simulator itself.
    await openshell(host, "sandbox", "list");
    expect(lastCall().fast).toBeUndefined();
    // A new sandbox drops the recordings: the next answer lists it.
    await simctlOk("add-sandbox", host.dir, "beta", "--phase", "Ready", "--image", OPENCLAW_IMAGE);
    const changed = await openshell(host, "sandbox", "list", "-g", "nemoclaw");
    expect(lastCall().fast).toBeUndefined();
    expect(strip(changed.stdout)).toContain("beta");
    // A fault knob turns replay off altogether.
    await simctlOk("set", host.dir, "unreachable=true");
    expect(fs.existsSync(path.join(host.dir, "state/replay"))).toBe(false);
    expect((await openshell(host, "sandbox", "list", "-g", "nemoclaw")).code).toBe(1);
  });

  it("fastTransfer copies a Ready sandbox's directory like the simulator does; anything unusual falls through", async () => {
    await simctlOk("add-sandbox", host.dir, "alpha", "--image", OPENCLAW_IMAGE, "--seed");
    await simctlOk("set", host.dir, "fastTransfer=true");
    const dest = path.join(tempDir(), "fast/.openclaw");
    const fast = await download(host, "nemoclaw", "alpha", "/sandbox/.openclaw", dest);
    expect(fast.code).toBe(0);
    expect(lastCall()).toMatchObject({
      args: ["-g", "nemoclaw", "sandbox", "download", "alpha", "/sandbox/.openclaw", dest],
      fast: true,
    });
    const slow = path.join(tempDir(), "slow/.openclaw");
    await simctlOk("set", host.dir, "fastTransfer=false");
    expect((await download(host, "nemoclaw", "alpha", "/sandbox/.openclaw", slow)).code).toBe(0);
    expect(lastCall().fast).toBeUndefined();
    expect(snapshot(dest)).toEqual(snapshot(slow));

    await simctlOk("set", host.dir, "fastTransfer=true");
    const out = tempDir();
    const missing = await download(host, "nemoclaw", "alpha", "/sandbox/.nope", out);
    expect(missing.code).toBe(1);
    expect(strip(missing.stderr)).toContain("failed to resolve sandbox source path");
    const outside = await download(host, "nemoclaw", "alpha", "/sandbox/../..", out);
    expect(lastCall().fast).toBeUndefined();
    expect(outside.code).not.toBe(0);
    expect(fs.readdirSync(out)).toEqual([]);
    // A gateway name the registry does not know is the simulator's error, not a copy.
    const unknownGateway = await download(host, "nope", "alpha", "/sandbox/.openclaw", out);
    expect(unknownGateway.code).toBe(1);
    expect(fs.readdirSync(out)).toEqual([]);
    // A sandbox that changed is no longer known to be Ready: back to the full simulator.
    await simctlOk("add-sandbox", host.dir, "alpha", "--phase", "Provisioning", "--image", OPENCLAW_IMAGE);
    const notReady = await download(host, "nemoclaw", "alpha", "/sandbox", out);
    expect(notReady.code).toBe(1);
    expect(lastCall().fast).toBeUndefined();
  });
});

describe("simctl sandbox helpers", () => {
  it("write-file writes inside the sandbox; usage errors exit 2; string knobs stay strings", async () => {
    await simctlOk("add-sandbox", host.dir, "s1");
    await simctlOk("write-file", host.dir, "s1", "/sandbox/.openclaw/new dir/f.txt", "hi", "--mode", "0600");
    const file = path.join(rootOf(host, "s1"), "sandbox/.openclaw/new dir/f.txt");
    expect(fs.readFileSync(file, "utf8")).toBe("hi");
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    const [noSandbox, badFiles, badName] = await Promise.all([
      simctl("write-file", host.dir, "missing", "/sandbox/x", "y"),
      simctl("add-sandbox", host.dir, "s2", "--files", "nodir"),
      simctl("seed-sandbox", host.dir, "Bad_Name"),
    ]);
    expect(noSandbox.code).toBe(1);
    expect(badFiles.code).toBe(2);
    expect(badName.code).toBe(2);
    await simctlOk("set", host.dir, "downloadFailSandbox=123", "downloadFailAfterBytes=5");
    const config = JSON.parse(fs.readFileSync(path.join(host.dir, "state/config.json"), "utf8"));
    expect(config).toMatchObject({ downloadFailSandbox: "123", downloadFailAfterBytes: 5 });
  });
});

describe("sandbox file trees: what a tar stream carries (docs/design.md)", () => {
  it("download keeps FIFOs and odd names, drops sockets with a warning and setuid/setgid/sticky bits", async () => {
    await simctlOk("add-sandbox", host.dir, "alpha", "--image", OPENCLAW_IMAGE);
    const stateDir = path.join(rootOf(host, "alpha"), "sandbox/.openclaw");
    fs.mkdirSync(stateDir, { recursive: true });
    fs.writeFileSync(path.join(stateDir, "tool"), "t");
    fs.chmodSync(path.join(stateDir, "tool"), 0o4755);
    fs.writeFileSync(path.join(stateDir, "shared"), "s");
    fs.chmodSync(path.join(stateDir, "shared"), 0o666);
    execFileSync("mkfifo", [path.join(stateDir, "pipe")]);
    const odd = Buffer.concat([Buffer.from(`${stateDir}/odd-`), Buffer.from([0xff])]);
    fs.writeFileSync(odd, "odd");
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(path.join(stateDir, "agent.sock"), resolve));
    try {
      const dest = path.join(tempDir(), ".openclaw");
      const r = await download(host, "nemoclaw", "alpha", "/sandbox/.openclaw", dest);
      expect(r.code).toBe(0);
      expect(strip(r.stderr)).toContain("tar: agent.sock: socket ignored");
      expect(fs.lstatSync(path.join(dest, "pipe")).isFIFO()).toBe(true);
      expect(fs.existsSync(path.join(dest, "agent.sock"))).toBe(false);
      expect(fs.statSync(path.join(dest, "tool")).mode & 0o7777).toBe(0o755);
      expect(fs.statSync(path.join(dest, "shared")).mode & 0o7777).toBe(0o666);
      const names = fs.readdirSync(dest, { encoding: "buffer" });
      expect(names.some((n) => n.equals(Buffer.concat([Buffer.from("odd-"), Buffer.from([0xff])])))).toBe(
        true,
      );
    } finally {
      server.close();
    }
  });

  it("upload applies the sandbox user's umask 022, keeps odd names, and chmod restores a mode", async () => {
    await simctlOk("add-sandbox", host.dir, "alpha", "--image", OPENCLAW_IMAGE);
    const local = path.join(tempDir(), "state");
    fs.mkdirSync(local);
    fs.writeFileSync(path.join(local, "shared"), "s");
    fs.chmodSync(path.join(local, "shared"), 0o666);
    fs.writeFileSync(path.join(local, "private"), "p");
    fs.chmodSync(path.join(local, "private"), 0o600);
    fs.writeFileSync(Buffer.concat([Buffer.from(`${local}/x-`), Buffer.from([0xfe])]), "x");
    const r = await openshell(
      host,
      "-g",
      "nemoclaw",
      "sandbox",
      "upload",
      "alpha",
      local,
      "/sandbox",
      "--no-git-ignore",
    );
    expect(r.code).toBe(0);
    const up = path.join(rootOf(host, "alpha"), "sandbox/state");
    expect(fs.statSync(path.join(up, "shared")).mode & 0o777).toBe(0o644);
    expect(fs.statSync(path.join(up, "private")).mode & 0o777).toBe(0o600);
    expect(fs.existsSync(Buffer.concat([Buffer.from(`${up}/x-`), Buffer.from([0xfe])]))).toBe(true);

    const c = await sbExec(host, "alpha", "chmod", "0666", "/sandbox/state/shared", "/sandbox/state/private");
    expect(c.code).toBe(0);
    expect(fs.statSync(path.join(up, "shared")).mode & 0o777).toBe(0o666);
    expect(fs.statSync(path.join(up, "private")).mode & 0o777).toBe(0o666);
    expect((await sbExec(host, "alpha", "chmod", "u+x", "/sandbox/state/shared")).code).toBe(1);
  });
});
