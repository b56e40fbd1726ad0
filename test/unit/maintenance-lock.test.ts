import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { MaintenanceLock } from "../../src/adapters/maintenance-lock.js";
import { EnvironmentError } from "../../src/domain/errors.js";

describe("MaintenanceLock", () => {
  const dirs: string[] = [];
  const children: number[] = [];
  afterEach(() => {
    for (const pid of children.splice(0)) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // gone
      }
    }
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  function lockPath(): string {
    const dir = mkdtempSync(path.join(tmpdir(), "lock-"));
    dirs.push(dir);
    return path.join(dir, "locks", "maintenance.lock");
  }

  it("creates a 0600 JSON lock naming the holder, and releases it", () => {
    const file = lockPath();
    const lock = MaintenanceLock.acquire(file, { command: "backup-all" });
    const info = JSON.parse(readFileSync(file, "utf8"));
    expect(info).toMatchObject({ pid: process.pid, command: "backup-all" });
    expect(typeof info.hostname).toBe("string");
    expect(statSync(file).mode & 0o777).toBe(0o600);
    lock.release();
    expect(() => statSync(file)).toThrow();
    lock.release();
  });

  it("refuses a lock held by a live process with exit 4 naming the holder pid", () => {
    const file = lockPath();
    const child = spawn("sleep", ["30"]);
    children.push(child.pid as number);
    MaintenanceLock.acquire(file, { command: "upgrade-sandboxes", pid: child.pid });
    try {
      MaintenanceLock.acquire(file, { command: "backup-all" });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(EnvironmentError);
      expect((error as EnvironmentError).exitCode).toBe(4);
      expect((error as Error).message).toContain(`pid ${child.pid} (upgrade-sandboxes)`);
    }
  });

  it("reclaims a lock whose holder on this host is dead", async () => {
    const file = lockPath();
    const child = spawn("true");
    await new Promise((r) => child.on("exit", r));
    MaintenanceLock.acquire(file, { command: "backup-all", pid: child.pid });
    const lock = MaintenanceLock.acquire(file, { command: "restore" });
    expect(lock.reclaimed?.pid).toBe(child.pid);
    expect(JSON.parse(readFileSync(file, "utf8")).command).toBe("restore");
    lock.release();
  });

  it("never reclaims another host's lock or an unreadable one", () => {
    const file = lockPath();
    MaintenanceLock.acquire(file, { command: "backup-all", pid: 4_000_000, hostname: "other-host" });
    expect(() => MaintenanceLock.acquire(file, { command: "restore" })).toThrow(/other-host/);
    writeFileSync(file, "{garbage");
    expect(() => MaintenanceLock.acquire(file, { command: "restore" })).toThrow(/unreadable lock file/);
  });

  it("does not remove a lock that is no longer ours on release", () => {
    const file = lockPath();
    const lock = MaintenanceLock.acquire(file, { command: "backup-all" });
    rmSync(file);
    MaintenanceLock.acquire(file, { command: "restore", pid: 4_000_001, hostname: "x" });
    lock.release();
    expect(JSON.parse(readFileSync(file, "utf8")).command).toBe("restore");
  });
});
