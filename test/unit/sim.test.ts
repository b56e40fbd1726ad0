// Self-test of the OpenShell simulator (test/sim): the e2e tests, benchmark and demo trust it to
// reproduce docs/design.md, "OpenShell output forms handled", so its output shapes, version-dependent forms and fault knobs are pinned here.
// Every sim executable runs as a real process against a host in a temp dir.

import { type ChildProcess, spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { exec, type Run, simctl, simctlOk } from "./support/sim-process.js";

const ANSI_RE = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, "g");
const ESC = String.fromCharCode(27);

const strip = (text: string): string => text.replace(ANSI_RE, "");

interface Host {
  dir: string;
  bin: string;
  port: number;
}

const hosts: Host[] = [];
const children: ChildProcess[] = [];

async function initHost(...flags: string[]): Promise<Host> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "nemoclaw-sim-"));
  const host = { dir, bin: path.join(dir, "bin"), port: 0 };
  hosts.push(host);
  host.port = Number(await simctlOk("init", dir, "--port", "0", ...flags));
  return host;
}

/** Same effect as `simctl set`, without a process per call (the `simctl set` path is tested once). */
function setKnobs(host: Host, knobs: Record<string, unknown>): void {
  const file = path.join(host.dir, "state/config.json");
  fs.writeFileSync(file, JSON.stringify({ ...JSON.parse(fs.readFileSync(file, "utf8")), ...knobs }));
}

/** Run a sim executable the way nemoclaw does: by absolute path, with an environment of our choosing. */
function sim(host: Host, tool: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return exec(path.join(host.bin, tool), args, {
    PATH: process.env.PATH,
    HOME: path.join(host.dir, "home"),
    ...env,
  });
}

async function startGateway(host: Host, ...flags: string[]): Promise<number> {
  return Number(await simctlOk("start-gateway", host.dir, ...flags));
}

async function waitFor(check: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("condition not reached in time");
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

function alive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

afterEach(async () => {
  for (const child of children.splice(0)) {
    child.stdout?.destroy();
    child.stderr?.destroy();
  }
  for (const host of hosts.splice(0)) {
    await simctl("stop", host.dir);
    fs.rmSync(host.dir, { recursive: true, force: true });
  }
});

describe("simctl", () => {
  it("init creates wrappers that bake in the host and keep the wrapper path as argv0", async () => {
    const host = await initHost();
    for (const tool of ["openshell", "openshell-gateway", "docker"]) {
      const wrapper = path.join(host.bin, tool);
      expect(fs.statSync(wrapper).mode & 0o777).toBe(0o755);
      const text = fs.readFileSync(wrapper, "utf8");
      expect(text).toContain(`export NEMOCLAW_SIM_HOST='${host.dir}'`);
      expect(text).toContain('exec -a "$0"');
    }
    expect(host.port).toBeGreaterThan(0);
    expect(fs.existsSync(path.join(host.dir, "home"))).toBe(true);
    expect(await simctlOk("get", host.dir, "port")).toBe(String(host.port));
  });

  it("set parses JSON values and refuses unknown knobs or bad schemaMismatch values", async () => {
    const host = await initHost();
    const [unknown, bogus] = await Promise.all([
      simctl("set", host.dir, "noSuchKnob=1"),
      simctl("set", host.dir, "schemaMismatch=bogus"),
    ]);
    expect(unknown.code).toBe(2);
    expect(bogus.code).toBe(2);
    await simctlOk(
      "set",
      host.dir,
      "delayMs=5",
      "unreachable=true",
      "cliVersion=0.0.45",
      "schemaMismatch=tonic12",
    );
    const config = JSON.parse(fs.readFileSync(path.join(host.dir, "state/config.json"), "utf8"));
    expect(config).toMatchObject({
      delayMs: 5,
      unreachable: true,
      cliVersion: "0.0.45",
      schemaMismatch: "tonic12",
    });
  });

  it("install-gateway-bin bakes a version and insists on the basename", async () => {
    const host = await initHost();
    const other = path.join(host.dir, "opt/old/openshell-gateway");
    await simctlOk("install-gateway-bin", host.dir, other, "--version", "0.0.43");
    const [version, refused] = await Promise.all([
      exec(other, ["--version"]),
      simctl("install-gateway-bin", host.dir, path.join(host.dir, "opt/gw"), "--version", "1.0.0"),
    ]);
    expect(version.stdout).toBe("openshell-gateway 0.0.43\n");
    expect(refused.code).toBe(2);
  });
});

describe("openshell without a running gateway", () => {
  it("prints its version (both flags) and logs every call", async () => {
    const host = await initHost("--cli-version", "0.0.4-dev.6+g2bf9969");
    expect((await sim(host, "openshell", ["--version"])).stdout).toBe("openshell 0.0.4-dev.6+g2bf9969\n");
    expect((await sim(host, "openshell", ["-V"])).stdout).toBe("openshell 0.0.4-dev.6+g2bf9969\n");
    const calls = fs
      .readFileSync(path.join(host.dir, "state/calls.log"), "utf8")
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line));
    expect(calls).toHaveLength(2);
    expect(calls[0]).toMatchObject({
      tool: "openshell",
      argv0: path.join(host.bin, "openshell"),
      args: ["--version"],
    });
    expect(calls[1].args).toEqual(["-V"]);
    expect(typeof calls[0].pid).toBe("number");
  });

  it("reports no gateway configured, coloured, exit 0", async () => {
    const host = await initHost();
    const r = await sim(host, "openshell", ["status"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`${ESC}[`);
    expect(strip(r.stdout)).toBe(
      "Gateway Status\n\n  Status: No gateway configured.\n\nRegister a gateway with: openshell gateway add <endpoint>\n",
    );
  });

  it("registers gateways, refuses duplicates, reports unknown or unreachable ones", async () => {
    const host = await initHost();
    const endpoint = `http://127.0.0.1:${host.port}`;
    expect((await sim(host, "openshell", ["gateway", "add", endpoint, "--name", "nemoclaw"])).code).toBe(0);
    const [dup, unknown, info, list] = await Promise.all([
      sim(host, "openshell", ["gateway", "add", endpoint, "--name", "nemoclaw"]),
      sim(host, "openshell", ["gateway", "info", "-g", "other"]),
      sim(host, "openshell", ["gateway", "info", "-g", "nemoclaw"]),
      sim(host, "openshell", ["sandbox", "list", "-g", "nemoclaw"]),
    ]);
    expect(dup.code).toBe(1);
    expect(strip(dup.stderr)).toContain("already exists");
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain("No gateway metadata found for 'other'.");
    expect(strip(info.stdout)).toBe(`Gateway Info\n\n  Gateway: nemoclaw\n  Gateway endpoint: ${endpoint}\n`);
    expect(list.code).toBe(1);
    expect(strip(list.stderr)).toContain("╰─▶ Connection refused (os error 111)");
  });

  it("prints the unreachable status form by CLI version (header up to 0.0.91, error only from 0.0.92)", async () => {
    const host = await initHost("--cli-version", "0.0.91");
    await sim(host, "openshell", ["gateway", "add", `http://127.0.0.1:${host.port}`, "--name", "nemoclaw"]);
    const old = await sim(host, "openshell", ["status", "-g", "nemoclaw"]);
    expect(old.code).toBe(1);
    expect(strip(old.stdout)).toBe(
      `Server Status\n\n  Gateway: nemoclaw\n  Server: http://127.0.0.1:${host.port}\n`,
    );
    expect(old.stderr).toContain(`${ESC}[31m`);
    expect(strip(old.stderr)).toBe(
      "Error:   × client error (Connect)\n  ├─▶ tcp connect error\n  ╰─▶ Connection refused (os error 111)\n",
    );
    setKnobs(host, { cliVersion: "0.0.92" });
    const modern = await sim(host, "openshell", ["status", "-g", "nemoclaw"]);
    expect(modern.code).toBe(1);
    expect(modern.stdout).toBe("");
    expect(strip(modern.stderr)).toBe(strip(old.stderr));
  });

  it("docker inspect: missing container, no daemon (uncoloured)", async () => {
    const host = await initHost();
    const missing = await sim(host, "docker", [
      "inspect",
      "--type",
      "container",
      "openshell-cluster-nemoclaw",
    ]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe("Error: No such object: openshell-cluster-nemoclaw\n");
    setKnobs(host, { dockerDaemon: false });
    const noDaemon = await sim(host, "docker", [
      "inspect",
      "--type",
      "container",
      "openshell-cluster-nemoclaw",
    ]);
    expect(noDaemon.code).toBe(1);
    expect(noDaemon.stderr).toBe(
      "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?\n",
    );
  });

  it("the gateway refuses to listen beyond loopback; delayMs slows every invocation", async () => {
    const host = await initHost();
    const env = { OPENSHELL_BIND_ADDRESS: "0.0.0.0", OPENSHELL_SERVER_PORT: String(host.port) };
    const r = await sim(host, "openshell-gateway", [], env);
    expect(r.code).toBe(1);
    expect(strip(r.stdout)).toContain("only listens on loopback");

    setKnobs(host, { delayMs: 400 });
    const started = Date.now();
    expect((await sim(host, "docker", ["inspect", "x"])).code).toBe(1);
    expect(Date.now() - started).toBeGreaterThanOrEqual(400);
  });
});

describe("openshell against a running gateway", () => {
  it("status reports the version the running process serves, over real loopback HTTP", async () => {
    const host = await initHost("--gateway-version", "0.0.43");
    const pid = await startGateway(host);
    const endpoint = `http://127.0.0.1:${host.port}`;
    const r = await sim(host, "openshell", ["status"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`${ESC}[32mConnected`);
    expect(strip(r.stdout)).toBe(
      `Server Status\n\n  Gateway: nemoclaw\n  Server: ${endpoint}\n  Status: Connected\n  Version: 0.0.43\n`,
    );
    // In-place upgrade: the binary on disk now says 0.0.45, the old process still serves 0.0.43.
    setKnobs(host, { gatewayVersion: "0.0.45" });
    const [binary, status] = await Promise.all([
      sim(host, "openshell-gateway", ["--version"]),
      sim(host, "openshell", ["status", "-g", "nemoclaw"]),
    ]);
    expect(binary.stdout).toBe("openshell-gateway 0.0.45\n");
    expect(strip(status.stdout)).toContain("  Version: 0.0.43\n");

    // The process is genuine: its argv0 is the wrapper path, the marker describes it.
    const argv0 = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0")[0];
    expect(argv0).toBe(path.join(host.bin, "openshell-gateway"));
    const stateDir = path.join(host.dir, `home/.local/state/nemoclaw/openshell-docker-gateway-${host.port}`);
    expect(fs.statSync(stateDir).mode & 0o777).toBe(0o700);
    expect(fs.statSync(path.join(stateDir, "runtime.json")).mode & 0o777).toBe(0o600);
    expect(JSON.parse(fs.readFileSync(path.join(stateDir, "runtime.json"), "utf8"))).toMatchObject({
      version: 1,
      pid,
      driver: "docker",
      endpoint,
      gatewayBin: path.join(host.bin, "openshell-gateway"),
      openshellVersion: "0.0.44",
      dockerHost: null,
      desiredEnvHash: expect.stringMatching(/^[0-9a-f]{64}$/),
    });
    expect(fs.readFileSync(path.join(stateDir, "openshell-gateway.pid"), "utf8").trim()).toBe(String(pid));
  });

  it("a 0.0.52 CLI shows every phase of a ≥ 0.0.53 gateway as Unspecified, exit 0 (the measured silent drift)", async () => {
    const host = await initHost("--cli-version", "0.0.52", "--gateway-version", "0.0.104");
    await startGateway(host);
    await simctlOk("add-sandbox", host.dir, "alpha", "--phase", "Ready");
    const [list, get] = await Promise.all([
      sim(host, "openshell", ["sandbox", "list", "-g", "nemoclaw"]),
      sim(host, "openshell", ["-g", "nemoclaw", "sandbox", "get", "alpha"]),
    ]);
    expect(list.code).toBe(0);
    expect(strip(list.stdout)).toMatch(/\nalpha {2}.* {2}Unspecified\n$/);
    expect(get.code).toBe(0);
    expect(strip(get.stdout)).toContain("  Phase: Unspecified\n");
    // The old CLI prints statuses the tonic 0.12 way.
    const missing = await sim(host, "openshell", ["-g", "nemoclaw", "sandbox", "get", "nope"]);
    expect(strip(missing.stderr)).toContain('× status: NotFound, message: "sandbox not found"');
  });

  it("sandbox list pages: 100 rows by default, --limit up to 1000, --offset, past the end is empty", async () => {
    const host = await initHost("--cli-version", "0.0.111");
    await startGateway(host);
    const dir = path.join(host.dir, "state/sandboxes");
    fs.mkdirSync(dir, { recursive: true });
    for (let i = 0; i < 130; i++) {
      const name = `s-${String(i).padStart(3, "0")}`;
      fs.mkdirSync(path.join(dir, name, "root/sandbox"), { recursive: true });
      fs.writeFileSync(
        path.join(dir, `${name}.json`),
        JSON.stringify({ id: `id-${i}`, name, phase: "Ready", created: "2026-12-04 17:23:11" }),
      );
    }
    const rows = (run: Run) => strip(run.stdout).trim().split("\n").slice(1);
    const [plain, all, second, past] = await Promise.all([
      sim(host, "openshell", ["sandbox", "list"]),
      sim(host, "openshell", ["sandbox", "list", "--limit", "1000", "--offset", "0"]),
      sim(host, "openshell", ["sandbox", "list", "--limit", "100", "--offset", "100"]),
      sim(host, "openshell", ["sandbox", "list", "--limit", "1000", "--offset", "1000"]),
    ]);
    expect(rows(plain)).toHaveLength(100);
    expect(rows(all)).toHaveLength(130);
    expect(rows(second)).toHaveLength(30);
    expect(rows(second)[0]).toMatch(/^s-100 /);
    expect(strip(past.stdout)).toBe("No sandboxes found.\n");
  });

  it("Authentication line from 0.0.91, Server form of gateway info from 0.0.85, OPENSHELL_GATEWAY honoured", async () => {
    const host = await initHost("--cli-version", "0.0.91");
    await startGateway(host);
    const [status, info, redirected] = await Promise.all([
      sim(host, "openshell", ["status"]),
      sim(host, "openshell", ["gateway", "info", "-g", "nemoclaw"]),
      // Like the real CLI, -g falls back to OPENSHELL_GATEWAY: why nemoclaw's probes drop OPENSHELL_*.
      sim(host, "openshell", ["status"], { OPENSHELL_GATEWAY: "elsewhere" }),
    ]);
    expect(strip(status.stdout)).toMatch(
      /\n {2}Status: Connected\n {2}Authentication: Not required \(gateway\)\n {2}Version: 0\.0\.91\n$/,
    );
    expect(strip(info.stdout)).toBe(
      `Gateway Info\n\n  Gateway: nemoclaw\n  Server: http://127.0.0.1:${host.port}\n  Status: healthy\n  Version: 0.0.91\n  Compute drivers:\n    docker\n    Driver name: docker\n`,
    );
    // An unregistered name: `No gateway configured.`, exit 0 (measured on 0.0.52, 0.0.104, 0.0.111).
    expect(redirected.code).toBe(0);
    expect(strip(redirected.stdout)).toContain("Status: No gateway configured.");
    const list = await sim(host, "openshell", ["sandbox", "list"], { OPENSHELL_GATEWAY: "elsewhere" });
    expect(list.code).toBe(1);
    expect(strip(list.stderr)).toContain("× Unknown gateway 'elsewhere'.");
    expect(strip(list.stderr)).toContain(
      "│ Register it first: openshell gateway add <endpoint> --name elsewhere",
    );
  });

  it("lists, gets and execs sandboxes; NAMESPACE column up to 0.0.36", async () => {
    const host = await initHost();
    await startGateway(host);
    expect(strip((await sim(host, "openshell", ["sandbox", "list"])).stdout)).toBe("No sandboxes found.\n");
    await Promise.all([
      simctlOk("add-sandbox", host.dir, "alpha", "--created", "2026-11-01 10:00:00"),
      simctlOk("add-sandbox", host.dir, "beta-2", "--phase", "Error", "--created", "-"),
    ]);
    const [list, get, missing, execTrue, execFalse] = await Promise.all([
      sim(host, "openshell", ["sandbox", "list", "-g", "nemoclaw"]),
      sim(host, "openshell", ["-g", "nemoclaw", "sandbox", "get", "alpha"]),
      sim(host, "openshell", ["sandbox", "get", "nope"]),
      sim(host, "openshell", ["sandbox", "exec", "-n", "alpha", "--no-tty", "--", "true"]),
      sim(host, "openshell", ["sandbox", "exec", "-n", "alpha", "--no-tty", "--", "false"]),
    ]);
    expect(list.stdout).toContain(`${ESC}[1mNAME${ESC}[0m`);
    expect(strip(list.stdout)).toBe(
      "NAME    CREATED              PHASE\nalpha   2026-11-01 10:00:00  Ready\nbeta-2  -                    Error\n",
    );
    expect(strip(get.stdout)).toContain("\n  Phase: Ready\n");
    expect(missing.code).toBe(1);
    expect(strip(missing.stderr)).toContain("sandbox not found");
    expect(execTrue.code).toBe(0);
    expect(execFalse.code).toBe(1);

    setKnobs(host, { cliVersion: "0.0.36" });
    expect(strip((await sim(host, "openshell", ["sandbox", "list"])).stdout).split("\n")[0]).toBe(
      "NAME    NAMESPACE  CREATED              PHASE",
    );
  });

  it("schema mismatch knob breaks every sandbox query but not status", async () => {
    const host = await initHost();
    await startGateway(host);
    await simctlOk("add-sandbox", host.dir, "alpha");
    const expected: Record<string, string> = {
      tonic14:
        "Error:   × status: 'Internal error', self: \"failed to decode Protobuf message: Sandbox.metadata: ListSandboxesResponse.sandboxes: invalid wire type: LengthDelimited (expected Varint)\"\n",
      tonic12:
        'Error:   × status: Internal, message: "failed to decode Protobuf message: Sandbox.metadata: ListSandboxesResponse.sandboxes: invalid wire type value: 6", details: [], metadata: MetadataMap { headers: {} }\n',
      unimplemented:
        'Error:   × status: Unimplemented, message: "openshell.v1.OpenShell/ListSandboxes is not supported by this gateway version", details: [], metadata: MetadataMap { headers: {} }\n',
    };
    for (const [kind, message] of Object.entries(expected)) {
      setKnobs(host, { schemaMismatch: kind });
      const list = await sim(host, "openshell", ["sandbox", "list"]);
      expect(list.code).toBe(1);
      expect(list.stdout).toBe("");
      expect(strip(list.stderr)).toBe(message);
    }
    setKnobs(host, { schemaMismatch: "tonic14" });
    const [get, execRun, status] = await Promise.all([
      sim(host, "openshell", ["sandbox", "get", "alpha"]),
      sim(host, "openshell", ["sandbox", "exec", "-n", "alpha", "--no-tty", "--", "true"]),
      sim(host, "openshell", ["status"]),
    ]);
    expect(strip(get.stderr)).toContain("failed to decode Protobuf message");
    expect(execRun.code).toBe(1);
    expect(status.code).toBe(0);
  });

  it("unreachable knob refuses connections while the gateway runs; a busy port makes a second gateway exit 1", async () => {
    const host = await initHost();
    const pid = await startGateway(host);
    const second = await simctl(
      "start-gateway",
      host.dir,
      "--name",
      "second",
      "--no-register",
      "--no-marker",
    );
    expect(second.code).toBe(1);
    expect(strip(second.stderr)).toContain("Address already in use (os error 98)");

    setKnobs(host, { unreachable: true });
    const r = await sim(host, "openshell", ["sandbox", "list"]);
    expect(r.code).toBe(1);
    expect(strip(r.stderr)).toContain("Connection refused (os error 111)");
    expect(alive(pid)).toBe(true);
  });

  it("gatewayExitAfterMs: answers health, then exits 1 after logging an error", async () => {
    const host = await initHost();
    setKnobs(host, { gatewayExitAfterMs: 600 });
    const pid = await startGateway(host);
    expect((await sim(host, "openshell", ["status"])).code).toBe(0);
    await waitFor(() => !alive(pid));
    expect((await sim(host, "openshell", ["status"])).code).toBe(1);
    const log = fs.readFileSync(
      path.join(
        host.dir,
        `home/.local/state/nemoclaw/openshell-docker-gateway-${host.port}/openshell-gateway.log`,
      ),
      "utf8",
    );
    expect(strip(log)).toMatch(/ERROR openshell_server: database migration failed/);
  });
});

describe("processes and containers", () => {
  it("gatewayVersionHang leaves a recorded grandchild holding the pipe, and simctl stop kills it", async () => {
    const host = await initHost();
    setKnobs(host, { gatewayVersionHang: true });
    const child = spawn(path.join(host.bin, "openshell-gateway"), ["--version"], {
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
    });
    children.push(child);
    let ended = false;
    child.stdout?.on("end", () => {
      ended = true;
    });
    child.stdout?.resume();
    const pidsFile = path.join(host.dir, "state/pids");
    const grandchildLine = () =>
      fs
        .readFileSync(pidsFile, "utf8")
        .split("\n")
        .find((line) => line.endsWith(" gateway-version-hang-grandchild"));
    await waitFor(() => grandchildLine() !== undefined);
    const grandchild = Number(grandchildLine()?.split(" ")[0]);
    // Killing only the direct child is not enough: the grandchild keeps the pipe open.
    process.kill(child.pid as number, "SIGKILL");
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(alive(grandchild)).toBe(true);
    expect(ended).toBe(false);

    await simctlOk("stop", host.dir);
    expect(alive(grandchild)).toBe(false);
    expect(await simctlOk("pids", host.dir)).toBe("");
    await waitFor(() => ended);
  });

  it("spawn-foreign records an unrelated process that stop cleans up (idempotently)", async () => {
    const host = await initHost();
    const pid = Number(await simctlOk("spawn-foreign", host.dir, "--argv0", "foreign-thing"));
    expect(fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0")[0]).toBe("foreign-thing");
    expect(await simctlOk("pids", host.dir)).toBe(String(pid));
    await simctlOk("stop", host.dir);
    await simctlOk("stop", host.dir);
    expect(alive(pid)).toBe(false);
  });

  it("start-cluster: a running legacy cluster serves its image version; stopped ones publish nothing", async () => {
    const host = await initHost();
    const image = "ghcr.io/nvidia/nemoclaw/nemoclaw-cluster:0.0.36-fuse-overlayfs-aa8b8487";
    await simctlOk("start-cluster", host.dir, "--image", image);
    const inspect = (...args: string[]) => sim(host, "docker", ["inspect", "--type", "container", ...args]);
    const [imageRef, running, ports, full, status] = await Promise.all([
      inspect("--format", "{{.Config.Image}}", "openshell-cluster-nemoclaw"),
      inspect("--format", "{{.State.Running}}", "openshell-cluster-nemoclaw"),
      inspect("--format", "{{json .NetworkSettings.Ports}}", "openshell-cluster-nemoclaw"),
      inspect("openshell-cluster-nemoclaw"),
      sim(host, "openshell", ["status", "-g", "nemoclaw"]),
    ]);
    expect(imageRef.stdout).toBe(`${image}\n`);
    expect(running.stdout).toBe("true\n");
    expect(ports.stdout).toBe(`{"30051/tcp":[{"HostIp":"0.0.0.0","HostPort":"${host.port}"}]}\n`);
    expect(JSON.parse(full.stdout)[0]).toMatchObject({
      Name: "/openshell-cluster-nemoclaw",
      State: { Running: true, Status: "running" },
      Config: { Image: image },
    });
    expect(strip(status.stdout)).toContain("  Version: 0.0.36\n");

    await simctlOk("stop", host.dir);
    await simctlOk(
      "start-cluster",
      host.dir,
      "--image",
      "x/openshell/cluster:0.0.30",
      "--name",
      "gone",
      "--stopped",
    );
    // A stopped container, and one whose gateway process died: neither runs nor publishes ports.
    const stopped = await sim(host, "docker", [
      "inspect",
      "--format",
      "{{.State.Running}} {{json .NetworkSettings.Ports}}",
      "openshell-cluster-gone",
      "openshell-cluster-nemoclaw",
    ]);
    expect(stopped.stdout).toBe("false {}\nfalse {}\n");
  });
});
