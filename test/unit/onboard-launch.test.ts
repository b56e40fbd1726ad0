import { type ChildProcess, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  desiredEnvHash,
  launchDetachedGateway,
  openGatewayLog,
  readLogSince,
  stopGatewayProcess,
} from "../../src/adapters/gateway-process.js";
import { checkPortFree, findPortHolder, listeningInodes } from "../../src/adapters/port-probe.js";
import { processStartTime, readProcessState } from "../../src/adapters/process-identity.js";
import {
  canonicalGatewayEnv,
  gatewayEndpoint,
  gatewayLaunchEnv,
  logTailLines,
} from "../../src/domain/gateway-launch.js";
import { binaryMismatchLines } from "../../src/domain/onboard-diagnostics.js";

describe("gateway launch environment", () => {
  it("is the gateway launch environment of docs/design.md for the port and state dir", () => {
    expect(gatewayLaunchEnv(8080, "/home/u/.local/state/nemoclaw/openshell-docker-gateway/")).toEqual({
      OPENSHELL_BIND_ADDRESS: "127.0.0.1",
      OPENSHELL_SERVER_PORT: "8080",
      OPENSHELL_DRIVERS: "docker",
      OPENSHELL_DISABLE_TLS: "true",
      OPENSHELL_DB_URL: "sqlite:/home/u/.local/state/nemoclaw/openshell-docker-gateway/openshell.db",
    });
    expect(gatewayEndpoint(18080)).toBe("http://127.0.0.1:18080");
  });

  it("hashes the sorted OPENSHELL_* K=V lines, ignoring other variables and key order", () => {
    const env = gatewayLaunchEnv(8080, "/s");
    const text = canonicalGatewayEnv(env);
    expect(text.split("\n")).toEqual([
      "OPENSHELL_BIND_ADDRESS=127.0.0.1",
      "OPENSHELL_DB_URL=sqlite:/s/openshell.db",
      "OPENSHELL_DISABLE_TLS=true",
      "OPENSHELL_DRIVERS=docker",
      "OPENSHELL_SERVER_PORT=8080",
    ]);
    const hash = desiredEnvHash(env);
    expect(hash).toBe(createHash("sha256").update(text).digest("hex"));
    expect(hash).toMatch(/^[0-9a-f]{64}$/);
    const reordered = Object.fromEntries(Object.entries(env).reverse());
    expect(desiredEnvHash({ ...reordered, PATH: "/usr/bin", HOME: "/home/u" })).toBe(hash);
    expect(desiredEnvHash(gatewayLaunchEnv(8081, "/s"))).not.toBe(hash);
  });

  it("matches the hash the simulator's start-gateway (an older onboard) records", () => {
    // simctl: sha256 of Object.keys(gatewayEnv).sort().map(k => `${k}=${v}`).join("\n")
    const env = gatewayLaunchEnv(40123, "/tmp/h/home/.local/state/nemoclaw/openshell-docker-gateway-40123");
    const simctl = createHash("sha256")
      .update(
        Object.keys(env)
          .sort()
          .map((k) => `${k}=${env[k]}`)
          .join("\n"),
      )
      .digest("hex");
    expect(desiredEnvHash(env)).toBe(simctl);
  });
});

describe("logTailLines", () => {
  it("keeps the last lines, without colour, control characters or trailing blank lines", () => {
    const log = [
      ...Array.from({ length: 30 }, (_, i) => `line ${i}`),
      "2026-11-01T10:00:00Z \x1b[31mERROR\x1b[0m openshell_server: database migration failed",
      "evil\x1b]0;title\x07 \x07bell\rcarriage",
      "",
      "",
    ].join("\n");
    const tail = logTailLines(log);
    expect(tail).toHaveLength(20);
    expect(tail[0]).toBe("line 12");
    expect(tail[18]).toBe("2026-11-01T10:00:00Z ERROR openshell_server: database migration failed");
    expect(tail[19]).toBe("evil bellcarriage");
    expect(logTailLines("", 20)).toEqual([]);
    expect(logTailLines("a\nb\n", 0)).toEqual([]);
  });
});

describe("binary mismatch refusal", () => {
  it("names both versions and advises reinstalling OpenShell", () => {
    const lines = binaryMismatchLines({
      installedVersion: "0.0.44",
      binary: "/usr/local/bin/openshell-gateway",
      binaryVersion: "0.0.43",
    });
    expect(lines).toContain("  Installed OpenShell: 0.0.44");
    expect(lines).toContain("  Gateway binary: /usr/local/bin/openshell-gateway (0.0.43)");
    expect(lines.join("\n")).toContain(
      "Reinstall OpenShell so that `openshell` and `openshell-gateway` have the same version, then run `nemoclaw onboard --resume`.",
    );
  });
});

let tmp: string;
let children: ChildProcess[];
let pids: number[];

beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "nemoclaw-onboard-"));
  children = [];
  pids = [];
});

afterEach(() => {
  for (const child of children) child.kill("SIGKILL");
  for (const pid of pids) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // gone
    }
  }
  fs.rmSync(tmp, { recursive: true, force: true });
});

const SLEEP = fs.existsSync("/bin/sleep") ? "/bin/sleep" : "/usr/bin/sleep";

function startSleeper(args: string[] = ["30"]): { child: ChildProcess; pid: number; startTime: number } {
  const child = spawn(SLEEP, args, { stdio: "ignore" });
  children.push(child);
  const pid = child.pid as number;
  const startTime = processStartTime(pid) as number;
  return { child, pid, startTime };
}

/** A program that ignores SIGTERM, so only SIGKILL stops it. */
function writeStubbornScript(): string {
  const file = path.join(tmp, "stubborn.sh");
  fs.writeFileSync(file, "#!/bin/sh\ntrap '' TERM\necho ready\nwhile :; do sleep 0.05; done\n", {
    mode: 0o755,
  });
  return file;
}

describe("stopGatewayProcess", () => {
  it("SIGTERMs an identified process and confirms it is gone", async () => {
    const { pid, startTime } = startSleeper();
    const result = await stopGatewayProcess({ pid, startTime, isStillIt: () => true }, { pollMs: 10 });
    expect(result).toEqual({ outcome: "stopped", signal: "SIGTERM" });
    expect(readProcessState(pid)).not.toBe("alive");
  });

  it("escalates to SIGKILL when SIGTERM is ignored", async () => {
    const script = writeStubbornScript();
    const child = spawn(script, [], { stdio: ["ignore", "pipe", "ignore"] });
    children.push(child);
    await new Promise((resolve) => child.stdout?.once("data", resolve));
    const pid = child.pid as number;
    const startTime = processStartTime(pid) as number;
    const result = await stopGatewayProcess(
      { pid, startTime, isStillIt: () => true },
      { termGraceMs: 200, killGraceMs: 2000, pollMs: 10 },
    );
    expect(result).toEqual({ outcome: "stopped", signal: "SIGKILL" });
  });

  it("reports still-running when the process outlives SIGKILL (e.g. uninterruptible sleep)", async () => {
    // The signals reach a real process of ours; the /proc view it is judged by is a frozen copy
    // taken while it was alive, as for a process stuck in the kernel.
    const { pid, startTime } = startSleeper();
    const proc = path.join(tmp, "frozen-proc");
    fs.mkdirSync(path.join(proc, String(pid)), { recursive: true });
    fs.writeFileSync(path.join(proc, String(pid), "stat"), fs.readFileSync(`/proc/${pid}/stat`));
    const signalled: string[] = [];
    const result = await stopGatewayProcess(
      {
        pid,
        startTime,
        isStillIt: () => {
          signalled.push("checked");
          return true;
        },
      },
      { procRoot: proc, termGraceMs: 100, killGraceMs: 100, pollMs: 10 },
    );
    expect(result).toEqual({ outcome: "still-running", signal: "SIGKILL" });
    // The identity was checked before SIGTERM and again before SIGKILL.
    expect(signalled).toEqual(["checked", "checked"]);
    // And the real process did get the signals.
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(readProcessState(pid)).not.toBe("alive");
  });

  it("never signals a process that fails the identity check", async () => {
    const { pid, startTime } = startSleeper();
    const result = await stopGatewayProcess({ pid, startTime, isStillIt: () => false }, { pollMs: 10 });
    expect(result).toEqual({ outcome: "not-signalled" });
    expect(readProcessState(pid)).toBe("alive");
  });

  it("never signals a recycled pid (different start time)", async () => {
    const { pid, startTime } = startSleeper();
    let asked = false;
    const result = await stopGatewayProcess(
      {
        pid,
        startTime: startTime - 1,
        isStillIt: () => {
          asked = true;
          return true;
        },
      },
      { pollMs: 10 },
    );
    expect(result).toEqual({ outcome: "not-signalled" });
    expect(asked).toBe(false);
    expect(readProcessState(pid)).toBe("alive");
  });
});

describe("launchDetachedGateway", () => {
  it("launches detached with argv0 = the path, the given env only, no arguments, output appended to a 0600 log", async () => {
    const bin = path.join(tmp, "openshell-gateway");
    fs.writeFileSync(
      bin,
      '#!/bin/sh\necho "started $# args, X=$X, OPENSHELL_SERVER_PORT=$OPENSHELL_SERVER_PORT"\necho oops >&2\nexec sleep 30\n',
      { mode: 0o755 },
    );
    const logFile = path.join(tmp, "openshell-gateway.log");
    fs.writeFileSync(logFile, "old run\n", { mode: 0o644 });
    const launched = await launchDetachedGateway({
      bin,
      env: { PATH: "/usr/bin:/bin", X: "1", OPENSHELL_SERVER_PORT: "8080" },
      logFile,
      cwd: tmp,
    });
    pids.push(launched.pid);
    expect(launched.logOffset).toBe("old run\n".length);
    expect(launched.isRunning()).toBe(true);
    expect(launched.exitInfo()).toBeNull();
    // Own session and process group: field 6 (session) and 5 (pgrp) of stat are the pid.
    const stat = fs.readFileSync(`/proc/${launched.pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    expect(Number(fields[2])).toBe(launched.pid);
    expect(Number(fields[3])).toBe(launched.pid);
    expect(fs.statSync(logFile).mode & 0o777).toBe(0o600);

    await waitFor(() => readLogSince(logFile, launched.logOffset).includes("oops"));
    const text = readLogSince(logFile, launched.logOffset);
    expect(text).toContain("started 0 args, X=1, OPENSHELL_SERVER_PORT=8080");
    expect(text).not.toContain("old run");

    const stop = await stopGatewayProcess(
      { pid: launched.pid, startTime: launched.startTime, isStillIt: launched.isRunning, group: true },
      { pollMs: 10 },
    );
    expect(stop).toEqual({ outcome: "stopped", signal: "SIGTERM" });
    const exit = await launched.exited;
    expect(exit.signal).toBe("SIGTERM");
    expect(launched.isRunning()).toBe(false);
  });

  it("reports an exit through `exited` and isRunning", async () => {
    const bin = path.join(tmp, "openshell-gateway");
    fs.writeFileSync(bin, "#!/bin/sh\nsleep 0.2\necho 'ERROR migration failed'\nexit 3\n", { mode: 0o755 });
    const launched = await launchDetachedGateway({
      bin,
      env: { PATH: "/usr/bin:/bin" },
      logFile: path.join(tmp, "log"),
      cwd: tmp,
    });
    const exit = await launched.exited;
    expect(exit).toEqual({ code: 3, signal: null });
    expect(launched.isRunning()).toBe(false);
    expect(readLogSince(path.join(tmp, "log"), launched.logOffset)).toContain("ERROR migration failed");
  });

  it("refuses to write the log through a symlink", () => {
    const target = path.join(tmp, "elsewhere");
    fs.writeFileSync(target, "");
    fs.symlinkSync(target, path.join(tmp, "link.log"));
    expect(() => openGatewayLog(path.join(tmp, "link.log"))).toThrow();
  });
});

describe("port probe", () => {
  it("reports a free port as free and a listening one as busy, naming this process as the holder", async () => {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as net.AddressInfo).port;
    try {
      expect(await checkPortFree(port)).toEqual({ free: false, code: "EADDRINUSE" });
      const holder = findPortHolder(port);
      expect(holder?.pid).toBe(process.pid);
      expect(holder?.ppid).toBe(process.ppid);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
    expect(await checkPortFree(port)).toEqual({ free: true });
    expect(findPortHolder(port)).toBeNull();
  });

  it("reads listening sockets from a /proc/net/tcp table", () => {
    const table = [
      "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode",
      "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 4242 1 0000000000000000 100 0 0 10 0",
      "   1: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000  1000        0 4343 1 0000000000000000 100 0 0 10 0",
      "   2: 00000000:1F91 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 4444 1 0000000000000000 100 0 0 10 0",
    ].join("\n");
    expect([...listeningInodes(table, 8080)]).toEqual(["4242"]);
    expect([...listeningInodes(table, 8081)]).toEqual(["4444"]);
    expect(listeningInodes(table, 9999).size).toBe(0);
  });
});

async function waitFor(condition: () => boolean, timeoutMs = 3000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > until) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
