import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { MaintenanceLock } from "../../src/adapters/maintenance-lock.js";
import { EnvironmentError } from "../../src/domain/errors.js";

function thrown(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(EnvironmentError);
    return (error as Error).message;
  }
  throw new Error("expected a throw");
}

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

  it("explains another host's lock and gives the exact rm, never reclaiming it", () => {
    const file = lockPath();
    MaintenanceLock.acquire(file, { command: "backup-all", pid: 4_000_000, hostname: "other-host" });
    const message = thrown(() =>
      MaintenanceLock.acquire(file, { command: "restore", hostname: "this-host" }),
    );
    expect(message).toContain("the lock was taken on host other-host, not on this host (this-host)");
    expect(message).toContain(
      `If you know no nemoclaw command is running on other-host, remove it: rm ${file}`,
    );
    expect(JSON.parse(readFileSync(file, "utf8")).hostname).toBe("other-host");
  });

  it("says wait for a live holder, and gives no rm", () => {
    const file = lockPath();
    const child = spawn("sleep", ["30"]);
    children.push(child.pid as number);
    MaintenanceLock.acquire(file, { command: "upgrade-sandboxes", pid: child.pid });
    const message = thrown(() => MaintenanceLock.acquire(file, { command: "backup-all" }));
    expect(message).toMatch(/wait for it to finish$/);
    expect(message).not.toContain("rm ");
  });

  it("recognises a live pid that started after the lock was taken as reused, and gives the rm", () => {
    const file = lockPath();
    const child = spawn("sleep", ["30"]);
    children.push(child.pid as number);
    // A lock written an hour before this process existed cannot be this process's lock.
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(
      file,
      JSON.stringify({
        pid: child.pid,
        command: "backup-all",
        hostname: hostname(),
        startedAt: new Date(Date.now() - 3_600_000).toISOString(),
      }),
    );
    const message = thrown(() => MaintenanceLock.acquire(file, { command: "restore" }));
    expect(message).toContain(`pid ${child.pid} is alive but started after the lock was taken`);
    expect(message).toContain(`remove it: rm ${file}`);
    expect(readFileSync(file, "utf8")).toContain('"backup-all"');
  });

  it("quotes an odd lock path in the rm it prints", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "lock it-"));
    dirs.push(dir);
    const file = path.join(dir, "maintenance.lock");
    writeFileSync(file, "{garbage");
    expect(thrown(() => MaintenanceLock.acquire(file, { command: "restore" }))).toContain(`rm '${file}'`);
  });

  it("a lock that cannot be created is exit 4 naming the file, not a crash", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "lock-"));
    dirs.push(dir);
    writeFileSync(path.join(dir, "locks"), "a file where the directory should be");
    const file = path.join(dir, "locks", "maintenance.lock");
    try {
      MaintenanceLock.acquire(file, { command: "backup-all" });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(EnvironmentError);
      expect((error as EnvironmentError).exitCode).toBe(4);
      expect((error as EnvironmentError).code).toBe("lock_unavailable");
      expect((error as Error).message).toContain(`cannot create the maintenance lock ${file}`);
    }
  });
});
