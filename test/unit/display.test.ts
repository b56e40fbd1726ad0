// docs/design.md, "Names, paths and input" (hostile names): the one escaped form of names in human
// output, the guard on every human writer, and exact names in --json.
import { describe, expect, it } from "vitest";
import type { BackupAllResult } from "../../src/actions/backup-all.js";
import { humanPath } from "../../src/domain/backup-manifest.js";
import {
  escapeForDisplay,
  neutralizeControls,
  sanitizeForTerminal,
  shellWord,
} from "../../src/domain/display.js";
import { renderBackupSummary } from "../../src/output/backup-view.js";
import { renderJson } from "../../src/output/envelope.js";
import { alignColumns } from "../../src/output/status-view.js";
import { styleFor } from "../../src/output/style.js";
import { renderTable } from "../../src/output/table.js";

// biome-ignore lint/suspicious/noControlCharactersInRegex: finding raw control characters is the point
const RAW = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;

describe("escapeForDisplay", () => {
  it("escapes C0, DEL and C1 as \\xNN, newline/CR/tab by name, the backslash, and bidi controls as \\uNNNN", () => {
    expect(escapeForDisplay("a\x1b[2Jb")).toBe("a\\x1b[2Jb");
    expect(escapeForDisplay("t\x1b]0;owned\x07")).toBe("t\\x1b]0;owned\\x07");
    expect(escapeForDisplay("l1\nl2\rx\ty")).toBe("l1\\nl2\\rx\\ty");
    expect(escapeForDisplay("nul\0del\x7f")).toBe("nul\\x00del\\x7f");
    expect(escapeForDisplay("c1\u009b31m\u0080\u009f")).toBe("c1\\x9b31m\\x80\\x9f");
    expect(escapeForDisplay("back\\slash")).toBe("back\\\\slash");
    for (const cp of [0x202a, 0x202b, 0x202c, 0x202d, 0x202e, 0x2066, 0x2067, 0x2068, 0x2069])
      expect(escapeForDisplay(`x${String.fromCodePoint(cp)}y`)).toBe(`x\\u${cp.toString(16)}y`);
  });

  it("leaves everything else as it is, including other Unicode", () => {
    for (const plain of ["alpha", "café ☕ 日本", "a-b_c.d/e f", "\u00a0nbsp", "\u200bzwsp", "😀"])
      expect(escapeForDisplay(plain)).toBe(plain);
  });

  it("is injective: two different names never look the same", () => {
    const names = ["a\\x1b", "a\x1b", "a\\nb", "a\nb", "a\\\\", "a\\", "\\u202e", "\u202e"];
    const shown = names.map(escapeForDisplay);
    expect(new Set(shown).size).toBe(names.length);
    for (const s of shown) expect(s).not.toMatch(RAW);
  });
});

describe("neutralizeControls and sanitizeForTerminal", () => {
  it("escape control characters but leave backslashes of already-escaped names alone", () => {
    const reason = `manifest file "${escapeForDisplay("x\ny")}" is not under one of its backedUpDirs`;
    expect(neutralizeControls(reason)).toBe(reason);
    expect(neutralizeControls("quoted \x1b]0;t\x07 by openshell\nsecond")).toBe(
      "quoted \\x1b]0;t\\x07 by openshell\\nsecond",
    );
    expect(neutralizeControls("one\ntwo", true)).toBe("one\ntwo");
  });

  it("keep nemoclaw's own colour codes only when it colours the stream", () => {
    const red = styleFor(true).red("✗");
    expect(sanitizeForTerminal(`${red} name\x1b]0;t\x07\n`, true)).toBe(`${red} name\\x1b]0;t\\x07\n`);
    expect(sanitizeForTerminal(`${red} x`, false)).toBe("\\x1b[31m✗\\x1b[39m x");
    expect(sanitizeForTerminal("a\u202eb\rc\nd", false)).toBe("a\\u202eb\\rc\nd");
  });
});

describe("humanPath", () => {
  it("escapes a UTF-8 name and shows a byte name once, by its bytes", () => {
    expect(humanPath({ path: ".o/fifo\x1b]2;p\x07\nforged" })).toBe(".o/fifo\\x1b]2;p\\x07\\nforged");
    expect(humanPath({ pathB64: Buffer.from([0x2e, 0x6f, 0x2f, 0xff, 0x1b, 0x5c]).toString("base64") })).toBe(
      ".o/\\xff\\x1b\\x5c",
    );
  });
});

describe("shellWord", () => {
  it("prints a pasteable word: plain, single-quoted, or $'…' when it holds control characters", () => {
    expect(shellWord("/home/u/.nemoclaw/sandboxes.json.lock")).toBe("/home/u/.nemoclaw/sandboxes.json.lock");
    expect(shellWord("/home/my user/it's")).toBe("'/home/my user/it'\\''s'");
    expect(shellWord("/tmp/x\x1b]0;t\x07'q")).toBe("$'/tmp/x\\x1b]0;t\\x07\\'q'");
    expect(shellWord("/tmp/x\x1b")).not.toMatch(RAW);
  });
});

describe("tables count the escaped form", () => {
  it("renderTable and alignColumns align rows whose names hold control characters", () => {
    const evil = "ev\x1b]0;t\x07il\u202e";
    const lines = renderTable([
      [evil, "@1", "end"],
      ["alpha", "@2", "end"],
    ]);
    for (const line of lines) expect(line).not.toMatch(RAW);
    expect(lines[0]?.indexOf("@1")).toBe(escapeForDisplay(evil).length + 2);
    expect(lines[1]?.indexOf("@2")).toBe(escapeForDisplay(evil).length + 2);
    const aligned = alignColumns([
      [escapeForDisplay(evil), "@1", "end"],
      ["alpha", "@2", "end"],
    ]);
    expect(aligned[0]?.indexOf("@1")).toBe(aligned[1]?.indexOf("@2"));
  });

  it("backup-all's table and plain lines show an invalid registry key escaped; the result keeps it exact", () => {
    const evil = "evil\x1b[2J\r\nforged";
    const result = {
      gatewayName: "nemoclaw",
      backupsRoot: "/b",
      registered: 2,
      sandboxes: [
        { name: evil, status: "failed", reason: "invalid sandbox name", durationMs: 0 },
        { name: "alpha", status: "skipped", reason: "not listed by the gateway", durationMs: 0 },
      ],
      summary: { backedUp: 0, failed: 1, skipped: 1 },
      requireAll: false,
      interrupted: null,
      cleanedStaging: [],
    } as unknown as BackupAllResult;
    for (const table of [true, false]) {
      const lines = renderBackupSummary(result, styleFor(false), table);
      for (const line of lines) expect(line).not.toMatch(RAW);
      expect(lines.join("\n")).toContain("evil\\x1b[2J\\r\\nforged");
      expect(lines.some((l) => l.startsWith("forged"))).toBe(false);
    }
    expect(result.sandboxes[0]?.name).toBe(evil);
  });
});

describe("renderJson", () => {
  it("writes DEL, C1 and bidi characters as \\u escapes: same strings for a parser, nothing raw", () => {
    const name = "a\x1b\x7f\u009b\u202e\u2066\\b\n";
    const text = renderJson({
      ok: true,
      command: "status",
      exitCode: 0,
      preflight: null,
      result: { name },
      warnings: [],
    });
    expect(text).not.toMatch(RAW);
    expect(text).toContain("\\u007f\\u009b\\u202e\\u2066");
    expect((JSON.parse(text) as { result: { name: string } }).result.name).toBe(name);
  });
});
