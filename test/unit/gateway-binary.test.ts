import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  fallbackGatewayBinaryCandidates,
  isExecutableFile,
  resolveFallbackGatewayBinary,
  resolveMarkerGatewayBinary,
  resolveOpenshellBinary,
} from "../../src/adapters/gateway-binary.js";
import { processIsBinary, readProcessState } from "../../src/adapters/process-identity.js";
import { type RuntimeMarker, writeRuntimeMarker } from "../../src/adapters/runtime-marker.js";
import { ChildTracker, startZombie, waitFor } from "./support/child-processes.js";

let tmp: string;
let home: string;
let usrLocalBin: string;
let usrBin: string;
let standardDirs: string[];
const tracker = new ChildTracker();
const track = (child: ChildProcess): number => tracker.track(child);

function exe(p: string, mode = 0o755): string {
  fs.mkdirSync(path.dirname(p), { recursive: true });
  fs.writeFileSync(p, "#!/bin/sh\nexit 0\n");
  fs.chmodSync(p, mode);
  return p;
}

function dir(...parts: string[]): string {
  const d = path.join(tmp, ...parts);
  fs.mkdirSync(d, { recursive: true });
  return d;
}

beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "nemoclaw-bin-"));
  home = dir("home");
  usrLocalBin = dir("usr-local-bin");
  usrBin = dir("usr-bin");
  standardDirs = [usrLocalBin, usrBin];
});

afterEach(async () => {
  await tracker.stopAll();
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe("isExecutableFile", () => {
  it("requires an executable regular file, following symlinks", () => {
    const good = exe(path.join(tmp, "a", "tool"));
    const plain = exe(path.join(tmp, "a", "plain"), 0o644);
    const link = path.join(tmp, "a", "link");
    fs.symlinkSync(good, link);
    expect(isExecutableFile(good)).toBe(true);
    expect(isExecutableFile(link)).toBe(true);
    expect(isExecutableFile(plain)).toBe(false);
    expect(isExecutableFile(dir("a", "subdir"))).toBe(false);
    expect(isExecutableFile(path.join(tmp, "missing"))).toBe(false);
  });
});

describe("resolveOpenshellBinary", () => {
  it("prefers an absolute NEMOCLAW_OPENSHELL_BIN", () => {
    const override = exe(path.join(tmp, "custom", "openshell"));
    const inPath = exe(path.join(dir("p1"), "openshell"));
    expect(resolveOpenshellBinary({ override, pathEnv: path.dirname(inPath), home, standardDirs })).toEqual({
      ok: true,
      path: override,
      source: "env",
      notes: [],
    });
  });

  it("rejects a relative override with a reason", () => {
    const result = resolveOpenshellBinary({ override: "bin/openshell", pathEnv: "", home, standardDirs });
    expect(result).toEqual({
      ok: false,
      reason: 'NEMOCLAW_OPENSHELL_BIN must be an absolute path, got "bin/openshell"',
    });
  });

  it("falls through a non-executable override to PATH, with a note", () => {
    const override = exe(path.join(tmp, "custom", "openshell"), 0o644);
    const inPath = exe(path.join(dir("p1"), "openshell"));
    const result = resolveOpenshellBinary({ override, pathEnv: path.dirname(inPath), home, standardDirs });
    expect(result).toMatchObject({ ok: true, path: inPath, source: "path" });
    expect(result.ok && result.notes).toEqual([
      `NEMOCLAW_OPENSHELL_BIN ${override} is not an executable file`,
    ]);
  });

  it("searches PATH in order, skipping non-executable files and directories", () => {
    const p1 = dir("p1");
    const p2 = dir("p2");
    const p3 = dir("p3");
    const p4 = dir("p4");
    exe(path.join(p1, "openshell"), 0o644);
    fs.mkdirSync(path.join(p2, "openshell"));
    const winner = exe(path.join(p3, "openshell"));
    exe(path.join(p4, "openshell"));
    exe(path.join(home, ".local/bin/openshell"));
    expect(resolveOpenshellBinary({ pathEnv: [p1, p2, p3, p4].join(":"), home, standardDirs })).toMatchObject(
      {
        ok: true,
        path: winner,
        source: "path",
      },
    );
  });

  it("never resolves relative or empty PATH entries", () => {
    const abs = dir("abs");
    const seen: string[] = [];
    const exists = (p: string) => {
      seen.push(p);
      return true;
    };
    const result = resolveOpenshellBinary({ pathEnv: `:.:bin:${abs}`, home, standardDirs, exists });
    expect(result).toMatchObject({ ok: true, path: path.join(abs, "openshell") });
    expect(seen).toEqual([path.join(abs, "openshell")]);
  });

  it("then ~/.local/bin, /usr/local/bin, /usr/bin, in that order", () => {
    const inUsrBin = exe(path.join(usrBin, "openshell"));
    expect(resolveOpenshellBinary({ pathEnv: "", home, standardDirs })).toMatchObject({
      path: inUsrBin,
      source: "standard-path",
    });
    const inUsrLocal = exe(path.join(usrLocalBin, "openshell"));
    expect(resolveOpenshellBinary({ pathEnv: "", home, standardDirs })).toMatchObject({ path: inUsrLocal });
    const inHome = exe(path.join(home, ".local/bin/openshell"));
    expect(resolveOpenshellBinary({ pathEnv: dir("empty"), home, standardDirs })).toMatchObject({
      path: inHome,
    });
  });

  it("keeps a symlinked openshell as found", () => {
    const real = exe(path.join(tmp, "opt", "openshell-0.0.44", "openshell"));
    const link = path.join(dir("p1"), "openshell");
    fs.symlinkSync(real, link);
    expect(resolveOpenshellBinary({ pathEnv: path.dirname(link), home, standardDirs })).toMatchObject({
      ok: true,
      path: link,
    });
  });

  it("reports not found", () => {
    const result = resolveOpenshellBinary({ pathEnv: dir("p1"), home, standardDirs });
    expect(result.ok).toBe(false);
    expect(result.ok ? "" : result.reason).toMatch(/^openshell not found/);
  });
});

describe("fallbackGatewayBinaryCandidates", () => {
  it("orders env → sibling as found → sibling of realpath → ~/.local/bin → /usr/local/bin → /usr/bin", () => {
    const realDir = dir("opt", "openshell", "bin");
    const linkDir = dir("links");
    const openshellReal = exe(path.join(realDir, "openshell"));
    const openshellLink = path.join(linkDir, "openshell");
    fs.symlinkSync(openshellReal, openshellLink);
    const override = path.join(tmp, "custom", "openshell-gateway");
    expect(
      fallbackGatewayBinaryCandidates({ override, openshellPath: openshellLink, home, standardDirs }),
    ).toEqual([
      { path: override, source: "env" },
      { path: path.join(linkDir, "openshell-gateway"), source: "sibling" },
      { path: path.join(realDir, "openshell-gateway"), source: "sibling" },
      { path: path.join(home, ".local/bin/openshell-gateway"), source: "standard-path" },
      { path: path.join(usrLocalBin, "openshell-gateway"), source: "standard-path" },
      { path: path.join(usrBin, "openshell-gateway"), source: "standard-path" },
    ]);
  });

  it("deduplicates, keeping the first (most specific) source", () => {
    const openshell = exe(path.join(usrLocalBin, "openshell"));
    const override = path.join(usrLocalBin, "openshell-gateway");
    expect(
      fallbackGatewayBinaryCandidates({
        override: `${usrLocalBin}//openshell-gateway`,
        openshellPath: openshell,
        home,
        standardDirs,
      }),
    ).toEqual([
      { path: `${usrLocalBin}//openshell-gateway`, source: "env" },
      { path: path.join(home, ".local/bin/openshell-gateway"), source: "standard-path" },
      { path: path.join(usrBin, "openshell-gateway"), source: "standard-path" },
    ]);
    expect(fallbackGatewayBinaryCandidates({ openshellPath: openshell, home, standardDirs })[0]).toEqual({
      path: override,
      source: "sibling",
    });
  });

  it("leaves out an override with another basename, and siblings when openshell is unknown", () => {
    expect(
      fallbackGatewayBinaryCandidates({
        override: "/usr/bin/sleep",
        openshellPath: null,
        home,
        standardDirs,
      }).map((c) => c.source),
    ).toEqual(["standard-path", "standard-path", "standard-path"]);
  });
});

describe("resolveFallbackGatewayBinary", () => {
  it("takes the env override when it is an executable openshell-gateway", () => {
    const override = exe(path.join(tmp, "custom", "openshell-gateway"));
    exe(path.join(usrBin, "openshell-gateway"));
    expect(resolveFallbackGatewayBinary({ override, openshellPath: null, home, standardDirs })).toEqual({
      ok: true,
      path: override,
      source: "env",
      notes: [],
    });
  });

  it("rejects an override whose basename as found is not openshell-gateway", () => {
    exe(path.join(usrBin, "openshell-gateway"));
    expect(resolveFallbackGatewayBinary({ override: "/usr/bin/sleep", home, standardDirs })).toEqual({
      ok: false,
      reason:
        'NEMOCLAW_OPENSHELL_GATEWAY_BIN must name a file called openshell-gateway, got "/usr/bin/sleep"',
    });
    // A symlink named otherwise is refused even if it points at a real openshell-gateway.
    const real = exe(path.join(tmp, "real", "openshell-gateway"));
    const oddLink = path.join(dir("links"), "gw");
    fs.symlinkSync(real, oddLink);
    expect(resolveFallbackGatewayBinary({ override: oddLink, home, standardDirs }).ok).toBe(false);
    expect(resolveFallbackGatewayBinary({ override: "openshell-gateway", home, standardDirs })).toMatchObject(
      {
        ok: false,
        reason: expect.stringMatching(/absolute/),
      },
    );
  });

  it("accepts a symlink named openshell-gateway and returns it as found", () => {
    const real = exe(path.join(tmp, "opt", "openshell-gateway-0.0.44"));
    const link = path.join(dir("links"), "openshell-gateway");
    fs.symlinkSync(real, link);
    expect(resolveFallbackGatewayBinary({ override: link, home, standardDirs })).toMatchObject({
      ok: true,
      path: link,
    });
  });

  it("falls through a missing override with a note", () => {
    const inUsrBin = exe(path.join(usrBin, "openshell-gateway"));
    const override = path.join(tmp, "custom", "openshell-gateway");
    const result = resolveFallbackGatewayBinary({ override, home, standardDirs });
    expect(result).toEqual({
      ok: true,
      path: inUsrBin,
      source: "standard-path",
      notes: [`NEMOCLAW_OPENSHELL_GATEWAY_BIN ${override} is not an executable file`],
    });
  });

  it("prefers the sibling of the symlinked openshell, then the sibling of its realpath", () => {
    const realDir = dir("opt", "openshell", "bin");
    const linkDir = dir("links");
    const openshellLink = path.join(linkDir, "openshell");
    fs.symlinkSync(exe(path.join(realDir, "openshell")), openshellLink);
    exe(path.join(home, ".local/bin/openshell-gateway"));
    const besideReal = exe(path.join(realDir, "openshell-gateway"));
    expect(resolveFallbackGatewayBinary({ openshellPath: openshellLink, home, standardDirs })).toMatchObject({
      path: besideReal,
      source: "sibling",
    });
    const besideLink = exe(path.join(linkDir, "openshell-gateway"));
    expect(resolveFallbackGatewayBinary({ openshellPath: openshellLink, home, standardDirs })).toMatchObject({
      path: besideLink,
      source: "sibling",
    });
  });

  it("walks the standard dirs in order and skips non-executable files", () => {
    const openshell = exe(path.join(dir("p1"), "openshell"));
    exe(path.join(path.dirname(openshell), "openshell-gateway"), 0o644);
    const last = exe(path.join(usrBin, "openshell-gateway"));
    expect(resolveFallbackGatewayBinary({ openshellPath: openshell, home, standardDirs })).toMatchObject({
      path: last,
      source: "standard-path",
    });
    const middle = exe(path.join(usrLocalBin, "openshell-gateway"));
    expect(resolveFallbackGatewayBinary({ openshellPath: openshell, home, standardDirs })).toMatchObject({
      path: middle,
    });
    const first = exe(path.join(home, ".local/bin/openshell-gateway"));
    expect(resolveFallbackGatewayBinary({ openshellPath: openshell, home, standardDirs })).toMatchObject({
      path: first,
    });
  });

  it("reports not found with what it searched", () => {
    const result = resolveFallbackGatewayBinary({ openshellPath: null, home, standardDirs });
    expect(result.ok).toBe(false);
    expect(result.ok ? "" : result.reason).toContain(path.join(usrBin, "openshell-gateway"));
  });
});

describe("resolveMarkerGatewayBinary (real processes)", () => {
  let stateDir: string;
  let markerPath: string;
  let gatewayBin: string;

  function marker(pid: number, bin = gatewayBin): RuntimeMarker {
    return {
      version: 1,
      pid,
      driver: "docker",
      platform: "linux",
      arch: "x64",
      endpoint: "http://127.0.0.1:8080",
      gatewayBin: bin,
      openshellVersion: "0.0.44",
      dockerHost: null,
      createdAt: new Date().toISOString(),
    };
  }

  beforeEach(() => {
    stateDir = path.join(tmp, "state");
    markerPath = path.join(stateDir, "runtime.json");
    gatewayBin = exe(path.join(tmp, "openshell", "bin", "openshell-gateway"));
  });

  it("accepts a live wrapper-like process whose argv0 is the marker's gatewayBin", async () => {
    const pid = track(spawn("sleep", ["30"], { argv0: gatewayBin, stdio: "ignore" }));
    await waitFor(() => processIsBinary(pid, gatewayBin).match);
    writeRuntimeMarker(stateDir, marker(pid));
    const result = resolveMarkerGatewayBinary({ markerPath });
    expect(result).toMatchObject({ ok: true, path: gatewayBin, pid, via: "argv0" });
  });

  it("accepts a live native gateway via exe", async () => {
    const native = path.join(dir("native"), "openshell-gateway");
    fs.copyFileSync("/usr/bin/sleep", native);
    fs.chmodSync(native, 0o755);
    const pid = track(spawn(native, ["30"], { argv0: "openshell-gateway", stdio: "ignore" }));
    await waitFor(() => processIsBinary(pid, native).match);
    writeRuntimeMarker(stateDir, marker(pid, native));
    expect(resolveMarkerGatewayBinary({ markerPath })).toMatchObject({ ok: true, path: native, via: "exe" });
  });

  it("rejects a stale marker whose pid is dead", () => {
    const dead = spawnSync("true").pid;
    expect(readProcessState(dead)).toBe("dead");
    writeRuntimeMarker(stateDir, marker(dead));
    expect(resolveMarkerGatewayBinary({ markerPath })).toMatchObject({
      ok: false,
      markerStatus: "ok",
      reason: `marker pid ${dead} is not running`,
    });
  });

  it("rejects a live foreign process (a recycled pid)", async () => {
    const pid = track(spawn("sleep", ["30"], { stdio: "ignore" }));
    await waitFor(() => {
      try {
        return fs.readlinkSync(`/proc/${pid}/exe`).endsWith("sleep");
      } catch {
        return false;
      }
    });
    writeRuntimeMarker(stateDir, marker(pid));
    const result = resolveMarkerGatewayBinary({ markerPath });
    expect(result.ok).toBe(false);
    expect(result.ok ? "" : result.reason).toMatch(
      new RegExp(`^pid ${pid} is /\\S*sleep, not the marker's gateway binary$`),
    );
  });

  it("rejects a live process that only mentions gatewayBin in a later argument", async () => {
    const pid = track(
      spawn(process.execPath, ["-e", "setTimeout(() => {}, 30000)", gatewayBin], { stdio: "ignore" }),
    );
    await waitFor(() => fs.existsSync(`/proc/${pid}/cmdline`));
    writeRuntimeMarker(stateDir, marker(pid));
    expect(resolveMarkerGatewayBinary({ markerPath }).ok).toBe(false);
  });

  it("rejects a zombie whose argv0 was the gateway", async () => {
    const zombie = await startZombie(tracker, gatewayBin);
    writeRuntimeMarker(stateDir, marker(zombie.pid));
    expect(resolveMarkerGatewayBinary({ markerPath })).toMatchObject({
      ok: false,
      reason: `marker pid ${zombie.pid} is a zombie`,
    });
    await zombie.release();
    expect(resolveMarkerGatewayBinary({ markerPath })).toMatchObject({
      ok: false,
      reason: `marker pid ${zombie.pid} is not running`,
    });
  });

  it("rejects a marker naming our own pid", () => {
    writeRuntimeMarker(stateDir, marker(process.pid));
    expect(resolveMarkerGatewayBinary({ markerPath })).toMatchObject({
      ok: false,
      reason: `marker pid ${process.pid} cannot be a gateway`,
    });
  });

  it("passes marker absence and distrust through with short reasons", async () => {
    expect(resolveMarkerGatewayBinary({ markerPath })).toEqual({
      ok: false,
      markerStatus: "absent",
      reason: "no runtime marker",
    });
    const pid = track(spawn("sleep", ["30"], { argv0: gatewayBin, stdio: "ignore" }));
    await waitFor(() => processIsBinary(pid, gatewayBin).match);
    writeRuntimeMarker(stateDir, marker(pid));
    fs.chmodSync(markerPath, 0o660);
    expect(resolveMarkerGatewayBinary({ markerPath })).toEqual({
      ok: false,
      markerStatus: "untrusted",
      reason: "marker is group-writable",
    });
    fs.chmodSync(markerPath, 0o600);
    const otherUser = (process.getuid?.() ?? 0) + 1;
    expect(resolveMarkerGatewayBinary({ markerPath, uid: otherUser })).toMatchObject({
      ok: false,
      markerStatus: "untrusted",
    });
    fs.writeFileSync(markerPath, '{"version":1,"pid":"4242; rm -rf /"}');
    expect(resolveMarkerGatewayBinary({ markerPath })).toMatchObject({
      ok: false,
      markerStatus: "invalid",
      reason: expect.stringContaining('"pid"'),
    });
  });
});

describe("resolveMarkerGatewayBinary (fake /proc)", () => {
  const PID = 3_999_101;

  it("rejects a recycled pid whose exe and argv0 are another program", () => {
    const procRoot = dir("proc");
    const stateDir = path.join(tmp, "state");
    const gatewayBin = exe(path.join(tmp, "openshell", "bin", "openshell-gateway"));
    const other = exe(path.join(tmp, "usr", "bin", "python3"));
    const pidDir = dir("proc", String(PID));
    fs.writeFileSync(
      path.join(pidDir, "stat"),
      `${PID} (python3) S 1 ${PID} ${PID} 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 555 0 0\n`,
    );
    fs.symlinkSync(other, path.join(pidDir, "exe"));
    fs.writeFileSync(path.join(pidDir, "cmdline"), `${other}\0-m\0${gatewayBin}\0`);
    writeRuntimeMarker(stateDir, {
      version: 1,
      pid: PID,
      endpoint: "http://127.0.0.1:8080",
      gatewayBin,
      openshellVersion: "0.0.44",
      createdAt: "2026-07-01T12:00:00Z",
    });
    expect(
      resolveMarkerGatewayBinary({ markerPath: path.join(stateDir, "runtime.json"), procRoot }),
    ).toMatchObject({
      ok: false,
      reason: `pid ${PID} is ${other}, not the marker's gateway binary`,
    });
    // Same pid, now really the gateway (argv0 of a wrapper).
    fs.writeFileSync(path.join(pidDir, "cmdline"), `${gatewayBin}\0`);
    expect(
      resolveMarkerGatewayBinary({ markerPath: path.join(stateDir, "runtime.json"), procRoot }),
    ).toMatchObject({
      ok: true,
      via: "argv0",
      startTime: 555,
    });
  });
});
