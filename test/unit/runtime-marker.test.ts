import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  GATEWAY_PID_FILE,
  MARKER_SIZE_LIMIT,
  markerDirDistrust,
  markerFileDistrust,
  RUNTIME_MARKER_FILE,
  type RuntimeMarker,
  readRuntimeMarker,
  removeRuntimeMarker,
  validateRuntimeMarker,
  writeGatewayPidFile,
  writeRuntimeMarker,
} from "../../src/adapters/runtime-marker.js";

const uid = process.getuid?.() ?? 0;
const isRoot = uid === 0;
const FOREIGN_UID = 65_534;

let tmp: string;
let stateDir: string;
let markerPath: string;

function sampleMarker(overrides: Partial<RuntimeMarker> = {}): RuntimeMarker {
  return {
    version: 1,
    pid: 4242,
    driver: "docker",
    platform: "linux",
    arch: "x64",
    endpoint: "http://127.0.0.1:8080",
    desiredEnvHash: "a".repeat(64),
    gatewayBin: "/opt/openshell/bin/openshell-gateway",
    openshellVersion: "0.0.44",
    dockerHost: null,
    createdAt: "2026-07-01T12:00:00.000Z",
    ...overrides,
  };
}

/** Writes raw marker text into a private state dir, bypassing writeRuntimeMarker's validation. */
function plantMarker(content: string | Buffer, mode = 0o600): void {
  fs.mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  fs.writeFileSync(markerPath, content);
  fs.chmodSync(markerPath, mode);
}

function plantJson(value: unknown): void {
  plantMarker(JSON.stringify(value));
}

function modeOf(p: string): number {
  return fs.statSync(p).mode & 0o777;
}

beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "nemoclaw-marker-"));
  stateDir = path.join(tmp, "state", "openshell-docker-gateway");
  markerPath = path.join(stateDir, RUNTIME_MARKER_FILE);
});

afterEach(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe("writeRuntimeMarker / readRuntimeMarker", () => {
  it("round-trips, with dir 0700 and file 0600 and the documented key order", () => {
    writeRuntimeMarker(stateDir, sampleMarker());
    expect(modeOf(stateDir)).toBe(0o700);
    expect(modeOf(markerPath)).toBe(0o600);
    expect(Object.keys(JSON.parse(fs.readFileSync(markerPath, "utf8")))).toEqual([
      "version",
      "pid",
      "driver",
      "platform",
      "arch",
      "endpoint",
      "desiredEnvHash",
      "gatewayBin",
      "openshellVersion",
      "dockerHost",
      "createdAt",
    ]);
    expect(readRuntimeMarker(markerPath)).toEqual({ status: "ok", marker: sampleMarker() });
    // No temp file survives a successful write.
    expect(fs.readdirSync(stateDir)).toEqual([RUNTIME_MARKER_FILE]);
  });

  it("writes under a restrictive umask and tightens a loose existing directory", () => {
    fs.mkdirSync(stateDir, { recursive: true, mode: 0o755 });
    fs.chmodSync(stateDir, 0o755);
    const previous = process.umask(0o000);
    try {
      writeRuntimeMarker(stateDir, sampleMarker());
    } finally {
      process.umask(previous);
    }
    expect(modeOf(stateDir)).toBe(0o700);
    expect(modeOf(markerPath)).toBe(0o600);
  });

  it("replaces an existing marker atomically and leaves no temp files", () => {
    writeRuntimeMarker(stateDir, sampleMarker({ pid: 1111 }));
    const inodeBefore = fs.statSync(markerPath).ino;
    writeRuntimeMarker(stateDir, sampleMarker({ pid: 2222 }));
    const read = readRuntimeMarker(markerPath);
    expect(read.status === "ok" && read.marker.pid).toBe(2222);
    expect(fs.statSync(markerPath).ino).not.toBe(inodeBefore); // a rename, not an in-place rewrite
    expect(fs.readdirSync(stateDir)).toEqual([RUNTIME_MARKER_FILE]);
  });

  it("refuses to write an invalid marker and keeps the old one", () => {
    writeRuntimeMarker(stateDir, sampleMarker());
    const before = fs.readFileSync(markerPath, "utf8");
    expect(() => writeRuntimeMarker(stateDir, sampleMarker({ gatewayBin: "/usr/bin/sleep" }))).toThrow(
      /gatewayBin/,
    );
    expect(() => writeRuntimeMarker(stateDir, sampleMarker({ pid: 0 }))).toThrow(/pid/);
    expect(fs.readFileSync(markerPath, "utf8")).toBe(before);
    expect(fs.readdirSync(stateDir)).toEqual([RUNTIME_MARKER_FILE]);
  });

  it("refuses to write into a symlinked state directory", () => {
    const real = path.join(tmp, "real");
    fs.mkdirSync(real, { mode: 0o700 });
    fs.mkdirSync(path.dirname(stateDir), { recursive: true });
    fs.symlinkSync(real, stateDir);
    expect(() => writeRuntimeMarker(stateDir, sampleMarker())).toThrow(/symlink/);
    expect(fs.readdirSync(real)).toEqual([]);
  });
});

describe("writeGatewayPidFile / removeRuntimeMarker", () => {
  it("writes the pid file atomically with mode 0600", () => {
    writeGatewayPidFile(stateDir, 4242);
    const pidFile = path.join(stateDir, GATEWAY_PID_FILE);
    expect(fs.readFileSync(pidFile, "utf8")).toBe("4242\n");
    expect(modeOf(pidFile)).toBe(0o600);
    expect(modeOf(stateDir)).toBe(0o700);
  });

  it("refuses implausible pids", () => {
    for (const bad of [0, 1, -1, 4242.5, 2 ** 53, "4242" as unknown as number]) {
      expect(() => writeGatewayPidFile(stateDir, bad), String(bad)).toThrow(/invalid pid/);
    }
  });

  it("removes marker and pid file, tolerating either or both being absent", () => {
    writeRuntimeMarker(stateDir, sampleMarker());
    writeGatewayPidFile(stateDir, 4242);
    removeRuntimeMarker(stateDir);
    expect(fs.readdirSync(stateDir)).toEqual([]);
    expect(() => removeRuntimeMarker(stateDir)).not.toThrow();
    expect(() => removeRuntimeMarker(path.join(tmp, "never-created"))).not.toThrow();
    writeGatewayPidFile(stateDir, 4242);
    removeRuntimeMarker(stateDir);
    expect(fs.readdirSync(stateDir)).toEqual([]);
  });
});

describe("readRuntimeMarker: validation", () => {
  it("reports a missing marker or directory as absent", () => {
    expect(readRuntimeMarker(markerPath)).toEqual({ status: "absent" });
    fs.mkdirSync(stateDir, { recursive: true, mode: 0o700 });
    expect(readRuntimeMarker(markerPath)).toEqual({ status: "absent" });
  });

  it("rejects bad JSON with a one-line reason", () => {
    plantMarker('{"version": 1, "pid": \n\u001b[31m');
    const result = readRuntimeMarker(markerPath);
    expect(result.status).toBe("invalid");
    const reason = result.status === "invalid" ? result.reason : "";
    expect(reason).toMatch(/^marker is not valid JSON: /);
    // biome-ignore lint/suspicious/noControlCharactersInRegex: asserting control characters are gone
    expect(reason).not.toMatch(/[\u0000-\u001f]/);
  });

  it("rejects non-objects, invalid UTF-8 and oversized files", () => {
    for (const text of ["[]", "null", '"runtime"', "42"]) {
      plantMarker(text);
      expect(readRuntimeMarker(markerPath), text).toEqual({
        status: "invalid",
        reason: "marker is not a JSON object",
      });
    }
    plantMarker(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]));
    expect(readRuntimeMarker(markerPath)).toEqual({ status: "invalid", reason: "marker is not valid UTF-8" });
    plantMarker(`{"pad": "${"x".repeat(MARKER_SIZE_LIMIT)}"}`);
    expect(readRuntimeMarker(markerPath)).toMatchObject({
      status: "invalid",
      reason: expect.stringMatching(/larger/),
    });
  });

  const badFields: Array<[string, unknown]> = [
    ["version", 2],
    ["version", "1"],
    ["version", undefined],
    ["pid", "4242; rm -rf /"],
    ["pid", "4242"],
    ["pid", 4242.5],
    ["pid", -1],
    ["pid", 0],
    ["pid", 1],
    ["pid", 2 ** 53],
    ["pid", 1e300],
    ["pid", null],
    ["pid", [4242]],
    ["pid", undefined],
    ["gatewayBin", "openshell-gateway"],
    ["gatewayBin", "bin/openshell-gateway"],
    ["gatewayBin", "/usr/bin/sleep"],
    ["gatewayBin", "/opt/openshell-gateway-evil"],
    ["gatewayBin", "/opt/openshell-gateway/"],
    ["gatewayBin", "/opt/x\n/openshell-gateway"],
    ["gatewayBin", "/opt/x\u0000/openshell-gateway"],
    ["gatewayBin", 42],
    ["gatewayBin", undefined],
    ["endpoint", "ftp://127.0.0.1:8080"],
    ["endpoint", "127.0.0.1:8080"],
    ["endpoint", 8080],
    ["openshellVersion", 44],
    ["openshellVersion", ""],
    ["createdAt", undefined],
    ["createdAt", 1_720_000_000],
    ["driver", 1],
    ["platform", { os: "linux" }],
    ["arch", null],
    ["desiredEnvHash", ["abc"]],
    ["dockerHost", 5],
  ];

  it.each(badFields)("rejects %s = %j, naming the field", (field, value) => {
    const marker: Record<string, unknown> = { ...sampleMarker() };
    if (value === undefined) delete marker[field];
    else marker[field] = value;
    plantJson(marker);
    const result = readRuntimeMarker(markerPath);
    expect(result.status).toBe("invalid");
    const reason = result.status === "invalid" ? result.reason : "";
    expect(reason).toContain(`"${field}"`);
    expect(reason).not.toContain("\n");
  });

  it("accepts the minimal form, dockerHost as a string, and ignores unknown fields", () => {
    plantJson({
      version: 1,
      pid: 4242,
      endpoint: "https://gw.local:8443",
      gatewayBin: "/opt/openshell-gateway",
      openshellVersion: "0.0.4-dev.6+g2bf9969",
      createdAt: "2026-07-01T12:00:00Z",
      dockerHost: "unix:///var/run/docker.sock",
      somethingNew: { nested: true },
    });
    expect(readRuntimeMarker(markerPath)).toEqual({
      status: "ok",
      marker: {
        version: 1,
        pid: 4242,
        endpoint: "https://gw.local:8443",
        gatewayBin: "/opt/openshell-gateway",
        openshellVersion: "0.0.4-dev.6+g2bf9969",
        createdAt: "2026-07-01T12:00:00Z",
        dockerHost: "unix:///var/run/docker.sock",
      },
    });
  });

  it("validateRuntimeMarker reports the injection-looking pid verbatim but escaped", () => {
    const result = validateRuntimeMarker({ ...sampleMarker(), pid: "4242; rm -rf /" });
    expect(result).toEqual({
      ok: false,
      reason: 'marker field "pid" must be an integer pid between 2 and 4194304, got "4242; rm -rf /"',
    });
  });
});

describe("readRuntimeMarker: trust", () => {
  it("refuses a symlinked marker, even one pointing at a valid private marker", () => {
    const elsewhere = path.join(tmp, "elsewhere");
    writeRuntimeMarker(elsewhere, sampleMarker());
    fs.mkdirSync(stateDir, { recursive: true, mode: 0o700 });
    fs.symlinkSync(path.join(elsewhere, RUNTIME_MARKER_FILE), markerPath);
    expect(readRuntimeMarker(markerPath)).toEqual({ status: "untrusted", reason: "marker is a symlink" });
  });

  it("refuses a dangling symlink rather than calling it absent", () => {
    fs.mkdirSync(stateDir, { recursive: true, mode: 0o700 });
    fs.symlinkSync(path.join(tmp, "nowhere.json"), markerPath);
    expect(readRuntimeMarker(markerPath)).toEqual({ status: "untrusted", reason: "marker is a symlink" });
  });

  it("refuses group- and world-writable markers; read-only for others is fine", () => {
    plantJson(sampleMarker());
    fs.chmodSync(markerPath, 0o620);
    expect(readRuntimeMarker(markerPath)).toEqual({
      status: "untrusted",
      reason: "marker is group-writable",
    });
    fs.chmodSync(markerPath, 0o602);
    expect(readRuntimeMarker(markerPath)).toEqual({
      status: "untrusted",
      reason: "marker is world-writable",
    });
    fs.chmodSync(markerPath, 0o666);
    expect(readRuntimeMarker(markerPath).status).toBe("untrusted");
    fs.chmodSync(markerPath, 0o644);
    expect(readRuntimeMarker(markerPath).status).toBe("ok");
  });

  it("refuses a marker owned by another user", () => {
    plantJson(sampleMarker());
    if (isRoot) {
      fs.chownSync(markerPath, FOREIGN_UID, FOREIGN_UID);
      expect(readRuntimeMarker(markerPath)).toEqual({
        status: "untrusted",
        reason: `marker is owned by uid ${FOREIGN_UID}, not 0`,
      });
    }
    // Independent of privileges: the same file judged by a different current user.
    const otherUser = isRoot ? FOREIGN_UID + 1 : uid + 1;
    const owner = fs.statSync(markerPath).uid;
    expect(readRuntimeMarker(markerPath, { uid: otherUser })).toEqual({
      status: "untrusted",
      reason: `marker is owned by uid ${owner}, not ${otherUser}`,
    });
  });

  it("refuses a directory, a FIFO (without hanging) and other non-regular files", () => {
    fs.mkdirSync(markerPath, { recursive: true, mode: 0o700 });
    expect(readRuntimeMarker(markerPath)).toEqual({
      status: "untrusted",
      reason: "marker is not a regular file",
    });
    fs.rmdirSync(markerPath);
    expect(spawnSync("mkfifo", ["-m", "600", markerPath]).status).toBe(0);
    expect(readRuntimeMarker(markerPath)).toEqual({
      status: "untrusted",
      reason: "marker is not a regular file",
    });
  });

  it("refuses a marker in a group- or world-writable directory", () => {
    plantJson(sampleMarker());
    fs.chmodSync(stateDir, 0o770);
    expect(readRuntimeMarker(markerPath)).toEqual({
      status: "untrusted",
      reason: "marker directory is group-writable",
    });
    fs.chmodSync(stateDir, 0o1777);
    expect(readRuntimeMarker(markerPath)).toEqual({
      status: "untrusted",
      reason: "marker directory is world-writable",
    });
    fs.chmodSync(stateDir, 0o755);
    expect(readRuntimeMarker(markerPath).status).toBe("ok");
  });

  it("refuses a marker whose directory is a symlink", () => {
    const real = path.join(tmp, "real");
    writeRuntimeMarker(real, sampleMarker());
    fs.mkdirSync(path.dirname(stateDir), { recursive: true });
    fs.symlinkSync(real, stateDir);
    expect(readRuntimeMarker(markerPath)).toEqual({
      status: "untrusted",
      reason: "marker directory is a symlink",
    });
  });

  it("refuses a marker whose directory belongs to another user", () => {
    plantJson(sampleMarker());
    if (isRoot) {
      fs.chownSync(stateDir, FOREIGN_UID, FOREIGN_UID);
      expect(readRuntimeMarker(markerPath)).toEqual({
        status: "untrusted",
        reason: `marker directory is owned by uid ${FOREIGN_UID}, not 0`,
      });
    } else {
      expect(markerDirDistrust({ type: "directory", uid: uid + 1, mode: 0o40700 }, uid)).toBe(
        `marker directory is owned by uid ${uid + 1}, not ${uid}`,
      );
    }
  });

  it("trust predicates", () => {
    expect(markerFileDistrust({ type: "file", uid: 1000, mode: 0o100600 }, 1000)).toBeNull();
    expect(markerFileDistrust({ type: "file", uid: 0, mode: 0o100600 }, 1000)).toBe(
      "marker is owned by uid 0, not 1000",
    );
    expect(markerFileDistrust({ type: "symlink", uid: 1000, mode: 0o120777 }, 1000)).toBe(
      "marker is a symlink",
    );
    expect(markerFileDistrust({ type: "other", uid: 1000, mode: 0o010600 }, 1000)).toBe(
      "marker is not a regular file",
    );
    expect(markerDirDistrust({ type: "directory", uid: 0, mode: 0o40755 }, 1000)).toBeNull();
    expect(markerDirDistrust({ type: "file", uid: 1000, mode: 0o100700 }, 1000)).toBe(
      "marker directory is not a directory",
    );
  });
});
