import { describe, expect, it } from "vitest";
import {
  type BackupManifest,
  backupTimestamp,
  compareTrees,
  isBackupTimestamp,
  isSafeRelativePath,
  isSandboxStateDir,
  type ManifestFile,
  parseManifest,
} from "../../src/domain/backup-manifest.js";

const SHA_A = "a".repeat(64);
const SHA_B = "b".repeat(64);

function manifest(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    version: 1,
    sandboxName: "alpha",
    timestamp: "2026-07-01T12-34-56-789Z",
    agentType: "openclaw",
    agentVersion: "2026.7.1",
    stateDirs: ["/sandbox/.openclaw", "/sandbox/.cache"],
    backedUpDirs: ["/sandbox/.openclaw"],
    absentDirs: ["/sandbox/.cache"],
    files: [
      { path: ".openclaw/config.json", size: 12, sha256: SHA_A },
      { path: ".openclaw/current", size: 9, sha256: SHA_B, symlink: "config.json" },
    ],
    complete: true,
    ...overrides,
  };
}

function reasonOf(text: string): string {
  const parsed = parseManifest(text);
  expect(parsed.ok).toBe(false);
  return parsed.ok ? "" : parsed.reason;
}

describe("backupTimestamp", () => {
  it("is the ISO time with ':' and '.' replaced by '-'", () => {
    const ts = backupTimestamp(new Date("2026-07-01T12:34:56.789Z"));
    expect(ts).toBe("2026-07-01T12-34-56-789Z");
    expect(ts).not.toMatch(/[:.]/);
    expect(isBackupTimestamp(ts)).toBe(true);
  });

  it("sorts as strings in the same order as the times", () => {
    const times = [
      "2026-07-01T12:34:56.789Z",
      "2025-12-31T23:59:59.999Z",
      "2026-07-01T12:34:56.790Z",
      "2026-01-02T00:00:00.000Z",
      "2026-07-01T09:00:00.000Z",
    ].map((t) => new Date(t));
    const byTime = [...times].sort((a, b) => a.getTime() - b.getTime()).map(backupTimestamp);
    const byString = times.map(backupTimestamp).sort();
    expect(byString).toEqual(byTime);
  });
});

describe("isBackupTimestamp", () => {
  it.each([
    ["2026-07-01T12-34-56-789Z", true],
    ["2026-07-01T12:34:56.789Z", false],
    ["2026-07-01T12-34-56Z", false],
    ["2026-07-01T12-34-56-789", false],
    [".2026-07-01T12-34-56-789Z.partial", false],
    ["2026-07-01T12-34-56-789Z/..", false],
    ["x2026-07-01T12-34-56-789Z", false],
    ["2026-07-01T12-34-56-789Z\n", false],
    ["latest", false],
    ["", false],
  ])("%j → %s", (name, expected) => {
    expect(isBackupTimestamp(name)).toBe(expected);
  });
});

describe("isSafeRelativePath", () => {
  it.each([".openclaw/config.json", "a", "a/b/c d/ünïcødé 文件.txt", "..hidden", "a/...", "a/b..c"])(
    "accepts %j",
    (p) => {
      expect(isSafeRelativePath(p)).toBe(true);
    },
  );

  it.each([
    "",
    "..",
    "../x",
    "a/../../x",
    "a/..",
    "/etc/passwd",
    "/",
    "a//b",
    "a/",
    "./a",
    "a/./b",
    "a\0b",
    "a\\b",
    "..\\x",
  ])("rejects %j", (p) => {
    expect(isSafeRelativePath(p)).toBe(false);
  });
});

describe("isSandboxStateDir", () => {
  it.each(["/sandbox/.openclaw", "/a", "/a/b c/d"])("accepts %j", (d) => {
    expect(isSandboxStateDir(d)).toBe(true);
  });

  it.each([
    "/",
    "",
    "sandbox/.openclaw",
    ".openclaw",
    "/sandbox/.openclaw/",
    "/sandbox/../etc",
    "/..",
    "/sandbox/./x",
    "//sandbox",
    "/sandbox//x",
    "/sandbox/a\0b",
  ])("rejects %j", (d) => {
    expect(isSandboxStateDir(d)).toBe(false);
  });

  it.each([null, undefined, 3, ["/a"], { dir: "/a" }])("rejects the non-string %j", (d) => {
    expect(isSandboxStateDir(d)).toBe(false);
  });
});

describe("parseManifest", () => {
  it("accepts a valid manifest and keeps unknown fields", () => {
    const doc = manifest({ nemoclawVersion: "0.1.0", futureField: { x: 1 } });
    const parsed = parseManifest(JSON.stringify(doc, null, 2));
    expect(parsed.ok).toBe(true);
    if (!parsed.ok) return;
    const m: BackupManifest = parsed.manifest;
    expect(m).toEqual(doc);
    expect(m.files[1]?.symlink).toBe("config.json");
  });

  it("accepts a null agentVersion and empty lists", () => {
    const parsed = parseManifest(
      JSON.stringify(manifest({ agentVersion: null, backedUpDirs: [], absentDirs: [], files: [] })),
    );
    expect(parsed.ok).toBe(true);
  });

  it("rejects text that is not JSON with a reason", () => {
    expect(reasonOf("{not json")).toMatch(/not valid JSON/);
    expect(reasonOf("")).toMatch(/not valid JSON/);
    expect(reasonOf(JSON.stringify(manifest()).slice(0, -5))).toMatch(/not valid JSON/);
  });

  it.each(["null", "3", '"manifest"'])("rejects the non-object %s", (text) => {
    expect(reasonOf(text)).toMatch(/not an object|version/);
  });

  it.each([{ version: 2 }, { version: "1" }, { version: undefined }])("rejects version %j", (o) => {
    expect(reasonOf(JSON.stringify(manifest(o)))).toMatch(/version/);
  });

  it.each([false, "true", 1, null, undefined])("rejects complete = %j", (complete) => {
    expect(reasonOf(JSON.stringify(manifest({ complete })))).toMatch(/not marked complete/);
  });

  it.each(["sandboxName", "timestamp", "agentType"])("rejects a missing %s", (key) => {
    expect(reasonOf(JSON.stringify(manifest({ [key]: undefined })))).toMatch(/lacks/);
    expect(reasonOf(JSON.stringify(manifest({ [key]: 7 })))).toMatch(/lacks/);
  });

  it.each([
    ["stateDirs", ["/"]],
    ["stateDirs", ["sandbox/.openclaw"]],
    ["stateDirs", "/sandbox/.openclaw"],
    ["backedUpDirs", ["/sandbox/.openclaw/"]],
    ["absentDirs", ["/sandbox/../etc"]],
    ["absentDirs", undefined],
  ])("rejects %s = %j", (key, value) => {
    expect(reasonOf(JSON.stringify(manifest({ [key]: value })))).toMatch(
      new RegExp(`${key} is not a list of absolute state directories`),
    );
  });

  it("rejects backedUpDirs or absentDirs that are not among stateDirs", () => {
    expect(reasonOf(JSON.stringify(manifest({ backedUpDirs: ["/etc"] })))).toMatch(/not among its stateDirs/);
    expect(reasonOf(JSON.stringify(manifest({ absentDirs: ["/sandbox/.other"] })))).toMatch(
      /not among its stateDirs/,
    );
  });

  it("rejects a files value that is not a list", () => {
    expect(reasonOf(JSON.stringify(manifest({ files: {} })))).toMatch(/files is not a list/);
  });

  it.each(["../escape", "/etc/passwd", "a//b", "a\\b", "a\0b", "", "./a", "a/.."])(
    "rejects the unsafe file path %j",
    (p) => {
      const files = [{ path: p, size: 1, sha256: SHA_A }];
      expect(reasonOf(JSON.stringify(manifest({ files })))).toMatch(/invalid file entry/);
    },
  );

  it.each([
    ["uppercase", "A".repeat(64)],
    ["short", "a".repeat(63)],
    ["long", "a".repeat(65)],
    ["non-hex", "g".repeat(64)],
    ["number", 5],
    ["missing", undefined],
  ])("rejects a %s sha256", (_label, sha256) => {
    const files = [{ path: "a", size: 1, sha256 }];
    expect(reasonOf(JSON.stringify(manifest({ files })))).toMatch(/invalid file entry/);
  });

  it.each([null, "a", 3, { path: "a", size: "1", sha256: SHA_A }, { path: 3, size: 1, sha256: SHA_A }])(
    "rejects the file entry %j",
    (entry) => {
      expect(reasonOf(JSON.stringify(manifest({ files: [entry] })))).toMatch(/invalid file entry/);
    },
  );
});

describe("compareTrees", () => {
  const file = (p: string, sha256 = SHA_A, size = 1, symlink?: string): ManifestFile =>
    symlink === undefined ? { path: p, size, sha256 } : { path: p, size, sha256, symlink };

  it("reports nothing for identical trees, whatever the order", () => {
    const a = [file("x"), file("y", SHA_B), file("l", SHA_A, 1, "x")];
    expect(compareTrees(a, [...a].reverse())).toEqual({ missing: [], changed: [], extra: [] });
  });

  it("reports missing, changed and extra files", () => {
    const expected = [file("keep"), file("gone"), file("edited"), file("resized")];
    const actual = [file("keep"), file("edited", SHA_B), file("resized", SHA_A, 2), file("new")];
    expect(compareTrees(expected, actual)).toEqual({
      missing: ["gone"],
      changed: ["edited", "resized"],
      extra: ["new"],
    });
  });

  it("reports a symlink whose target changed, and a file that became a symlink", () => {
    const expected = [file("link", SHA_A, 1, "a"), file("plain")];
    const actual = [file("link", SHA_A, 1, "b"), file("plain", SHA_A, 1, "plain")];
    expect(compareTrees(expected, actual).changed).toEqual(["link", "plain"]);
  });

  it("handles empty sides", () => {
    expect(compareTrees([], [file("a")])).toEqual({ missing: [], changed: [], extra: ["a"] });
    expect(compareTrees([file("a")], [])).toEqual({ missing: ["a"], changed: [], extra: [] });
  });
});
