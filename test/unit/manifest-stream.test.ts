import { createHash } from "node:crypto";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import {
  createStaging,
  listBackups,
  MANIFEST_BODY,
  sealBackup,
  sealStaging,
} from "../../src/adapters/backup-store.js";
import {
  ManifestError,
  ManifestReader,
  ManifestWriter,
  manifestFiles,
  readManifestHeader,
} from "../../src/adapters/manifest-stream.js";
import {
  type BackupManifest,
  compareTrees,
  type ManifestFile,
  manifestText,
  TreeMerge,
} from "../../src/domain/backup-manifest.js";

const sha = (s: string) => createHash("sha256").update(s).digest("hex");
const entry = (p: string, content = p, mode = "0644"): ManifestFile => ({
  path: p,
  size: Buffer.byteLength(content),
  sha256: sha(content),
  mode,
});

function manifest(files: ManifestFile[], extra: Partial<BackupManifest> = {}): BackupManifest {
  return {
    version: 1,
    sandboxName: "alpha",
    timestamp: "2026-07-01T10-00-00-000Z",
    agentType: "openclaw",
    agentVersion: "2026.7.1",
    stateDirs: ["/sandbox/.openclaw"],
    backedUpDirs: ["/sandbox/.openclaw"],
    absentDirs: [],
    files,
    complete: true,
    ...extra,
  };
}

// Deliberately unsorted, with bytes that sort differently as UTF-16 and as UTF-8, a directory
// name that is a prefix of a file name (".openclaw/a-b" < ".openclaw/a/x" by bytes), and a name
// that is not UTF-8 (pathB64).
const FILES: ManifestFile[] = [
  entry(".openclaw/z"),
  entry(".openclaw/a/x"),
  entry(".openclaw/a-b"),
  entry(".openclaw/\u{1F600}"),
  entry(".openclaw/\uFF21"),
  {
    pathB64: Buffer.from([...Buffer.from(".openclaw/"), 0xff]).toString("base64"),
    size: 1,
    sha256: sha("x"),
  },
  entry(".openclaw/a0"),
];
const SORTED_PATHS = [
  ".openclaw/a-b",
  ".openclaw/a/x",
  ".openclaw/a0",
  ".openclaw/z",
  ".openclaw/\uFF21",
  ".openclaw/\u{1F600}",
  "b64",
];
const label = (f: ManifestFile) => f.path ?? "b64";

describe("streaming manifest (SPEC §19)", () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  function tempDir(): string {
    const dir = mkdtempSync(path.join(tmpdir(), "manifest-stream-"));
    dirs.push(dir);
    return dir;
  }
  const write = (text: string) => {
    const file = path.join(tempDir(), "rebuild-manifest.json");
    writeFileSync(file, text);
    return file;
  };
  const readAll = (file: string) => {
    const reader = new ManifestReader(file);
    try {
      return { header: reader.header, streaming: reader.streaming, files: [...reader.entries()] };
    } finally {
      reader.close();
    }
  };

  it("writes files as the last key, sorted by path bytes, one entry per line, counts ahead of them", () => {
    const text = manifestText(manifest(FILES, { skipped: [{ path: ".openclaw/fifo", type: "fifo" }] }));
    const lines = text.split("\n");
    const filesLine = lines.indexOf('  "files": [');
    expect(filesLine).toBeGreaterThan(0);
    // Every key but files comes before it; the file list closes the document.
    expect(lines.slice(filesLine + 1 + FILES.length)).toEqual(["  ]", "}", ""]);
    expect(lines.slice(0, filesLine).join("\n")).toContain('"fileCount": 7');
    expect(lines.slice(0, filesLine).join("\n")).toContain('"skipped": [');
    const doc = JSON.parse(text);
    expect(Object.keys(doc).at(-1)).toBe("files");
    expect(doc.files.map(label)).toEqual(SORTED_PATHS);
    expect(doc.fileBytes).toBe(FILES.reduce((n, f) => n + f.size, 0));
    // An empty list stays valid JSON and streamable.
    const empty = manifestText(manifest([]));
    expect(empty.endsWith('  "files": []\n}\n')).toBe(true);
    expect(JSON.parse(empty).files).toEqual([]);
  });

  it("reads the streaming layout entry by entry, in order, validating the counts", () => {
    const file = write(manifestText(manifest(FILES)));
    const read = readAll(file);
    expect(read.streaming).toBe(true);
    expect(read.files.map(label)).toEqual(SORTED_PATHS);
    expect(read.header).toMatchObject({ sandboxName: "alpha", fileCount: 7 });
    expect([...manifestFiles(path.dirname(file))].map(label)).toEqual(SORTED_PATHS);
    const empty = readAll(write(manifestText(manifest([]))));
    expect(empty).toMatchObject({ streaming: true, files: [] });
  });

  it.each([
    [
      "files first, indented",
      (m: BackupManifest) => {
        const { files, ...rest } = m;
        return JSON.stringify({ files, ...rest }, null, 2);
      },
    ],
    [
      "files in the middle (the previous release's layout)",
      (m: BackupManifest) => {
        const { files, complete, ...rest } = m;
        return JSON.stringify({ ...rest, files, complete }, null, 2);
      },
    ],
    ["one line", (m: BackupManifest) => JSON.stringify(m)],
    [
      "files last, indented, ending with a newline",
      (m: BackupManifest) => {
        const { files, ...rest } = m;
        return `${JSON.stringify({ ...rest, files }, null, 2)}\n`;
      },
    ],
    ["files last but not one per line", (m: BackupManifest) => JSON.stringify(m, null, 4)],
  ])("reads an older layout (%s): whole, sorted, counts computed", (_name, layout) => {
    const file = write(layout(manifest(FILES)));
    const read = readAll(file);
    expect(read.streaming).toBe(false);
    expect(read.files.map(label)).toEqual(SORTED_PATHS);
    const header = readManifestHeader(file);
    expect(header).toMatchObject({ fileCount: 7, fileBytes: FILES.reduce((n, f) => n + f.size, 0) });
    expect(header).not.toHaveProperty("files");
  });

  it("a listing reads the header only: an entry broken after it goes unnoticed until verify reads it", () => {
    const text = manifestText(manifest(FILES)).replace(`"sha256":"${sha(".openclaw/z")}"`, '"sha256":"nope"');
    const file = write(text);
    expect(readManifestHeader(file)).toMatchObject({ fileCount: 7, sandboxName: "alpha" });
    const reader = new ManifestReader(file);
    expect(() => [...reader.entries()]).toThrow(/invalid file entry/);
    reader.close();
  });

  it("counts the entries of a streaming manifest that does not record its counts", () => {
    const text = manifestText(manifest(FILES)).replace(/ {2}"fileCount": \d+,\n {2}"fileBytes": \d+,\n/, "");
    expect(text).not.toContain("fileCount");
    expect(readManifestHeader(write(text))).toMatchObject({ fileCount: 7 });
  });

  it("refuses entries out of order, counts that do not match, a truncated list and an invalid header", () => {
    const good = manifestText(manifest([entry(".openclaw/a"), entry(".openclaw/b")]));
    const swapped = good.replace(
      /( {4}\{"path":"\.openclaw\/a"[^\n]*),\n( {4}\{"path":"\.openclaw\/b"[^\n]*)\n/,
      "$2,\n$1\n",
    );
    expect(() => readAll(write(swapped))).toThrow(/not sorted by path/);
    const miscounted = good.replace('"fileCount": 2', '"fileCount": 3');
    expect(() => readAll(write(miscounted))).toThrow(/fileCount\/fileBytes do not match/);
    expect(() => readAll(write(good.replace('"version": 1', '"version": 2')))).toThrow(ManifestError);
    // Cut inside the list: not the streaming layout any more, and not JSON either.
    expect(() => readAll(write(good.slice(0, good.indexOf('{"path":".openclaw/b"'))))).toThrow(
      /not valid JSON/,
    );
    expect(() => readManifestHeader(path.join(tempDir(), "missing.json"))).toThrow(/manifest is missing/);
  });

  it("the writer refuses entries out of order and leaves no body file behind", async () => {
    const staging = createStaging(tempDir(), "alpha", "2026-07-01T10-00-00-000Z");
    const writer = new ManifestWriter(path.join(staging, MANIFEST_BODY));
    writer.add(entry(".openclaw/b"));
    expect(() => writer.add(entry(".openclaw/a"))).toThrow(/out of order/);
    writer.abort();
    expect(readdirSync(staging)).toEqual([]);
  });

  it("seals with one syncfs before the manifest rename; a failing syncfs seals nothing", async () => {
    const root = tempDir();
    const staging = createStaging(root, "alpha", "2026-07-01T10-00-00-000Z");
    mkdirSync(path.join(staging, ".openclaw"));
    writeFileSync(path.join(staging, ".openclaw/z"), ".openclaw/z");
    const failing = async (dir: string) => {
      // The manifest is complete under its temp name, not yet in place, when syncfs runs.
      expect(existsSync(path.join(dir, "rebuild-manifest.json"))).toBe(false);
      expect(readdirSync(dir).some((n) => n.startsWith(".rebuild-manifest.json."))).toBe(true);
      throw new Error("sync -f failed (Input/output error)");
    };
    await expect(sealBackup(staging, manifest([entry(".openclaw/z")]), failing)).rejects.toThrow(
      /Input\/output/,
    );
    expect(listBackups(root)).toEqual([]);
    expect(existsSync(path.join(root, "alpha", "2026-07-01T10-00-00-000Z"))).toBe(false);

    const calls: string[] = [];
    const staging2 = createStaging(root, "alpha", "2026-07-02T10-00-00-000Z");
    mkdirSync(path.join(staging2, ".openclaw"));
    writeFileSync(path.join(staging2, ".openclaw/z"), ".openclaw/z");
    const writer = new ManifestWriter(path.join(staging2, MANIFEST_BODY));
    writer.add(entry(".openclaw/z"));
    const { files: _f, ...header } = manifest([], { timestamp: "2026-07-02T10-00-00-000Z" });
    const final = await sealStaging(staging2, header, writer, async (dir) => {
      calls.push(dir);
    });
    expect(calls).toEqual([staging2]);
    expect(readdirSync(final).sort()).toEqual([".openclaw", "rebuild-manifest.json"]);
    expect(JSON.parse(readFileSync(path.join(final, "rebuild-manifest.json"), "utf8"))).toMatchObject({
      fileCount: 1,
      files: [entry(".openclaw/z")],
    });
    expect(listBackups(root, "alpha").map((b) => b.complete)).toEqual([true]);
  });

  it("TreeMerge (the streaming verify) finds exactly what compareTrees finds", () => {
    const expected = [...FILES, entry(".openclaw/gone")];
    const actual = [
      ...FILES.filter((f) => f.path !== ".openclaw/z"),
      { ...entry(".openclaw/z"), sha256: sha("other") },
      { ...entry(".openclaw/a0"), mode: "0600" },
      entry(".openclaw/new"),
    ].filter((f, i, all) => all.findIndex((g) => label(g) === label(f)) === i || f.mode === "0600");
    const dedup = actual.filter((f) => !(f.path === ".openclaw/a0" && f.mode === "0644"));
    const sortedOf = (list: ManifestFile[]) => {
      const reader = new ManifestReader(write(manifestText(manifest(list))));
      const all = [...reader.entries()];
      reader.close();
      return all;
    };
    const exp = sortedOf(expected);
    const act = sortedOf(dedup);
    let i = 0;
    const merge = new TreeMerge(() => {
      const e = exp[i++];
      return e ? { entry: e } : undefined;
    }, true);
    for (const a of act) merge.actual(a);
    const streamed = merge.finish();
    expect(streamed).toEqual(compareTrees(expected, dedup));
    expect(streamed).toMatchObject({
      missing: [".openclaw/gone"],
      changed: [".openclaw/z"],
      extra: [".openclaw/new"],
    });
    expect([...merge.repairs.keys()]).toEqual(["0644"]);
  });
});
