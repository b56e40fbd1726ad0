import { describe, expect, it } from "vitest";
import { formatMetrics, parseMetrics } from "../../src/domain/metrics.js";
import {
  checkFoundErrors,
  chooseSnapshot,
  newestOffhostCopies,
  notYetPushed,
  parseSnapshots,
  repositoryNotConfigured,
  resticMessage,
  resticTime,
  snapshotTags,
} from "../../src/domain/offhost.js";

// The shape restic 0.14 prints for `restic snapshots --json` (one foreign snapshot included).
const SNAPSHOTS = JSON.stringify([
  {
    time: "2026-12-01T02:30:00Z",
    paths: ["/home/n/.nemoclaw/rebuild-backups/alpha/2026-12-01T02-30-00-000Z"],
    hostname: "h1",
    tags: ["nemoclaw", "sandbox:alpha", "backup:2026-12-01T02-30-00-000Z", "host:h1"],
    id: "aaaaaaaa11111111",
    short_id: "aaaaaaaa",
  },
  {
    time: "2026-12-02T02:30:00Z",
    hostname: "h2",
    tags: ["nemoclaw", "sandbox:alpha", "backup:2026-12-02T02-30-00-000Z", "host:h2"],
    id: "bbbbbbbb22222222",
    short_id: "bbbbbbbb",
  },
  { time: "2026-12-03T00:00:00Z", hostname: "h1", tags: ["etc"], id: "cccccccc33333333" },
  { hostname: "h1", tags: ["nemoclaw", "sandbox:../x", "backup:2026-12-02T02-30-00-000Z"], id: "dddddddd" },
]);

describe("restic snapshots", () => {
  it("keeps only nemoclaw snapshots with a valid sandbox and backup tag, newest backup first", () => {
    const snaps = parseSnapshots(SNAPSHOTS);
    expect(snaps.map((s) => [s.sandbox, s.backup, s.host])).toEqual([
      ["alpha", "2026-12-02T02-30-00-000Z", "h2"],
      ["alpha", "2026-12-01T02-30-00-000Z", "h1"],
    ]);
    expect(() => parseSnapshots("{}")).toThrow();
    expect(parseSnapshots("")).toEqual([]);
  });

  it("tags name the sandbox, the backup and the host", () => {
    expect(snapshotTags("alpha", "2026-12-01T02-30-00-000Z", "h1")).toEqual([
      "nemoclaw",
      "sandbox:alpha",
      "backup:2026-12-01T02-30-00-000Z",
      "host:h1",
    ]);
    expect(resticTime(new Date("2026-12-01T02:30:00.123Z"))).toBe("2026-12-01 02:30:00");
  });

  it("pushes only what the repository lacks, whichever host pushed it", () => {
    const snaps = parseSnapshots(SNAPSHOTS);
    const local = [
      { sandbox: "alpha", timestamp: "2026-12-01T02-30-00-000Z" },
      { sandbox: "alpha", timestamp: "2026-12-04T02-30-00-000Z" },
      { sandbox: "beta", timestamp: "2026-12-01T02-30-00-000Z" },
    ];
    expect(notYetPushed(local, snaps)).toEqual([local[1], local[2]]);
  });

  it("chooses the newest backup of any host, or the one asked for", () => {
    const snaps = parseSnapshots(SNAPSHOTS);
    expect(chooseSnapshot(snaps, "alpha")?.host).toBe("h2");
    expect(chooseSnapshot(snaps, "alpha", { host: "h1" })?.backup).toBe("2026-12-01T02-30-00-000Z");
    expect(chooseSnapshot(snaps, "alpha", { backup: "2026-12-01T02-30-00-000Z" })?.host).toBe("h1");
    expect(chooseSnapshot(snaps, "alpha", { host: "h9" })).toBeNull();
    expect(chooseSnapshot(snaps, "beta")).toBeNull();
  });

  it("this host's newest off-host copy: its own pushes and the backups it holds, not other hosts' same names", () => {
    const snaps = parseSnapshots(SNAPSHOTS);
    expect(newestOffhostCopies(snaps, "h1", new Set()).get("alpha")?.backup).toBe("2026-12-01T02-30-00-000Z");
    expect(newestOffhostCopies(snaps, "h3", new Set()).size).toBe(0);
    expect(
      newestOffhostCopies(snaps, "h3", new Set(["alpha/2026-12-02T02-30-00-000Z"])).get("alpha")?.host,
    ).toBe("h2");
  });
});

describe("restic configuration and messages", () => {
  it("needs a repository and a password", () => {
    expect(repositoryNotConfigured({})).toMatch(/RESTIC_REPOSITORY/);
    expect(repositoryNotConfigured({ RESTIC_REPOSITORY: "/r" })).toMatch(/password/);
    expect(repositoryNotConfigured({ RESTIC_PASSWORD_FILE: "/p" })).toMatch(/--repo/);
    expect(repositoryNotConfigured({ RESTIC_PASSWORD_COMMAND: "pass x" }, "rest:http://h/")).toBeNull();
    expect(repositoryNotConfigured({ RESTIC_REPOSITORY_FILE: "/f", RESTIC_PASSWORD: "x" })).toBeNull();
  });

  it("restic's Fatal line and its hint become one line", () => {
    expect(
      resticMessage(
        "Fatal: unable to open config file: stat /r/config: no such file or directory\nIs there a repository at the following location?\n/r\n",
      ),
    ).toBe(
      "unable to open config file: stat /r/config: no such file or directory Is there a repository at the following location?",
    );
    expect(resticMessage("")).toBe("restic failed without a message");
  });

  it("tells damage from a check that could not run", () => {
    expect(
      checkFoundErrors("Pack ID does not match, want 1234, got 5678\nFatal: repository contains errors"),
    ).toBe(true);
    expect(checkFoundErrors("Fatal: unable to create lock in backend: repository is already locked")).toBe(
      false,
    );
  });
});

describe("node_exporter textfile", () => {
  const host = {
    verdict: "compatible",
    sandboxes: [
      { name: "alpha", status: "current", lastBackupSeconds: 1_796_000_000 },
      { name: "beta", status: "stale", lastBackupSeconds: null },
    ],
    unfinishedOperations: 1,
  };

  it("writes HELP and TYPE for every family and this run's series", () => {
    const text = formatMetrics(
      {
        command: "backup-all",
        atSeconds: 1_796_000_100,
        success: true,
        host,
        offhost: new Map([["alpha", 1_796_000_000]]),
      },
      null,
    );
    for (const family of [
      "nemoclaw_last_run_timestamp_seconds",
      "nemoclaw_last_success_timestamp_seconds",
      "nemoclaw_backup_last_timestamp_seconds",
      "nemoclaw_backup_offhost_last_timestamp_seconds",
      "nemoclaw_preflight_verdict",
      "nemoclaw_sandboxes",
      "nemoclaw_unfinished_operations",
    ]) {
      expect(text).toContain(`# HELP ${family} `);
      expect(text).toContain(`# TYPE ${family} gauge\n`);
    }
    expect(text).toContain('nemoclaw_last_success_timestamp_seconds{command="backup-all"} 1796000100\n');
    expect(text).toContain('nemoclaw_backup_last_timestamp_seconds{sandbox="beta"} 0\n');
    expect(text).toContain('nemoclaw_preflight_verdict{verdict="compatible"} 1\n');
    expect(text).toContain('nemoclaw_preflight_verdict{verdict="drift"} 0\n');
    expect(text).toContain('nemoclaw_sandboxes{status="stale"} 1\n');
    expect(text).toContain("nemoclaw_unfinished_operations 1\n");
    expect(text.endsWith("\n")).toBe(true);
  });

  it("carries over other commands' series; a failed run keeps its command's last success", () => {
    const first = formatMetrics(
      { command: "backup-all", atSeconds: 100, success: true, host, offhost: new Map([["alpha", 90]]) },
      null,
    );
    const second = formatMetrics(
      { command: "status", atSeconds: 200, success: false, host: null, offhost: null },
      first,
    );
    const samples = parseMetrics(second);
    const value = (name: string, labels: Record<string, string>) =>
      samples.find((s) => s.name === name && JSON.stringify(s.labels) === JSON.stringify(labels))?.value;
    expect(value("nemoclaw_last_run_timestamp_seconds", { command: "backup-all" })).toBe("100");
    expect(value("nemoclaw_last_run_timestamp_seconds", { command: "status" })).toBe("200");
    expect(value("nemoclaw_last_success_timestamp_seconds", { command: "status" })).toBeUndefined();
    // Not recomputed this run: kept from the previous file.
    expect(value("nemoclaw_backup_offhost_last_timestamp_seconds", { sandbox: "alpha" })).toBe("90");
    expect(value("nemoclaw_unfinished_operations", {})).toBe("1");
    const third = formatMetrics(
      { command: "backup-all", atSeconds: 300, success: false, host, offhost: null },
      second,
    );
    expect(third).toContain('nemoclaw_last_success_timestamp_seconds{command="backup-all"} 100\n');
    expect(third).toContain('nemoclaw_last_run_timestamp_seconds{command="backup-all"} 300\n');
  });

  it("escapes label values", () => {
    const text = formatMetrics(
      { command: 'a"b\\c', atSeconds: 1, success: true, host: null, offhost: null },
      null,
    );
    expect(text).toContain('{command="a\\"b\\\\c"}');
    expect(
      parseMetrics(text).find((s) => s.name === "nemoclaw_last_run_timestamp_seconds")?.labels.command,
    ).toBe('a"b\\c');
  });
});
