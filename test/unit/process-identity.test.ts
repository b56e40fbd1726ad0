import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  isPlausiblePid,
  isSameProcessInstance,
  isValidPid,
  PID_MAX_LIMIT,
  parseProcStat,
  processIsBinary,
  processStartTime,
  readProcessState,
} from "../../src/adapters/process-identity.js";
import { ChildTracker, startZombie, waitFor } from "./support/child-processes.js";

// Fake pids far from anything this test process could be.
const PID = 3_999_001;
const OTHER_PID = 3_999_002;

let tmp: string;
let procRoot: string;
let gw: string;
const tracker = new ChildTracker();
const track = (child: ChildProcess): number => tracker.track(child);

function statLine(pid: number, comm: string, state: string, startTime = 12_345): string {
  // Fields 4..22 after the state: ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
  // utime stime cutime cstime priority nice threads itrealvalue starttime, then the rest.
  return `${pid} (${comm}) ${state} 1 ${pid} ${pid} 0 -1 4194560 100 0 0 0 1 1 0 0 20 0 1 0 ${startTime} 1000000 100 18446744073709551615\n`;
}

interface FakeProc {
  comm?: string;
  state?: string;
  startTime?: number;
  stat?: string;
  exe?: string;
  cwd?: string;
  cmdline?: string[];
}

function fakeProc(pid: number, spec: FakeProc): void {
  const dir = path.join(procRoot, String(pid));
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(
    path.join(dir, "stat"),
    spec.stat ?? statLine(pid, spec.comm ?? "openshell-gatew", spec.state ?? "S", spec.startTime),
  );
  if (spec.exe !== undefined) fs.symlinkSync(spec.exe, path.join(dir, "exe"));
  if (spec.cwd !== undefined) fs.symlinkSync(spec.cwd, path.join(dir, "cwd"));
  if (spec.cmdline !== undefined) fs.writeFileSync(path.join(dir, "cmdline"), `${spec.cmdline.join("\0")}\0`);
}

function makeExecutable(p: string, content = "#!/bin/sh\nexec sleep 30\n"): string {
  fs.mkdirSync(path.dirname(p), { recursive: true });
  fs.writeFileSync(p, content, { mode: 0o755 });
  return p;
}

beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "nemoclaw-proc-"));
  procRoot = path.join(tmp, "proc");
  fs.mkdirSync(procRoot);
  gw = makeExecutable(path.join(tmp, "bin", "openshell-gateway"));
});

afterEach(async () => {
  await tracker.stopAll();
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe("parseProcStat", () => {
  it("reads state, ppid, process group and start time", () => {
    expect(parseProcStat(statLine(4242, "sleep", "S", 777))).toEqual({
      pid: 4242,
      comm: "sleep",
      state: "S",
      ppid: 1,
      pgrp: 4242,
      startTime: 777,
    });
  });

  it("parses after the LAST parenthesis, whatever the comm contains", () => {
    expect(parseProcStat(statLine(4242, "(my) gw)", "S"))).toMatchObject({ comm: "(my) gw)", state: "S" });
    expect(parseProcStat(statLine(4242, "a) Z (b", "S"))).toMatchObject({ comm: "a) Z (b", state: "S" });
    expect(parseProcStat(statLine(4242, "x) S (y", "Z"))).toMatchObject({ state: "Z" });
    expect(parseProcStat(statLine(4242, "two words", "R"))).toMatchObject({ comm: "two words", state: "R" });
  });

  it("rejects garbage", () => {
    expect(parseProcStat("")).toBeNull();
    expect(parseProcStat("4242 sleep S 1")).toBeNull();
    expect(parseProcStat("abc (sleep) S 1 2 3")).toBeNull();
    expect(parseProcStat("4242 (sleep) S 1 2 3")).toBeNull(); // truncated: no field 22
    expect(parseProcStat("4242 (sleep) SS 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20")).toBeNull();
  });
});

describe("isValidPid", () => {
  it("accepts ordinary pids", () => {
    expect(isValidPid(4242)).toBe(true);
    expect(isValidPid(2)).toBe(true);
    expect(isValidPid(PID_MAX_LIMIT)).toBe(true);
  });

  it("rejects anything else", () => {
    for (const bad of [
      "4242",
      "4242; rm -rf /",
      4242.5,
      -1,
      0,
      1,
      PID_MAX_LIMIT + 1,
      2 ** 53,
      Number.NaN,
      Number.POSITIVE_INFINITY,
      null,
      undefined,
      [4242],
      { pid: 4242 },
      4242n,
    ]) {
      expect(isValidPid(bad), String(bad)).toBe(false);
    }
  });

  it("rejects our own pid, which isPlausiblePid allows", () => {
    expect(isPlausiblePid(process.pid)).toBe(true);
    expect(isValidPid(process.pid)).toBe(false);
  });
});

describe("readProcessState (fake /proc)", () => {
  it("maps running states to alive", () => {
    for (const [i, state] of ["R", "S", "D", "T", "t", "I"].entries()) {
      fakeProc(PID + i, { state });
      expect(readProcessState(PID + i, procRoot), state).toBe("alive");
    }
  });

  it("maps Z to zombie, X to dead, a missing entry to dead", () => {
    fakeProc(PID, { state: "Z" });
    fakeProc(OTHER_PID, { state: "X" });
    expect(readProcessState(PID, procRoot)).toBe("zombie");
    expect(readProcessState(OTHER_PID, procRoot)).toBe("dead");
    expect(readProcessState(PID + 10, procRoot)).toBe("dead");
  });

  it("is not fooled by a comm that spells another state", () => {
    fakeProc(PID, { comm: "a) S (b", state: "Z" });
    fakeProc(OTHER_PID, { comm: "a) Z (b", state: "S" });
    expect(readProcessState(PID, procRoot)).toBe("zombie");
    expect(readProcessState(OTHER_PID, procRoot)).toBe("alive");
  });

  it("treats a present but unparseable entry as alive (never reclaim what we cannot read)", () => {
    fakeProc(PID, { stat: "garbage" });
    expect(readProcessState(PID, procRoot)).toBe("alive");
  });

  it("treats impossible pids as dead", () => {
    expect(readProcessState(0, procRoot)).toBe("dead");
    expect(readProcessState(-5, procRoot)).toBe("dead");
    expect(readProcessState(1.5, procRoot)).toBe("dead");
  });
});

describe("processStartTime (fake /proc)", () => {
  it("returns field 22 of a live process", () => {
    fakeProc(PID, { startTime: 987_654 });
    expect(processStartTime(PID, procRoot)).toBe(987_654);
    expect(isSameProcessInstance(PID, 987_654, procRoot)).toBe(true);
    expect(isSameProcessInstance(PID, 987_655, procRoot)).toBe(false);
  });

  it("returns null for zombies, dead pids and invalid input", () => {
    fakeProc(PID, { state: "Z" });
    expect(processStartTime(PID, procRoot)).toBeNull();
    expect(processStartTime(OTHER_PID, procRoot)).toBeNull();
    expect(processStartTime(1, procRoot)).toBeNull();
    expect(isSameProcessInstance(OTHER_PID, 12_345, procRoot)).toBe(false);
  });
});

describe("processIsBinary (fake /proc)", () => {
  it("matches on exe", () => {
    fakeProc(PID, { exe: gw, cmdline: ["openshell-gateway"] });
    expect(processIsBinary(PID, gw, procRoot)).toEqual({ match: true, via: "exe", startTime: 12_345 });
  });

  it("compares realpaths: a symlinked binary path matches its target", () => {
    const link = path.join(tmp, "links", "openshell-gateway");
    fs.mkdirSync(path.dirname(link));
    fs.symlinkSync(gw, link);
    fakeProc(PID, { exe: gw });
    expect(processIsBinary(PID, link, procRoot)).toMatchObject({ match: true, via: "exe" });
  });

  it("matches a wrapper on absolute argv0 when exe is the interpreter", () => {
    fakeProc(PID, { exe: process.execPath, cmdline: [gw, "--port", "8080"] });
    expect(processIsBinary(PID, gw, procRoot)).toMatchObject({ match: true, via: "argv0" });
  });

  it("resolves a relative argv0 against the cwd link", () => {
    fakeProc(PID, { exe: process.execPath, cwd: tmp, cmdline: ["bin/openshell-gateway"] });
    fakeProc(OTHER_PID, {
      exe: process.execPath,
      cwd: path.join(tmp, "bin"),
      cmdline: ["./openshell-gateway"],
    });
    expect(processIsBinary(PID, gw, procRoot)).toMatchObject({ match: true, via: "argv0" });
    expect(processIsBinary(OTHER_PID, gw, procRoot)).toMatchObject({ match: true, via: "argv0" });
  });

  it("does not resolve a relative argv0 without a readable cwd", () => {
    fakeProc(PID, { exe: process.execPath, cmdline: ["bin/openshell-gateway"] });
    fakeProc(OTHER_PID, {
      exe: process.execPath,
      cwd: `${tmp} (deleted)`,
      cmdline: ["bin/openshell-gateway"],
    });
    expect(processIsBinary(PID, gw, procRoot)).toMatchObject({ match: false, code: "mismatch" });
    expect(processIsBinary(OTHER_PID, gw, procRoot)).toMatchObject({ match: false, code: "mismatch" });
  });

  it("never counts an argv0 without a slash, even if cwd holds the binary", () => {
    fakeProc(PID, { exe: process.execPath, cwd: path.join(tmp, "bin"), cmdline: ["openshell-gateway"] });
    expect(processIsBinary(PID, gw, procRoot)).toMatchObject({ match: false, code: "mismatch" });
  });

  it("never counts the path in a later argument", () => {
    const sleep = makeExecutable(path.join(tmp, "bin", "sleep"));
    fakeProc(PID, { exe: sleep, cmdline: [sleep, "30", gw] });
    fakeProc(OTHER_PID, { exe: process.execPath, cmdline: ["node", gw] });
    const result = processIsBinary(PID, gw, procRoot);
    expect(result).toMatchObject({ match: false, code: "mismatch", exe: sleep });
    expect(result.match ? "" : result.reason).toBe(`pid ${PID} is ${sleep}, not ${gw}`);
    expect(processIsBinary(OTHER_PID, gw, procRoot)).toMatchObject({ match: false, code: "mismatch" });
  });

  it("escapes an exe name that could forge diagnostic lines", () => {
    const evil = makeExecutable(path.join(tmp, "bin", "x\n\u001b[2Jok"));
    fakeProc(PID, { exe: evil });
    const result = processIsBinary(PID, gw, procRoot);
    expect(result).toMatchObject({ match: false, exe: evil });
    expect(result.match ? "" : result.reason).toBe(`pid ${PID} is ${JSON.stringify(evil)}, not ${gw}`);
  });

  it("does not match a recycled pid now running another program", () => {
    const other = makeExecutable(path.join(tmp, "usr", "bin", "python3"));
    fakeProc(PID, { comm: "python3", exe: other, cwd: tmp, cmdline: [other, "-m", "http.server"] });
    expect(processIsBinary(PID, gw, procRoot)).toMatchObject({ match: false, code: "mismatch", exe: other });
  });

  it("does not match another openshell-gateway binary at a different path", () => {
    const foreign = makeExecutable(path.join(tmp, "elsewhere", "openshell-gateway"));
    fakeProc(PID, { exe: foreign, cmdline: [foreign] });
    expect(processIsBinary(PID, gw, procRoot)).toMatchObject({ match: false, code: "mismatch" });
  });

  it("never matches an exe ending in ' (deleted)'", () => {
    // Even when a file by that literal name exists, so only the suffix rule can reject it.
    const literal = makeExecutable(path.join(tmp, "bin", "openshell-gateway (deleted)"));
    fakeProc(PID, { exe: literal });
    expect(processIsBinary(PID, literal, procRoot)).toMatchObject({ match: false, code: "mismatch" });
  });

  it("refuses zombies, even with a comm crafted to look alive", () => {
    fakeProc(PID, { comm: "(my) gw) S (", state: "Z", exe: gw, cmdline: [gw] });
    expect(processIsBinary(PID, gw, procRoot)).toMatchObject({ match: false, code: "zombie" });
  });

  it("matches a live process whose comm is crafted to look like a zombie", () => {
    fakeProc(PID, { comm: "gw) Z (x", state: "S", exe: gw });
    expect(processIsBinary(PID, gw, procRoot)).toMatchObject({ match: true, via: "exe" });
  });

  it("refuses a process that runs as another user, even with a matching exe", () => {
    fakeProc(PID, { exe: gw, cmdline: [gw] });
    const me = process.getuid?.() ?? 0;
    expect(processIsBinary(PID, gw, procRoot, { uid: me + 1 })).toEqual({
      match: false,
      code: "foreign-user",
      reason: `pid ${PID} runs as uid ${me}, not ${me + 1}`,
    });
    if (me === 0) {
      fs.chownSync(path.join(procRoot, String(PID)), 65_534, 65_534);
      expect(processIsBinary(PID, gw, procRoot)).toMatchObject({ match: false, code: "foreign-user" });
    }
  });

  it("reports dead, unreadable and invalid cases without throwing", () => {
    expect(processIsBinary(PID, gw, procRoot)).toMatchObject({ match: false, code: "dead" });
    fakeProc(PID, { stat: "not a stat line" });
    expect(processIsBinary(PID, gw, procRoot)).toMatchObject({ match: false, code: "unreadable" });
    fakeProc(OTHER_PID, {}); // no exe, no cmdline
    const noExe = processIsBinary(OTHER_PID, gw, procRoot);
    expect(noExe).toMatchObject({ match: false, code: "mismatch" });
    expect(noExe.match ? "" : noExe.reason).toContain("unreadable executable (ENOENT)");
    expect(processIsBinary(1, gw, procRoot)).toMatchObject({ match: false, code: "invalid" });
    expect(processIsBinary(process.pid, gw, procRoot)).toMatchObject({ match: false, code: "invalid" });
    expect(processIsBinary("4242" as unknown as number, gw, procRoot)).toMatchObject({ code: "invalid" });
    expect(processIsBinary(OTHER_PID, "bin/openshell-gateway", procRoot)).toMatchObject({ code: "invalid" });
    expect(processIsBinary(OTHER_PID, path.join(tmp, "nope", "openshell-gateway"), procRoot)).toMatchObject({
      code: "unreadable",
    });
  });
});

describe("against real processes", () => {
  it("reads our own process as alive with a stable start time", () => {
    expect(readProcessState(process.pid)).toBe("alive");
    const start = processStartTime(process.ppid);
    expect(start).toBeGreaterThan(0);
    expect(processStartTime(process.ppid)).toBe(start);
  });

  it("reads a reaped pid as dead", () => {
    const done = spawnSync("true");
    expect(done.pid).toBeGreaterThan(0);
    expect(readProcessState(done.pid)).toBe("dead");
    expect(processStartTime(done.pid)).toBeNull();
  });

  it("matches a live process on argv0 set by spawn", async () => {
    const pid = track(spawn("sleep", ["30"], { argv0: gw, stdio: "ignore" }));
    const result = await waitFor(() => {
      const r = processIsBinary(pid, gw);
      return r.match ? r : undefined;
    });
    expect(result.via).toBe("argv0");
    expect(result.startTime).toBe(processStartTime(pid));
    expect(isSameProcessInstance(pid, result.startTime)).toBe(true);
  });

  it("refuses a live process of another user that spoofs argv0", async () => {
    const me = process.getuid?.() ?? 0;
    // As root, really run it as nobody; otherwise judge our own process as if we were someone else.
    const child =
      me === 0 ? spawn("sleep", ["30"], { argv0: gw, uid: 65_534, gid: 65_534, stdio: "ignore" }) : null;
    const pid = child ? track(child) : track(spawn("sleep", ["30"], { argv0: gw, stdio: "ignore" }));
    const asUid = me === 0 ? me : me + 1;
    await waitFor(() => {
      try {
        return fs.readFileSync(`/proc/${pid}/cmdline`, "latin1").startsWith(gw);
      } catch {
        return false;
      }
    });
    expect(processIsBinary(pid, gw, undefined, { uid: asUid })).toMatchObject({
      match: false,
      code: "foreign-user",
    });
  });

  it("matches a live process on argv0 set by bash exec -a", async () => {
    // The path travels as $0, never through shell interpolation.
    const pid = track(spawn("bash", ["-c", 'exec -a "$0" sleep 30', gw], { stdio: "ignore" }));
    const result = await waitFor(() => {
      const r = processIsBinary(pid, gw);
      return r.match ? r : undefined;
    });
    expect(result.via).toBe("argv0");
  });

  it("matches a native binary on exe, and stops matching once the file is replaced", async () => {
    const native = path.join(tmp, "native", "openshell-gateway");
    fs.mkdirSync(path.dirname(native));
    fs.copyFileSync("/usr/bin/sleep", native);
    fs.chmodSync(native, 0o755);
    // argv0 without a slash, so only exe can identify it.
    const pid = track(spawn(native, ["30"], { argv0: "openshell-gateway", stdio: "ignore" }));
    const result = await waitFor(() => {
      const r = processIsBinary(pid, native);
      return r.match ? r : undefined;
    });
    expect(result.via).toBe("exe");

    // An in-place upgrade: the running image is now "<path> (deleted)".
    fs.unlinkSync(native);
    fs.copyFileSync("/usr/bin/sleep", native);
    fs.chmodSync(native, 0o755);
    expect(fs.readlinkSync(`/proc/${pid}/exe`)).toMatch(/ \(deleted\)$/);
    expect(processIsBinary(pid, native)).toMatchObject({ match: false, code: "mismatch" });
  });

  it("does not match a live process that only mentions the path in a later argument", async () => {
    const pid = track(
      spawn(process.execPath, ["-e", "setTimeout(() => {}, 30000)", gw], { stdio: "ignore" }),
    );
    await waitFor(() => fs.existsSync(`/proc/${pid}/cmdline`));
    expect(processIsBinary(pid, gw)).toMatchObject({ match: false, code: "mismatch" });
  });

  it("sees a real zombie as a zombie, and never as the binary", async () => {
    const zombie = await startZombie(tracker, gw);
    expect(readProcessState(zombie.pid)).toBe("zombie");
    expect(processStartTime(zombie.pid)).toBeNull();
    expect(processIsBinary(zombie.pid, gw)).toMatchObject({ match: false, code: "zombie" });
    // The liveness source that must not be used: signal 0 still succeeds on a zombie.
    expect(() => process.kill(zombie.pid, 0)).not.toThrow();
    await zombie.release();
    expect(readProcessState(zombie.pid)).toBe("dead");
  });
});
