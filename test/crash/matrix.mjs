#!/usr/bin/env node
// The crash matrix (SPEC §18, docs/design.md "Crash matrix"): every destructive workflow is run
// once with the CLI's kill-point seam recording the points it reaches (NEMOCLAW_TEST_KILL_POINTS:
// every OpenShell call and every durable write, listed by the code), then once per point with
// NEMOCLAW_TEST_KILL_AT, which SIGKILLs the CLI's whole process group while that step runs. After
// each kill: `status --json`, on some points the retention follow-ups (`backup-all --keep 1`,
// `backups prune --keep 1`), then every finishing command status printed. The invariant is checked
// after the kill and after each follow-up:
//   - every state file S had before the command is in the live sandbox with the same bytes, or in
//     a complete backup that verifies (every file re-hashed against its manifest);
//   - every backup an open journal pins exists and is complete; retention never removed a pinned
//     backup or the newest one with files;
//   - an open journal or started record makes `status` exit non-zero and name a finishing command;
//   - after the finishing commands no journal or started record is open, and the live state equals
//     exactly one intended state (the target backup's, or the state before the command), in the
//     phase the sandbox had (Ready / Stopped), with the registry agreeing with the sandbox.
//
// Usage: node test/crash/matrix.mjs [--sample] [--only WF[,WF…]] [--jobs N] [--retention all|sample|none]
//          [--inject drop-journal|drop-pinned] [--kill-children] [--list]
// Prints `ok N - <workflow> <point>` / `not ok N - …` per kill point and ends with
// `crash matrix: <K> kill points, <R> follow-up runs, <V> violations`; exit 1 on any violation.
// Needs a built CLI (dist/). Each worker slot is one simulated host (test/sim) with its own gateway;
// a point starts from a copy of a prepared template, never from setup commands.

import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const NODE = process.execPath;
const SIMCTL = path.join(REPO, "test/sim/simctl.mjs");
const CLI = path.join(REPO, "bin/run.js");
const BASE_PATH = `${path.dirname(NODE)}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`;
const OLD_IMAGE = "ghcr.io/nvidia/nemoclaw/sandbox-openclaw:2026.6.0";
const NEW_IMAGE = "ghcr.io/nvidia/nemoclaw/sandbox-openclaw:2026.7.1";
const NAME = "beta";
const STATE_DIR = "/sandbox/.openclaw";
const RUN_TIMEOUT_MS = 90_000;

// ------------------------------------------------------------------------------------------------
// Options

function parseArgs(argv) {
  const opts = {
    sample: false,
    only: null,
    jobs: 3,
    retention: null,
    inject: null,
    list: false,
    keep: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) usage(`${a} needs a value`);
      return v;
    };
    if (a === "--sample") opts.sample = true;
    else if (a === "--only") opts.only = value().split(",");
    else if (a === "--jobs") opts.jobs = Number(value());
    else if (a === "--retention") opts.retention = value();
    else if (a === "--inject") opts.inject = value();
    else if (a === "--list") opts.list = true;
    else if (a === "--kill-children") opts.killChildren = true;
    else if (a === "--keep-temp") opts.keep = true;
    else usage(`unknown argument ${a}`);
  }
  if (!Number.isInteger(opts.jobs) || opts.jobs < 1 || opts.jobs > 8) usage("--jobs must be 1..8");
  if (opts.retention !== null && !["all", "sample", "none"].includes(opts.retention))
    usage("--retention is all, sample or none");
  if (opts.inject !== null && !["drop-journal", "drop-pinned"].includes(opts.inject))
    usage("--inject is drop-journal or drop-pinned");
  return opts;
}

function usage(message) {
  process.stderr.write(`matrix: ${message}\n`);
  process.exit(2);
}

// ------------------------------------------------------------------------------------------------
// Workflows. Each prepares its host once (`prepare`, in the prep host), runs `argv`, and names
// the states the live sandbox may end in (`intended`: "S" = as before the command, "B" = the
// target backup). `retention: "all"` runs the retention follow-ups on every point; the others on
// every third point. `sample` picks the point of the sample run (inside `npm test`).

const WORKFLOWS = [
  {
    id: "rebuild-ready",
    phase: "Ready",
    argv: () => ["upgrade-sandboxes", "--yes"],
    intended: ["S"],
    registryAfter: "2026.7.1",
    sample: /sandbox delete beta#1$/,
    async prepare(h) {
      await staleSandbox(h, "Ready");
    },
  },
  {
    id: "rebuild-stopped",
    phase: "Stopped",
    argv: () => ["upgrade-sandboxes", "--yes"],
    intended: ["S"],
    registryAfter: "2026.7.1",
    sample: /sandbox upload beta .*#1$/,
    async prepare(h) {
      await staleSandbox(h, "Stopped");
    },
  },
  {
    id: "restore-ready",
    phase: "Ready",
    argv: (t) => ["restore", NAME, "--backup", t.target, "--yes"],
    intended: ["S", "B"],
    retention: "all",
    sample: /rm -rf \/sandbox\/\.openclaw#1$/,
    async prepare(h) {
      return await restoreSource(h, "Ready");
    },
  },
  {
    id: "restore-stopped",
    phase: "Stopped",
    argv: (t) => ["restore", NAME, "--backup", t.target, "--yes"],
    intended: ["S", "B"],
    sample: /operations\/beta\.json#3$/,
    async prepare(h) {
      return await restoreSource(h, "Stopped");
    },
  },
  {
    id: "restore-create",
    phase: "Ready",
    absent: true,
    argv: (t) => ["restore", NAME, "--backup", t.target, "--create", "--yes"],
    intended: ["S", "B"],
    registryAfter: "2026.7.1",
    sample: /sandbox create /,
    async prepare(h) {
      const target = await restoreSource(h, "Ready");
      // The operator destroyed the sandbox and unregistered it: only its backups are left.
      await h.openshell("-g", "nemoclaw", "sandbox", "delete", NAME);
      fs.rmSync(path.join(h.home, ".nemoclaw/sandboxes.json"), { force: true });
      return target;
    },
  },
  {
    id: "backup-all-stopped",
    phase: "Stopped",
    argv: () => ["backup-all", "--keep", "1"],
    intended: ["S"],
    sample: /sandbox start beta#1$/,
    async prepare(h) {
      await h.simctl("add-sandbox", NAME, "--phase", "Ready", "--image", NEW_IMAGE, "--seed");
      register(h, "2026.7.1");
      await h.cli("backup-all");
      await writeAfterBackup(h);
      await h.simctl("add-sandbox", NAME, "--phase", "Stopped", "--image", NEW_IMAGE);
    },
  },
  {
    id: "prune",
    phase: "Ready",
    argv: () => ["backups", "prune", "--keep", "1"],
    intended: ["S"],
    sample: /^prune .*#2$/,
    async prepare(h) {
      await h.simctl("add-sandbox", NAME, "--phase", "Ready", "--image", NEW_IMAGE, "--seed");
      register(h, "2026.7.1");
      for (const n of [1, 2, 3]) {
        await h.simctl("write-file", NAME, `${STATE_DIR}/workspace/day-${n}.md`, `day ${n}\n`);
        await h.cli("backup-all");
      }
    },
  },
];

// A file the last backup does not hold yet: only the next backup (or the live sandbox) has it.
function writeAfterBackup(h) {
  return h.simctl(
    "write-file",
    NAME,
    `${STATE_DIR}/workspace/after-backup.md`,
    "written after the last backup\n",
  );
}

// A stale sandbox (previous agent image), backed up once, then changed: the rebuild's own backup
// holds a file no older backup has.
async function staleSandbox(h, phase) {
  await h.simctl("add-sandbox", NAME, "--phase", "Ready", "--image", OLD_IMAGE, "--seed");
  register(h, "2026.6.0");
  await h.cli("backup-all");
  await writeAfterBackup(h);
  if (phase !== "Ready") await h.simctl("add-sandbox", NAME, "--phase", phase, "--image", OLD_IMAGE);
}

// A current sandbox with one backup (the restore's target), then changed (a new file, a changed
// file): the state a restore destroys exists only live until its safety backup.
async function restoreSource(h, phase) {
  await h.simctl("add-sandbox", NAME, "--phase", "Ready", "--image", NEW_IMAGE, "--seed");
  register(h, "2026.7.1");
  await h.cli("backup-all");
  await h.simctl("write-file", NAME, `${STATE_DIR}/workspace/unbacked.md`, "work nobody backed up\n");
  await h.simctl("write-file", NAME, `${STATE_DIR}/workspace/My Notes.md`, "notes changed since\n");
  if (phase !== "Ready") await h.simctl("add-sandbox", NAME, "--phase", phase, "--image", NEW_IMAGE);
  return backupsOf(h.home)[0];
}

function register(h, version) {
  const dir = path.join(h.home, ".nemoclaw");
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const doc = {
    defaultSandbox: NAME,
    sandboxes: {
      [NAME]: {
        name: NAME,
        agent: "openclaw",
        agentVersion: version,
        nemoclawVersion: "0.1.0",
        imageTag: `ghcr.io/nvidia/nemoclaw/sandbox-openclaw:${version}`,
        gatewayName: "nemoclaw",
        createdAt: "2026-11-01T10:00:00Z",
        policy: { network: "restricted" },
      },
    },
    schemaRevision: 7,
  };
  fs.writeFileSync(path.join(dir, "sandboxes.json"), `${JSON.stringify(doc, null, 2)}\n`, { mode: 0o600 });
}

// ------------------------------------------------------------------------------------------------
// Processes

function cleanEnv(h, extra = {}) {
  return {
    PATH: `${h.dir}/bin:${BASE_PATH}`,
    HOME: h.home,
    NO_COLOR: "1",
    LANG: "C.UTF-8",
    NEMOCLAW_GATEWAY_PORT: String(h.port),
    ...extra,
  };
}

/** CPU seconds per kind of run (`--profile`: each run under /usr/bin/time). */
const PROFILE = process.env.MATRIX_PROFILE ? new Map() : null;

/** Runs a process as the leader of its own group; on timeout the group is killed. */
function runProcess(argv, env, kind = null) {
  if (PROFILE && kind) return profiled(argv, env, kind);
  return new Promise((resolve) => {
    const started = Date.now();
    const child = spawn(argv[0], argv.slice(1), { env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
    const out = [];
    const err = [];
    child.stdout.on("data", (c) => out.push(c));
    child.stderr.on("data", (c) => err.push(c));
    const timer = setTimeout(() => {
      try {
        process.kill(-child.pid, "SIGKILL");
      } catch {}
    }, RUN_TIMEOUT_MS);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({
        code,
        signal,
        stdout: Buffer.concat(out).toString("utf8"),
        stderr: Buffer.concat(err).toString("utf8"),
        ms: Date.now() - started,
      });
    });
  });
}

async function profiled(argv, env, kind) {
  const file = path.join(os.tmpdir(), `matrix-time.${process.pid}.${Math.random().toString(16).slice(2)}`);
  const r = await runProcess(["/usr/bin/time", "-o", file, "-f", "%U %S", ...argv], env);
  try {
    const [u, s] = fs.readFileSync(file, "utf8").trim().split("\n").pop().split(" ").map(Number);
    const e = PROFILE.get(kind) ?? { runs: 0, cpu: 0, wall: 0 };
    PROFILE.set(kind, { runs: e.runs + 1, cpu: e.cpu + u + s, wall: e.wall + r.ms / 1000 });
    fs.rmSync(file, { force: true });
  } catch {}
  if (r.code === 137 || /Command terminated by signal 9/.test(r.stderr)) r.signal = "SIGKILL";
  return r;
}

function cpTree(from, to) {
  const r = spawnSync("cp", ["-a", "--", from, to]);
  if (r.status !== 0) throw new Error(`cp -a ${from} ${to}: ${r.stderr}`);
}

/** One simulated host: its directory, port and gateway (test/sim). */
class Host {
  constructor(dir) {
    this.dir = dir;
    this.home = path.join(dir, "home");
  }

  async init() {
    const r = await runProcess([NODE, SIMCTL, "init", this.dir, "--port", "0", "--cli-version", "0.0.106"], {
      PATH: BASE_PATH,
    });
    if (r.code !== 0) throw new Error(`simctl init: ${r.stderr}`);
    this.port = Number(r.stdout.trim());
    await this.simctl("start-gateway");
    await this.simctl("set", "sandboxReadyDelayMs=100", "sandboxStartDelayMs=100", "sandboxStopDelayMs=100");
    this.gatewayPids = new Set(
      fs
        .readFileSync(path.join(this.dir, "state/pids"), "utf8")
        .split("\n")
        .filter(Boolean)
        .map((l) => Number(l.split(" ")[0])),
    );
  }

  async simctl(cmd, ...args) {
    const r = await runProcess(
      [NODE, SIMCTL, cmd, this.dir, ...args.filter((a) => a !== null)],
      cleanEnv(this),
    );
    if (r.code !== 0) throw new Error(`simctl ${cmd} ${args.join(" ")}: exit ${r.code}: ${r.stderr}`);
    return r.stdout;
  }

  async openshell(...args) {
    const r = await runProcess([path.join(this.dir, "bin/openshell"), ...args], cleanEnv(this));
    if (r.code !== 0) throw new Error(`openshell ${args.join(" ")}: exit ${r.code}: ${r.stderr}`);
    return r.stdout;
  }

  async cli(...args) {
    const r = await runProcess([NODE, CLI, ...args], cleanEnv(this));
    if (r.code !== 0) throw new Error(`nemoclaw ${args.join(" ")}: exit ${r.code}: ${r.stdout}${r.stderr}`);
    return r;
  }

  /**
   * The simulator's recorded answers to the gateway-level probes of the preflight (`--version`,
   * `status`, `gateway info`, `docker inspect`, `openshell-gateway --version`; not `sandbox
   * list`). The simulator drops every recording on any change to a sandbox; these answers do not
   * depend on sandboxes and the matrix never touches the gateway, so they are put back before
   * each follow-up run, which then starts without six Node processes.
   */
  keepGatewayReplays() {
    const dir = path.join(this.dir, "state/replay");
    this.gatewayReplays = [];
    for (const name of fs.readdirSync(dir).sort()) {
      if (name.startsWith(".") || name.includes("~sandbox~")) continue;
      // .code last: the wrapper replays only once it exists.
      this.gatewayReplays.push({ name, data: fs.readFileSync(path.join(dir, name)) });
    }
    this.gatewayReplays.sort((a, b) => Number(a.name.endsWith(".code")) - Number(b.name.endsWith(".code")));
  }

  restoreGatewayReplays() {
    const dir = path.join(this.dir, "state/replay");
    if (!this.gatewayReplays || !fs.existsSync(path.join(dir, ".enabled"))) return;
    for (const { name, data } of this.gatewayReplays) {
      const file = path.join(dir, name);
      if (!fs.existsSync(file)) fs.writeFileSync(file, data);
    }
  }

  /** SIGKILL (group) every simulator process this host's calls started that still runs. */
  async reapOrphans(waitMs) {
    const pids = new Set();
    try {
      for (const line of fs.readFileSync(path.join(this.dir, "state/calls.log"), "utf8").split("\n")) {
        const m = /"pid":(\d+)/.exec(line);
        if (m) pids.add(Number(m[1]));
      }
    } catch {}
    const mine = [...pids].filter((pid) => !this.gatewayPids.has(pid) && this.ownsProcess(pid));
    const deadline = Date.now() + waitMs;
    let alive = mine;
    while (alive.length > 0 && Date.now() < deadline) {
      await sleep(50);
      alive = alive.filter((pid) => this.ownsProcess(pid));
    }
    for (const pid of alive) {
      try {
        process.kill(-pid, "SIGKILL");
      } catch {
        try {
          process.kill(pid, "SIGKILL");
        } catch {}
      }
    }
    return alive.length;
  }

  ownsProcess(pid) {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, "latin1");
      if (/\) Z /.test(stat)) return false;
      return fs
        .readFileSync(`/proc/${pid}/environ`, "latin1")
        .split("\0")
        .includes(`NEMOCLAW_SIM_HOST=${this.dir}`);
    } catch {
      return false;
    }
  }

  stop() {
    spawnSync(NODE, [SIMCTL, "stop", this.dir], { stdio: "ignore" });
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ------------------------------------------------------------------------------------------------
// Reading state: trees, backups, journals

const sha = (buf) => createHash("sha256").update(buf).digest("hex");

/** rel → {type, mode, sha, target} for everything below dir (symlinks not followed); null if absent. */
function readTree(dir) {
  const tree = new Map();
  if (!fs.existsSync(dir)) return null;
  const walk = (rel) => {
    for (const name of fs.readdirSync(path.join(dir, rel)).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      const at = path.join(dir, r);
      const st = fs.lstatSync(at);
      const mode = (st.mode & 0o777).toString(8).padStart(4, "0");
      if (st.isSymbolicLink()) {
        const target = fs.readlinkSync(at);
        tree.set(r, { type: "l", mode: "-", sha: sha(target), target });
      } else if (st.isDirectory()) {
        tree.set(r, { type: "d", mode });
        walk(r);
      } else if (st.isFile()) tree.set(r, { type: "f", mode, sha: sha(fs.readFileSync(at)) });
      else tree.set(r, { type: "?", mode });
    }
  };
  walk("");
  return tree;
}

const liveDir = (h) => path.join(h.dir, "state/sandboxes", NAME, "root", STATE_DIR.slice(1));
const backupsRoot = (home) => path.join(home, ".nemoclaw/rebuild-backups", NAME);
const opsDir = (home) => path.join(home, ".nemoclaw/operations");

function backupsOf(home) {
  try {
    return fs
      .readdirSync(backupsRoot(home))
      .filter((n) => !n.startsWith("."))
      .sort();
  } catch {
    return [];
  }
}

/**
 * A backup checked as `backups verify` does: the manifest parses and names it, every file it
 * lists is there with the same bytes (symlink: target) and mode, and nothing else is stored.
 */
function verifyBackup(home, ts) {
  const dir = path.join(backupsRoot(home), ts);
  let manifest;
  try {
    manifest = JSON.parse(fs.readFileSync(path.join(dir, "rebuild-manifest.json"), "utf8"));
  } catch (e) {
    return { ok: false, why: `manifest unreadable (${e.code ?? e.message})` };
  }
  if (manifest.sandboxName !== NAME || manifest.timestamp !== ts)
    return { ok: false, why: "manifest names another backup" };
  const tree = readTree(dir);
  const files = new Map();
  for (const f of manifest.files ?? []) {
    if (typeof f.path !== "string") return { ok: false, why: "non-UTF-8 path (not handled by the matrix)" };
    const have = tree.get(f.path);
    if (
      !have ||
      have.sha !== f.sha256 ||
      (f.symlink ? have.type !== "l" : have.type !== "f" || have.mode !== f.mode)
    )
      return { ok: false, why: `file ${f.path} differs from its manifest` };
    files.set(f.path, f.sha256);
  }
  for (const [rel, e] of tree) {
    if (e.type !== "d" && rel !== "rebuild-manifest.json" && !files.has(rel))
      return { ok: false, why: `extra file ${rel}` };
  }
  return { ok: true, files, tree, hasFiles: files.size > 0 };
}

/** The state tree a backup holds (below its state dir), as readTree gives it. */
function backupStateTree(home, ts) {
  return readTree(path.join(backupsRoot(home), ts, path.posix.basename(STATE_DIR)));
}

function openRecords(home) {
  const journals = [];
  const started = [];
  let names = [];
  try {
    names = fs.readdirSync(opsDir(home));
  } catch {}
  for (const n of names) {
    if (n.endsWith(".started.json")) started.push(n);
    else if (n.endsWith(".json")) {
      let journal = null;
      try {
        journal = JSON.parse(fs.readFileSync(path.join(opsDir(home), n), "utf8"));
      } catch {}
      journals.push({ file: n, journal });
    }
  }
  return { journals, started };
}

function pinsOf(journals) {
  const pins = new Set();
  for (const { journal } of journals) {
    if (!journal) continue;
    for (const ts of [journal.backup, journal.safetyBackup, ...(journal.extraSafetyBackups ?? [])])
      if (typeof ts === "string") pins.add(ts);
  }
  return pins;
}

function newestWithFiles(home) {
  const all = backupsOf(home).reverse();
  for (const ts of all) {
    const v = verifyBackup(home, ts);
    if (v.ok && v.hasFiles) return ts;
  }
  return null;
}

function sandboxRecord(h) {
  try {
    return JSON.parse(fs.readFileSync(path.join(h.dir, "state/sandboxes", `${NAME}.json`), "utf8"));
  } catch {
    return null;
  }
}

/** The phase OpenShell would report (the simulator records a deadline for transient phases). */
function phaseOf(h) {
  const rec = sandboxRecord(h);
  if (!rec) return "absent";
  const now = Date.now();
  if (
    (rec.phase === "Provisioning" || rec.phase === "Starting") &&
    typeof rec.readyAt === "number" &&
    now >= rec.readyAt
  )
    return "Ready";
  if (rec.phase === "Stopping" && typeof rec.stoppedAt === "number" && now >= rec.stoppedAt) return "Stopped";
  return rec.phase;
}

function registryEntry(home) {
  try {
    return (
      JSON.parse(fs.readFileSync(path.join(home, ".nemoclaw/sandboxes.json"), "utf8")).sandboxes?.[NAME] ??
      null
    );
  } catch {
    return undefined;
  }
}

function treeDiff(a, b, { modes = true } = {}) {
  if (a === null || b === null) return a === b ? null : a === null ? "absent" : "expected absent";
  for (const [rel, e] of b) {
    const have = a.get(rel);
    if (!have) return `missing ${rel}`;
    if (have.type !== e.type || have.sha !== e.sha) return `differs ${rel}`;
    if (modes && have.type === "f" && have.mode !== e.mode)
      return `mode of ${rel} is ${have.mode}, not ${e.mode}`;
  }
  for (const rel of a.keys()) if (!b.has(rel)) return `extra ${rel}`;
  return null;
}

// ------------------------------------------------------------------------------------------------
// The invariant

/** Every file of S is live with the same bytes or in a complete backup that verifies. */
function checkCoverage(h, t, when, problems) {
  const keep = t.keep ?? t.S;
  if (keep === null) return;
  const live = readTree(liveDir(h)) ?? new Map();
  const verified = backupsOf(h.home)
    .map((ts) => verifyBackup(h.home, ts))
    .filter((v) => v.ok);
  for (const [rel, e] of keep) {
    if (e.type === "d") continue;
    const l = live.get(rel);
    if (l && l.type === e.type && l.sha === e.sha) continue;
    const key = `${path.posix.basename(STATE_DIR)}/${rel}`;
    if (verified.some((v) => v.files.get(key) === e.sha)) continue;
    problems.push(`${when}: ${rel} is lost (not live with the same bytes, in no backup that verifies)`);
    return;
  }
}

/** Every backup an open journal names exists and verifies. */
function checkPins(h, when, problems) {
  const { journals } = openRecords(h.home);
  for (const { file, journal } of journals) {
    if (!journal) {
      problems.push(`${when}: journal ${file} is unreadable`);
      continue;
    }
    for (const ts of pinsOf([{ journal }])) {
      const v = verifyBackup(h.home, ts);
      if (!v.ok) problems.push(`${when}: backup ${ts} pinned by ${file} ${v.why}`);
    }
  }
}

const AGENT_FILE = "agent-wrote-after-the-kill.md";

/** Writes a file into the live state as the agent would, when the journal is past its upload. */
function agentWrites(h) {
  const { journals } = openRecords(h.home);
  const phase = journals[0]?.journal?.phase;
  if (!["verifying", "registering"].includes(phase) || phaseOf(h) !== "Ready") return null;
  const dir = liveDir(h);
  if (!fs.existsSync(dir)) return null;
  const content = `written by the agent while the journal said ${phase}\n`;
  const file = path.join(dir, AGENT_FILE);
  fs.writeFileSync(file, content, { mode: 0o644 });
  fs.chmodSync(file, 0o644);
  return { rel: AGENT_FILE, phase, entry: { type: "f", mode: "0644", sha: sha(content) } };
}

/** Runs a retention follow-up; it may remove only what §12 allows. */
async function retention(h, t, argv, counts, problems) {
  const { journals } = openRecords(h.home);
  const pinned = pinsOf(journals);
  const newest = newestWithFiles(h.home);
  const r = await followUp(h, argv, counts);
  for (const ts of pinned) {
    const v = verifyBackup(h.home, ts);
    if (!v.ok)
      problems.push(`${argv.join(" ")} removed or broke pinned backup ${ts} (${v.why}; exit ${r.code})`);
  }
  // The newest backup with files may go only once a newer one with files exists.
  const newestAfter = newestWithFiles(h.home);
  if (newest && (newestAfter === null || newestAfter < newest))
    problems.push(`${argv.join(" ")} removed the newest backup with files ${newest} (exit ${r.code})`);
  checkCoverage(h, t, argv.join(" "), problems);
  checkPins(h, argv.join(" "), problems);
  return r;
}

async function followUp(h, argv, counts) {
  counts.followUps++;
  h.restoreGatewayReplays();
  return await runProcess([NODE, CLI, ...argv], cleanEnv(h), `follow-up ${argv[0]}`);
}

function commandArgv(command) {
  const words = command.trim().split(/\s+/);
  if (words[0] !== "nemoclaw" || words.some((w) => /['"\\$`]/.test(w))) return null;
  return words.slice(1);
}

/** The kill and every follow-up for one point; returns the problems found. */
async function runPoint(h, wf, template, point, opts, counts) {
  let t = template;
  const problems = [];
  const notes = [];
  const pointsFile = path.join(h.dir, "kill-run.points");
  fs.rmSync(pointsFile, { force: true });
  const killed = await runProcess(
    [NODE, CLI, ...wf.argv(t)],
    cleanEnv(h, { NEMOCLAW_TEST_KILL_AT: point.label, NEMOCLAW_TEST_KILL_POINTS: pointsFile }),
    `kill ${wf.id}`,
  );
  if (killed.signal !== "SIGKILL") notes.push(`point not reached (exit ${killed.code})`);
  // Like a reboot or a cgroup OOM kill: the step's own child dies with the CLI.
  if (point.killChildren) await h.reapOrphans(0);
  // Tests of the matrix itself: a product that never wrote its journal, or that let the backups
  // its journal pins go.
  if (opts.inject === "drop-journal") {
    for (const { file } of openRecords(h.home).journals)
      fs.rmSync(path.join(opsDir(h.home), file), { force: true });
  } else if (opts.inject === "drop-pinned") {
    for (const ts of pinsOf(openRecords(h.home).journals))
      fs.rmSync(path.join(backupsRoot(h.home), ts), { recursive: true, force: true });
  }
  checkCoverage(h, t, "after the kill", problems);
  checkPins(h, "after the kill", problems);
  // A killed run whose upload had returned (journal at verifying or later) left complete state
  // the agent may go on writing to: it writes, and that file is user state from now on (§18).
  const agent = agentWrites(h);
  if (agent) {
    t = { ...t, keep: new Map([...(t.S ?? []), [agent.rel, agent.entry]]) };
    notes.push(`agent wrote at ${agent.phase}`);
  }

  const status = await followUp(h, ["status", "--json"], counts);
  let doc = null;
  try {
    doc = JSON.parse(status.stdout);
  } catch {
    problems.push(
      `status --json printed no JSON (exit ${status.code}): ${status.stderr.trim().split("\n")[0]}`,
    );
  }
  const commands = [];
  for (const row of doc?.result?.sandboxes ?? []) {
    if (row.interrupted?.command && !commands.includes(row.interrupted.command))
      commands.push(row.interrupted.command);
  }
  const open = openRecords(h.home);
  if (open.journals.length + open.started.length > 0) {
    if (status.code === 0) problems.push("status exits 0 while a journal or started record is open");
    if (commands.length === 0) problems.push("status names no finishing command for an open operation");
  }
  checkCoverage(h, t, "status", problems);

  if (point.retention) {
    await retention(h, t, ["backup-all", "--keep", "1"], counts, problems);
    await retention(h, t, ["backups", "prune", "--keep", "1"], counts, problems);
  }

  for (const command of commands) {
    const argv = commandArgv(command);
    if (!argv) {
      problems.push(`finishing command is not a plain nemoclaw command: ${command}`);
      continue;
    }
    const r = await followUp(h, argv, counts);
    if (r.code !== 0)
      notes.push(
        `\`${command}\` exit ${r.code}: ${(r.stdout + r.stderr).trim().split("\n").slice(-2).join(" / ")}`,
      );
    checkCoverage(h, t, command, problems);
    checkPins(h, command, problems);
  }

  // Orphans of the killed run have finished or were stopped by the follow-ups; wait for any left.
  await h.reapOrphans(5000);
  const after = openRecords(h.home);
  if (after.journals.length + after.started.length > 0) {
    problems.push(
      `still open after ${commands.length ? commands.join(" ; ") : "the follow-ups (no finishing command printed)"}: ${[
        ...after.journals.map((j) => `${j.file} (phase ${j.journal?.phase})`),
        ...after.started,
      ].join(", ")}`,
    );
  } else {
    const live = readTree(liveDir(h));
    const candidates = wf.intended.map((k) => ({ k, tree: k === "S" ? t.S : t.B }));
    // At registering the state was verified: finishing only updates the registry, so the agent's
    // file may stay live.
    if (agent)
      for (const { k, tree } of [...candidates])
        if (tree) candidates.push({ k: `${k}+agent`, tree: new Map([...tree, [agent.rel, agent.entry]]) });
    const diffs = candidates.map(({ k, tree }) => `${k}: ${treeDiff(live, tree)}`);
    if (!candidates.some(({ tree }) => treeDiff(live, tree) === null))
      problems.push(`live state equals no intended state (${diffs.join("; ")})`);
    const phase = phaseOf(h);
    const expectedPhase = wf.absent && live === null ? "absent" : wf.phase;
    if (phase !== expectedPhase) problems.push(`sandbox is ${phase}, not ${expectedPhase}`);
    const entry = registryEntry(h.home);
    const rec = sandboxRecord(h);
    if (rec && wf.registryAfter !== undefined && live !== null) {
      const image = rec.image ?? "";
      const version = image.slice(image.lastIndexOf(":") + 1);
      if (!entry) problems.push(`sandbox exists on ${image} but is not registered`);
      else if (entry.agentVersion !== version)
        problems.push(`registry says ${entry.agentVersion}, sandbox runs ${version}`);
    }
  }
  checkCoverage(h, t, "at the end", problems);
  checkPins(h, "at the end", problems);
  return { problems, notes };
}

// ------------------------------------------------------------------------------------------------
// Templates: prepared once, copied per point

/**
 * Prepares a workflow's template in a slot's host by real commands (sandboxes, registry,
 * backups): `state/sandboxes` and `home/.nemoclaw` hold no host path or port, so every slot can
 * copy them. Records S, the target backup's tree B, and P.
 */
async function prepareTemplate(slot, wf, root) {
  const h = slot.host;
  for (const sub of ["state/sandboxes", "home/.nemoclaw"])
    fs.rmSync(path.join(h.dir, sub), { recursive: true, force: true });
  fs.mkdirSync(path.join(h.dir, "state/sandboxes"));
  const target = (await wf.prepare(h)) ?? null;
  const dir = path.join(root, "templates", wf.id);
  fs.mkdirSync(dir, { recursive: true });
  cpTree(path.join(h.dir, "state/sandboxes"), path.join(dir, "sandboxes"));
  cpTree(path.join(h.home, ".nemoclaw"), path.join(dir, "nemoclaw"));
  const S = readTree(liveDir(h));
  const B = target ? backupStateTree(h.home, target) : null;
  return { dir, target, S, B, P: new Set([newestWithFiles(h.home)].filter(Boolean)) };
}

/** A worker slot: one host with its gateway; per workflow a snapshot of state/ and home/ to copy. */
class Slot {
  constructor(root, index) {
    this.host = new Host(path.join(root, `slot${index}`));
    this.snapshots = new Map();
    this.root = root;
    this.index = index;
  }

  async init() {
    await this.host.init();
    await this.host.simctl("set", "fastQueries=true", "fastExec=true", "fastTransfer=true");
  }

  /** Installs the workflow's template and primes the simulator's read-only answers once. */
  async snapshot(wf, t) {
    if (this.snapshots.has(wf.id)) return this.snapshots.get(wf.id);
    const h = this.host;
    for (const sub of ["state/sandboxes", "home/.nemoclaw"])
      fs.rmSync(path.join(h.dir, sub), { recursive: true, force: true });
    cpTree(path.join(t.dir, "sandboxes"), path.join(h.dir, "state/sandboxes"));
    cpTree(path.join(t.dir, "nemoclaw"), path.join(h.home, ".nemoclaw"));
    // Rebuilds the simulator's answer caches for these sandboxes (fastExec, fastQueries), then
    // one status records the preflight's answers: each point starts with them.
    await h.simctl("set", "fastQueries=true", "fastExec=true", "fastTransfer=true");
    await runProcess([NODE, CLI, "status", "--json"], cleanEnv(h), "prime");
    fs.writeFileSync(path.join(h.dir, "state/calls.log"), "");
    h.keepGatewayReplays();
    const snap = path.join(this.root, `snap${this.index}`, wf.id);
    fs.mkdirSync(snap, { recursive: true });
    cpTree(path.join(h.dir, "state"), path.join(snap, "state"));
    cpTree(h.home, path.join(snap, "home"));
    this.snapshots.set(wf.id, snap);
    return snap;
  }

  /** A fresh host for one point: the snapshot copied over state/ and home/. */
  async reset(wf, t) {
    await this.host.reapOrphans(3000);
    const snap = await this.snapshot(wf, t);
    for (const sub of ["state", "home"]) {
      fs.rmSync(path.join(this.host.dir, sub), { recursive: true, force: true });
      cpTree(path.join(snap, sub), path.join(this.host.dir, sub));
    }
  }
}

async function enumerate(slot, wf, t) {
  await slot.reset(wf, t);
  const h = slot.host;
  const file = path.join(h.dir, "enumerate.points");
  fs.rmSync(file, { force: true });
  const r = await runProcess([NODE, CLI, ...wf.argv(t)], cleanEnv(h, { NEMOCLAW_TEST_KILL_POINTS: file }));
  if (r.code !== 0)
    throw new Error(`${wf.id}: the workflow itself failed (exit ${r.code}): ${r.stdout}${r.stderr}`);
  const points = fs
    .readFileSync(file, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((line) => {
      const [ordinal, label] = line.split("\t");
      return { ordinal: Number(ordinal), label };
    });
  // The finished run must leave what it intended: a baseline for the checks.
  const live = readTree(liveDir(h));
  const ok = wf.intended.some((k) => treeDiff(live, k === "S" ? t.S : t.B) === null);
  if (!ok) throw new Error(`${wf.id}: an uninterrupted run does not end in an intended state`);
  return points;
}

// ------------------------------------------------------------------------------------------------

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  if (!fs.existsSync(path.join(REPO, "dist/cli/main.js"))) usage("build first (npm run build)");
  const workflows = WORKFLOWS.filter((wf) => !opts.only || opts.only.includes(wf.id));
  if (workflows.length === 0) usage("no such workflow");
  const started = Date.now();
  // tmpfs when there is one: the CLI fsyncs every backup file, which on a disk costs wall time.
  const base = process.env.MATRIX_TMPDIR ?? (isWritableDir("/dev/shm") ? "/dev/shm" : os.tmpdir());
  const root = fs.mkdtempSync(path.join(base, "nemoclaw-crash."));
  const slots = [];
  let exit = 1;
  const cleanup = () => {
    for (const s of slots) s.host.stop();
    if (!opts.keep) fs.rmSync(root, { recursive: true, force: true });
  };
  process.on("SIGINT", () => {
    cleanup();
    process.exit(130);
  });
  try {
    const jobs = Math.min(opts.jobs, opts.sample ? workflows.length : opts.jobs);
    for (let i = 0; i < jobs; i++) slots.push(new Slot(root, i));
    await Promise.all(slots.map((s) => s.init()));

    // One queue: per workflow, prepare its template and enumerate its points (one full run with
    // the seam recording); its kill points join the queue as soon as they are known.
    const templates = new Map();
    const counts = { followUps: 0 };
    const violations = [];
    const listed = [];
    const notReached = [];
    let n = 0;
    const tasks = workflows.map((wf) => ({ wf, point: null }));
    await workQueue(slots, tasks, async (slot, { wf, point }) => {
      if (point === null) {
        const t = await prepareTemplate(slot, wf, root);
        templates.set(wf.id, t);
        const points = await enumerate(slot, wf, t);
        const chosen = opts.sample
          ? [points.find((p) => wf.sample.test(p.label)) ?? points[Math.floor(points.length / 2)]]
          : points;
        chosen.forEach((p, i) => {
          const retentionMode =
            opts.retention ?? (wf.retention === "all" ? "all" : opts.sample ? "none" : "sample");
          const retention = retentionMode === "all" || (retentionMode === "sample" && i % 5 === 2);
          const task = { wf, point: { ...p, retention, killChildren: opts.killChildren === true } };
          if (opts.list) listed.push(task);
          else tasks.push(task);
        });
        return;
      }
      // Kill at the point, follow up, check.
      const t = templates.get(wf.id);
      await slot.reset(wf, t);
      const t0 = Date.now();
      const { problems, notes } = await runPoint(slot.host, wf, t, point, opts, counts);
      if (PROFILE) notes.push(`${Date.now() - t0} ms`);
      if (notes.some((note) => note.startsWith("point not reached"))) notReached.push(point.label);
      n++;
      const name = `${wf.id} ${point.label}${point.retention ? " (+retention)" : ""}`;
      console.log(
        `${problems.length ? "not ok" : "ok"} ${n} - ${name}${notes.length ? ` # ${notes.join("; ")}` : ""}`,
      );
      for (const p of problems) {
        console.log(`#   ${p}`);
        violations.push({ workflow: wf.id, point: point.label, detail: p });
      }
    });
    if (opts.list) {
      for (const { wf, point } of listed) console.log(`${wf.id}\t${point.ordinal}\t${point.label}`);
      exit = 0;
      return;
    }
    console.log(`1..${n}`);

    const secs = ((Date.now() - started) / 1000).toFixed(0);
    if (violations.length) {
      console.log("# violations:");
      for (const v of violations) console.log(`#   ${v.workflow} | ${v.point} | ${v.detail}`);
    }
    const unreached = notReached.length ? `, ${notReached.length} points not reached` : "";
    console.log(
      `# ${workflows.length} workflows, ${slots.length} slots, ${secs} s wall, ${cpuSeconds()} s CPU${unreached}`,
    );
    if (PROFILE)
      for (const [k, v] of PROFILE)
        console.log(`# cpu ${k}: ${v.runs} runs, ${v.cpu.toFixed(1)} s cpu, ${v.wall.toFixed(1)} s wall`);
    console.log(
      `crash matrix: ${n} kill points, ${counts.followUps} follow-up runs, ${violations.length} violations`,
    );
    exit = violations.length ? 1 : 0;
  } catch (error) {
    console.log(`not ok 1 - crash matrix could not run: ${error.message}`);
    exit = 1;
  } finally {
    cleanup();
  }
  process.exit(exit);
}

/** CPU seconds of this process and every child it waited for (their own children included). */
function cpuSeconds() {
  try {
    const stat = fs.readFileSync("/proc/self/stat", "latin1");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // fields 14-17 (utime, stime, cutime, cstime) are f[11..14], in clock ticks
    const ticks = [11, 12, 13, 14].reduce((sum, i) => sum + Number(f[i]), 0);
    return (ticks / 100).toFixed(0);
  } catch {
    return "?";
  }
}

function isWritableDir(dir) {
  try {
    fs.accessSync(dir, fs.constants.W_OK);
    return fs.statSync(dir).isDirectory();
  } catch {
    return false;
  }
}

/**
 * Runs `work(slot, task)` for every task, each slot taking the next task when it is free; a task
 * may add tasks (the queue ends when it is empty and no task runs).
 */
async function workQueue(slots, tasks, work) {
  let running = 0;
  let failure = null;
  await Promise.all(
    slots.map(async (slot) => {
      for (;;) {
        if (failure) return;
        const task = tasks.shift();
        if (!task) {
          if (running === 0) return;
          await sleep(20);
          continue;
        }
        running++;
        try {
          await work(slot, task);
        } catch (error) {
          failure = error;
        } finally {
          running--;
        }
      }
    }),
  );
  if (failure) throw failure;
}

await main();
