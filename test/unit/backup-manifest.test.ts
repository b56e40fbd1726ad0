import { describe, expect, it } from "vitest";
import {
  type BackupManifest,
  backupTimestamp,
  compareTrees,
  differenceCount,
  displayPath,
  entryBytes,
  entryPath,
  formatMode,
  isBackupTimestamp,
  isSafeRelativePath,
  isSandboxStateDir,
  type ManifestFile,
  manifestText,
  modeRepairs,
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

describe("manifestText", () => {
  it("is the same JSON document, one file entry per line, and parses back to it", () => {
    const doc = manifest({
      skipped: [{ path: ".openclaw/fifo", type: "fifo" }],
      nemoclawVersion: "0.1.0",
      files: [
        { path: ".openclaw/config.json", size: 12, sha256: SHA_A, mode: "0644" },
        { pathB64: Buffer.from([0x2e, 0x6f, 0x2f, 0xff]).toString("base64"), size: 1, sha256: SHA_B },
      ],
      backedUpDirs: ["/sandbox/.openclaw"],
      stateDirs: ["/sandbox/.openclaw"],
      absentDirs: [],
    }) as unknown as BackupManifest;
    const text = manifestText(doc);
    // The same document with the counts added, `files` last (the streaming layout).
    // Sorted by path bytes: ".o/\xff" before ".openclaw/…".
    const sorted = [...(doc.files as object[])].reverse();
    expect(JSON.parse(text)).toEqual({ ...doc, files: sorted, fileCount: 2, fileBytes: 13 });
    expect(Object.keys(JSON.parse(text)).at(-1)).toBe("files");
    expect(text.endsWith("}\n")).toBe(true);
    const lines = text.split("\n");
    expect(lines).toContain(`    ${JSON.stringify(sorted[0])},`);
    expect(lines).toContain(`    ${JSON.stringify(sorted[1])}`);
    expect(lines).toContain(`    {"path":".openclaw/fifo","type":"fifo"}`);
    expect(lines).toContain('  "sandboxName": "alpha",');
    // Smaller than two-space indentation, and an empty list stays valid.
    expect(text.length).toBeLessThan(JSON.stringify(doc, null, 2).length);
    const empty = { ...doc, files: [], skipped: undefined } as unknown as BackupManifest;
    expect(JSON.parse(manifestText(empty))).toEqual({
      ...doc,
      files: [],
      skipped: undefined,
      fileCount: 0,
      fileBytes: 0,
    });
  });
});

describe("compareTrees", () => {
  const file = (p: string, sha256 = SHA_A, size = 1, symlink?: string): ManifestFile =>
    symlink === undefined ? { path: p, size, sha256 } : { path: p, size, sha256, symlink };

  it("reports nothing for identical trees, whatever the order", () => {
    const a = [file("x"), file("y", SHA_B), file("l", SHA_A, 1, "x")];
    expect(compareTrees(a, [...a].reverse())).toEqual({
      missing: [],
      changed: [],
      modeChanged: [],
      extra: [],
    });
  });

  it("reports missing, changed and extra files", () => {
    const expected = [file("keep"), file("gone"), file("edited"), file("resized")];
    const actual = [file("keep"), file("edited", SHA_B), file("resized", SHA_A, 2), file("new")];
    expect(compareTrees(expected, actual)).toEqual({
      missing: ["gone"],
      changed: ["edited", "resized"],
      modeChanged: [],
      extra: ["new"],
    });
  });

  it("reports a symlink whose target changed, and a file that became a symlink", () => {
    const expected = [file("link", SHA_A, 1, "a"), file("plain")];
    const actual = [file("link", SHA_A, 1, "b"), file("plain", SHA_A, 1, "plain")];
    expect(compareTrees(expected, actual).changed).toEqual(["link", "plain"]);
  });

  it("handles empty sides", () => {
    expect(compareTrees([], [file("a")])).toEqual({
      missing: [],
      changed: [],
      modeChanged: [],
      extra: ["a"],
    });
    expect(compareTrees([file("a")], [])).toEqual({
      missing: ["a"],
      changed: [],
      modeChanged: [],
      extra: [],
    });
  });
});

describe("backup fidelity (docs/design.md)", () => {
  it("accepts a mode, and older manifests without one", () => {
    const files = [{ path: ".openclaw/a", size: 1, sha256: SHA_A, mode: "0640" }];
    expect(parseManifest(JSON.stringify(manifest({ files }))).ok).toBe(true);
    expect(parseManifest(JSON.stringify(manifest())).ok).toBe(true);
  });

  it.each(["644", "04755", "0o644", "0888", 420])("rejects the mode %j", (mode) => {
    const files = [{ path: ".openclaw/a", size: 1, sha256: SHA_A, mode }];
    expect(reasonOf(JSON.stringify(manifest({ files })))).toMatch(/invalid file entry/);
  });

  it("accepts a pathB64 entry instead of path, and refuses both or neither", () => {
    const odd = Buffer.concat([Buffer.from(".openclaw/bad-"), Buffer.from([0xff, 0xfe])]).toString("base64");
    const ok = [{ pathB64: odd, size: 1, sha256: SHA_A, mode: "0644" }];
    expect(parseManifest(JSON.stringify(manifest({ files: ok }))).ok).toBe(true);
    const both = [{ path: ".openclaw/a", pathB64: odd, size: 1, sha256: SHA_A }];
    expect(reasonOf(JSON.stringify(manifest({ files: both })))).toMatch(/invalid file entry/);
    const neither = [{ size: 1, sha256: SHA_A }];
    expect(reasonOf(JSON.stringify(manifest({ files: neither })))).toMatch(/invalid file entry/);
  });

  it.each([
    ["a path outside every backed-up dir", { path: ".cache/x", size: 1, sha256: SHA_A }],
    ["a top-level file beside the dirs", { path: "loose", size: 1, sha256: SHA_A }],
    [
      "a bytes path escaping with ..",
      { pathB64: Buffer.from(".openclaw/../x").toString("base64"), size: 1, sha256: SHA_A },
    ],
    [
      "a bytes path outside the dirs",
      { pathB64: Buffer.from([0x2e, 0x78, 0x2f, 0xff]).toString("base64"), size: 1, sha256: SHA_A },
    ],
    [
      "an absolute bytes path",
      { pathB64: Buffer.from("/etc/passwd").toString("base64"), size: 1, sha256: SHA_A },
    ],
  ])("rejects %s as corrupt", (_what, entry) => {
    expect(parseManifest(JSON.stringify(manifest({ files: [entry] }))).ok).toBe(false);
  });

  it("names the escaping path in the reason", () => {
    const files = [{ path: ".ssh/authorized_keys", size: 1, sha256: SHA_A }];
    expect(reasonOf(JSON.stringify(manifest({ files })))).toBe(
      'manifest file ".ssh/authorized_keys" is not under one of its backedUpDirs',
    );
  });

  it("validates skipped entries", () => {
    const skipped = [
      { path: ".openclaw/run/agent.sock", type: "socket" },
      { path: ".openclaw/pipe", type: "fifo" },
    ];
    expect(parseManifest(JSON.stringify(manifest({ skipped }))).ok).toBe(true);
    expect(reasonOf(JSON.stringify(manifest({ skipped: [{ path: ".openclaw/p", type: "door" }] })))).toMatch(
      /invalid skipped entry/,
    );
    expect(reasonOf(JSON.stringify(manifest({ skipped: "none" })))).toBe("manifest skipped is not a list");
  });

  it("entryPath keeps valid UTF-8 as path and anything else as exact bytes", () => {
    expect(entryPath(Buffer.from(".openclaw/ünï"))).toEqual({ path: ".openclaw/ünï" });
    const bytes = Buffer.from([0x2e, 0x6f, 0x2f, 0xff, 0x41]);
    const entry = entryPath(bytes);
    expect(entry).toEqual({ pathB64: bytes.toString("base64") });
    expect(entryBytes(entry)).toEqual(bytes);
    expect(displayPath(entry)).toBe(".o/\\xffA");
  });

  it("entryPath keeps a leading BOM and records a backslash name as bytes, which the parser accepts", () => {
    const bom = Buffer.from("\uFEFFnotes", "utf8");
    expect(entryBytes(entryPath(bom))).toEqual(bom);
    const slashy = Buffer.from(".openclaw/a\\b");
    const entry = entryPath(slashy);
    expect(entry).toEqual({ pathB64: slashy.toString("base64") });
    const files = [{ ...entry, size: 1, sha256: SHA_A, mode: "0644" }];
    expect(parseManifest(JSON.stringify(manifest({ files }))).ok).toBe(true);
  });

  it("formatMode keeps only the 0777 bits (setuid, setgid and sticky are not promised)", () => {
    expect(formatMode(0o100644)).toBe("0644");
    expect(formatMode(0o4755)).toBe("0755");
    expect(formatMode(0o2750)).toBe("0750");
    expect(formatMode(0o1777)).toBe("0777");
    expect(formatMode(0)).toBe("0000");
  });

  it("compareTrees reports a mode change apart from content changes, and ignores a missing recorded mode", () => {
    const f = (p: string, mode?: string, sha256 = SHA_A): ManifestFile => ({
      path: p,
      size: 1,
      sha256,
      ...(mode ? { mode } : {}),
    });
    const expected = [f("a", "0600"), f("b", "0644"), f("old"), f("c", "0600")];
    const actual = [f("a", "0666"), f("b", "0644"), f("old", "0777"), f("c", "0644", SHA_B)];
    const c = compareTrees(expected, actual);
    expect(c).toEqual({ missing: [], changed: ["c"], modeChanged: ["a"], extra: [] });
    expect(differenceCount(c)).toBe(2);
  });

  it("compareTrees matches pathB64 entries by their bytes", () => {
    const b64 = Buffer.from([0x2e, 0x6f, 0x2f, 0xff]).toString("base64");
    const e = { pathB64: b64, size: 1, sha256: SHA_A, mode: "0644" };
    expect(compareTrees([e], [e])).toEqual({ missing: [], changed: [], modeChanged: [], extra: [] });
    expect(compareTrees([e], []).missing).toEqual([".o/\\xff"]);
  });

  it("modeRepairs groups regular files by recorded mode, never links or changed content", () => {
    const f = (p: string, mode: string, extra: Partial<ManifestFile> = {}): ManifestFile => ({
      path: p,
      size: 1,
      sha256: SHA_A,
      mode,
      ...extra,
    });
    const expected = [
      f("x/a", "0666"),
      f("x/b", "0666"),
      f("x/c", "0777"),
      f("x/ok", "0644"),
      f("x/l", "0777", { symlink: "a" }),
      f("x/edited", "0666"),
    ];
    const actual = [
      f("x/a", "0644"),
      f("x/b", "0644"),
      f("x/c", "0755"),
      f("x/ok", "0644"),
      f("x/l", "0755", { symlink: "a" }),
      f("x/edited", "0644", { sha256: SHA_B }),
    ];
    const repairs = modeRepairs(expected, actual);
    expect([...repairs.entries()].map(([m, fs]) => [m, fs.map((x) => x.path)])).toEqual([
      ["0666", ["x/a", "x/b"]],
      ["0777", ["x/c"]],
    ]);
  });
});
