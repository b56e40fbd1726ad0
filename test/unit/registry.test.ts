import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { processStartTime } from "../../src/adapters/process-identity.js";
import { readRegistry, updateRegistryEntry } from "../../src/adapters/registry.js";
import { lockInstanceId, RegistryLockHeld, registryLockHolder } from "../../src/adapters/registry-lock.js";
import { EnvironmentError } from "../../src/domain/errors.js";

describe("registry", () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  function file(content?: string): string {
    const dir = mkdtempSync(path.join(tmpdir(), "registry-"));
    dirs.push(dir);
    const f = path.join(dir, "sandboxes.json");
    if (content !== undefined) writeFileSync(f, content);
    return f;
  }

  it("treats a missing file as an empty registry", () => {
    expect(readRegistry(file()).names).toEqual([]);
  });

  it.each(["{", "[]", '{"sandboxes": []}', '{"sandboxes": {"a": 3}}', "null"])(
    "refuses %s with exit 4",
    (text) => {
      const f = file(text);
      expect(() => readRegistry(f)).toThrow(EnvironmentError);
      expect(() => readRegistry(f)).toThrow(f);
    },
  );

  it("updates one entry atomically and keeps every other field and unknown top-level keys", async () => {
    const doc = {
      defaultSandbox: "alpha",
      schemaRevision: 7,
      sandboxes: {
        alpha: {
          name: "alpha",
          agent: "openclaw",
          agentVersion: "2026.6.0",
          policy: { network: ["a", "b"] },
          gpu: true,
        },
        beta: { name: "beta", agent: "hermes", custom: 1 },
      },
      futureKey: { nested: [1, 2, 3] },
    };
    const f = file(JSON.stringify(doc));
    await updateRegistryEntry(f, "alpha", {
      agentVersion: "2026.7.1",
      nemoclawVersion: "0.1.0",
      imageTag: "img:2026.7.1",
    });
    const after = JSON.parse(readFileSync(f, "utf8"));
    expect(after).toEqual({
      ...doc,
      sandboxes: {
        ...doc.sandboxes,
        alpha: {
          ...doc.sandboxes.alpha,
          agentVersion: "2026.7.1",
          nemoclawVersion: "0.1.0",
          imageTag: "img:2026.7.1",
        },
      },
    });
    expect(statSync(f).mode & 0o777).toBe(0o600);
  });

  it("never writes when the file no longer parses, and leaves no registry lock behind", async () => {
    const f = file('{"sandboxes": {"alpha": {}}}');
    writeFileSync(f, "{broken");
    await expect(updateRegistryEntry(f, "alpha", { agentVersion: "1" })).rejects.toThrow(EnvironmentError);
    expect(readFileSync(f, "utf8")).toBe("{broken");
    expect(existsSync(`${f}.lock`)).toBe(false);
  });

  it("writes through a symlinked registry: the target is replaced, the link stays a link", async () => {
    const f = file();
    const target = path.join(path.dirname(f), "real-registry.json");
    writeFileSync(target, JSON.stringify({ sandboxes: { alpha: { agent: "openclaw" } } }), { mode: 0o600 });
    symlinkSync(target, f);
    await updateRegistryEntry(f, "alpha", { agentVersion: "2" });
    expect(lstatSync(f).isSymbolicLink()).toBe(true);
    expect(JSON.parse(readFileSync(target, "utf8")).sandboxes.alpha).toEqual({
      agent: "openclaw",
      agentVersion: "2",
    });
    // The lock sits beside the link (where NemoClaw looks), not beside the target.
    expect(existsSync(`${f}.lock`)).toBe(false);
  });

  describe("NemoClaw's registry lock (sandboxes.json.lock/)", () => {
    const registry = () => file(JSON.stringify({ sandboxes: { alpha: { agent: "openclaw" } } }));
    const holdLock = (f: string, owner: string, processStart?: string) => {
      mkdirSync(`${f}.lock`);
      writeFileSync(path.join(`${f}.lock`, "owner"), owner);
      if (processStart !== undefined) writeFileSync(path.join(`${f}.lock`, "process-start"), processStart);
    };

    it("waits for a live owner, then fails the step without writing (bounded)", async () => {
      const f = registry();
      holdLock(f, `${process.ppid}\n`);
      const started = Date.now();
      await expect(
        updateRegistryEntry(f, "alpha", { agentVersion: "2" }, { timeoutMs: 300, retryMs: 50 }),
      ).rejects.toThrow(RegistryLockHeld);
      expect(Date.now() - started).toBeGreaterThanOrEqual(280);
      expect(JSON.parse(readFileSync(f, "utf8")).sandboxes.alpha.agentVersion).toBeUndefined();
      expect(existsSync(`${f}.lock`)).toBe(true); // never broken while its owner lives
    });

    it("proceeds as soon as a live owner releases it", async () => {
      const f = registry();
      holdLock(f, `${process.ppid}\n`);
      setTimeout(() => rmSync(`${f}.lock`, { recursive: true, force: true }), 150);
      await updateRegistryEntry(f, "alpha", { agentVersion: "2" }, { timeoutMs: 3000, retryMs: 20 });
      expect(JSON.parse(readFileSync(f, "utf8")).sandboxes.alpha.agentVersion).toBe("2");
    });

    it("breaks a lock whose owner is dead", async () => {
      const f = registry();
      holdLock(f, "4194000\n");
      await updateRegistryEntry(f, "alpha", { agentVersion: "2" }, { timeoutMs: 200 });
      expect(JSON.parse(readFileSync(f, "utf8")).sandboxes.alpha.agentVersion).toBe("2");
      expect(existsSync(`${f}.lock`)).toBe(false);
    });

    it("breaks a lock whose pid was reused (recorded start tick differs)", async () => {
      const f = registry();
      holdLock(
        f,
        `${process.ppid}\n`,
        `${process.ppid} ${readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim()} 1\n`,
      );
      await updateRegistryEntry(f, "alpha", { agentVersion: "2" }, { timeoutMs: 200 });
      expect(JSON.parse(readFileSync(f, "utf8")).sandboxes.alpha.agentVersion).toBe("2");
    });

    it("breaks a lock without a readable owner only after 10 s (measured from its mtime)", async () => {
      const f = registry();
      mkdirSync(`${f}.lock`);
      await expect(
        updateRegistryEntry(f, "alpha", { agentVersion: "2" }, { timeoutMs: 150, retryMs: 50 }),
      ).rejects.toThrow(RegistryLockHeld);
      const old = new Date(Date.now() - 11_000);
      utimesSync(`${f}.lock`, old, old);
      await updateRegistryEntry(f, "alpha", { agentVersion: "2" }, { timeoutMs: 150 });
      expect(JSON.parse(readFileSync(f, "utf8")).sandboxes.alpha.agentVersion).toBe("2");
    });

    it("respects a live owner without process-start (cannot be judged) and names the exact rm -r", async () => {
      const f = registry();
      holdLock(f, `${process.ppid}\n`);
      const error = await updateRegistryEntry(
        f,
        "alpha",
        { agentVersion: "2" },
        { timeoutMs: 100, retryMs: 20 },
      ).then(
        () => null,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(RegistryLockHeld);
      expect((error as RegistryLockHeld).holder).toEqual({ pid: process.ppid, why: "unjudgeable" });
      expect((error as Error).message).toContain(
        `held by pid ${process.ppid}, which left no usable process-start`,
      );
      expect((error as Error).message).toMatch(new RegExp(`remove it: rm -r ${f}\\.lock$`));
      expect(existsSync(`${f}.lock`)).toBe(true);
      // The same with a process-start about another pid, or written without a boot id.
      rmSync(`${f}.lock`, { recursive: true });
      holdLock(f, `${process.ppid}\n`, `${process.ppid} unknown 0\n`);
      expect(registryLockHolder(`${f}.lock`)).toEqual({ pid: process.ppid, why: "unjudgeable" });
      rmSync(`${f}.lock`, { recursive: true });
      holdLock(f, `${process.ppid}\n`, `${process.pid} x 1\n`);
      expect(registryLockHolder(`${f}.lock`)).toEqual({ pid: process.ppid, why: "unjudgeable" });
    });

    it("a live owner whose process-start matches holds it; the rm is not offered", async () => {
      const f = registry();
      const boot = readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim();
      holdLock(f, `${process.ppid}\n`, `${process.ppid} ${boot} ${processStartTime(process.ppid)}\n`);
      expect(registryLockHolder(`${f}.lock`)).toEqual({ pid: process.ppid, why: "alive" });
      await expect(
        updateRegistryEntry(f, "alpha", { agentVersion: "2" }, { timeoutMs: 100, retryMs: 20 }),
      ).rejects.toThrow(/held by pid \d+ \(another nemoclaw tool is changing the registry\)$/);
    });

    it("never breaks through a claims directory that is a symlink; the message says why and gives the rm -r", async () => {
      const f = registry();
      holdLock(f, "4194000\n");
      const elsewhere = mkdtempSync(path.join(tmpdir(), "registry-elsewhere-"));
      writeFileSync(path.join(elsewhere, "precious"), "keep me");
      symlinkSync(elsewhere, `${f}.lock.breaks`);
      const error = await updateRegistryEntry(
        f,
        "alpha",
        { agentVersion: "2" },
        { timeoutMs: 100, retryMs: 20 },
      ).then(
        () => null,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(RegistryLockHeld);
      expect((error as Error).message).toContain("is stale but could not be removed");
      expect((error as Error).message).toMatch(/rm -r \S+sandboxes\.json\.lock$/);
      expect(readFileSync(path.join(elsewhere, "precious"), "utf8")).toBe("keep me");
      expect(readFileSync(path.join(`${f}.lock`, "owner"), "utf8")).toBe("4194000\n");
      rmSync(elsewhere, { recursive: true, force: true });
    });

    it("leaves a stale lock to a live process that claimed its removal; takes over a dead claimant's", async () => {
      const f = registry();
      holdLock(f, "4194000\n");
      const boot = readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim();
      const claims = path.join(`${f}.lock.breaks`, boot);
      mkdirSync(claims, { recursive: true });
      const claim = path.join(claims, `${lockInstanceId(`${f}.lock`)}.0`);
      // A live claimant (our parent) is removing it: we wait, and never remove it ourselves.
      writeFileSync(claim, `${process.ppid} ${processStartTime(process.ppid)}\n`);
      await expect(
        updateRegistryEntry(f, "alpha", { agentVersion: "2" }, { timeoutMs: 150, retryMs: 20 }),
      ).rejects.toThrow(/is stale but could not be removed/);
      expect(readFileSync(path.join(`${f}.lock`, "owner"), "utf8")).toBe("4194000\n");
      // The claimant died before finishing: the next claim (.1) is ours, and the lock is broken.
      writeFileSync(claim, "4194000 12345\n");
      await updateRegistryEntry(f, "alpha", { agentVersion: "2" }, { timeoutMs: 500, retryMs: 20 });
      expect(JSON.parse(readFileSync(f, "utf8")).sandboxes.alpha.agentVersion).toBe("2");
      expect(readFileSync(`${claim.slice(0, -2)}.1`, "utf8")).toBe(
        `${process.pid} ${processStartTime(process.pid)}\n`,
      );
      expect(existsSync(`${f}.lock`)).toBe(false);
      expect(readdirSync(claims).filter((n) => n.endsWith(".lock"))).toEqual([]);
    });

    it("release removes the lock only while it is still ours", async () => {
      const f = registry();
      const { withRegistryLock } = await import("../../src/adapters/registry-lock.js");
      await withRegistryLock(`${f}.lock`, {}, () => {
        // Someone else's lock replaces ours meanwhile (only a tool outside the protocol could).
        rmSync(`${f}.lock`, { recursive: true });
        holdLock(f, `${process.ppid}\n`);
      });
      expect(readFileSync(path.join(`${f}.lock`, "owner"), "utf8")).toBe(`${process.ppid}\n`);
    });

    it("holds the lock while writing: owner and process-start name this process (0600)", async () => {
      const f = registry();
      let seen: { owner: string; start: string; mode: number } | null = null;
      const { withRegistryLock } = await import("../../src/adapters/registry-lock.js");
      await withRegistryLock(`${f}.lock`, {}, () => {
        seen = {
          owner: readFileSync(path.join(`${f}.lock`, "owner"), "utf8"),
          start: readFileSync(path.join(`${f}.lock`, "process-start"), "utf8"),
          mode: statSync(path.join(`${f}.lock`, "owner")).mode & 0o777,
        };
      });
      expect(seen).not.toBeNull();
      const s = seen as unknown as { owner: string; start: string; mode: number };
      expect(s.owner).toBe(`${process.pid}\n`);
      expect(s.start).toMatch(new RegExp(`^${process.pid} [0-9a-f-]+ \\d+\\n$`));
      expect(s.mode).toBe(0o600);
      expect(existsSync(`${f}.lock`)).toBe(false);
    });
  });
});
