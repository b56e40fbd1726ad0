import { execFileSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import {
  chmodSync,
  existsSync,
  linkSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import {
  cleanStaging,
  createStaging,
  hashTree,
  listBackups,
  pruneBackups,
  StoreWriteError,
  sealBackup,
  uploadSource,
  verifyBackup,
  writingTo,
} from "../../src/adapters/backup-store.js";
import {
  type BackupManifest,
  backupTimestamp,
  MANIFEST_FILE,
  type SkippedEntry,
} from "../../src/domain/backup-manifest.js";

const sha = (data: string | Buffer) => createHash("sha256").update(data).digest("hex");

const TS = [
  "2026-07-01T10-00-00-000Z",
  "2026-07-02T10-00-00-000Z",
  "2026-07-03T10-00-00-000Z",
  "2026-07-04T10-00-00-000Z",
];

describe("backup-store", () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  function tempDir(prefix = "backup-store-"): string {
    const dir = mkdtempSync(path.join(tmpdir(), prefix));
    dirs.push(dir);
    return dir;
  }
  function put(root: string, rel: string, content: string | Buffer): void {
    const abs = path.join(root, rel);
    mkdirSync(path.dirname(abs), { recursive: true });
    writeFileSync(abs, content);
    chmodSync(abs, 0o644); // whatever the umask
  }

  /** A real backup made the way backup-all makes one: staging, files, hashTree(sync), seal. */
  async function makeBackup(
    root: string,
    sandbox: string,
    timestamp: string,
    files: Record<string, string> = { ".openclaw/config.json": '{"a":1}\n', ".openclaw/notes.md": "hi\n" },
  ): Promise<{ path: string; manifest: BackupManifest }> {
    const staging = createStaging(root, sandbox, timestamp);
    for (const [rel, content] of Object.entries(files)) put(staging, rel, content);
    const manifest: BackupManifest = {
      version: 1,
      sandboxName: sandbox,
      timestamp,
      agentType: "openclaw",
      agentVersion: "2026.7.1",
      stateDirs: ["/sandbox/.openclaw"],
      backedUpDirs: ["/sandbox/.openclaw"],
      absentDirs: [],
      files: await hashTree(staging, { sync: true }),
      complete: true,
      nemoclawVersion: "0.1.0",
    };
    return { path: await sealBackup(staging, manifest), manifest };
  }

  describe("hashTree", () => {
    it("hashes nested files, odd names, binary and empty files, sorted by path", async () => {
      const root = tempDir();
      const binary = Buffer.from([0, 1, 2, 255, 254, 0, 10, 13]);
      const content: Record<string, string | Buffer> = {
        "top.txt": "top\n",
        "a/b/c/deep.txt": "deep",
        "a/with space.txt": "spaced",
        "a/ünïcødé 文件.md": "unicode ✓",
        "bin/blob.bin": binary,
        empty: "",
        "Z-upper": "Z",
        "a.txt": "dot",
      };
      for (const [rel, data] of Object.entries(content)) put(root, rel, data);
      mkdirSync(path.join(root, "empty-dir/nested"), { recursive: true });

      const files = await hashTree(root);
      const expected = Object.entries(content)
        .map(([rel, data]) => ({ path: rel, size: Buffer.byteLength(data), sha256: sha(data), mode: "0644" }))
        .sort((x, y) => (x.path < y.path ? -1 : 1));
      expect(files).toEqual(expected);
      expect(files.map((f) => f.path)).toEqual(files.map((f) => f.path).sort());
      expect(files.find((f) => f.path === "empty")).toEqual({
        path: "empty",
        size: 0,
        sha256: sha(""),
        mode: "0644",
      });
    });

    it("records symlinks by target text and never follows them, even out of the tree", async () => {
      const outside = tempDir("outside-");
      writeFileSync(path.join(outside, "secret"), "do not read me");
      mkdirSync(path.join(outside, "dir"));
      // If the walk followed the directory link it would hit this FIFO and fail (or block).
      execFileSync("mkfifo", [path.join(outside, "dir", "fifo")]);

      const root = tempDir();
      put(root, "real.txt", "real");
      const fileTarget = path.join(outside, "secret");
      const dirTarget = path.join(outside, "dir");
      symlinkSync(fileTarget, path.join(root, "to-secret"));
      symlinkSync(dirTarget, path.join(root, "to-dir"));
      symlinkSync("real.txt", path.join(root, "relative"));
      symlinkSync("does/not/exist", path.join(root, "dangling"));

      const files = await hashTree(root);
      const link = (p: string, target: string) => ({
        path: p,
        size: Buffer.byteLength(target),
        sha256: sha(target),
        mode: "0777",
        symlink: target,
      });
      expect(files).toEqual([
        link("dangling", "does/not/exist"),
        { path: "real.txt", size: 4, sha256: sha("real"), mode: "0644" },
        link("relative", "real.txt"),
        link("to-dir", dirTarget),
        link("to-secret", fileTarget),
      ]);
      expect(files.some((f) => f.sha256 === sha("do not read me"))).toBe(false);
    });

    it("refuses a FIFO in the tree", async () => {
      const root = tempDir();
      put(root, "sub/ok.txt", "ok");
      execFileSync("mkfifo", [path.join(root, "sub", "pipe")]);
      await expect(hashTree(root)).rejects.toThrow("unsupported file type in backup: sub/pipe");
    });

    it("works with sync: true and reports every byte through onBytes", async () => {
      const root = tempDir();
      put(root, "a/one", "1".repeat(1000));
      put(root, "b/two", "22");
      let bytes = 0;
      const synced = await hashTree(root, { sync: true, onBytes: (n) => (bytes += n) });
      expect(synced).toEqual(await hashTree(root));
      expect(bytes).toBe(1002);
    });

    it("leaves out excluded relative paths, at the top and nested", async () => {
      const root = tempDir();
      put(root, MANIFEST_FILE, "{}");
      put(root, "keep/me", "k");
      put(root, "keep/not-me", "n");
      put(root, "skipdir/inner", "i");
      const files = await hashTree(root, { exclude: new Set([MANIFEST_FILE, "keep/not-me", "skipdir"]) });
      expect(files.map((f) => f.path)).toEqual(["keep/me"]);
    });

    it("hashes an empty tree to nothing", async () => {
      expect(await hashTree(tempDir())).toEqual([]);
    });

    it("streams a 20 MiB file to the same digest as hashing its bytes at once", async () => {
      const root = tempDir();
      const data = randomBytes(20 * 1024 * 1024);
      put(root, "big.bin", data);
      let calls = 0;
      const files = await hashTree(root, { onBytes: () => calls++ });
      expect(files).toEqual([{ path: "big.bin", size: data.length, sha256: sha(data), mode: "0644" }]);
      // Read in chunks, not in one piece.
      expect(calls).toBeGreaterThan(1);
    });

    it("fails on a missing root", async () => {
      await expect(hashTree(path.join(tempDir(), "nope"))).rejects.toThrow(/ENOENT/);
    });
  });

  describe("createStaging and sealBackup", () => {
    it("lists nothing before the seal and one complete, round-tripping backup after it", async () => {
      const root = path.join(tempDir(), "rebuild-backups");
      const timestamp = backupTimestamp(new Date("2026-07-01T12:34:56.789Z"));
      const staging = createStaging(root, "alpha", timestamp);
      expect(staging).toBe(path.join(root, "alpha", `.${timestamp}.partial`));
      expect(statSync(staging).mode & 0o777).toBe(0o700);
      expect(statSync(path.join(root, "alpha")).mode & 0o777).toBe(0o700);

      put(staging, ".openclaw/config.json", "{}\n");
      put(staging, ".openclaw/sub dir/ünï.txt", "x");
      symlinkSync("config.json", path.join(staging, ".openclaw", "link"));
      expect(listBackups(root)).toEqual([]);
      expect(listBackups(root, "alpha")).toEqual([]);

      const manifest: BackupManifest = {
        version: 1,
        sandboxName: "alpha",
        timestamp,
        agentType: "openclaw",
        agentVersion: "2026.7.1",
        stateDirs: ["/sandbox/.openclaw", "/sandbox/.extra"],
        backedUpDirs: ["/sandbox/.openclaw"],
        absentDirs: ["/sandbox/.extra"],
        files: await hashTree(staging, { sync: true }),
        complete: true,
        nemoclawVersion: "0.1.0",
      };
      // Staging is never listed, not even with a valid manifest in it: only the rename publishes.
      writeFileSync(path.join(staging, MANIFEST_FILE), JSON.stringify(manifest));
      expect(listBackups(root)).toEqual([]);
      const final = await sealBackup(staging, manifest);
      expect(final).toBe(path.join(root, "alpha", timestamp));
      expect(existsSync(staging)).toBe(false);
      expect(readdirSync(path.join(root, "alpha"))).toEqual([timestamp]);
      expect(readdirSync(final).sort()).toEqual([".openclaw", MANIFEST_FILE]);
      expect(statSync(path.join(final, MANIFEST_FILE)).mode & 0o777).toBe(0o600);
      // The same document, with the counts ahead of `files` (the streaming layout).
      const size = 3 + 1 + Buffer.byteLength("config.json");
      expect(JSON.parse(readFileSync(path.join(final, MANIFEST_FILE), "utf8"))).toEqual({
        ...manifest,
        fileCount: 3,
        fileBytes: size,
      });

      const listed = listBackups(root);
      expect(listed).toHaveLength(1);
      const { files: _files, ...header } = manifest;
      expect(listed[0]).toEqual({
        sandbox: "alpha",
        timestamp,
        path: final,
        complete: true,
        manifest: { ...header, fileCount: 3, fileBytes: size },
        size: 3 + 1 + Buffer.byteLength("config.json"),
        fileCount: 3,
        agentVersion: "2026.7.1",
      });
      expect(listBackups(root, "alpha")).toEqual(listed);
      expect((await verifyBackup(listed[0] as (typeof listed)[0])).ok).toBe(true);
    });

    it.each(["../x", "..", "", "Alpha", "a/b", "a_b", "-a", "a-", "a".repeat(64), "/abs"])(
      "createStaging refuses the sandbox name %j without creating anything",
      (name) => {
        const root = path.join(tempDir(), "rebuild-backups");
        expect(() => createStaging(root, name, TS[0] as string)).toThrow(/invalid sandbox name/);
        expect(existsSync(root)).toBe(false);
      },
    );

    it("createStaging refuses to reuse an existing staging directory", () => {
      const root = tempDir();
      createStaging(root, "alpha", TS[0] as string);
      expect(() => createStaging(root, "alpha", TS[0] as string)).toThrow(/EEXIST/);
    });
  });

  describe("listBackups", () => {
    it("lists newest first per sandbox, sandboxes in name order", async () => {
      const root = tempDir();
      for (const ts of [TS[1], TS[3], TS[0]] as string[]) await makeBackup(root, "beta", ts);
      await makeBackup(root, "alpha", TS[2] as string);
      expect(listBackups(root).map((b) => `${b.sandbox}@${b.timestamp}`)).toEqual([
        `alpha@${TS[2]}`,
        `beta@${TS[3]}`,
        `beta@${TS[1]}`,
        `beta@${TS[0]}`,
      ]);
      expect(listBackups(root, "beta").map((b) => b.timestamp)).toEqual([TS[3], TS[1], TS[0]]);
      expect(listBackups(root).every((b) => b.complete && b.corrupt === undefined)).toBe(true);
    });

    it("flags a timestamp directory with a missing, unparseable or foreign manifest as corrupt", async () => {
      const root = tempDir();
      const [t0, t1, t2, t3] = TS as [string, string, string, string];
      mkdirSync(path.join(root, "alpha", t0), { recursive: true });
      put(root, `alpha/${t1}/${MANIFEST_FILE}`, "{ truncated");
      const other = await makeBackup(root, "beta", t2);
      // A copy of beta's backup under alpha's name: it names another sandbox.
      mkdirSync(path.join(root, "alpha", t2));
      put(root, `alpha/${t2}/${MANIFEST_FILE}`, readFileSync(path.join(other.path, MANIFEST_FILE)));
      // alpha's own manifest, but moved to another timestamp.
      const moved = await makeBackup(root, "alpha", t0.replace("01T", "05T"));
      renameSync(moved.path, path.join(root, "alpha", t3));

      const listed = listBackups(root, "alpha");
      expect(listed.map((b) => [b.timestamp, b.complete, b.corrupt])).toEqual([
        [t3, false, "manifest names another sandbox or timestamp"],
        [t2, false, "manifest names another sandbox or timestamp"],
        [t1, false, expect.stringMatching(/not valid JSON/)],
        [t0, false, "manifest is missing"],
      ]);
      for (const b of listed) {
        expect(b.manifest).toBeUndefined();
        expect(b).toMatchObject({ size: 0, fileCount: 0, agentVersion: null });
      }
    });

    it("flags a manifest that is a directory as unreadable", () => {
      const root = tempDir();
      mkdirSync(path.join(root, "alpha", TS[0] as string, MANIFEST_FILE), { recursive: true });
      expect(listBackups(root)[0]?.corrupt).toBe("manifest unreadable (EISDIR)");
    });

    it("never lists staging, non-timestamp entries or invalid sandbox directories", async () => {
      const root = tempDir();
      await makeBackup(root, "alpha", TS[0] as string);
      createStaging(root, "alpha", TS[1] as string);
      mkdirSync(path.join(root, "alpha", `.${TS[2]}.partial`, ".openclaw"), { recursive: true });
      mkdirSync(path.join(root, "alpha", "latest"));
      mkdirSync(path.join(root, "alpha", "2026-07-01T10:00:00.000Z"));
      writeFileSync(path.join(root, "alpha", TS[3] as string), "a file, not a directory");
      symlinkSync(
        path.join(root, "alpha", TS[0] as string),
        path.join(root, "alpha", "2026-08-01T00-00-00-000Z"),
      );
      for (const bad of ["Bad_Name", ".hidden", "-x", "a..b"]) {
        mkdirSync(path.join(root, bad, TS[0] as string), { recursive: true });
      }
      writeFileSync(path.join(root, "stray-file"), "x");

      expect(listBackups(root).map((b) => `${b.sandbox}@${b.timestamp}`)).toEqual([`alpha@${TS[0]}`]);
    });

    it("returns nothing for a missing root or sandbox and refuses an invalid sandbox name", () => {
      const root = tempDir();
      expect(listBackups(path.join(root, "missing"))).toEqual([]);
      expect(listBackups(root, "ghost")).toEqual([]);
      expect(() => listBackups(root, "../x")).toThrow(/invalid sandbox name/);
    });
  });

  describe("verifyBackup", () => {
    async function listed(root: string) {
      const backup = await makeBackup(root, "alpha", TS[0] as string, {
        ".openclaw/a.txt": "aaaa",
        ".openclaw/sub/b.txt": "bbbb",
        ".openclaw/c.txt": "cccc",
      });
      const listing = listBackups(root, "alpha")[0];
      if (!listing) throw new Error("no listing");
      return { backup, listing };
    }

    it("passes an intact backup", async () => {
      const root = tempDir();
      const { listing } = await listed(root);
      expect(await verifyBackup(listing)).toEqual({
        ok: true,
        missing: [],
        changed: [],
        modeChanged: [],
        extra: [],
        checkedFiles: 3,
      });
    });

    it("reports a flipped byte as changed, a deleted file as missing and an added one as extra", async () => {
      const root = tempDir();
      const { backup, listing } = await listed(root);
      const victim = path.join(backup.path, ".openclaw/sub/b.txt");
      const bytes = readFileSync(victim);
      bytes[2] = (bytes[2] as number) ^ 1;
      writeFileSync(victim, bytes);
      expect(await verifyBackup(listing)).toMatchObject({ ok: false, changed: [".openclaw/sub/b.txt"] });

      unlinkSync(path.join(backup.path, ".openclaw/a.txt"));
      put(backup.path, ".openclaw/new.txt", "new");
      expect(await verifyBackup(listing)).toEqual({
        ok: false,
        missing: [".openclaw/a.txt"],
        changed: [".openclaw/sub/b.txt"],
        modeChanged: [],
        extra: [".openclaw/new.txt"],
        checkedFiles: 3,
      });
    });

    it("reports a file replaced by a symlink to identical content as changed", async () => {
      const root = tempDir();
      const { backup, listing } = await listed(root);
      const target = path.join(tempDir("outside-"), "c");
      writeFileSync(target, "cccc");
      unlinkSync(path.join(backup.path, ".openclaw/c.txt"));
      symlinkSync(target, path.join(backup.path, ".openclaw/c.txt"));
      expect((await verifyBackup(listing)).changed).toEqual([".openclaw/c.txt"]);
    });

    it("fails a backup whose manifest is corrupt, naming why", async () => {
      const root = tempDir();
      const { backup } = await listed(root);
      writeFileSync(path.join(backup.path, MANIFEST_FILE), '{"version": 1, "complete": false}');
      const listing = listBackups(root, "alpha")[0];
      expect(listing?.complete).toBe(false);
      const result = await verifyBackup(listing as NonNullable<typeof listing>);
      expect(result).toEqual({
        ok: false,
        corrupt: "manifest is not marked complete",
        missing: [],
        changed: [],
        modeChanged: [],
        extra: [],
        checkedFiles: 0,
      });
    });

    it("fails a backup whose manifest is missing", async () => {
      const root = tempDir();
      const { backup } = await listed(root);
      unlinkSync(path.join(backup.path, MANIFEST_FILE));
      const listing = listBackups(root, "alpha")[0];
      const result = await verifyBackup(listing as NonNullable<typeof listing>);
      expect(result).toMatchObject({ ok: false, corrupt: "manifest is missing" });
    });
  });

  describe("pruneBackups", () => {
    it("keeps the newest N complete backups and leaves corrupt ones and staging alone", async () => {
      const root = tempDir();
      const [t0, t1, t2, t3] = TS as [string, string, string, string];
      for (const ts of [t0, t2, t3]) await makeBackup(root, "alpha", ts);
      mkdirSync(path.join(root, "alpha", t1)); // corrupt: no manifest
      const staging = createStaging(root, "alpha", "2026-07-09T00-00-00-000Z");
      await makeBackup(root, "beta", t0);

      const removed = pruneBackups(root, "alpha", 2);
      expect(removed).toEqual([path.join(root, "alpha", t0)]);
      expect(readdirSync(path.join(root, "alpha")).sort()).toEqual(
        [t1, t2, t3, path.basename(staging)].sort(),
      );
      expect(listBackups(root, "alpha").map((b) => [b.timestamp, b.complete])).toEqual([
        [t3, true],
        [t2, true],
        [t1, false],
      ]);
      // Other sandboxes are untouched.
      expect(listBackups(root, "beta").map((b) => b.timestamp)).toEqual([t0]);
    });

    it("removes nothing when there are no more than N complete backups", async () => {
      const root = tempDir();
      await makeBackup(root, "alpha", TS[0] as string);
      await makeBackup(root, "alpha", TS[1] as string);
      expect(pruneBackups(root, "alpha", 2)).toEqual([]);
      expect(pruneBackups(root, "alpha", 5)).toEqual([]);
      expect(listBackups(root, "alpha")).toHaveLength(2);
    });

    it("keeps exactly one with N = 1", async () => {
      const root = tempDir();
      for (const ts of TS) await makeBackup(root, "alpha", ts);
      expect(pruneBackups(root, "alpha", 1)).toHaveLength(3);
      expect(readdirSync(path.join(root, "alpha"))).toEqual([TS[3]]);
    });
  });

  describe("cleanStaging", () => {
    it("removes only '.<name>.partial' directories of valid sandboxes", async () => {
      const root = tempDir();
      await makeBackup(root, "alpha", TS[0] as string);
      const s1 = createStaging(root, "alpha", TS[1] as string);
      put(s1, ".openclaw/half-downloaded", "x");
      const s2 = createStaging(root, "beta", TS[2] as string);
      mkdirSync(path.join(root, "alpha", "x.partial"));
      mkdirSync(path.join(root, "alpha", ".partial"));
      writeFileSync(path.join(root, "alpha", ".file.partial"), "a file");
      mkdirSync(path.join(root, "Bad_Name", ".x.partial"), { recursive: true });

      expect(cleanStaging(root).sort()).toEqual([s1, s2].sort());
      expect(readdirSync(path.join(root, "alpha")).sort()).toEqual(
        [".file.partial", ".partial", TS[0], "x.partial"].sort(),
      );
      expect(readdirSync(path.join(root, "beta"))).toEqual([]);
      expect(existsSync(path.join(root, "Bad_Name", ".x.partial"))).toBe(true);
      expect(listBackups(root, "alpha")).toHaveLength(1);
      expect(cleanStaging(root)).toEqual([]);
    });

    it("does nothing when the backups root does not exist", () => {
      expect(cleanStaging(path.join(tempDir(), "missing"))).toEqual([]);
    });
  });

  describe("fidelity (docs/design.md)", () => {
    it("records the 0777 bits of every file: setuid, setgid and sticky are not promised", async () => {
      const root = tempDir();
      const modes: Record<string, number> = {
        secret: 0o600,
        shared: 0o666,
        tool: 0o4755,
        group: 0o2750,
        sticky: 0o1777,
      };
      for (const [name, mode] of Object.entries(modes)) {
        put(root, `d/${name}`, name);
        chmodSync(path.join(root, "d", name), mode);
      }
      const files = await hashTree(root);
      expect(Object.fromEntries(files.map((f) => [f.path, f.mode]))).toEqual({
        "d/group": "0750",
        "d/secret": "0600",
        "d/shared": "0666",
        "d/sticky": "0777",
        "d/tool": "0755",
      });
    });

    it("lists FIFOs and sockets as skipped instead of failing, and hashes the rest", async () => {
      const root = tempDir();
      put(root, "d/keep.txt", "keep");
      execFileSync("mkfifo", [path.join(root, "d", "pipe")]);
      const server = createServer();
      const sock = path.join(root, "d", "agent.sock");
      await new Promise<void>((resolve) => server.listen(sock, resolve));
      try {
        const skipped: SkippedEntry[] = [];
        const files = await hashTree(root, { skipped });
        expect(files.map((f) => f.path)).toEqual(["d/keep.txt"]);
        expect(skipped).toEqual([
          { path: "d/agent.sock", type: "socket" },
          { path: "d/pipe", type: "fifo" },
        ]);
      } finally {
        server.close();
      }
    });

    it("records a name that is not valid UTF-8 as pathB64 of its exact bytes, and hashes it", async () => {
      const root = tempDir();
      const name = Buffer.from([0x62, 0x61, 0x64, 0xff, 0xfe]); // "bad" + invalid bytes
      mkdirSync(path.join(root, "d"));
      writeFileSync(Buffer.concat([Buffer.from(`${root}/d/`), name]), "odd", { mode: 0o644 });
      chmodSync(Buffer.concat([Buffer.from(`${root}/d/`), name]), 0o644);
      put(root, "d/plain", "plain");
      const files = await hashTree(root);
      const rel = Buffer.concat([Buffer.from("d/"), name]);
      expect(files).toContainEqual({
        pathB64: rel.toString("base64"),
        size: 3,
        sha256: sha("odd"),
        mode: "0644",
      });
      expect(files.find((f) => f.path === "d/plain")).toBeDefined();
      expect(files.every((f) => (f.path === undefined) !== (f.pathB64 === undefined))).toBe(true);
    });

    it("hashes names with a leading BOM or a backslash under their exact bytes", async () => {
      const root = tempDir();
      put(root, "d/\uFEFFbom", "b");
      put(root, "d/back\\slash", "s");
      const files = await hashTree(root);
      expect(files.find((f) => f.path === "d/\uFEFFbom")?.sha256).toBe(sha("b"));
      expect(files.find((f) => f.pathB64 === Buffer.from("d/back\\slash").toString("base64"))?.sha256).toBe(
        sha("s"),
      );
    });

    it("a backup with odd names, modes and special files verifies intact, and a chmod fails it", async () => {
      const root = tempDir();
      const staging = createStaging(root, "alpha", TS[0] as string);
      put(staging, ".openclaw/creds.json", "{}");
      chmodSync(path.join(staging, ".openclaw/creds.json"), 0o600);
      writeFileSync(Buffer.concat([Buffer.from(`${staging}/.openclaw/`), Buffer.from([0xc3, 0x28])]), "x");
      const skipped: SkippedEntry[] = [];
      const manifest: BackupManifest = {
        version: 1,
        sandboxName: "alpha",
        timestamp: TS[0] as string,
        agentType: "openclaw",
        agentVersion: null,
        stateDirs: ["/sandbox/.openclaw"],
        backedUpDirs: ["/sandbox/.openclaw"],
        absentDirs: [],
        files: await hashTree(staging, { sync: true, skipped }),
        skipped,
        complete: true,
      };
      const final = await sealBackup(staging, manifest);
      const listing = listBackups(root, "alpha")[0];
      expect(listing?.complete).toBe(true);
      expect((await verifyBackup(listing as NonNullable<typeof listing>)).ok).toBe(true);

      chmodSync(path.join(final, ".openclaw/creds.json"), 0o666);
      expect(await verifyBackup(listing as NonNullable<typeof listing>)).toMatchObject({
        ok: false,
        changed: [],
        modeChanged: [".openclaw/creds.json"],
      });
    });

    it("reports a FIFO planted in a backup directory as extra", async () => {
      const root = tempDir();
      const backup = await makeBackup(root, "alpha", TS[0] as string);
      execFileSync("mkfifo", [path.join(backup.path, ".openclaw", "planted")]);
      const listing = listBackups(root, "alpha")[0] as NonNullable<ReturnType<typeof listBackups>[0]>;
      expect(await verifyBackup(listing)).toMatchObject({ ok: false, extra: [".openclaw/planted"] });
    });

    it("stores hard links as separate files with the same content", async () => {
      const root = tempDir();
      put(root, "d/one", "shared");
      linkSync(path.join(root, "d/one"), path.join(root, "d/two"));
      const files = await hashTree(root);
      expect(files.map((f) => [f.path, f.sha256])).toEqual([
        ["d/one", sha("shared")],
        ["d/two", sha("shared")],
      ]);
    });

    it("lists a backup whose stored state dir is a symlink as corrupt", async () => {
      const root = tempDir();
      const backup = await makeBackup(root, "alpha", TS[0] as string);
      const elsewhere = tempDir("elsewhere-");
      renameSync(path.join(backup.path, ".openclaw"), path.join(elsewhere, ".openclaw"));
      symlinkSync(path.join(elsewhere, ".openclaw"), path.join(backup.path, ".openclaw"));
      const listing = listBackups(root, "alpha")[0];
      expect(listing).toMatchObject({
        complete: false,
        corrupt: "stored state directory .openclaw is a symlink",
      });
      expect(() => uploadSource(backup.path, "/sandbox/.openclaw")).toThrow(
        /not a directory inside the backup/,
      );
    });

    it("uploadSource accepts the real stored directory", async () => {
      const root = tempDir();
      const backup = await makeBackup(root, "alpha", TS[0] as string);
      expect(uploadSource(backup.path, "/sandbox/.openclaw")).toBe(path.join(backup.path, ".openclaw"));
      expect(() => uploadSource(backup.path, "/sandbox/.missing")).toThrow(/missing/);
    });

    it("reports a backup removed while it is verified as vanished, not as an error", async () => {
      const root = tempDir();
      const backup = await makeBackup(root, "alpha", TS[0] as string);
      const listing = listBackups(root, "alpha")[0] as NonNullable<ReturnType<typeof listBackups>[0]>;
      rmSync(backup.path, { recursive: true, force: true });
      expect(await verifyBackup(listing)).toMatchObject({ ok: false, vanished: true });
    });

    it("names the path a failed write was for", () => {
      const error = Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" });
      expect(() =>
        writingTo("/backups/alpha/x", () => {
          throw error;
        }),
      ).toThrow(new StoreWriteError("/backups/alpha/x", error));
      expect(new StoreWriteError("/b/x", error).message).toBe(
        "cannot write /b/x: no space left on device (ENOSPC)",
      );
    });
  });
});
