#!/usr/bin/env node
// simctl — set up and tear down simulated OpenShell hosts for nemoclaw's tests, benchmark and demo.
// See test/sim/README.md for every command and knob.

import { spawn } from "node:child_process";
import { createHash, randomUUID } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "./lib/cli-args.mjs";
import { FAST_TRANSFER_BASH, rebuildFastPaths, replayBash } from "./lib/fast-paths.mjs";
import { releasePorts, reservePort } from "./lib/free-port.mjs";
import { checkHealth } from "./lib/gateway-client.mjs";
import {
  ensureSandboxRoot,
  formatCreated,
  hostPaths,
  KNOB_DEFAULTS,
  readConfig,
  readGateways,
  readJson,
  readSandbox,
  rebuildFastExec,
  resetCounter,
  SANDBOX_NAME_RE,
  SCHEMA_MISMATCH_KINDS,
  STOP_START_PHASES,
  STOP_START_SINCE,
  STRING_KNOB_RE,
  sandboxAgent,
  sandboxRoot,
  writeJsonAtomic,
  writeSandbox,
} from "./lib/host-state.mjs";
import { liveEntries, procStat, recordPid, stopAll } from "./lib/pid-registry.mjs";
import { copyTree, resolveInSandbox, SandboxPathError, treeEntries } from "./lib/sandbox-fs.mjs";
import { defaultStateDir, seedStateTree } from "./lib/sandbox-seed.mjs";
import { atLeast, versionFromImage } from "./lib/version.mjs";

const LIB_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), "lib");
const PHASES = ["Provisioning", "Ready", "Error", "Deleting", "Unknown", "Stopping", "Stopped", "Starting"];
const DEFAULT_PORT = 8080;

/**
 * The bash answer to a version probe when the `fastExec` knob is on (see rebuildFastExec in
 * lib/host-state.mjs): `-g GW sandbox exec -n NAME --no-tty -- AGENT --version`, from the cache.
 */
const FAST_EXEC_BASH = [
  'if [ "$#" -eq 10 ] && [ "$1" = -g ] && [ "$3" = sandbox ] && [ "$4" = exec ] && [ "$5" = -n ] &&',
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a bash positional parameter, not a template
  '   [ "$7" = --no-tty ] && [ "$8" = -- ] && [ "${10}" = --version ] &&',
  '   [ -f "$NEMOCLAW_SIM_HOST/state/fast-exec/.enabled" ] && [ -f "$NEMOCLAW_SIM_HOST/state/fast-exec/$6" ]; then',
  '  read -r agent version <"$NEMOCLAW_SIM_HOST/state/fast-exec/$6"',
  '  if [ "$agent" = "$9" ]; then',
  `    printf '{"tool":"openshell","argv0":"%s","args":["-g","%s","sandbox","exec","-n","%s","--no-tty","--","%s","--version"],"pid":%d,"fast":true}\\n' "$0" "$2" "$6" "$9" "$$" >>"$NEMOCLAW_SIM_HOST/state/calls.log"`,
  `    printf '%s %s\\n' "$agent" "$version"`,
  "    exit 0",
  "  fi",
  "fi",
];

class UsageError extends Error {}

const usage = `usage: simctl <command> <hostdir> [options]

  init <hostdir> [--cli-version V] [--gateway-version V] [--gateway-name N] [--port P|0]
  set <hostdir> key=value...            get <hostdir> key            env <hostdir>
  install-gateway-bin <hostdir> <abs path>/openshell-gateway --version V
  install-openshell-bin <hostdir> <abs path>/openshell --version V
  start-gateway <hostdir> [--bin PATH] [--port P] [--name N] [--served-version V] [--state-dir DIR]
                          [--no-marker] [--no-register] [--no-wait] [--timeout-ms MS]
  start-cluster <hostdir> --image REF [--port P] [--name N] [--served-version V] [--stopped] [--no-register]
  add-sandbox <hostdir> NAME [--phase Ready] [--created "YYYY-MM-DD HH:MM:SS"|-] [--image REF]
              [--agent A] [--agent-version V] [--files SANDBOX_DIR=LOCAL_DIR]... [--seed [--big-mib N]
              [--small-files N] [--dir SANDBOX_DIR]]
  seed-sandbox <hostdir> NAME [--dir SANDBOX_DIR] [--big-mib N] [--small-files N]
  write-file <hostdir> NAME SANDBOX_PATH CONTENT [--mode 0644]
  sandbox-path <hostdir> NAME [SANDBOX_PATH]
  tree <hostdir> NAME SANDBOX_DIR [--no-modes]    tree <hostdir> --local DIR [--no-modes]
  spawn-foreign <hostdir> [--argv0 X] [-- ARG...]
  free-port <hostdir>                    (a free 127.0.0.1 port, reserved until stop)
  stop <hostdir>                         pids <hostdir> [--long]
`;

const shellQuote = (s) => `'${String(s).replaceAll("'", "'\\''")}'`;

function requireHost(hostdir) {
  if (!hostdir) throw new UsageError("missing <hostdir>");
  const paths = hostPaths(path.resolve(hostdir));
  if (!fs.existsSync(paths.config)) throw new UsageError(`${paths.host} is not an initialised sim host`);
  return paths;
}

function parseOrThrow(args, spec) {
  const parsed = parseArgs(args, spec);
  if (parsed.error) throw new UsageError(parsed.error);
  return parsed;
}

function parsePort(value, { allowZero = false } = {}) {
  const port = Number(value);
  if (!Number.isInteger(port) || port < (allowZero ? 0 : 1) || port > 65535) {
    throw new UsageError(`invalid port: ${value}`);
  }
  return port;
}

/** `--port P`, or a reserved free port for `--port 0` (lib/free-port.mjs), or the host's configured port. */
async function choosePort(flag, config, owner) {
  if (flag === undefined) return config.port;
  const port = parsePort(flag, { allowZero: true });
  return port === 0 ? reservePort(owner) : port;
}

/**
 * A bash wrapper standing in for an installed binary. It bakes in the host (probes run with a
 * pinned environment) and uses `exec -a "$0"` so the node process keeps the wrapper path as argv0:
 * that is how nemoclaw's process-identity check recognises a wrapper-script gateway through
 * /proc/<pid>/cmdline. Binary version overrides are set or explicitly unset so nothing leaks in
 * from the caller's environment (NEMOCLAW_SIM_SERVED_VERSION passes through: `start-gateway
 * --served-version` uses it).
 */
function writeWrapper(paths, file, tool, versions = {}) {
  const bash = fs.existsSync("/bin/bash") ? "/bin/bash" : "/usr/bin/bash";
  const lines = [
    `#!${bash}`,
    `# nemoclaw OpenShell simulator: ${tool} for host ${paths.host} (generated by test/sim/simctl.mjs)`,
    `export NEMOCLAW_SIM_HOST=${shellQuote(paths.host)}`,
  ];
  for (const [name, value] of Object.entries({
    NEMOCLAW_SIM_CLI_VERSION: versions.cli,
    NEMOCLAW_SIM_GATEWAY_VERSION: versions.gateway,
  })) {
    lines.push(value === undefined ? `unset ${name}` : `export ${name}=${shellQuote(value)}`);
  }
  // Identifies this wrapper (and so its baked-in versions) to the `fastQueries` recordings.
  lines.push(...replayBash(tool, createHash("sha256").update(file).digest("hex").slice(0, 12)));
  if (tool === "openshell") lines.push(...FAST_EXEC_BASH, ...FAST_TRANSFER_BASH);
  lines.push(
    `exec -a "$0" ${shellQuote(process.execPath)} ${shellQuote(path.join(LIB_DIR, `${tool}.mjs`))} "$@"`,
  );
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, `${lines.join("\n")}\n`, { mode: 0o755 });
  fs.chmodSync(tmp, 0o755);
  fs.renameSync(tmp, file);
}

// ---------------------------------------------------------------------------------------------

async function cmdInit([hostdir, ...args]) {
  if (!hostdir) throw new UsageError("missing <hostdir>");
  const { flags } = parseOrThrow(args, {
    "--cli-version": { key: "cliVersion", value: true },
    "--gateway-version": { key: "gatewayVersion", value: true },
    "--gateway-name": { key: "gatewayName", value: true },
    "--port": { key: "port", value: true },
  });
  const paths = hostPaths(path.resolve(hostdir));
  if (fs.existsSync(paths.config)) throw new UsageError(`${paths.host} is already initialised`);
  const port = await choosePort(flags.port, { port: DEFAULT_PORT }, paths.host);
  for (const dir of [paths.bin, paths.home, paths.sandboxes]) fs.mkdirSync(dir, { recursive: true });
  const cliVersion = flags.cliVersion ?? KNOB_DEFAULTS.cliVersion;
  writeJsonAtomic(paths.config, {
    ...KNOB_DEFAULTS,
    cliVersion,
    gatewayVersion: flags.gatewayVersion ?? cliVersion,
    gatewayName: flags.gatewayName ?? KNOB_DEFAULTS.gatewayName,
    port,
  });
  writeJsonAtomic(paths.gateways, { selected: null, gateways: {} });
  writeJsonAtomic(paths.docker, { containers: {} });
  fs.writeFileSync(paths.pids, "");
  fs.writeFileSync(paths.calls, "");
  for (const tool of ["openshell", "openshell-gateway", "docker"]) {
    writeWrapper(paths, path.join(paths.bin, tool), tool);
  }
  console.log(port);
}

function parseKnobValue(raw) {
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}

function cmdSet([hostdir, ...pairs]) {
  const paths = requireHost(hostdir);
  const config = readConfig(paths);
  if (pairs.length === 0) throw new UsageError("expected key=value...");
  for (const pair of pairs) {
    const eq = pair.indexOf("=");
    const key = eq > 0 ? pair.slice(0, eq) : pair;
    if (eq <= 0 || !(key in KNOB_DEFAULTS)) {
      throw new UsageError(`unknown knob '${key}' (known: ${Object.keys(KNOB_DEFAULTS).join(", ")})`);
    }
    const value = parseKnobValue(pair.slice(eq + 1));
    if (key === "schemaMismatch" && value !== null && !SCHEMA_MISMATCH_KINDS.includes(value)) {
      throw new UsageError(`schemaMismatch must be one of ${SCHEMA_MISMATCH_KINDS.join(", ")} or null`);
    }
    // Versions and sandbox names stay strings even when they look like JSON numbers.
    config[key] = STRING_KNOB_RE.test(key) && value !== null ? String(pair.slice(eq + 1)) : value;
  }
  // Count-based knobs count from the moment they are set.
  for (const pair of pairs) {
    const key = pair.slice(0, pair.indexOf("="));
    if (key === "gatewayGoneAfterCalls") resetCounter(paths, "sandbox-calls");
    if (key === "createFailTimes") resetCounter(paths, "create-fail");
    if (key === "schemaMismatchAfterCalls") resetCounter(paths, "mismatch-calls");
  }
  writeJsonAtomic(paths.config, config);
  rebuildFastExec(paths, config);
  rebuildFastPaths(paths, config);
}

function cmdGet([hostdir, key]) {
  const paths = requireHost(hostdir);
  if (!key || !(key in KNOB_DEFAULTS)) throw new UsageError(`unknown knob '${key ?? ""}'`);
  const value = readConfig(paths)[key];
  console.log(typeof value === "string" ? value : JSON.stringify(value));
}

function cmdEnv([hostdir]) {
  const paths = requireHost(hostdir);
  console.log(`export HOME=${shellQuote(paths.home)}`);
  console.log(`export PATH=${shellQuote(paths.bin)}:"$PATH"`);
}

function cmdInstallBin(tool, [hostdir, target, ...args]) {
  const paths = requireHost(hostdir);
  const { flags } = parseOrThrow(args, { "--version": { key: "version", value: true } });
  if (!target || !path.isAbsolute(target)) throw new UsageError("the binary path must be absolute");
  if (path.basename(target) !== tool) throw new UsageError(`the basename must be '${tool}': ${target}`);
  if (!flags.version) throw new UsageError("--version is required");
  const versions = tool === "openshell" ? { cli: flags.version } : { gateway: flags.version };
  writeWrapper(paths, target, tool, versions);
}

// ---------------------------------------------------------------------------------------------
// gateways

/** Log file descriptor + detached spawn: the gateway outlives simctl in its own process group. */
function spawnDetached(file, args, { env, logFile, argv0, cwd }) {
  const logFd = fs.openSync(logFile, "a", 0o600);
  try {
    const child = spawn(file, args, { detached: true, stdio: ["ignore", logFd, logFd], env, argv0, cwd });
    return new Promise((resolve, reject) => {
      child.once("error", reject);
      child.once("spawn", () => resolve(child));
    });
  } finally {
    fs.closeSync(logFd);
  }
}

function tail(file, lines = 10) {
  try {
    return fs.readFileSync(file, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

/**
 * Poll the health endpoint until the process we launched answers (another gateway already on the
 * port does not count: health carries the serving pid), it exits, or the timeout passes.
 */
async function waitHealthy(child, endpoint, timeoutMs) {
  let exited = null;
  child.once("exit", (code, sig) => {
    exited = sig ?? code;
  });
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (exited !== null) return `exited (${exited}) before answering health`;
    const result = await checkHealth(endpoint, 500);
    if (result.ok && result.health.pid === child.pid) return null;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return `did not answer health within ${timeoutMs} ms`;
}

function abandon(child, logFile, reason) {
  try {
    process.kill(-child.pid, "SIGKILL");
  } catch {
    // already gone
  }
  throw new Error(`gateway ${reason}; last log lines:\n${tail(logFile)}`);
}

function register(paths, name, endpoint) {
  const registry = readGateways(paths);
  registry.gateways[name] = { endpoint };
  registry.selected = name;
  writeJsonAtomic(paths.gateways, registry);
}

async function cmdStartGateway([hostdir, ...args]) {
  const paths = requireHost(hostdir);
  const config = readConfig(paths);
  const { flags } = parseOrThrow(args, {
    "--bin": { key: "bin", value: true },
    "--port": { key: "port", value: true },
    "--name": { key: "name", value: true },
    "--served-version": { key: "servedVersion", value: true },
    "--state-dir": { key: "stateDir", value: true },
    "--timeout-ms": { key: "timeoutMs", value: true },
    "--no-marker": { key: "noMarker", value: false },
    "--no-register": { key: "noRegister", value: false },
    "--no-wait": { key: "noWait", value: false },
  });
  const bin = path.resolve(flags.bin ?? path.join(paths.bin, "openshell-gateway"));
  const port = await choosePort(flags.port, config, paths.host);
  const name = flags.name ?? config.gatewayName;
  const stateDir = path.resolve(
    flags.stateDir ??
      path.join(
        paths.home,
        ".local/state/nemoclaw",
        `openshell-docker-gateway${port === DEFAULT_PORT ? "" : `-${port}`}`,
      ),
  );
  fs.mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  fs.chmodSync(stateDir, 0o700);

  // Exactly what NemoClaw's onboard passes: no arguments, configuration by environment (no
  // OPENSHELL_DISABLE_GATEWAY_AUTH: with it a real gateway reported 0.0.43, SPEC §17).
  const gatewayEnv = {
    OPENSHELL_BIND_ADDRESS: "127.0.0.1",
    OPENSHELL_SERVER_PORT: String(port),
    OPENSHELL_DRIVERS: "docker",
    OPENSHELL_DISABLE_TLS: "true",
    OPENSHELL_DB_URL: `sqlite:${path.join(stateDir, "openshell.db")}`,
  };
  const env = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: paths.home, ...gatewayEnv };
  if (flags.servedVersion) env.NEMOCLAW_SIM_SERVED_VERSION = flags.servedVersion;
  const logFile = path.join(stateDir, "openshell-gateway.log");
  const endpoint = `http://127.0.0.1:${port}`;

  const child = await spawnDetached(bin, [], { env, logFile, cwd: stateDir });
  recordPid(paths, child.pid, "gateway");
  if (!flags.noWait) {
    const timeoutMs = flags.timeoutMs === undefined ? 10_000 : Number(flags.timeoutMs);
    const problem = await waitHealthy(child, endpoint, timeoutMs);
    if (problem) abandon(child, logFile, problem);
  }
  child.unref();

  if (!flags.noMarker) {
    fs.writeFileSync(path.join(stateDir, "openshell-gateway.pid"), `${child.pid}\n`, { mode: 0o600 });
    const envHash = createHash("sha256")
      .update(
        Object.keys(gatewayEnv)
          .sort()
          .map((k) => `${k}=${gatewayEnv[k]}`)
          .join("\n"),
      )
      .digest("hex");
    writeJsonAtomic(
      path.join(stateDir, "runtime.json"),
      {
        version: 1,
        pid: child.pid,
        driver: "docker",
        platform: process.platform,
        arch: process.arch,
        endpoint,
        desiredEnvHash: envHash,
        gatewayBin: bin,
        // The CLI version at launch time, not the gateway's: nemoclaw must never trust it as such.
        openshellVersion: config.cliVersion,
        dockerHost: process.env.DOCKER_HOST ?? null,
        createdAt: new Date().toISOString(),
      },
      0o600,
    );
  }
  if (!flags.noRegister) register(paths, name, endpoint);
  console.log(child.pid);
}

async function cmdStartCluster([hostdir, ...args]) {
  const paths = requireHost(hostdir);
  const config = readConfig(paths);
  const { flags } = parseOrThrow(args, {
    "--image": { key: "image", value: true },
    "--port": { key: "port", value: true },
    "--name": { key: "name", value: true },
    "--served-version": { key: "servedVersion", value: true },
    "--stopped": { key: "stopped", value: false },
    "--no-register": { key: "noRegister", value: false },
  });
  if (!flags.image) throw new UsageError("--image is required");
  const port = await choosePort(flags.port, config, paths.host);
  const name = flags.name ?? config.gatewayName;
  const containerName = `openshell-cluster-${name}`;
  const created = new Date().toISOString();
  const container = {
    id: createHash("sha256").update(`${containerName} ${created}`).digest("hex"),
    image: flags.image,
    running: !flags.stopped,
    created,
    ports: { "30051/tcp": [{ HostIp: "0.0.0.0", HostPort: String(port) }] },
    pid: null,
    pidStartTime: null,
  };

  if (!flags.stopped) {
    // The gateway inside the container, modelled as a host process on the published port. Its
    // argv0 carries no path and its exe is node: it can never pass for a host-process gateway.
    const version = flags.servedVersion ?? versionFromImage(flags.image) ?? config.cliVersion;
    const logFile = path.join(paths.state, `${containerName}.log`);
    const endpoint = `http://127.0.0.1:${port}`;
    const env = {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      NEMOCLAW_SIM_HOST: paths.host,
      NEMOCLAW_SIM_GATEWAY_VERSION: version,
      NEMOCLAW_SIM_SERVED_VERSION: version,
      OPENSHELL_BIND_ADDRESS: "127.0.0.1",
      OPENSHELL_SERVER_PORT: String(port),
      OPENSHELL_DRIVERS: "kubernetes",
      OPENSHELL_DISABLE_TLS: "true",
    };
    const child = await spawnDetached(process.execPath, [path.join(LIB_DIR, "openshell-gateway.mjs")], {
      env,
      logFile,
      argv0: "openshell-server",
      cwd: paths.state,
    });
    recordPid(paths, child.pid, `cluster ${containerName}`);
    const problem = await waitHealthy(child, endpoint, 10_000);
    if (problem) abandon(child, logFile, problem);
    child.unref();
    container.pid = child.pid;
    container.pidStartTime = procStat(child.pid)?.startTime ?? null;
    if (!flags.noRegister) register(paths, name, endpoint);
    console.log(child.pid);
  }
  const docker = readJson(paths.docker, { containers: {} });
  docker.containers = { ...docker.containers, [containerName]: container };
  writeJsonAtomic(paths.docker, docker);
}

// ---------------------------------------------------------------------------------------------

/** Pull every `FLAG VALUE` / `FLAG=VALUE` occurrence of a repeatable flag out of `args`. */
function takeRepeated(args, flag) {
  const values = [];
  const rest = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "--") {
      rest.push(...args.slice(i));
      break;
    }
    if (args[i] === flag) {
      if (args[i + 1] === undefined) throw new UsageError(`a value is required for '${flag}'`);
      values.push(args[++i]);
    } else if (args[i].startsWith(`${flag}=`)) values.push(args[i].slice(flag.length + 1));
    else rest.push(args[i]);
  }
  return { values, rest };
}

function nonNegativeInt(value, flag) {
  if (value === undefined) return 0;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new UsageError(`${flag} must be a non-negative integer: ${value}`);
  return n;
}

function requireSandbox(paths, name) {
  if (!name || !SANDBOX_NAME_RE.test(name))
    throw new UsageError(`invalid sandbox name: ${name ?? "(missing)"}`);
  const sandbox = readSandbox(paths, name);
  if (!sandbox) throw new Error(`no sandbox named ${name} (add it with add-sandbox)`);
  return sandbox;
}

/** The host path of a sandbox path, confined to the sandbox root. */
function hostPathIn(paths, name, sandboxPath, options) {
  try {
    return resolveInSandbox(ensureSandboxRoot(paths, name), sandboxPath, options);
  } catch (e) {
    if (e instanceof SandboxPathError) throw new UsageError(e.message);
    throw e;
  }
}

const SEED_FLAGS = {
  "--dir": { key: "dir", value: true },
  "--big-mib": { key: "bigMiB", value: true },
  "--small-files": { key: "smallFiles", value: true },
};

function seed(paths, sandbox, flags) {
  const { agent } = sandboxAgent(sandbox);
  const dir = hostPathIn(paths, sandbox.name, flags.dir ?? defaultStateDir(agent));
  seedStateTree(dir, {
    agent: agent ?? "openclaw",
    bigMiB: nonNegativeInt(flags.bigMiB, "--big-mib"),
    smallFiles: nonNegativeInt(flags.smallFiles, "--small-files"),
  });
  return dir;
}

async function cmdAddSandbox([hostdir, ...rawArgs]) {
  const paths = requireHost(hostdir);
  const { values: files, rest: args } = takeRepeated(rawArgs, "--files");
  const { positionals, flags } = parseOrThrow(args, {
    "--phase": { key: "phase", value: true },
    "--created": { key: "created", value: true },
    "--image": { key: "image", value: true },
    "--agent": { key: "agent", value: true },
    "--agent-version": { key: "agentVersion", value: true },
    "--seed": { key: "seed", value: false },
    ...SEED_FLAGS,
  });
  const [name] = positionals;
  if (!name || !SANDBOX_NAME_RE.test(name))
    throw new UsageError(`invalid sandbox name: ${name ?? "(missing)"}`);
  const phase = flags.phase ?? "Ready";
  if (!PHASES.includes(phase)) throw new UsageError(`phase must be one of ${PHASES.join(" ")}`);
  // A host whose OpenShell predates `sandbox stop`/`start` never shows their phases.
  const { cliVersion } = readConfig(paths);
  if (STOP_START_PHASES.includes(phase) && !atLeast(cliVersion, STOP_START_SINCE)) {
    throw new UsageError(
      `phase ${phase} exists only from OpenShell ${STOP_START_SINCE} (this host: ${cliVersion})`,
    );
  }
  const created = flags.created ?? formatCreated(new Date());
  if (created !== "-" && !/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/.test(created)) {
    throw new UsageError(`--created must be "YYYY-MM-DD HH:MM:SS" or -: ${created}`);
  }
  const copies = files.map((spec) => {
    const eq = spec.indexOf("=");
    if (eq <= 0 || eq === spec.length - 1)
      throw new UsageError(`--files wants SANDBOX_DIR=LOCAL_DIR: ${spec}`);
    const local = path.resolve(spec.slice(eq + 1));
    if (!fs.statSync(local, { throwIfNoEntry: false })?.isDirectory()) {
      throw new UsageError(`--files: not a directory: ${spec.slice(eq + 1)}`);
    }
    return { sandboxDir: spec.slice(0, eq), local };
  });
  const sandbox = {
    id: randomUUID(),
    name,
    phase,
    created: created === "-" ? null : created,
    image: flags.image ?? null,
  };
  if (flags.agent) sandbox.agent = flags.agent;
  if (flags.agentVersion) sandbox.agentVersion = flags.agentVersion;
  // Replacing a sandbox keeps its files: add-sandbox also serves to change its phase or image.
  ensureSandboxRoot(paths, name);
  for (const { sandboxDir, local } of copies) await copyTree(local, hostPathIn(paths, name, sandboxDir));
  if (flags.seed) seed(paths, sandbox, flags);
  writeSandbox(paths, sandbox);
}

function cmdSeedSandbox([hostdir, ...args]) {
  const paths = requireHost(hostdir);
  const { positionals, flags } = parseOrThrow(args, SEED_FLAGS);
  const sandbox = requireSandbox(paths, positionals[0]);
  console.log(seed(paths, sandbox, flags));
}

function cmdWriteFile([hostdir, ...args]) {
  const paths = requireHost(hostdir);
  const { positionals, flags } = parseOrThrow(args, { "--mode": { key: "mode", value: true } });
  const [name, sandboxPath, content] = positionals;
  requireSandbox(paths, name);
  if (!sandboxPath || content === undefined)
    throw new UsageError("write-file wants NAME SANDBOX_PATH CONTENT");
  const mode = flags.mode === undefined ? 0o644 : Number.parseInt(flags.mode, 8);
  if (!Number.isInteger(mode) || mode < 0 || mode > 0o7777)
    throw new UsageError(`invalid --mode: ${flags.mode}`);
  const file = hostPathIn(paths, name, sandboxPath);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  // A symlink at the final component was resolved (inside the sandbox) above: write the target.
  fs.writeFileSync(file, content, { mode });
  fs.chmodSync(file, mode);
}

function cmdSandboxPath([hostdir, ...args]) {
  const paths = requireHost(hostdir);
  const { positionals } = parseOrThrow(args, {});
  const [name, sandboxPath] = positionals;
  requireSandbox(paths, name);
  console.log(sandboxPath ? hostPathIn(paths, name, sandboxPath) : sandboxRoot(paths, name));
}

async function cmdTree([hostdir, ...args]) {
  const paths = requireHost(hostdir);
  const { positionals, flags } = parseOrThrow(args, {
    "--local": { key: "local", value: true },
    "--no-modes": { key: "noModes", value: false },
  });
  let dir;
  if (flags.local) dir = path.resolve(flags.local);
  else {
    const [name, sandboxDir] = positionals;
    requireSandbox(paths, name);
    if (!sandboxDir) throw new UsageError("tree wants NAME SANDBOX_DIR or --local DIR");
    dir = hostPathIn(paths, name, sandboxDir);
  }
  if (!fs.statSync(dir, { throwIfNoEntry: false })?.isDirectory()) throw new Error(`not a directory: ${dir}`);
  const mode = (m) => (flags.noModes || m === null ? "-" : m.toString(8).padStart(4, "0"));
  const lines = (await treeEntries(dir)).map((e) =>
    [
      e.type,
      mode(e.mode),
      e.size ?? "-",
      e.sha256 ?? "-",
      e.target === null ? e.rel : `${e.rel} -> ${e.target}`,
    ].join(" "),
  );
  if (lines.length) console.log(lines.join("\n"));
}

async function cmdSpawnForeign([hostdir, ...args]) {
  const paths = requireHost(hostdir);
  const { flags, trailing } = parseOrThrow(args, { "--argv0": { key: "argv0", value: true } });
  const sleeper = fs.existsSync("/bin/sleep") ? "/bin/sleep" : "/usr/bin/sleep";
  // With extra arguments the process is an idle node whose later argv mentions them (e.g. a gateway
  // path): something that merely names the binary, which must never count as being it.
  const [file, fileArgs] = trailing?.length
    ? [process.execPath, ["-e", "setInterval(() => {}, 1 << 30)", "--", ...trailing]]
    : [sleeper, ["3600"]];
  const child = spawn(file, fileArgs, { detached: true, stdio: "ignore", argv0: flags.argv0 });
  await new Promise((resolve, reject) => {
    child.once("error", reject);
    child.once("spawn", resolve);
  });
  child.unref();
  recordPid(paths, child.pid, "foreign");
  console.log(child.pid);
}

async function cmdStop([hostdir]) {
  const paths = requireHost(hostdir);
  const survivors = await stopAll(paths);
  releasePorts(paths.host);
  if (survivors.length > 0) {
    throw new Error(`could not stop: ${survivors.map((e) => `${e.pid} (${e.label})`).join(", ")}`);
  }
}

async function cmdFreePort([hostdir]) {
  const paths = requireHost(hostdir);
  console.log(await reservePort(paths.host));
}

function cmdPids([hostdir, ...args]) {
  const paths = requireHost(hostdir);
  const { flags } = parseOrThrow(args, { "--long": { key: "long", value: false } });
  for (const e of liveEntries(paths)) console.log(flags.long ? `${e.pid} ${e.label}` : e.pid);
}

const COMMANDS = {
  init: cmdInit,
  set: cmdSet,
  get: cmdGet,
  env: cmdEnv,
  "install-gateway-bin": (args) => cmdInstallBin("openshell-gateway", args),
  "install-openshell-bin": (args) => cmdInstallBin("openshell", args),
  "start-gateway": cmdStartGateway,
  "start-cluster": cmdStartCluster,
  "add-sandbox": cmdAddSandbox,
  "seed-sandbox": cmdSeedSandbox,
  "write-file": cmdWriteFile,
  "sandbox-path": cmdSandboxPath,
  tree: cmdTree,
  "spawn-foreign": cmdSpawnForeign,
  stop: cmdStop,
  pids: cmdPids,
  "free-port": cmdFreePort,
};

const [command, ...rest] = process.argv.slice(2);
const run = COMMANDS[command];
if (!run) {
  process.stderr.write(usage);
  process.exit(command === "--help" || command === "-h" ? 0 : 2);
}
try {
  await run(rest);
  process.exit(0);
} catch (e) {
  process.stderr.write(`simctl ${command}: ${e.message}\n`);
  if (e instanceof UsageError) process.stderr.write(usage);
  process.exit(e instanceof UsageError ? 2 : 1);
}
