import { describe, expect, it } from "vitest";
import type { BackupAllResult } from "../../src/actions/backup-all.js";
import type { UpgradeResult } from "../../src/actions/upgrade-sandboxes.js";
import { clearsLiveView, type IOStreams } from "../../src/context.js";
import { renderBackupSummary } from "../../src/output/backup-view.js";
import { renderBackupList } from "../../src/output/backups-view.js";
import { styleFor } from "../../src/output/style.js";
import { renderTable } from "../../src/output/table.js";
import { renderUpgradeSummary } from "../../src/output/upgrade-view.js";

const ESC = "\x1b";
const ROOT = "/home/op/.nemoclaw/rebuild-backups";
const SGR = new RegExp(`${ESC}\\[[0-9;]*m`, "g");
const stripSgr = (s: string) => s.replaceAll(SGR, "");

const backupResult: BackupAllResult = {
  gatewayName: "nemoclaw",
  backupsRoot: ROOT,
  registered: 3,
  sandboxes: [
    {
      name: "alpha",
      status: "backed-up",
      timestamp: "2026-11-29T22-00-00-000Z",
      path: `${ROOT}/alpha/2026-11-29T22-00-00-000Z`,
      bytes: 210_554_061,
      files: 320,
      durationMs: 1400,
    },
    {
      name: "beta-long-name",
      status: "backed-up",
      timestamp: "2026-11-29T22-00-01-000Z",
      path: `${ROOT}/beta-long-name/2026-11-29T22-00-01-000Z`,
      bytes: 1024,
      files: 7,
      startedForBackup: true,
      durationMs: 12_300,
    },
    { name: "gamma", status: "failed", reason: "gateway unreachable", durationMs: 0 },
  ],
  summary: { backedUp: 2, failed: 1, skipped: 0 },
  requireAll: false,
  interrupted: null,
} as BackupAllResult;

describe("renderTable", () => {
  it("aligns on the plain text, right-aligns numbers and never pads the last cell", () => {
    expect(
      renderTable([
        ["NAME", { text: "SIZE", right: true }, "NOTE"],
        ["a", { text: "1.0 KiB", right: true }, "x"],
        ["longer", { text: "12 B", right: true }, ""],
      ]),
    ).toEqual(["NAME       SIZE  NOTE", "a       1.0 KiB  x", "longer     12 B"]);
  });

  it("paints after padding: colour never skews the columns", () => {
    const style = styleFor(true);
    const lines = renderTable([
      [{ text: "ok", paint: style.green }, "a"],
      [{ text: "failed", paint: style.red }, "b"],
    ]);
    expect(lines[0]).toBe(`${ESC}[32mok${ESC}[39m      a`);
    expect(lines.map(stripSgr)).toEqual(["ok      a", "failed  b"]);
  });
});

describe("renderBackupSummary", () => {
  it("without a terminal: the plain per-sandbox lines with their paths (the scripted contract)", () => {
    const lines = renderBackupSummary(backupResult, styleFor(false));
    expect(lines[0]).toBe(
      `✓ alpha: backed up 320 files, 200.8 MiB in 1.4s → ${ROOT}/alpha/2026-11-29T22-00-00-000Z`,
    );
    expect(lines).toContain("✗ gamma: failed: gateway unreachable");
    expect(lines.slice(-2)).toEqual([
      "Backup summary: 2 backed up, 1 failed, 0 skipped",
      `Backups stored in: ${ROOT}`,
    ]);
  });

  it("on a terminal: an aligned table with timestamps, the root printed once", () => {
    const lines = renderBackupSummary(backupResult, styleFor(false), true);
    expect(lines).toEqual([
      "   NAME            STATUS     BACKUP                         SIZE  FILES   TIME  DETAIL",
      "✓  alpha           backed-up  2026-11-29T22-00-00-000Z  200.8 MiB    320   1.4s",
      "✓  beta-long-name  backed-up  2026-11-29T22-00-01-000Z    1.0 KiB      7  12.3s  was Stopped: started for the backup, stopped again",
      "✗  gamma           failed                                                        gateway unreachable",
      "Backup summary: 2 backed up, 1 failed, 0 skipped",
      `Backups stored in: ${ROOT}`,
    ]);
    expect(lines.filter((l) => l.includes(ROOT))).toHaveLength(1);
  });

  it("on a coloured terminal: the same columns once the colour is stripped", () => {
    const plain = renderBackupSummary(backupResult, styleFor(false), true);
    const coloured = renderBackupSummary(backupResult, styleFor(true), true);
    expect(coloured.join("\n")).toContain(ESC);
    expect(coloured.map(stripSgr)).toEqual(plain);
  });
});

const upgradeResult: UpgradeResult = {
  gatewayName: "nemoclaw",
  sandboxes: [
    {
      name: "alpha",
      status: "current",
      reason: "up to date",
      from: "2026.7.1",
      to: "2026.7.1",
      durationMs: 0,
    },
    {
      name: "beta",
      status: "failed",
      reason: "create failed twice",
      from: "2026.6.0",
      to: "2026.7.1",
      backup: { timestamp: "2026-11-29T22-00-00-000Z", path: `${ROOT}/beta/2026-11-29T22-00-00-000Z` },
      recoveryCommand: "nemoclaw restore beta --backup 2026-11-29T22-00-00-000Z --create --yes",
      durationMs: 5000,
    },
  ],
  summary: { rebuilt: 0, restored: 0, failed: 1, skipped: 0, current: 1 },
  interrupted: null,
};

describe("renderUpgradeSummary", () => {
  it("without a terminal: the plain lines of old", () => {
    expect(renderUpgradeSummary(upgradeResult, styleFor(false))).toEqual([
      "= alpha: current — up to date",
      "✗ beta: FAILED — create failed twice (5.0s)",
      `    Backup: ${ROOT}/beta/2026-11-29T22-00-00-000Z`,
      "nemoclaw restore beta --backup 2026-11-29T22-00-00-000Z --create --yes",
      "Upgrade summary: 0 rebuilt, 1 failed, 0 skipped, 1 up to date",
    ]);
  });

  it("on a terminal: a table, then each failure's full backup path and its command on lines of their own", () => {
    const lines = renderUpgradeSummary(upgradeResult, styleFor(false), true);
    expect(lines).toEqual([
      "   NAME   VERSION              STATUS   BACKUP                    TIME  DETAIL",
      "=  alpha  2026.7.1 → 2026.7.1  current                                  up to date",
      "✗  beta   2026.6.0 → 2026.7.1  FAILED   2026-11-29T22-00-00-000Z  5.0s  create failed twice",
      "",
      "✗ beta: FAILED — create failed twice",
      `    Backup: ${ROOT}/beta/2026-11-29T22-00-00-000Z`,
      "nemoclaw restore beta --backup 2026-11-29T22-00-00-000Z --create --yes",
      "Upgrade summary: 0 rebuilt, 1 failed, 0 skipped, 1 up to date",
    ]);
  });
});

describe("clearsLiveView", () => {
  const io = (over: Partial<IOStreams>) =>
    ({ color: true, stdoutIsTTY: true, stderrIsTTY: true, sameTerminal: true, ...over }) as IOStreams;
  it("only when the live view is on and stdout is the same terminal", () => {
    expect(clearsLiveView(io({}))).toBe(true);
    expect(clearsLiveView(io({ stdoutIsTTY: false, sameTerminal: false }))).toBe(false);
    expect(clearsLiveView(io({ sameTerminal: false }))).toBe(false);
    expect(clearsLiveView(io({ sameTerminal: undefined }))).toBe(false);
    expect(clearsLiveView(io({ color: false }))).toBe(false);
  });
});

describe("renderBackupList", () => {
  const backups = [
    {
      sandbox: "alpha",
      timestamp: "2026-11-29T22-00-00-000Z",
      path: `${ROOT}/alpha/2026-11-29T22-00-00-000Z`,
      complete: true,
      size: 2048,
      fileCount: 12,
      agentVersion: "2026.7.1",
      pinned: true as const,
    },
    {
      sandbox: "alpha",
      timestamp: "2026-01-01T00-00-00-000Z",
      path: `${ROOT}/alpha/2026-01-01T00-00-00-000Z`,
      complete: false,
      corrupt: "manifest unreadable",
      size: 0,
      fileCount: 0,
      agentVersion: null,
    },
    {
      sandbox: "beta",
      timestamp: "2026-11-29T22-00-01-000Z",
      path: `${ROOT}/beta/2026-11-29T22-00-01-000Z`,
      complete: true,
      size: 300,
      fileCount: 3,
      agentVersion: null,
    },
  ];

  it("on a terminal: the root once, aligned rows with timestamps, disk use below", () => {
    expect(renderBackupList(backups, ROOT, styleFor(false), { alpha: 4096, beta: 300 }, true)).toEqual([
      `Backups in ${ROOT}:`,
      "SANDBOX  BACKUP                       SIZE  FILES  AGENT     NOTE",
      "alpha    2026-11-29T22-00-00-000Z  2.0 KiB     12  2026.7.1  pinned (an unfinished operation needs it)",
      "alpha    2026-01-01T00-00-00-000Z                            CORRUPT: manifest unreadable",
      "beta     2026-11-29T22-00-01-000Z    300 B      3  unknown",
      "",
      "On disk (hard links counted once):",
      "  alpha  4.0 KiB",
      "  beta     300 B",
    ]);
  });

  it("without a terminal: the grouped plain lines of old", () => {
    const lines = renderBackupList(backups, ROOT, styleFor(false), { alpha: 4096 });
    expect(lines[0]).toBe(`Backups in ${ROOT}:`);
    expect(lines).toContain("  2026-01-01T00-00-00-000Z  CORRUPT: manifest unreadable");
    expect(lines).toContain("alpha  4.0 KiB on disk (hard links counted once)");
  });
});

describe("renderTable fitted to a terminal", () => {
  const rows = [
    ["NAME", "LAST BACKUP", "NOTE"],
    [
      "a-sandbox-with-a-long-name",
      { text: "2026-11-29T22-00-00-000Z (3h ago)", narrow: "3h ago" },
      "agent 2026.6.0 is older than the catalog's 2026.7.1",
    ],
    ["b", { text: "never" }, ""],
  ];
  const chars = (line: string) => Array.from(line).length;

  it("without a width: exactly as wide as the cells (non-TTY output unchanged)", () => {
    const lines = renderTable(rows);
    expect(lines[1]).toBe(
      "a-sandbox-with-a-long-name  2026-11-29T22-00-00-000Z (3h ago)  agent 2026.6.0 is older than the catalog's 2026.7.1",
    );
  });

  it("cuts the note first, with an ellipsis, and keeps the timestamp while that is enough", () => {
    const lines = renderTable(rows, { width: 100, cut: [2] });
    for (const line of lines) expect(chars(line)).toBeLessThanOrEqual(100);
    expect(lines[1]).toContain("2026-11-29T22-00-00-000Z (3h ago)");
    expect(lines[1]).toMatch(/^a-sandbox-with-a-long-name {2}.* {2}agent 2026\.6\.0.*…$/);
  });

  it("on a narrow terminal shows the age only, never cuts a name, and fits", () => {
    const lines = renderTable(rows, { width: 60, cut: [2] });
    for (const line of lines) expect(chars(line)).toBeLessThanOrEqual(60);
    expect(lines[1]).toMatch(/^a-sandbox-with-a-long-name {2}3h ago {7}agent .*…$/);
    expect(lines[2]).toBe("b                           never");
  });

  it("leaves out a column empty in every row on a terminal", () => {
    const lines = renderTable(
      [
        ["NAME", "TIME", "DETAIL"],
        ["alpha", "1.0s", ""],
      ],
      { width: 80, cut: [2] },
    );
    expect(lines).toEqual(["NAME   TIME", "alpha  1.0s"]);
  });

  it("counts the escaped form of a name (a control character never skews a fitted table)", () => {
    const lines = renderTable(
      [
        ["NAME", "NOTE"],
        ["a\x1bb", "x".repeat(100)],
      ],
      { width: 50, cut: [1] },
    );
    expect(lines[1]?.startsWith("a\\x1bb  ")).toBe(true);
    expect(chars(lines[1] ?? "")).toBe(50);
  });
});
