import {
  chmodSync,
  existsSync,
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
  linkFromPrevious,
  listBackups,
  sealBackup,
  verifyBackup,
} from "../../src/adapters/backup-store.js";
import { type BackupManifest, linkCandidates, type ManifestFile } from "../../src/domain/backup-manifest.js";

const A = "a".repeat(64);
const B = "b".repeat(64);

function file(p: string, sha256: string, size: number, mode = "0644", symlink?: string): ManifestFile {
  return { path: p, sha256, size, mode, ...(symlink !== undefined ? { symlink } : {}) };
}

describe("linkCandidates (the hard-link rule)", () => {
  it("links only on an exact match of content, size and mode", () => {
    const previous = [file("s/a", A, 10), file("s/b", B, 20, "0600")];
    const current = [
      file("s/a", A, 10), // identical
      file("s/b", B, 20, "0644"), // mode changed
      file("s/c", A, 11), // size differs
      file("s/d", "c".repeat(64), 10), // content differs
    ];
    const got = linkCandidates(current, previous);
    expect(got.map((c) => [c.entry.path, c.previous.path])).toEqual([["s/a", "s/a"]]);
  });

  it("links a file moved or copied to another path to the identical previous file", () => {
    const got = linkCandidates([file("s/new", A, 10)], [file("s/old", A, 10)]);
    expect(got.map((c) => c.previous.path)).toEqual(["s/old"]);
  });

  it("prefers the previous entry at the same path", () => {
    const previous = [file("s/x", A, 10), file("s/y", A, 10)];
    const got = linkCandidates([file("s/y", A, 10)], previous);
    expect(got[0]?.previous.path).toBe("s/y");
  });

  it("never links symlinks, entries without a recorded mode, or empty files", () => {
    const previous = [
      file("s/l", A, 4, "0777", "targ"),
      { path: "s/n", sha256: B, size: 3 },
      file("s/e", A, 0),
    ];
    const current = [
      file("s/l", A, 4, "0777", "targ"),
      { path: "s/n", sha256: B, size: 3 },
      file("s/e", A, 0),
    ];
    expect(linkCandidates(current, previous)).toEqual([]);
    // A regular file in the new backup is never linked to a symlink entry with the same hash.
    expect(linkCandidates([file("s/l", A, 4, "0777")], [file("s/l", A, 4, "0777", "targ")])).toEqual([]);
  });
});

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
    sealBackup(staging, manifestOf(ts, files));
    const listing = listBackups(root, "alpha")[0];
    if (!listing?.manifest) throw new Error("no previous backup");
    return listing;
  }

  async function stage(tree: Parameters<typeof writeTree>[1] = TREE) {
    const staging = createStaging(root, "alpha", "2026-11-02T00-00-00-000Z");
    writeTree(staging, tree);
    const files = await hashTree(staging, { sync: true });
    return { staging, files };
  }

  const ino = (p: string) => lstatSync(p).ino;

  it("links identical files, leaves the previous backup unchanged, and both verify", async () => {
    const previous = await previousBackup();
    const { staging, files } = await stage();
    const result = linkFromPrevious(
      staging,
      previous.path,
      linkCandidates(files, previous.manifest?.files ?? []),
    );
    expect(result).toEqual({ linkedFiles: 3, bytesLinked: 13 + 13 + 10 });
    for (const rel of ["a.txt", "deep/b.bin", "deep/c.sh"]) {
      expect(ino(path.join(staging, ".openclaw", rel))).toBe(ino(path.join(previous.path, ".openclaw", rel)));
      expect(statSync(path.join(previous.path, ".openclaw", rel)).nlink).toBe(2);
    }
    expect(statSync(path.join(previous.path, ".openclaw/deep/c.sh")).mode & 0o777).toBe(0o755);
    expect(readdirSync(path.join(staging, ".openclaw/deep")).sort()).toEqual(["b.bin", "c.sh"]);
    const sealed = sealBackup(staging, manifestOf("2026-11-02T00-00-00-000Z", files));
    for (const listing of listBackups(root, "alpha")) expect((await verifyBackup(listing)).ok).toBe(true);
    // Self-contained: the older backup removed, the newer one still verifies.
    rmSync(previous.path, { recursive: true });
    const [newer] = listBackups(root, "alpha");
    expect(newer?.path).toBe(sealed);
    expect(newer && (await verifyBackup(newer)).ok).toBe(true);
  });

  it("copies a file whose mode or content changed", async () => {
    const previous = await previousBackup();
    const { staging, files } = await stage({
      ...TREE,
      "a.txt": { data: "alpha content", mode: 0o600 },
      "deep/b.bin": "bravo CONTENT",
    });
    const result = linkFromPrevious(
      staging,
      previous.path,
      linkCandidates(files, previous.manifest?.files ?? []),
    );
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

  it("does not link to a previous file that no longer matches its own manifest entry", async () => {
    const previous = await previousBackup();
    writeFileSync(path.join(previous.path, ".openclaw/a.txt"), "alpha content, grown"); // size differs
    chmodSync(path.join(previous.path, ".openclaw/deep/c.sh"), 0o700); // mode differs
    rmSync(path.join(previous.path, ".openclaw/deep/b.bin")); // gone
    const { staging, files } = await stage();
    const result = linkFromPrevious(
      staging,
      previous.path,
      linkCandidates(files, previous.manifest?.files ?? []),
    );
    expect(result).toEqual({ linkedFiles: 0, bytesLinked: 0 });
    expect(readFileSync(path.join(staging, ".openclaw/a.txt"), "utf8")).toBe("alpha content");
    expect(statSync(path.join(staging, ".openclaw/deep/c.sh")).mode & 0o777).toBe(0o755);
  });

  it("does not link to a previous file modified after its backup was sealed, even at the same size", async () => {
    const previous = await previousBackup();
    const later = new Date(statSync(path.join(previous.path, "rebuild-manifest.json")).mtimeMs + 5000);
    writeFileSync(path.join(previous.path, ".openclaw/a.txt"), "ALPHA content"); // same size
    utimesSync(path.join(previous.path, ".openclaw/a.txt"), later, later);
    const { staging, files } = await stage();
    const result = linkFromPrevious(
      staging,
      previous.path,
      linkCandidates(files, previous.manifest?.files ?? []),
    );
    expect(result.linkedFiles).toBe(2);
    expect(readFileSync(path.join(staging, ".openclaw/a.txt"), "utf8")).toBe("alpha content");
  });

  it("never links through a previous directory that became a symlink", async () => {
    const previous = await previousBackup();
    const elsewhere = path.join(root, "elsewhere");
    renameSync(path.join(previous.path, ".openclaw/deep"), elsewhere);
    symlinkSync(elsewhere, path.join(previous.path, ".openclaw/deep"));
    const { staging, files } = await stage();
    const result = linkFromPrevious(
      staging,
      previous.path,
      linkCandidates(files, previous.manifest?.files ?? []),
    );
    expect(result.linkedFiles).toBe(1); // a.txt only
    expect(ino(path.join(staging, ".openclaw/deep/b.bin"))).not.toBe(ino(path.join(elsewhere, "b.bin")));
  });

  it("keeps the copy when the link fails with EXDEV (another filesystem), leaving no temp file", async () => {
    const previous = await previousBackup();
    const { staging, files } = await stage();
    const calls: string[] = [];
    const exdev = (existing: Buffer) => {
      calls.push(existing.toString());
      throw Object.assign(new Error("EXDEV: cross-device link not permitted"), { code: "EXDEV" });
    };
    const result = linkFromPrevious(
      staging,
      previous.path,
      linkCandidates(files, previous.manifest?.files ?? []),
      exdev,
    );
    expect(calls).toHaveLength(3);
    expect(result).toEqual({ linkedFiles: 0, bytesLinked: 0 });
    expect(statSync(path.join(staging, ".openclaw/a.txt")).nlink).toBe(1);
    expect(readdirSync(path.join(staging, ".openclaw")).sort()).toEqual(["a.txt", "deep"]);
    const sealed = sealBackup(staging, manifestOf("2026-11-02T00-00-00-000Z", files));
    expect(existsSync(sealed)).toBe(true);
    const [newer] = listBackups(root, "alpha");
    expect(newer && (await verifyBackup(newer)).ok).toBe(true);
  });

  it("never links a symlink", async () => {
    const previous = await previousBackup();
    symlinkSync("a.txt", path.join(previous.path, ".openclaw/ln"));
    const { staging } = await stage();
    symlinkSync("a.txt", path.join(staging, ".openclaw/ln"));
    const files = await hashTree(staging);
    const prevFiles = await hashTree(previous.path, { exclude: new Set(["rebuild-manifest.json"]) });
    const candidates = linkCandidates(files, prevFiles);
    expect(candidates.some((c) => c.entry.symlink !== undefined)).toBe(false);
    linkFromPrevious(staging, previous.path, candidates);
    expect(lstatSync(path.join(staging, ".openclaw/ln")).isSymbolicLink()).toBe(true);
    expect(ino(path.join(staging, ".openclaw/ln"))).not.toBe(ino(path.join(previous.path, ".openclaw/ln")));
  });
});
