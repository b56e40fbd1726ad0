// State of one simulated host ("hostdir"): knobs, registered gateways, containers, sandboxes and
// the call log. Every sim executable is reached through a wrapper that bakes in
// NEMOCLAW_SIM_HOST, because nemoclaw runs its probes with a pinned environment: the simulator
// must find its state without relying on anything ambient.

import fs from "node:fs";
import path from "node:path";

/** Every knob with its default. `simctl set` refuses names that are not here. */
export const KNOB_DEFAULTS = Object.freeze({
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
});

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

/** Temp file + rename: concurrent sim invocations never see a half-written file. */
export function writeJsonAtomic(file, value, mode = 0o644) {
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
  fs.mkdirSync(paths.sandboxes, { recursive: true });
  writeJsonAtomic(path.join(paths.sandboxes, `${sandbox.name}.json`), sandbox);
}

export function removeSandbox(paths, name) {
  if (SANDBOX_NAME_RE.test(name)) fs.rmSync(path.join(paths.sandboxes, `${name}.json`), { force: true });
}

/**
 * One JSON line per invocation. A single small O_APPEND write is atomic, so parallel invocations
 * never interleave. `argv0` is what the wrapper's `exec -a "$0"` passed on: the path invoked.
 */
export function recordCall(paths, tool, args) {
  const line = JSON.stringify({ tool, argv0: process.argv0, args, pid: process.pid });
  fs.appendFileSync(paths.calls, `${line}\n`);
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** "YYYY-MM-DD HH:MM:SS" in UTC, OpenShell's CREATED column format. */
export function formatCreated(date) {
  return date.toISOString().slice(0, 19).replace("T", " ");
}
