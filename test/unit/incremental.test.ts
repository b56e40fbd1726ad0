import {
  chmodSync,
  existsSync,
  linkSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import {
  createStaging,
  hashTree,
  listBackups,
  previousForLinking,
  STAGING_OWN,
  scanTree,
  sealBackup,
  verifyBackup,
} from "../../src/adapters/backup-store.js";
import { type BackupManifest, linkable, type ManifestFile } from "../../src/domain/backup-manifest.js";

const A = "a".repeat(64);
const B = "b".repeat(64);

function file(p: string, sha256: string, size: number, mode = "0644", symlink?: string): ManifestFile {
  return { path: p, sha256, size, mode, ...(symlink !== undefined ? { symlink } : {}) };
}

describe("linkable (the hard-link rule)", () => {
  it("links regular files with a recorded mode and content; never symlinks, mode-less or empty entries", () => {
    expect(linkable(file("s/a", A, 10))).toBe(true);
    expect(linkable(file("s/l", A, 4, "0777", "targ"))).toBe(false);
    expect(linkable({ path: "s/n", sha256: B, size: 3 })).toBe(false);
    expect(linkable(file("s/e", A, 0))).toBe(false);
  });
});

/**
 * Hashes `staging` linking against the previous backup at `previousDir` (the merge join of the
 * real backup): its files in manifest order and what was linked.
 */
async function linkFromPrevious(staging: string, previousDir: string) {
  const previous = previousForLinking(previousDir);
  const files: ManifestFile[] = [];
  const result = { linkedFiles: 0, bytesLinked: 0 };
  try {
    await scanTree(
      staging,
      { exclude: STAGING_OWN, ...(previous ? { previous } : {}) },
      (f, _key, linked) => {
        files.push(f);
        if (linked) {
          result.linkedFiles++;
          result.bytesLinked += f.size;
        }
      },
    );
  } finally {
    previous?.close();
  }
  return { files, ...result };
}

describe("linkFromPrevious", () => {
  let root = "";
  afterEach(() => {
    if (root) rmSync(root, { recursive: true, force: true });
    root = "";
  });

  const manifestOf = (timestamp: string, files: ManifestFile[]): BackupManifest => ({
    version: 1,
    sandboxName: "alpha",
    timestamp,
    agentType: "openclaw",
    agentVersion: "1",
    stateDirs: ["/sandbox/.openclaw"],
    backedUpDirs: ["/sandbox/.openclaw"],
    absentDirs: [],
    files,
    complete: true,
  });

  function writeTree(dir: string, tree: Record<string, string | { data: string; mode: number }>): void {
    for (const [rel, spec] of Object.entries(tree)) {
      const at = path.join(dir, ".openclaw", rel);
      mkdirSync(path.dirname(at), { recursive: true });
      const { data, mode } = typeof spec === "string" ? { data: spec, mode: 0o644 } : spec;
      writeFileSync(at, data);
      chmodSync(at, mode);
    }
  }

  const TREE = {
    "a.txt": "alpha content",
    "deep/b.bin": "bravo content",
    "deep/c.sh": { data: "#!/bin/sh\n", mode: 0o755 },
  };

  async function previousBackup(tree: Parameters<typeof writeTree>[1] = TREE) {
    root = mkdtempSync(path.join(tmpdir(), "nemoclaw-incr-"));
    const ts = "2026-11-01T00-00-00-000Z";
    const staging = createStaging(root, "alpha", ts);
    writeTree(staging, tree);
    const files = await hashTree(staging, { sync: true });
    await sealBackup(staging, manifestOf(ts, files));
    const listing = listBackups(root, "alpha")[0];
    if (!listing?.manifest) throw new Error("no previous backup");
    return listing;
  }

  function stage(tree: Parameters<typeof writeTree>[1] = TREE) {
    const staging = createStaging(root, "alpha", "2026-11-02T00-00-00-000Z");
    writeTree(staging, tree);
    return { staging };
  }

  const ino = (p: string) => lstatSync(p).ino;

  it("links identical files, leaves the previous backup unchanged, and both verify", async () => {
    const previous = await previousBackup();
    const { staging } = stage();
    const { files, ...result } = await linkFromPrevious(staging, previous.path);
    expect(result).toEqual({ linkedFiles: 3, bytesLinked: 13 + 13 + 10 });
    for (const rel of ["a.txt", "deep/b.bin", "deep/c.sh"]) {
      expect(ino(path.join(staging, ".openclaw", rel))).toBe(ino(path.join(previous.path, ".openclaw", rel)));
      expect(statSync(path.join(previous.path, ".openclaw", rel)).nlink).toBe(2);
    }
    expect(statSync(path.join(previous.path, ".openclaw/deep/c.sh")).mode & 0o777).toBe(0o755);
    expect(readdirSync(path.join(staging, ".openclaw/deep")).sort()).toEqual(["b.bin", "c.sh"]);
    const sealed = await sealBackup(staging, manifestOf("2026-11-02T00-00-00-000Z", files));
    for (const listing of listBackups(root, "alpha")) expect((await verifyBackup(listing)).ok).toBe(true);
    // Self-contained: the older backup removed, the newer one still verifies.
    rmSync(previous.path, { recursive: true });
    const [newer] = listBackups(root, "alpha");
    expect(newer?.path).toBe(sealed);
    expect(newer && (await verifyBackup(newer)).ok).toBe(true);
  });

  it("copies a file whose mode or content changed", async () => {
    const previous = await previousBackup();
    const { staging } = stage({
      ...TREE,
      "a.txt": { data: "alpha content", mode: 0o600 },
      "deep/b.bin": "bravo CONTENT",
    });
    const result = await linkFromPrevious(staging, previous.path);
    expect(result.linkedFiles).toBe(1);
    expect(ino(path.join(staging, ".openclaw/a.txt"))).not.toBe(
      ino(path.join(previous.path, ".openclaw/a.txt")),
    );
    expect(ino(path.join(staging, ".openclaw/deep/b.bin"))).not.toBe(
      ino(path.join(previous.path, ".openclaw/deep/b.bin")),
    );
    expect(ino(path.join(staging, ".openclaw/deep/c.sh"))).toBe(
      ino(path.join(previous.path, ".openclaw/deep/c.sh")),
    );
    expect(statSync(path.join(staging, ".openclaw/a.txt")).mode & 0o777).toBe(0o600);
  });

  it("links only at the same path: a file moved since the previous backup is stored again", async () => {
    const previous = await previousBackup();
    const { staging } = stage({ "moved.txt": "alpha content", "deep/b.bin": "bravo content" });
    const result = await linkFromPrevious(staging, previous.path);
    expect(result.linkedFiles).toBe(1); // deep/b.bin
    expect(statSync(path.join(staging, ".openclaw/moved.txt")).nlink).toBe(1);
  });

  it("does not link to a previous file that no longer matches its own manifest entry", async () => {
    const previous = await previousBackup();
    writeFileSync(path.join(previous.path, ".openclaw/a.txt"), "alpha content, grown"); // size differs
    chmodSync(path.join(previous.path, ".openclaw/deep/c.sh"), 0o700); // mode differs
    rmSync(path.join(previous.path, ".openclaw/deep/b.bin")); // gone
    const { staging } = stage();
    const result = await linkFromPrevious(staging, previous.path);
    expect(result).toMatchObject({ linkedFiles: 0, bytesLinked: 0 });
    expect(readFileSync(path.join(staging, ".openclaw/a.txt"), "utf8")).toBe("alpha content");
    expect(statSync(path.join(staging, ".openclaw/deep/c.sh")).mode & 0o777).toBe(0o755);
  });

  it("does not link to a previous file modified after its backup was sealed, even at the same size", async () => {
    const previous = await previousBackup();
    const later = new Date(statSync(path.join(previous.path, "rebuild-manifest.json")).mtimeMs + 5000);
    writeFileSync(path.join(previous.path, ".openclaw/a.txt"), "ALPHA content"); // same size
    utimesSync(path.join(previous.path, ".openclaw/a.txt"), later, later);
    const { staging } = stage();
    const result = await linkFromPrevious(staging, previous.path);
    expect(result.linkedFiles).toBe(2);
    expect(readFileSync(path.join(staging, ".openclaw/a.txt"), "utf8")).toBe("alpha content");
  });

  it("proves the bytes: a previous file changed at the same size, mode and mtime is never linked to", async () => {
    // Size, mode and mtime are only a prefilter (SPEC §18): the bytes decide.
    const previous = await previousBackup();
    const old = path.join(previous.path, ".openclaw/a.txt");
    const before = statSync(old);
    writeFileSync(old, "ALPHA content"); // same size, other bytes
    utimesSync(old, before.atime, before.mtime);
    const { staging } = stage();
    const result = await linkFromPrevious(staging, previous.path);
    expect(result.linkedFiles).toBe(2);
    expect(ino(path.join(staging, ".openclaw/a.txt"))).not.toBe(ino(old));
    expect(readFileSync(path.join(staging, ".openclaw/a.txt"), "utf8")).toBe("alpha content");
  });

  it("proves the bytes of files larger than one read buffer by re-hashing the older file", async () => {
    const big = Buffer.alloc(3 * 1024 * 1024 + 5, 7).toString("latin1");
    const previous = await previousBackup({ ...TREE, "big.bin": big });
    const { staging } = stage({ ...TREE, "big.bin": big });
    expect((await linkFromPrevious(staging, previous.path)).linkedFiles).toBe(4);
    rmSync(staging, { recursive: true });
    // The same big file with one byte changed in the previous backup (size, mode, mtime kept).
    const old = path.join(previous.path, ".openclaw/big.bin");
    const before = statSync(old);
    writeFileSync(old, `${big.slice(0, -1)}x`, "latin1");
    utimesSync(old, before.atime, before.mtime);
    const again = stage({ ...TREE, "big.bin": big });
    expect((await linkFromPrevious(again.staging, previous.path)).linkedFiles).toBe(3);
    expect(ino(path.join(again.staging, ".openclaw/big.bin"))).not.toBe(ino(old));
  });

  it("never links through a previous directory that became a symlink", async () => {
    const previous = await previousBackup();
    const elsewhere = path.join(root, "elsewhere");
    renameSync(path.join(previous.path, ".openclaw/deep"), elsewhere);
    symlinkSync(elsewhere, path.join(previous.path, ".openclaw/deep"));
    const { staging } = stage();
    const result = await linkFromPrevious(staging, previous.path);
    expect(result.linkedFiles).toBe(1); // a.txt only
    expect(ino(path.join(staging, ".openclaw/deep/b.bin"))).not.toBe(ino(path.join(elsewhere, "b.bin")));
  });

  it("keeps the copy when the previous file already has 1,000 links, leaving no temp file", async () => {
    const previous = await previousBackup();
    const old = path.join(previous.path, ".openclaw/a.txt");
    const extra = path.join(root, "many-links");
    mkdirSync(extra);
    for (let i = 0; i < 999; i++) linkSync(old, path.join(extra, String(i)));
    const { staging } = stage();
    const result = await linkFromPrevious(staging, previous.path);
    expect(result.linkedFiles).toBe(2);
    expect(statSync(path.join(staging, ".openclaw/a.txt")).nlink).toBe(1);
    expect(readdirSync(path.join(staging, ".openclaw")).sort()).toEqual(["a.txt", "deep"]);
    const sealed = await sealBackup(staging, manifestOf("2026-11-02T00-00-00-000Z", result.files));
    expect(existsSync(sealed)).toBe(true);
    const [newer] = listBackups(root, "alpha");
    expect(newer && (await verifyBackup(newer)).ok).toBe(true);
  });

  it("never links a symlink", async () => {
    const previous = await previousBackup();
    symlinkSync("a.txt", path.join(previous.path, ".openclaw/ln"));
    const { staging } = stage();
    symlinkSync("a.txt", path.join(staging, ".openclaw/ln"));
    await linkFromPrevious(staging, previous.path);
    expect(lstatSync(path.join(staging, ".openclaw/ln")).isSymbolicLink()).toBe(true);
    expect(ino(path.join(staging, ".openclaw/ln"))).not.toBe(ino(path.join(previous.path, ".openclaw/ln")));
  });

  it("links against a previous backup of an older release (files not last, not re-sorted)", async () => {
    const previous = await previousBackup();
    const manifest = path.join(previous.path, "rebuild-manifest.json");
    const doc = JSON.parse(readFileSync(manifest, "utf8"));
    const { files, ...rest } = doc;
    const stat = statSync(manifest);
    // The older layout: files before the other keys, in reverse order, two-space indented.
    writeFileSync(manifest, JSON.stringify({ files: [...files].reverse(), ...rest }, null, 2));
    utimesSync(manifest, stat.atime, stat.mtime);
    const { staging } = stage();
    expect((await linkFromPrevious(staging, previous.path)).linkedFiles).toBe(3);
  });
});
