#!/usr/bin/env node
// The operator story on a simulated OpenShell host, printing each command before it runs and
// its result as a terminal shows it (one table per step, paths relative to the demo root):
// a drifted gateway is refused, repaired, then every sandbox is backed up, verified and the
// stale one rebuilt with its state; a stopped sandbox is backed up and left stopped. Exits 0 only if every step behaved as expected; always
// stops its processes and removes its temp directory.
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { CLI, SimHost } from "./sim-host.mjs";

const CURRENT = "ghcr.io/nvidia/nemoclaw/sandbox-openclaw:2026.7.1";
const PREVIOUS = "ghcr.io/nvidia/nemoclaw/sandbox-openclaw:2026.6.0";

const host = new SimHost("nemoclaw-demo-");
let failures = 0;

function say(text) {
  process.stdout.write(`\n${text}\n`);
}

const SCREEN = path.join(path.dirname(CLI), "..", "test/e2e/screen.mjs");
const hasScript = spawnSync("script", ["--version"], { stdio: "ignore" }).status === 0;

/** A path under the demo root as the operator would read it: relative to that root. */
function shorten(text) {
  return text.split(`${host.dir}/`).join("./").split(host.dir).join(".");
}

/**
 * Runs nemoclaw ARGS as a person sees it: on a pseudo-terminal 100 columns wide (util-linux
 * `script`), where the live progress gives way to the result, and returns the final screen
 * (test/e2e/screen.mjs applies every redraw). Without `script`, stdout and (on failure) stderr.
 */
function onTerminal(args) {
  if (!hasScript) {
    const r = host.nemoclaw(args);
    return { status: r.status, screen: r.status === 0 && r.stdout ? r.stdout : `${r.stderr}${r.stdout}` };
  }
  const transcript = path.join(host.dir, "demo-screen.txt");
  const quote = (word) => `'${String(word).replaceAll("'", "'\\''")}'`;
  const command = [process.execPath, CLI, ...args].map(quote).join(" ");
  const env = { ...host.env, TERM: "xterm-256color" };
  delete env.NO_COLOR;
  const r = spawnSync("script", ["-qefc", `stty cols 100 rows 50; ${command}`, transcript], {
    env,
    stdio: ["ignore", "ignore", "ignore"],
  });
  const screen = spawnSync(process.execPath, [SCREEN, transcript], { encoding: "utf8" }).stdout;
  const lines = screen.split("\n").filter((line) => !/^Script (started|done) on /.test(line));
  while (lines.length && lines[0].trim() === "") lines.shift();
  while (lines.length && lines[lines.length - 1].trim() === "") lines.pop();
  return { status: r.status, screen: `${lines.join("\n")}\n` };
}

function step(args, expected, check = () => null) {
  process.stdout.write(`\n$ nemoclaw ${args.join(" ")}\n`);
  const r = onTerminal(args);
  process.stdout.write(shorten(r.screen));
  const problem = r.status !== expected ? `expected exit ${expected}` : check(r);
  process.stdout.write(`[exit ${r.status}${problem ? ` — UNEXPECTED: ${problem}` : ""}]\n`);
  if (problem) failures += 1;
  return r;
}

function cleanup() {
  try {
    host.dispose();
  } catch (error) {
    console.error(`cleanup: ${error.message}`);
  }
}
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => {
    cleanup();
    process.exit(signal === "SIGINT" ? 130 : 143);
  });
}

/**
 * Runs nemoclaw ARGS as the leader of its own process group and SIGKILLs the whole group as
 * soon as the operations journal of `sandbox` names `phase` (bounded: 60 s).
 */
async function killDuringPhase(args, sandbox, phase) {
  const journal = path.join(host.dir, "home/.nemoclaw/operations", `${sandbox}.json`);
  const child = spawn(process.execPath, [CLI, ...args], { env: host.env, detached: true, stdio: "ignore" });
  const exited = new Promise((resolve) => child.once("exit", resolve));
  const deadline = Date.now() + 60_000;
  let seen = null;
  while (Date.now() < deadline && child.exitCode === null) {
    try {
      seen = JSON.parse(readFileSync(journal, "utf8")).phase;
    } catch {
      seen = null;
    }
    if (seen === phase) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  try {
    process.kill(-child.pid, "SIGKILL");
  } catch {
    // already gone
  }
  await exited;
  return seen;
}

/** The phase `openshell sandbox get` reports (colour stripped). */
function sandboxPhase(name) {
  const r = spawnSync("openshell", ["sandbox", "get", name], { env: host.env, encoding: "utf8" });
  const ansi = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, "g");
  return /Phase:\s*(\S+)/.exec(r.stdout.replace(ansi, ""))?.[1] ?? null;
}

const expectText = (text) => (r) => (r.screen.includes(text) ? null : `missing "${text}"`);

try {
  // OpenShell 0.0.106 (it can stop and start sandboxes, docs/design.md); the gateway started before the
  // upgrade is still running from the old 0.0.105 binary.
  host.init("--cli-version", "0.0.106", "--gateway-version", "0.0.106");
  const oldBin = path.join(host.dir, "opt/openshell-0.0.105/openshell-gateway");
  host.simctl("install-gateway-bin", oldBin, "--version", "0.0.105");
  host.simctl("start-gateway", "--bin", oldBin);
  const registry = { defaultSandbox: "alpha", sandboxes: {} };
  for (const [name, image, version] of [
    ["alpha", CURRENT, "2026.7.1"],
    ["beta", CURRENT, "2026.7.1"],
    ["gamma", PREVIOUS, "2026.6.0"],
    ["delta", CURRENT, "2026.7.1"],
  ]) {
    // delta is idle: its operator stopped it to save resources.
    const phase = name === "delta" ? "Stopped" : "Ready";
    host.simctl("add-sandbox", name, "--phase", phase, "--agent", "openclaw", "--image", image, "--seed");
    registry.sandboxes[name] = {
      name,
      agent: "openclaw",
      agentVersion: version,
      nemoclawVersion: "0.1.0",
      imageTag: image,
      gatewayName: "nemoclaw",
      createdAt: "2026-11-01T10:00:00Z",
    };
  }
  const stateRoot = path.join(host.dir, "home/.nemoclaw");
  mkdirSync(stateRoot, { recursive: true });
  writeFileSync(path.join(stateRoot, "sandboxes.json"), `${JSON.stringify(registry, null, 2)}\n`, {
    mode: 0o600,
  });
  say(
    [
      `Simulated OpenShell host in ${host.dir} (paths below are relative to it; each`,
      "result is shown as a 100-column terminal shows it once the command ends):",
      "  openshell 0.0.106 is installed, but the gateway started before the upgrade (0.0.105) still runs;",
      "  four sandboxes with real files: alpha and beta current, gamma built from the previous image (stale),",
      "  delta current but Stopped.",
    ].join("\n"),
  );

  say("# 0. The first question before an upgrade: is this host safe, and is everything backed up?");
  step(["status"], 3, expectText("Gateway preflight: drift"));

  say("# 1. Before touching anything: is the gateway in sync with the CLI?");
  step(
    ["gateway", "preflight"],
    3,
    expectText("OpenShell gateway schema preflight failed before checking the gateway."),
  );

  say("# 2. Repair: restart the gateway with the installed OpenShell and wait until it is really healthy.");
  step(["onboard", "--resume"], 0, expectText("NemoClaw gateway is healthy (OpenShell 0.0.106"));
  step(["gateway", "preflight"], 0, expectText("is compatible"));

  say("# 3. Back up every sandbox (the stopped one is started for it and stopped again), then verify.");
  step(["backup-all", "--require-all"], 0, (r) => {
    const missing = expectText("Backup summary: 4 backed up, 0 failed, 0 skipped")(r);
    if (missing) return missing;
    return sandboxPhase("delta") === "Stopped" ? null : "delta was not left Stopped";
  });
  step(["backups", "verify"], 0, expectText("4 intact, 0 failed"));

  say("# 4. Which sandboxes run stale images? (read-only; exit 1 = work to do)");
  step(["upgrade-sandboxes", "--check"], 1, expectText("1 stale, 0 unknown, 0 missing, 0 interrupted"));

  say(
    [
      "# 5. Rebuild the stale sandbox, keeping its state — and the host dies half way:",
      "#    the run is killed with SIGKILL (its whole process group) after gamma was deleted and",
      "#    recreated, while its state is being restored.",
    ].join("\n"),
  );
  host.simctl("set", "uploadDelayMs=5000");
  process.stdout.write(
    "\n$ nemoclaw upgrade-sandboxes --yes      # killed with SIGKILL while restoring gamma\n",
  );
  const killedAt = await killDuringPhase(["upgrade-sandboxes", "--yes"], "gamma", "restoring");
  process.stdout.write(`[killed at phase: ${killedAt ?? "never reached"}]\n`);
  if (killedAt !== "restoring") failures += 1;
  host.simctl("set", "uploadDelayMs=0");

  say("# 6. The next run knows: gamma is interrupted (never 'current'), and says how to finish it.");
  step(["upgrade-sandboxes", "--check"], 1, expectText("rebuild interrupted while restoring state"));
  step(["upgrade-sandboxes", "--yes"], 0, (r) =>
    /✓ +gamma .*rebuilt .*finished the interrupted/.test(r.screen)
      ? expectText("Upgrade summary: 1 rebuilt, 0 failed")(r)
      : 'missing "gamma … rebuilt … finished the interrupted rebuild"',
  );
  step(["upgrade-sandboxes", "--check"], 0, expectText("All sandboxes are up to date."));

  say("# 7. And the same question at the end: all green.");
  step(["backup-all", "--keep", "2"], 0, expectText("Backup summary: 4 backed up"));
  step(["status"], 0, expectText("Nothing needs action"));
} catch (error) {
  console.error(`demo failed: ${error.message}`);
  failures += 1;
} finally {
  cleanup();
}

say(
  failures === 0
    ? "Demo finished: every step behaved as expected."
    : `Demo finished with ${failures} unexpected result(s).`,
);
process.exit(failures === 0 ? 0 : 1);
