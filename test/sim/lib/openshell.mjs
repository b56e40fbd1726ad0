// Simulated `openshell` CLI (docs/design.md, "OpenShell output forms handled"). Reached through `<hostdir>/bin/openshell`.

import { randomUUID } from "node:crypto";
import { once } from "node:events";
import fs from "node:fs";
import fsp from "node:fs/promises";
import path from "node:path";
import { bold, clapError, dim, field, green, miette, statusColour } from "./ansi-style.mjs";
import { parseArgs } from "./cli-args.mjs";
import { startInvocation } from "./fast-paths.mjs";
import { checkHealth } from "./gateway-client.mjs";
import { GitIgnore } from "./gitignore.mjs";
import {
  countCall,
  counterValue,
  effectivePhase,
  ensureSandboxRoot,
  formatCreated,
  listSandboxes,
  readGateways,
  readSandbox,
  removeSandbox,
  SANDBOX_NAME_RE,
  STOP_START_PHASES,
  STOP_START_SINCE,
  sleep,
  writeJsonAtomic,
  writeSandbox,
} from "./host-state.mjs";
import { runSandboxCommand } from "./sandbox-exec.mjs";
import {
  copyOneFile,
  copyTree,
  ensureDir,
  formatBytes,
  normaliseSandboxPath,
  resolveInSandbox,
  SandboxPathError,
  TransferError,
} from "./sandbox-fs.mjs";
import { atLeast } from "./version.mjs";

/** `sandbox create --detach` exists from 0.0.111 (measured: 0.0.104 rejects it, exit 2). */
const CREATE_DETACH_SINCE = "0.0.111";

const { paths, argv, config, saveReplay } = startInvocation("openshell");
// Set only by wrappers made with `simctl install-openshell-bin`: a CLI of another version.
const cliVersion = process.env.NEMOCLAW_SIM_CLI_VERSION || config.cliVersion;
await sleep(config.delayMs);

const out = (text) => process.stdout.write(text);
const err = (text) => process.stderr.write(text);

/** A miette error on stderr; OpenShell exits 1 on every reported error. */
function fail(message, causes) {
  err(miette(message, causes));
  return 1;
}

function usageError(message, usage) {
  err(clapError(message, usage));
  return 2;
}

/**
 * clap `global = true` flags may appear anywhere before `--`: `openshell -g gw sandbox list` and
 * `openshell sandbox list -g gw` are the same. Like the real CLI, `-g` falls back to the
 * OPENSHELL_GATEWAY variable, and OPENSHELL_GATEWAY_ENDPOINT bypasses the registry — which is why
 * nemoclaw must drop ambient OPENSHELL_* variables from its probes.
 */
function splitGlobals(args) {
  const globals = { gateway: null, endpoint: null, version: false, help: false };
  const rest = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--") {
      rest.push(...args.slice(i));
      break;
    }
    if (arg === "-g" || arg === "--gateway") globals.gateway = args[++i] ?? "";
    else if (arg.startsWith("--gateway=")) globals.gateway = arg.slice("--gateway=".length);
    else if (arg === "--gateway-endpoint") globals.endpoint = args[++i] ?? "";
    else if (arg.startsWith("--gateway-endpoint="))
      globals.endpoint = arg.slice("--gateway-endpoint=".length);
    else if (arg === "-V" || arg === "--version") globals.version = true;
    else if (arg === "-h" || arg === "--help") globals.help = true;
    else rest.push(arg);
  }
  globals.gateway ||= process.env.OPENSHELL_GATEWAY?.trim() || null;
  globals.endpoint ||= process.env.OPENSHELL_GATEWAY_ENDPOINT?.trim() || null;
  return { globals, rest };
}

/** `{ name, endpoint }`, or `{ error }` with the reason no gateway could be resolved. */
function resolveGateway(globals) {
  const registry = readGateways(paths);
  if (globals.endpoint) {
    const byEndpoint = Object.entries(registry.gateways).find(([, g]) => g.endpoint === globals.endpoint);
    return { name: globals.gateway ?? byEndpoint?.[0] ?? globals.endpoint, endpoint: globals.endpoint };
  }
  const name = globals.gateway ?? registry.selected;
  if (!name) return { error: "none" };
  const entry = registry.gateways[name];
  if (!entry) return { error: "unknown", name };
  return { name, endpoint: entry.endpoint };
}

function gatewayResolutionError(resolved) {
  if (resolved.error === "none") {
    return fail(
      "No active gateway.\nSet one with: openshell gateway select <name>\nOr register one with: openshell gateway add <endpoint>",
    );
  }
  return fail(
    `Unknown gateway '${resolved.name}'.\nRegister it first: openshell gateway add <endpoint> --name ${resolved.name}\nOr list available gateways: openshell gateway select`,
  );
}

/**
 * `gatewayGoneAfterCalls: N`: the first N sandbox-level calls (counted since `simctl set`) get
 * through, every later call — and every `status` once N have been made — finds the gateway gone.
 */
function gatewayGone(sandboxCall) {
  const limit = config.gatewayGoneAfterCalls;
  if (typeof limit !== "number") return false;
  if (sandboxCall) return countCall(paths, "sandbox-calls") > limit;
  return counterValue(paths, "sandbox-calls") >= limit;
}

/** The health RPC, with the `unreachable` and `gatewayGoneAfterCalls` knobs forcing a refused connection. */
async function probe(endpoint, { sandboxCall = false } = {}) {
  if (gatewayGone(sandboxCall) || config.unreachable) {
    return { ok: false, causes: ["tcp connect error", "Connection refused (os error 111)"] };
  }
  return checkHealth(endpoint);
}

function connectionFailed(result) {
  return fail("client error (Connect)", result.causes);
}

function describeStatus(health) {
  if (config.statusText) return config.statusText;
  return health.status === "healthy" ? "Connected" : "Error";
}

// ---------------------------------------------------------------------------------------------
// status

async function cmdStatus(globals, args) {
  const { error } = parseArgs(args, {});
  if (error) return usageError(error, "openshell status [OPTIONS]");
  const gw = resolveGateway(globals);
  // No gateway, or a name that is not registered: the same block, exit 0 (measured on 0.0.52,
  // 0.0.104 and 0.0.111, even while another gateway is registered).
  if (gw.error) {
    out(`${bold("Gateway Status")}\n\n${field("Status", "No gateway configured.")}\n`);
    out(`Register a gateway with: ${dim("openshell gateway add <endpoint>")}\n`);
    return 0;
  }

  const result = await probe(gw.endpoint);
  // Up to 0.0.91 the header block is printed before the connection is attempted; from 0.0.92 an
  // unreachable gateway produces only the error on stderr.
  if (!result.ok && atLeast(cliVersion, "0.0.92")) return connectionFailed(result);
  out(`${bold("Server Status")}\n\n${field("Gateway", gw.name)}${field("Server", gw.endpoint)}`);
  if (!result.ok) return connectionFailed(result);
  out(field("Status", statusColour(describeStatus(result.health))));
  // Measured on 0.0.104 and 0.0.111 (a gateway without auth configured).
  if (atLeast(cliVersion, "0.0.91")) out(field("Authentication", "Not required (gateway)"));
  if (result.health.version) out(field("Version", result.health.version));
  return 0;
}

// ---------------------------------------------------------------------------------------------
// gateway info | add | select | remove

async function cmdGateway(globals, args) {
  const [sub, ...rest] = args;
  switch (sub) {
    case "info":
      return gatewayInfo(globals, rest);
    case "add":
      return gatewayAdd(rest);
    case "select":
      return gatewaySelect(rest);
    case "remove":
    case "rm":
      return gatewayRemove(rest);
    default:
      return usageError(
        sub ? `unrecognized subcommand '${sub}'` : "a subcommand is required",
        "openshell gateway <COMMAND>",
      );
  }
}

async function gatewayInfo(globals, args) {
  const { error } = parseArgs(args, {});
  if (error) return usageError(error, "openshell gateway info [OPTIONS]");
  const registry = readGateways(paths);
  const name = globals.gateway ?? registry.selected;
  if (!name) return fail("No active gateway.\nSet one with: openshell gateway select <name>");
  const entry = registry.gateways[name];
  if (!entry) {
    // Measured: 0.0.52 names the missing metadata, 0.0.104 and 0.0.111 say no gateway is configured.
    if (!atLeast(cliVersion, "0.0.104")) {
      return fail(
        `No gateway metadata found for '${name}'.\nRegister it first: openshell gateway add <endpoint> --name ${name}`,
      );
    }
    return fail("No gateway configured.\nRegister a gateway with: openshell gateway add <endpoint>");
  }
  if (!atLeast(cliVersion, "0.0.85")) {
    // Measured on 0.0.52: exit 0 even when nothing listens — it never asks the gateway.
    out(`${bold("Gateway Info")}\n\n${field("Gateway", name)}`);
    out(field("Gateway endpoint", entry.endpoint));
    return 0;
  }
  // From 0.0.85 `gateway info` also asks the gateway for its status and version.
  const result = await probe(entry.endpoint);
  // Measured on 0.0.104 and 0.0.111: an unreachable gateway is a transport error, exit 1.
  if (!result.ok && atLeast(cliVersion, "0.0.104")) {
    return fail("transport error", ["tcp connect error", ...result.causes]);
  }
  out(`${bold("Gateway Info")}\n\n${field("Gateway", name)}`);
  out(field("Server", entry.endpoint));
  if (!result.ok) {
    out(field("Status", statusColour("Disconnected")));
    return 0;
  }
  // Measured on 0.0.104 and 0.0.111: `Status: healthy`, then the compute drivers.
  out(
    field(
      "Status",
      statusColour(
        config.statusText
          ? describeStatus(result.health)
          : result.health.status === "healthy"
            ? "healthy"
            : "unhealthy",
      ),
    ),
  );
  if (result.health.version) out(field("Version", result.health.version));
  out(`  ${dim("Compute drivers:")}\n    docker\n  ${field("Driver name", "docker")}`);
  return 0;
}

function gatewayAdd(args) {
  const usage = "openshell gateway add <ENDPOINT> --name <NAME>";
  const { positionals, flags, error } = parseArgs(args, {
    "--name": { key: "name", value: true },
    "--local": { key: "local", value: false },
  });
  if (error) return usageError(error, usage);
  const [endpoint] = positionals;
  if (!endpoint || positionals.length > 1) return usageError("exactly one <ENDPOINT> is required", usage);
  if (!flags.name)
    return usageError("the following required arguments were not provided: --name <NAME>", usage);
  if (!/^https?:\/\/[^/\s]+\/?$/.test(endpoint)) return fail(`invalid gateway endpoint: ${endpoint}`);
  const registry = readGateways(paths);
  if (registry.gateways[flags.name]) {
    return fail(
      `Gateway '${flags.name}' already exists.\nRemove it first with: openshell gateway remove ${flags.name}`,
    );
  }
  registry.gateways[flags.name] = { endpoint: endpoint.replace(/\/$/, "") };
  // The first gateway registered becomes the active one; later ones need `gateway select`.
  registry.selected ??= flags.name;
  writeJsonAtomic(paths.gateways, registry);
  out(`${green("✓")} Gateway '${flags.name}' added (${endpoint})\n`);
  return 0;
}

function gatewaySelect(args) {
  const { positionals, error } = parseArgs(args, {});
  if (error) return usageError(error, "openshell gateway select <NAME>");
  const registry = readGateways(paths);
  const [name] = positionals;
  if (!name) {
    for (const gwName of Object.keys(registry.gateways).sort()) {
      out(`${gwName === registry.selected ? green("*") : " "} ${gwName}\n`);
    }
    return 0;
  }
  if (!registry.gateways[name]) return fail(`Unknown gateway '${name}'.`);
  registry.selected = name;
  writeJsonAtomic(paths.gateways, registry);
  out(`${green("✓")} Active gateway set to '${name}'\n`);
  return 0;
}

function gatewayRemove(args) {
  const { positionals, error } = parseArgs(args, {});
  if (error || positionals.length !== 1)
    return usageError(error ?? "<NAME> is required", "openshell gateway remove <NAME>");
  const [name] = positionals;
  const registry = readGateways(paths);
  if (!registry.gateways[name]) return fail(`Unknown gateway '${name}'.`);
  delete registry.gateways[name];
  if (registry.selected === name) registry.selected = null;
  writeJsonAtomic(paths.gateways, registry);
  out(`${green("✓")} Gateway '${name}' removed\n`);
  return 0;
}

// ---------------------------------------------------------------------------------------------
// sandbox list | get | exec | create | delete | download | upload

/**
 * `schemaMismatch` applies to every sandbox call; with `schemaMismatchAfterCalls: N` only from the
 * (N+1)th sandbox call on (counted since `simctl set`), default kind tonic14: a gateway swapped
 * under a running command, e.g. after a rebuild already deleted a sandbox.
 */
function mismatchKind() {
  const after = config.schemaMismatchAfterCalls;
  if (typeof after !== "number") return config.schemaMismatch;
  return countCall(paths, "mismatch-calls") > after ? (config.schemaMismatch ?? "tonic14") : null;
}

/** The decode error a newer CLI gets from an older gateway, per the `schemaMismatch` knobs. */
function schemaMismatch(rpc, message) {
  const wire = `${message}: invalid wire type`;
  switch (mismatchKind()) {
    case "tonic14":
      return fail(
        `status: 'Internal error', self: "failed to decode Protobuf message: Sandbox.metadata: ${wire}: LengthDelimited (expected Varint)"`,
      );
    case "tonic12":
      return fail(
        `status: Internal, message: "failed to decode Protobuf message: Sandbox.metadata: ${wire} value: 6", details: [], metadata: MetadataMap { headers: {} }`,
      );
    case "unimplemented":
      return fail(
        `status: Unimplemented, message: "openshell.v1.OpenShell/${rpc} is not supported by this gateway version", details: [], metadata: MetadataMap { headers: {} }`,
      );
    default:
      return null;
  }
}

/** tonic ≥ 0.14 (OpenShell ≥ 0.0.61) prints a code's description instead of its name. */
const CODE_DESCRIPTIONS = {
  NotFound: "Some requested entity was not found",
  FailedPrecondition: "The system is not in a state required for the operation's execution",
  AlreadyExists: "Some entity that we attempted to create already exists",
  Internal: "Internal error",
  Unimplemented: "Operation is not implemented or not supported",
};

/** A gRPC status as this CLI version prints it (measured on 0.0.52 and 0.0.104/0.0.111). */
function grpcStatus(code, message) {
  if (atLeast(cliVersion, "0.0.61")) {
    const text = CODE_DESCRIPTIONS[code] ?? code;
    return message === null ? `code: '${text}'` : `code: '${text}', message: "${message}"`;
  }
  return `status: ${code}, message: "${message ?? ""}", details: [], metadata: MetadataMap { headers: {} }`;
}

function notFound(_name) {
  return fail(grpcStatus("NotFound", "sandbox not found"));
}

/** OPENSHELL_PROVISION_TIMEOUT / OPENSHELL_LIFECYCLE_TIMEOUT in seconds (300 by default). */
function timeoutSeconds(variable) {
  const raw = process.env[variable];
  return raw && /^\d+$/.test(raw) && Number(raw) > 0 ? Number(raw) : 300;
}

/**
 * Waits until the sandbox reaches `target` (create, start: Ready; stop: Stopped) or leaves the
 * way there, bounded by `seconds`. Resolves to the phase it ended in, or null at the bound.
 */
async function waitForPhase(name, target, seconds) {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const sandbox = readSandbox(paths, name);
    const phase = sandbox ? effectivePhase(sandbox) : "absent";
    if (phase === target || phase === "Error" || phase === "absent") return phase;
    if (Date.now() >= deadline) return null;
    await sleep(Math.min(50, Math.max(1, deadline - Date.now())));
  }
}

/** Connect, then fail the way a drifted gateway would; null when the RPC may proceed. */
async function connectForRpc(globals, rpc, message) {
  const gw = resolveGateway(globals);
  if (gw.error) return gatewayResolutionError(gw);
  const result = await probe(gw.endpoint, { sandboxCall: true });
  if (!result.ok) return connectionFailed(result);
  gatewayVersion = result.health?.version ?? null;
  return schemaMismatch(rpc, message);
}

/** The version the gateway reported on the last connection (its health answer). */
let gatewayVersion = null;

/**
 * The phase as this CLI prints it. The phase field moved in 0.0.53: a 0.0.52 CLI reads every
 * phase of a newer gateway as `Unspecified` (measured, exit 0 — the real drift is silent). A CLI
 * older than 0.0.105 does not know Stopping/Stopped/Starting and prints `Unknown` (measured:
 * 0.0.104 CLI, 0.0.111 gateway).
 */
function shownPhase(phase) {
  if (!atLeast(cliVersion, "0.0.53") && gatewayVersion && atLeast(gatewayVersion, "0.0.53"))
    return "Unspecified";
  if (
    STOP_START_PHASES.includes(phase) &&
    !atLeast(cliVersion, STOP_START_SINCE) &&
    gatewayVersion &&
    atLeast(gatewayVersion, STOP_START_SINCE)
  )
    return "Unknown";
  return phase;
}

/**
 * Connect, look the sandbox up and require it to be Ready. Resolves `{ sandbox }` or
 * `{ code }` (the error has been printed).
 */
async function readySandbox(globals, name, rpc, message) {
  const refused = await connectForRpc(globals, rpc, message);
  if (refused !== null) return { code: refused };
  const sandbox = readSandbox(paths, name);
  if (!sandbox) return { code: notFound(name) };
  const phase = effectivePhase(sandbox);
  if (phase !== "Ready") {
    // Measured on 0.0.111: exec checks the phase itself; transfers get the gateway's status.
    if (rpc === "ExecSandbox") {
      return {
        code: fail(`sandbox '${name}' is not ready (phase: ${phase}); wait for it to reach Ready\nstate`),
      };
    }
    return { code: fail(grpcStatus("FailedPrecondition", "sandbox is not ready")) };
  }
  return { sandbox };
}

async function cmdSandbox(globals, args) {
  const [sub, ...rest] = args;
  switch (sub) {
    case "list":
    case "ls":
      return sandboxList(globals, rest);
    case "get":
      return sandboxGet(globals, rest);
    case "exec":
      return sandboxExec(globals, rest);
    case "create":
      return sandboxCreate(globals, rest);
    case "delete":
    case "rm":
      return sandboxDelete(globals, rest);
    case "download":
      return sandboxDownload(globals, rest);
    case "upload":
      return sandboxUpload(globals, rest);
    // From 0.0.105 only; older CLIs reject them like any unknown subcommand (clap, exit 2).
    case "stop":
      if (atLeast(cliVersion, STOP_START_SINCE)) return sandboxStop(globals, rest);
      break;
    case "start":
      if (atLeast(cliVersion, STOP_START_SINCE)) return sandboxStart(globals, rest);
      break;
    default:
      break;
  }
  return usageError(
    sub ? `unrecognized subcommand '${sub}'` : "a subcommand is required",
    "openshell sandbox <COMMAND>",
  );
}

/**
 * `sandbox stop NAME` (≥ 0.0.105), as measured on 0.0.111: the gateway stops only a Ready (or
 * Stopping) sandbox — any other phase is FailedPrecondition `sandbox must be Ready to stop
 * (current phase: X)`; an already Stopped one answers `✓ Stopped` again. The CLI blocks until
 * Stopped (`sandboxStopDelayMs` later), bounded by OPENSHELL_LIFECYCLE_TIMEOUT. Knob `stopFail`
 * → exit 1, nothing changes.
 */
async function sandboxStop(globals, args) {
  const { positionals, error } = parseArgs(args, {});
  if (error || positionals.length !== 1)
    return usageError(error ?? "<NAME> is required", "openshell sandbox stop <NAME>");
  const [name] = positionals;
  const refused = await connectForRpc(globals, "StopSandbox", "StopSandboxResponse.sandbox");
  if (refused !== null) return refused;
  const sandbox = readSandbox(paths, name);
  if (!sandbox) return notFound(name);
  const phase = effectivePhase(sandbox);
  if (phase === "Stopped") {
    out(`${green("✓")} Stopped sandbox ${name}\n`);
    return 0;
  }
  if (phase !== "Ready" && phase !== "Stopping") {
    return fail(grpcStatus("FailedPrecondition", `sandbox must be Ready to stop (current phase: ${phase})`));
  }
  if (config.stopFail) {
    return fail(
      grpcStatus(
        "Internal",
        `failed to stop sandbox ${name}: container runtime error: context deadline exceeded`,
      ),
    );
  }
  if (phase === "Ready") {
    const delay = Number(config.sandboxStopDelayMs) || 0;
    const { readyAt: _ready, ...rest } = sandbox;
    writeSandbox(
      paths,
      delay > 0
        ? { ...rest, phase: "Stopping", stoppedAt: Date.now() + delay }
        : { ...rest, phase: "Stopped" },
    );
  }
  const seconds = timeoutSeconds("OPENSHELL_LIFECYCLE_TIMEOUT");
  const reached = await waitForPhase(name, "Stopped", seconds);
  if (reached === null) return fail(`timed out after ${seconds}s waiting for sandbox to reach Stopped`);
  if (reached !== "Stopped") return fail(`sandbox entered ${reached} phase while stopping`);
  out(`${green("✓")} Stopped sandbox ${name}\n`);
  return 0;
}

/**
 * `sandbox start NAME` (≥ 0.0.105), as measured on 0.0.111: only a Stopped sandbox starts (any
 * other phase but Ready is FailedPrecondition `sandbox must be Stopped to start (current phase:
 * X)`; Ready answers `✓ Started` again). The CLI blocks until Ready (`sandboxStartDelayMs`;
 * knob `startNeverReady`: never), bounded by OPENSHELL_LIFECYCLE_TIMEOUT.
 */
async function sandboxStart(globals, args) {
  const { positionals, error } = parseArgs(args, {});
  if (error || positionals.length !== 1)
    return usageError(error ?? "<NAME> is required", "openshell sandbox start <NAME>");
  const [name] = positionals;
  const refused = await connectForRpc(globals, "StartSandbox", "StartSandboxResponse.sandbox");
  if (refused !== null) return refused;
  const sandbox = readSandbox(paths, name);
  if (!sandbox) return notFound(name);
  const phase = effectivePhase(sandbox);
  if (phase === "Ready") {
    out(`${green("✓")} Started sandbox ${name}\n`);
    return 0;
  }
  if (phase !== "Stopped" && phase !== "Starting") {
    return fail(
      grpcStatus("FailedPrecondition", `sandbox must be Stopped to start (current phase: ${phase})`),
    );
  }
  if (phase === "Stopped") {
    const { stoppedAt: _stopped, ...rest } = sandbox;
    const readyAt = config.startNeverReady ? null : Date.now() + (Number(config.sandboxStartDelayMs) || 0);
    writeSandbox(paths, { ...rest, phase: "Starting", readyAt });
  }
  const seconds = timeoutSeconds("OPENSHELL_LIFECYCLE_TIMEOUT");
  const reached = await waitForPhase(name, "Ready", seconds);
  // Measured on 0.0.111 (a start whose sandbox never became Ready).
  if (reached === null) return fail(`timed out after ${seconds}s waiting for sandbox to reach Ready`);
  if (reached !== "Ready") return fail(`sandbox entered ${reached} phase while starting`);
  out(`${green("✓")} Started sandbox ${name}\n`);
  return 0;
}

function table(headers, rows) {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells, style) =>
    cells
      .map((c, i) =>
        i === cells.length - 1 ? style(c, i) : style(c, i) + " ".repeat(widths[i] - c.length + 2),
      )
      .join("");
  let text = `${line(headers, (c) => bold(c))}\n`;
  const phaseCol = headers.indexOf("PHASE");
  for (const row of rows) text += `${line(row, (c, i) => (i === phaseCol ? statusColour(c) : c))}\n`;
  return text;
}

async function sandboxList(globals, args) {
  const { flags, error } = parseArgs(args, {
    "--limit": { key: "limit", value: true },
    "--offset": { key: "offset", value: true },
  });
  if (error) return usageError(error, "openshell sandbox list [OPTIONS]");
  for (const key of ["limit", "offset"]) {
    if (flags[key] !== undefined && !/^\d+$/.test(flags[key])) {
      return usageError(
        `invalid value '${flags[key]}' for '--${key} <${key.toUpperCase()}>'`,
        "openshell sandbox list [OPTIONS]",
      );
    }
  }
  const refused = await connectForRpc(globals, "ListSandboxes", "ListSandboxesResponse.sandboxes");
  if (refused !== null) return refused;
  // At most --limit rows (default 100; the gateway serves up to 1000 a page) from --offset.
  const limit = Math.min(flags.limit === undefined ? 100 : Number(flags.limit), 1000);
  const offset = flags.offset === undefined ? 0 : Number(flags.offset);
  const sandboxes = listSandboxes(paths).slice(offset, offset + limit);
  if (sandboxes.length === 0) {
    out(`${dim("No sandboxes found.")}\n`);
    return 0;
  }
  // OpenShell ≤ 0.0.36 (cluster era) still printed the Kubernetes namespace.
  const legacy = !atLeast(cliVersion, "0.0.37");
  const headers = legacy ? ["NAME", "NAMESPACE", "CREATED", "PHASE"] : ["NAME", "CREATED", "PHASE"];
  // From 0.0.88 a CLI working in a workspace (OPENSHELL_WORKSPACE) leads with a WORKSPACE column.
  const workspace = atLeast(cliVersion, "0.0.88") ? process.env.OPENSHELL_WORKSPACE?.trim() || null : null;
  if (workspace) headers.unshift("WORKSPACE");
  const now = Date.now();
  const rows = sandboxes.map((s) => {
    const row = [s.name, s.created ?? "-", shownPhase(effectivePhase(s, now))];
    if (legacy) row.splice(1, 0, "openshell");
    if (workspace) row.unshift(workspace);
    return row;
  });
  out(table(headers, rows));
  return 0;
}

async function sandboxGet(globals, args) {
  const { positionals, error } = parseArgs(args, {});
  if (error || positionals.length !== 1)
    return usageError(error ?? "<NAME> is required", "openshell sandbox get <NAME>");
  const refused = await connectForRpc(globals, "GetSandbox", "GetSandboxResponse.sandbox");
  if (refused !== null) return refused;
  const sandbox = readSandbox(paths, positionals[0]);
  if (!sandbox) return notFound(positionals[0]);
  // The block as measured on 0.0.104 and 0.0.111, policy abridged.
  out(`${bold("Sandbox:")}\n\n`);
  out(field("Id", sandbox.id ?? "-"));
  out(field("Name", sandbox.name));
  out(field("Phase", statusColour(shownPhase(effectivePhase(sandbox)))));
  out(field("Resource version", "6"));
  out(field("Policy source", "sandbox"));
  out(field("Revision", "1"));
  out(`\n${bold("Policy:")}\n\n  version: 1\n  filesystem_policy:\n    include_workdir: true\n`);
  return 0;
}

/** Stream a host file to stdout, respecting back-pressure (never the whole file in memory). */
async function pipeFile(file) {
  for await (const chunk of fs.createReadStream(file)) {
    if (!process.stdout.write(chunk)) await once(process.stdout, "drain");
  }
}

async function sandboxExec(globals, args) {
  const usage = "openshell sandbox exec -n <NAME> [--no-tty] -- <COMMAND>...";
  const { positionals, flags, trailing, error } = parseArgs(args, {
    "-n": { key: "name", value: true },
    "--name": { key: "name", value: true },
    "--no-tty": { key: "noTty", value: false },
    "--tty": { key: "tty", value: false },
  });
  if (error) return usageError(error, usage);
  const name = flags.name ?? positionals[0];
  const command = trailing ?? positionals.slice(flags.name ? 0 : 1);
  if (!name || command.length === 0) return usageError("<NAME> and <COMMAND> are required", usage);
  const { sandbox, code } = await readySandbox(globals, name, "ExecSandbox", "ExecSandboxEvent.payload");
  if (!sandbox) return code;
  await sleep(config.execDelayMs);
  const root = ensureSandboxRoot(paths, name);
  return runSandboxCommand({ root, sandbox, argv: command, out, err, pipeFile });
}

/** `createFail` fails every create; `createFailTimes: N` the next N (counted since `simctl set`). */
function createShouldFail() {
  if (config.createFail) return true;
  const times = Number(config.createFailTimes) || 0;
  return times > 0 && countCall(paths, "create-fail") <= times;
}

/**
 * `sandbox create` as measured: `--detach` exists only from 0.0.111 (older CLIs: clap usage error,
 * exit 2). The CLI blocks until the sandbox is Ready (`--detach` included), bounded by
 * OPENSHELL_PROVISION_TIMEOUT (`sandbox provisioning timed out after Ns`, exit 1, the sandbox
 * stays Provisioning). Before 0.0.111 a command after `--` runs once it is Ready and the sandbox
 * is kept; from 0.0.111 that command becomes the sandbox's main process, so `-- true` ends it in
 * Error.
 */
async function sandboxCreate(globals, args) {
  const usage = "openshell sandbox create --name <NAME> --from <FROM> [-- <COMMAND>...]";
  const spec = {
    "--name": { key: "name", value: true },
    "--from": { key: "from", value: true },
    "--no-tty": { key: "noTty", value: false },
    "--tty": { key: "tty", value: false },
  };
  if (atLeast(cliVersion, CREATE_DETACH_SINCE)) spec["--detach"] = { key: "detach", value: false };
  const { flags, trailing, error } = parseArgs(args, spec);
  if (error) {
    const tip = error.startsWith("unexpected argument '--") ? ` ${error.slice(error.indexOf("'"))}` : "";
    const flag = tip ? error.slice(error.indexOf("'") + 1, error.lastIndexOf("'")) : "";
    return usageError(
      tip ? `${error}\n\n  tip: to pass '${flag}' as a value, use '-- ${flag}'` : error,
      usage,
    );
  }
  if (!flags.name || !flags.from) return usageError("--name and --from are required", usage);
  if (!SANDBOX_NAME_RE.test(flags.name)) return fail(`invalid sandbox name: '${flags.name}'`);
  const refused = await connectForRpc(globals, "CreateSandbox", "CreateSandboxResponse.sandbox");
  if (refused !== null) return refused;
  const exists = () =>
    fail(
      `sandbox '${flags.name}' already exists\n\nhint: delete it first with: openshell sandbox delete <name>\n      or use a different name`,
    );
  if (readSandbox(paths, flags.name)) return exists();
  // The gateway's CreateSandbox call takes this long (pulling the image): a caller killed now
  // leaves an orphaned create that still makes the sandbox unless it is killed too.
  await sleep(config.createDelayMs);
  if (readSandbox(paths, flags.name)) return exists();
  if (createShouldFail()) {
    return fail(
      grpcStatus(
        "Internal",
        `failed to create sandbox ${flags.name}: pulling image ${flags.from}: 503 Service Unavailable`,
      ),
    );
  }
  const now = Date.now();
  // A fresh, empty filesystem (left-overs of an earlier sandbox of that name are gone), then the
  // record: `list` never shows a sandbox without a root.
  ensureSandboxRoot(paths, flags.name, { fresh: true });
  const readyAt = config.neverReady ? null : now + (Number(config.sandboxReadyDelayMs) || 0);
  const record = {
    id: randomUUID(),
    name: flags.name,
    phase: "Provisioning",
    created: formatCreated(new Date(now)),
    image: flags.from,
    readyAt,
  };
  writeSandbox(paths, record);
  out(`\nCreated sandbox: ${bold(flags.name)}\n\n  ${dim("[0.0s]")} Requesting compute...\n`);
  const seconds = timeoutSeconds("OPENSHELL_PROVISION_TIMEOUT");
  const reached = await waitForPhase(flags.name, "Ready", seconds);
  if (reached === null) return fail(`sandbox provisioning timed out after ${seconds}s`);
  if (reached !== "Ready") return fail(`sandbox entered ${reached} phase while provisioning`);
  const command = trailing ?? [];
  if (command.length > 0 && atLeast(cliVersion, CREATE_DETACH_SINCE)) {
    // The command is the sandbox's main process: when it exits, the sandbox ends in Error.
    const { readyAt: _r, ...rest } = readSandbox(paths, flags.name) ?? record;
    writeSandbox(paths, { ...rest, phase: "Error" });
    return fail(
      "sandbox entered error phase while provisioning: MainProcessExited:\nCanonical main process exited",
    );
  }
  if (command.length > 0) {
    const sandbox = readSandbox(paths, flags.name);
    const root = ensureSandboxRoot(paths, flags.name);
    return runSandboxCommand({ root, sandbox, argv: command, out, err, pipeFile });
  }
  return 0;
}

async function sandboxDelete(globals, args) {
  const { positionals, error } = parseArgs(args, {});
  if (error || positionals.length !== 1)
    return usageError(error ?? "<NAME> is required", "openshell sandbox delete <NAME>");
  const [name] = positionals;
  const refused = await connectForRpc(globals, "DeleteSandbox", "DeleteSandboxResponse.deleted");
  if (refused !== null) return refused;
  if (!readSandbox(paths, name)) return notFound(name);
  await sleep(config.deleteDelayMs);
  if (!readSandbox(paths, name)) return notFound(name);
  removeSandbox(paths, name);
  out(`${green("✓")} Deleted sandbox ${name}\n`);
  return 0;
}

/** Progress on stderr, coloured like the real CLI: a start line, a line every 250 ms, a summary. */
function progress(verb, from, to) {
  const started = Date.now();
  let last = started;
  err(`${bold(`${verb}ing`)} ${from} ${dim("→")} ${to}\n`);
  return {
    update(state) {
      if (Date.now() - last < 250) return;
      last = Date.now();
      err(`  ${dim(`${formatBytes(state.bytes)} transferred, ${state.files} files`)}\n`);
    },
    done(state) {
      const secs = ((Date.now() - started) / 1000).toFixed(1);
      err(`${green("✓")} ${verb}ed ${state.files} files (${formatBytes(state.bytes)}) in ${secs}s\n`);
    },
  };
}

const knobFor = (value, onlySandbox, name) =>
  typeof value === "number" && (onlySandbox === null || onlySandbox === undefined || onlySandbox === name)
    ? value
    : null;

async function sandboxDownload(globals, args) {
  const usage = "openshell sandbox download <NAME> <SANDBOX_PATH> [DEST]";
  const { positionals, error } = parseArgs(args, {});
  if (error || positionals.length < 2 || positionals.length > 3) {
    return usageError(error ?? "<NAME> and <SANDBOX_PATH> are required", usage);
  }
  const [name, sandboxPath, dest = "."] = positionals;
  const { sandbox, code } = await readySandbox(globals, name, "GetSandbox", "GetSandboxResponse.sandbox");
  if (!sandbox) return code;
  const root = ensureSandboxRoot(paths, name);
  let src;
  try {
    src = resolveInSandbox(root, sandboxPath);
  } catch (e) {
    if (e instanceof SandboxPathError) return fail(e.message);
    throw e;
  }
  const srcStat = await fsp.stat(src).catch(() => null);
  if (!srcStat) {
    // Measured on 0.0.104 and 0.0.111: the CLI resolves the path over ssh first; DEST is untouched.
    const shown = sandboxPath;
    err(`Downloading sandbox:${shown} -> ${dest}\n`);
    err(`realpath: ${shown}: No such file or directory\n`);
    return fail(`failed to resolve sandbox source path '${shown}'`, [
      "ssh probe exited with status exit status: 1",
    ]);
  }
  await sleep(config.transferDelayMs);
  const destDir = path.resolve(dest);
  const report = progress("Download", `${name}:${normaliseSandboxPath(sandboxPath)}`, destDir);
  const options = {
    failAfterBytes: knobFor(config.downloadFailAfterBytes, config.downloadFailSandbox, name),
    bytesPerSec: config.downloadBytesPerSec,
    onProgress: report.update,
    // A tar stream: no setuid/setgid/sticky bits, FIFOs kept, sockets dropped with a warning.
    modes: "download",
    onWarning: (text) => err(`${text}\n`),
  };
  try {
    const state = srcStat.isDirectory()
      ? await copyTree(src, destDir, options)
      : await copyOneFile(src, path.join(destDir, path.basename(src)), options);
    report.done(state);
    return 0;
  } catch (e) {
    if (!(e instanceof TransferError)) throw e;
    return fail(`failed to download ${normaliseSandboxPath(sandboxPath)} from sandbox ${name}`, [
      "transport error",
      "error reading a body from connection: connection reset by peer (os error 104)",
    ]);
  }
}

async function sandboxUpload(globals, args) {
  const usage = "openshell sandbox upload <NAME> <LOCAL_PATH> [DEST] [--no-git-ignore]";
  const { positionals, flags, error } = parseArgs(args, {
    "--no-git-ignore": { key: "noGitIgnore", value: false },
  });
  if (error || positionals.length < 2 || positionals.length > 3) {
    return usageError(error ?? "<NAME> and <LOCAL_PATH> are required", usage);
  }
  const [name, localPath, dest = "/sandbox"] = positionals;
  const { sandbox, code } = await readySandbox(globals, name, "GetSandbox", "GetSandboxResponse.sandbox");
  if (!sandbox) return code;
  const local = path.resolve(localPath);
  const localStat = await fsp.stat(local).catch(() => null);
  if (!localStat || local === "/") return fail(`local path does not exist: ${localPath}`);
  const root = ensureSandboxRoot(paths, name);
  let destDir;
  try {
    destDir = resolveInSandbox(root, dest);
  } catch (e) {
    if (e instanceof SandboxPathError) return fail(e.message);
    throw e;
  }
  await sleep(config.transferDelayMs);
  await sleep(config.uploadDelayMs);
  const sandboxDest = `${normaliseSandboxPath(dest).replace(/\/$/, "")}/${path.basename(local)}`;
  try {
    await fsp.mkdir(destDir, { recursive: true });
  } catch {
    return fail(`destination is not a directory in sandbox ${name}: ${normaliseSandboxPath(dest)}`);
  }
  const target = path.join(destDir, path.basename(local));
  const report = progress("Upload", localPath, `${name}:${sandboxDest}`);
  const options = {
    failAfterBytes: knobFor(config.uploadFailAfterBytes, config.uploadFailSandbox, name),
    bytesPerSec: config.uploadBytesPerSec,
    onProgress: report.update,
    // Extracted as the sandbox user: its umask 022 narrows the modes.
    modes: "upload",
    onWarning: (text) => err(`${text}\n`),
    // Real OpenShell silently skips git-ignored files unless --no-git-ignore is given.
    ignore: flags.noGitIgnore ? null : new GitIgnore(),
  };
  try {
    let state;
    if (localStat.isDirectory()) {
      await ensureDir(target);
      state = await copyTree(local, target, options);
    } else {
      state = await copyOneFile(local, target, options);
    }
    report.done(state);
    return 0;
  } catch (e) {
    if (!(e instanceof TransferError)) throw e;
    return fail(`failed to upload ${localPath} to sandbox ${name}`, [
      "transport error",
      "broken pipe (os error 32)",
    ]);
  }
}

// ---------------------------------------------------------------------------------------------

async function main() {
  const { globals, rest } = splitGlobals(argv);
  if (globals.version) {
    await sleep(config.cliVersionDelayMs);
    out(`openshell ${cliVersion}\n`);
    return 0;
  }
  const [command, ...args] = rest;
  if (globals.help || !command) {
    out(`${bold("USAGE")}\n  openshell <command> <subcommand> [flags]\n\n(nemoclaw OpenShell simulator)\n`);
    return command || globals.help ? 0 : 2;
  }
  switch (command) {
    case "status":
      return cmdStatus(globals, args);
    case "gateway":
    case "gw":
      return cmdGateway(globals, args);
    case "sandbox":
    case "sb":
      return cmdSandbox(globals, args);
    default:
      return usageError(`unrecognized subcommand '${command}'`, "openshell <COMMAND>");
  }
}

process.exitCode = await main();
saveReplay?.(process.exitCode);
