// State of one simulated host ("hostdir"): knobs, registered gateways, containers, sandboxes and
// the call log. Every sim executable is reached through a wrapper that bakes in
// NEMOCLAW_SIM_HOST, because nemoclaw runs its probes with a pinned environment: the simulator
// must find its state without relying on anything ambient.

import { randomUUID } from "node:crypto";
import fs from "node:fs";
import path from "node:path";

/** Every knob with its default. `simctl set` refuses names that are not here. */
export const KNOB_DEFAULTS = Object.freeze({
  fastExec: false,
  fastQueries: false,
  fastTransfer: false,
  schemaMismatchAfterCalls: null,
  cliVersion: "0.0.44",
  gatewayVersion: "0.0.44",
  gatewayName: "nemoclaw",
  port: 8080,
  servedVersion: null,
  statusText: null,
  schemaMismatch: null,
  unreachable: false,
  dockerDaemon: true,
  delayMs: 0,
  cliVersionDelayMs: 0,
  gatewayVersionDelayMs: 0,
  gatewayVersionHang: false,
  gatewayStartDelayMs: 0,
  gatewayExitAfterMs: null,
  // sandboxes (see README "Knobs")
  sandboxReadyDelayMs: 300,
  neverReady: false,
  sandboxStartDelayMs: 300,
  sandboxStopDelayMs: 300,
  startNeverReady: false,
  stopFail: false,
  createFail: false,
  createFailTimes: 0,
  createDelayMs: 0,
  deleteDelayMs: 0,
  uploadDelayMs: 0,
  execDelayMs: 0,
  transferDelayMs: 0,
  downloadBytesPerSec: null,
  uploadBytesPerSec: null,
  downloadFailAfterBytes: null,
  downloadFailSandbox: null,
  uploadFailAfterBytes: null,
  uploadFailSandbox: null,
  gatewayGoneAfterCalls: null,
});

/** Knobs whose values stay strings even when they look like JSON (`simctl set`). */
export const STRING_KNOB_RE = /(Version|Sandbox)$/;

export const SCHEMA_MISMATCH_KINDS = ["tonic14", "tonic12", "unimplemented"];

/** OpenShell's own sandbox-name rule; it also keeps `<name>.json` inside the state directory. */
export const SANDBOX_NAME_RE = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

export function hostPaths(host) {
  const state = path.join(host, "state");
  return {
    host,
    bin: path.join(host, "bin"),
    home: path.join(host, "home"),
    state,
    config: path.join(state, "config.json"),
    gateways: path.join(state, "gateways.json"),
    docker: path.join(state, "docker.json"),
    sandboxes: path.join(state, "sandboxes"),
    counters: path.join(state, "counters"),
    pids: path.join(state, "pids"),
    calls: path.join(state, "calls.log"),
  };
}

/** The host of the running sim executable, as baked into its wrapper. */
export function hostFromEnv() {
  const host = process.env.NEMOCLAW_SIM_HOST;
  if (!host || !path.isAbsolute(host) || !fs.existsSync(path.join(host, "state", "config.json"))) {
    process.stderr.write(
      `nemoclaw-sim: NEMOCLAW_SIM_HOST is not an initialised host (${host ?? "unset"}); run through a simctl wrapper\n`,
    );
    process.exit(70);
  }
  return hostPaths(host);
}

export function readJson(file, fallback) {
  try {
    return JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (err) {
    if (err.code === "ENOENT") return fallback;
    throw err;
  }
}

// ---------------------------------------------------------------------------------------------
// Fast paths for benchmarks (knobs `fastExec`, `fastQueries`, `fastTransfer`; see fast-paths.mjs).
// Each is off while any knob that injects faults, delays or call-count behaviour is set.

/** Marker file: the fast path of its directory is on. */
export const FAST_ENABLED = ".enabled";
export const replayDir = (paths) => path.join(paths.state, "replay");
export const transferDir = (paths) => path.join(paths.state, "fast-transfer");

/** Knobs that change every answer: no fast path while any of them is set. */
export const FAULT_KNOBS = [
  "unreachable",
  "schemaMismatch",
  "schemaMismatchAfterCalls",
  "gatewayGoneAfterCalls",
  "delayMs",
];

/** True when each of `knobs` is at its default (off). */
export function knobsAtDefault(config, knobs) {
  return knobs.every((knob) => config[knob] === KNOB_DEFAULTS[knob]);
}

/**
 * Every change to a host's state drops what `fastQueries` and `fastTransfer` cached: recorded
 * answers, and the fast-transfer markers until the next `simctl set`.
 */
export function invalidateFastPaths(paths) {
  let names = [];
  try {
    names = fs.readdirSync(replayDir(paths));
  } catch {
    // never enabled
  }
  for (const name of names)
    if (name !== FAST_ENABLED) fs.rmSync(path.join(replayDir(paths), name), { force: true });
  fs.rmSync(transferDir(paths), { recursive: true, force: true });
}

/** The host whose `state/` directory holds `file` (config, gateways, docker, sandbox records). */
function hostOfStateFile(file) {
  let dir = path.dirname(file);
  while (path.basename(dir) !== "state" && dir !== path.dirname(dir)) dir = path.dirname(dir);
  return path.basename(dir) === "state" ? hostPaths(path.dirname(dir)) : null;
}

/** Temp file + rename: concurrent sim invocations never see a half-written file. */
export function writeJsonAtomic(file, value, mode = 0o644) {
  const host = hostOfStateFile(file);
  if (host) invalidateFastPaths(host);
  const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
  fs.writeFileSync(tmp, `${JSON.stringify(value, null, 2)}\n`, { mode });
  fs.renameSync(tmp, file);
}

export function readConfig(paths) {
  return { ...KNOB_DEFAULTS, ...readJson(paths.config, {}) };
}

export function readGateways(paths) {
  const data = readJson(paths.gateways, {});
  return { selected: data.selected ?? null, gateways: data.gateways ?? {} };
}

export function readSandbox(paths, name) {
  if (!SANDBOX_NAME_RE.test(name)) return null;
  return readJson(path.join(paths.sandboxes, `${name}.json`), null);
}

export function listSandboxes(paths) {
  let files = [];
  try {
    files = fs.readdirSync(paths.sandboxes);
  } catch (err) {
    if (err.code !== "ENOENT") throw err;
  }
  return files
    .filter((f) => f.endsWith(".json"))
    .sort()
    .map((f) => readJson(path.join(paths.sandboxes, f), null))
    .filter(Boolean);
}

export function writeSandbox(paths, sandbox) {
  if (!SANDBOX_NAME_RE.test(sandbox.name)) throw new Error(`invalid sandbox name: ${sandbox.name}`);
  invalidateFastExec(paths, sandbox.name);
  fs.mkdirSync(paths.sandboxes, { recursive: true });
  writeJsonAtomic(path.join(paths.sandboxes, `${sandbox.name}.json`), sandbox);
}

/** `<hostdir>/state/sandboxes/<name>/root`: the sandbox's filesystem (`/sandbox/x` is `root/sandbox/x`). */
export function sandboxRoot(paths, name) {
  if (!SANDBOX_NAME_RE.test(name)) throw new Error(`invalid sandbox name: ${name}`);
  return path.join(paths.sandboxes, name, "root");
}

/** A fresh or existing root with its `/sandbox` directory (the agent's home and workdir). */
export function ensureSandboxRoot(paths, name, { fresh = false } = {}) {
  const root = sandboxRoot(paths, name);
  if (fresh) fs.rmSync(path.dirname(root), { recursive: true, force: true });
  fs.mkdirSync(path.join(root, "sandbox"), { recursive: true });
  return root;
}

export function removeSandbox(paths, name) {
  if (!SANDBOX_NAME_RE.test(name)) return;
  invalidateFastExec(paths, name);
  invalidateFastPaths(paths);
  fs.rmSync(path.join(paths.sandboxes, `${name}.json`), { force: true });
  fs.rmSync(path.join(paths.sandboxes, name), { recursive: true, force: true });
}

/** OpenShell 0.0.105 added `sandbox stop`/`start` and the phases `Stopping`, `Stopped`, `Starting`. */
export const STOP_START_SINCE = "0.0.105";
export const STOP_START_PHASES = ["Stopping", "Stopped", "Starting"];

/** Phases that change with time alone (a `readyAt` or `stoppedAt` deadline). */
export const TRANSIENT_PHASES = ["Provisioning", "Starting", "Stopping"];

/**
 * The phase a sandbox reports now. A created sandbox is `Provisioning` (a started one
 * `Starting`) with a `readyAt` time (epoch ms); it turns `Ready` once that has passed. A stopped
 * one is `Stopping` until `stoppedAt`, then `Stopped`. Computed from timestamps, so no
 * background process is needed. `readyAt: null` (knobs `neverReady`, `startNeverReady`) never
 * turns Ready; a transient phase without a deadline (set by `add-sandbox`) never changes.
 */
export function effectivePhase(sandbox, now = Date.now()) {
  if (
    (sandbox.phase === "Provisioning" || sandbox.phase === "Starting") &&
    typeof sandbox.readyAt === "number" &&
    now >= sandbox.readyAt
  ) {
    return "Ready";
  }
  if (sandbox.phase === "Stopping" && typeof sandbox.stoppedAt === "number" && now >= sandbox.stoppedAt) {
    return "Stopped";
  }
  return sandbox.phase;
}

/**
 * The agent installed in a sandbox and its version. The image decides both
 * (`…/sandbox-openclaw:2026.7.1` → openclaw 2026.7.1) unless the sandbox record overrides them
 * (`agent`, `agentVersion`). Either may be null (an image without a version tag, no image).
 */
export function sandboxAgent(sandbox) {
  let agent = null;
  let version = null;
  if (sandbox.image) {
    const ref = String(sandbox.image).split("@")[0];
    const slash = ref.lastIndexOf("/");
    const colon = ref.lastIndexOf(":");
    const repo = colon > slash ? ref.slice(0, colon) : ref;
    const tag = colon > slash ? ref.slice(colon + 1) : null;
    const base = repo.slice(repo.lastIndexOf("/") + 1);
    const m = /^sandbox-([a-z0-9][a-z0-9_-]*)$/.exec(base) ?? /^(openclaw|hermes)$/.exec(base);
    if (m) agent = m[1];
    if (tag && /^v?\d+(\.\d+)*([-+][0-9A-Za-z.+-]*)?$/.test(tag)) version = tag.replace(/^v/, "");
  }
  return { agent: sandbox.agent ?? agent, version: sandbox.agentVersion ?? version };
}

// ---------------------------------------------------------------------------------------------
// Counters for the count-based knobs (gatewayGoneAfterCalls, createFailTimes). Each counted call
// appends one line to `state/counters/<name>` (a small O_APPEND write is atomic), then finds its
// own line: its position is the call's ordinal, exact even under concurrent invocations.
// `simctl set` resets the counter when it sets the knob.

function counterFile(paths, name) {
  return path.join(paths.counters, name);
}

export function countCall(paths, name) {
  fs.mkdirSync(paths.counters, { recursive: true });
  const token = `${process.pid}-${randomUUID()}`;
  fs.appendFileSync(counterFile(paths, name), `${token}\n`);
  const lines = fs.readFileSync(counterFile(paths, name), "utf8").split("\n");
  return lines.indexOf(token) + 1;
}

export function counterValue(paths, name) {
  try {
    return fs.readFileSync(counterFile(paths, name), "utf8").split("\n").filter(Boolean).length;
  } catch (err) {
    if (err.code === "ENOENT") return 0;
    throw err;
  }
}

export function resetCounter(paths, name) {
  fs.mkdirSync(paths.counters, { recursive: true });
  fs.writeFileSync(counterFile(paths, name), "");
}

/**
 * One JSON line per invocation. A single small O_APPEND write is atomic, so parallel invocations
 * never interleave. `argv0` is what the wrapper's `exec -a "$0"` passed on: the path invoked.
 */
export function recordCall(paths, tool, args) {
  const workspace = process.env.OPENSHELL_WORKSPACE;
  const line = JSON.stringify({
    tool,
    argv0: process.argv0,
    args,
    pid: process.pid,
    ...(workspace ? { workspace } : {}),
  });
  fs.appendFileSync(paths.calls, `${line}\n`);
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** "YYYY-MM-DD HH:MM:SS" in UTC, OpenShell's CREATED column format. */
export function formatCreated(date) {
  return date.toISOString().slice(0, 19).replace("T", " ");
}

// ---------------------------------------------------------------------------------------------
// Fast exec (knob `fastExec`, for the benchmark). A native `openshell` starts in milliseconds; the
// Node simulator takes ~80 ms, which would make a benchmark of 200 version probes measure Node's
// start-up instead of nemoclaw. With the knob on, the `openshell` wrapper answers
// `sandbox exec -n NAME --no-tty -- AGENT --version` in bash from `state/fast-exec/NAME`
// ("AGENT VERSION"). The cache is written by `simctl set`, only while no knob that changes exec
// behaviour is active, and any change to a sandbox deletes its entry (falling back to Node).

export function fastExecDir(paths) {
  return path.join(paths.state, "fast-exec");
}

export function invalidateFastExec(paths, name) {
  fs.rmSync(path.join(fastExecDir(paths), name), { force: true });
}

export function rebuildFastExec(paths, config) {
  const dir = fastExecDir(paths);
  fs.rmSync(dir, { recursive: true, force: true });
  if (!config.fastExec || !knobsAtDefault(config, [...FAULT_KNOBS, "execDelayMs"])) return;
  fs.mkdirSync(dir, { recursive: true });
  for (const sandbox of listSandboxes(paths)) {
    const { agent, version } = sandboxAgent(sandbox);
    if (effectivePhase(sandbox) !== "Ready" || !agent || !version || !/^[a-z0-9_-]+$/.test(agent)) continue;
    fs.writeFileSync(path.join(dir, sandbox.name), `${agent} ${version}\n`);
  }
  fs.writeFileSync(path.join(dir, FAST_ENABLED), "");
}
