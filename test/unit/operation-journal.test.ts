import { spawn } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import os, { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { describeOperation, pinnedBackups } from "../../src/actions/operations.js";
import {
  closeJournal,
  currentWriter,
  type FoundJournal,
  JournalHandle,
  journalFile,
  operationsDir,
  orphanGroupToSignal,
  readJournal,
  readJournals,
  stopOrphanChild,
  writeJournal,
  writerState,
} from "../../src/adapters/operations-journal.js";
import {
  isSameProcessInstance,
  processStartTime,
  readProcessState,
} from "../../src/adapters/process-identity.js";
import {
  decideResume,
  describeInterruption,
  finishingCommand,
  JOURNAL_PHASES,
  type JournalPhase,
  type OperationJournal,
  parseJournal,
  pinnedBy,
  type SandboxObservation,
  selectPrunable,
} from "../../src/domain/operation-journal.js";
import { ChildTracker, waitFor } from "./support/child-processes.js";
import { NO_SUCH_PID } from "./support/stub-runner.js";

const BACKUP = "2026-11-28T10-00-00-000Z";
const SAFETY = "2026-11-29T09-00-00-000Z";

function journal(patch: Partial<OperationJournal> = {}): OperationJournal {
  return {
    version: 1,
    operation: "rebuild",
    sandbox: "alpha",
    gateway: "nemoclaw",
    backup: BACKUP,
    safetyBackup: null,
    image: "ghcr.io/nvidia/nemoclaw/sandbox-openclaw:2026.7.1",
    finalPhase: "Ready",
    phase: "restoring",
    startedAt: "2026-11-29T10:00:00.000Z",
    updatedAt: "2026-11-29T10:00:05.000Z",
    writer: { pid: 4242, bootId: "b0", startTick: 123, hostname: "host-a" },
    child: null,
    command: "nemoclaw upgrade-sandboxes --yes",
    ...patch,
  };
}

/** The journal as JSON with one top-level field replaced (`undefined` removes it). */
function withField(field: string, value: unknown): string {
  const doc: Record<string, unknown> = { ...journal() };
  if (value === undefined) delete doc[field];
  else doc[field] = value;
  return JSON.stringify(doc);
}

function reasonOf(text: string, sandbox = "alpha"): string {
  const parsed = parseJournal(text, sandbox);
  if (parsed.ok) return expect.unreachable(`expected ${text} to be refused`);
  return parsed.reason;
}

describe("parseJournal: the optional fields of §18", () => {
  it("accepts verifiedAgentVersion and extraSafetyBackups, refuses malformed ones", () => {
    expect(parseJournal(withField("verifiedAgentVersion", "2026.7.1"), "alpha").ok).toBe(true);
    expect(parseJournal(withField("verifiedAgentVersion", null), "alpha").ok).toBe(true);
    expect(parseJournal(withField("extraSafetyBackups", [SAFETY]), "alpha").ok).toBe(true);
    expect(reasonOf(withField("verifiedAgentVersion", 7))).toContain("verifiedAgentVersion");
    expect(reasonOf(withField("extraSafetyBackups", ["../x"]))).toContain("extraSafetyBackups");
    expect(reasonOf(withField("extraSafetyBackups", SAFETY))).toContain("extraSafetyBackups");
  });
});

describe("parseJournal", () => {
  it("accepts a version-1 journal and returns it unchanged", () => {
    const j = journal({
      safetyBackup: SAFETY,
      child: { pid: 5000, pgid: 5000, startTick: 0 },
      writer: { pid: 2, bootId: null, startTick: null, hostname: "" },
      image: null,
      finalPhase: "Stopped",
      operation: "restore",
    });
    expect(parseJournal(JSON.stringify(j), "alpha")).toEqual({ ok: true, journal: j });
  });

  it.each(JOURNAL_PHASES)("accepts phase %s", (phase) => {
    expect(parseJournal(JSON.stringify(journal({ phase })), "alpha").ok).toBe(true);
  });

  it("refuses a journal written by a newer version, naming the version", () => {
    expect(reasonOf(withField("version", 2))).toBe("written by a newer nemoclaw (journal version 2)");
  });

  it.each([
    ["0", 0],
    ['"1" (a string)', "1"],
    ["missing", undefined],
    ["0.5", 0.5],
    ["-1", -1],
  ])("refuses version %s as unknown", (_label, version) => {
    expect(reasonOf(withField("version", version))).toBe("unknown journal version");
  });

  it.each(["", "not json", "{", '{"version": 1,}'])("refuses garbage %j as not JSON", (text) => {
    expect(reasonOf(text)).toMatch(/^not JSON \(/);
  });

  it.each(["[]", "null", "3", '"journal"'])("refuses %s as not a JSON object", (text) => {
    expect(reasonOf(text)).toBe("not a JSON object");
  });

  it("refuses a journal that names another sandbox than its file", () => {
    expect(reasonOf(JSON.stringify(journal()), "beta")).toBe("invalid field(s): sandbox");
  });

  it("refuses an invalid sandbox name even when it matches the expected one", () => {
    const text = JSON.stringify(journal({ sandbox: "../alpha" }));
    expect(reasonOf(text, "../alpha")).toBe("invalid field(s): sandbox");
  });

  const writer = journal().writer;
  it.each<[string, string, unknown, string]>([
    ["an unknown operation", "operation", "upgrade", "operation"],
    ["a missing operation", "operation", undefined, "operation"],
    ["an empty gateway", "gateway", "", "gateway"],
    ["a gateway with a space", "gateway", "my gateway", "gateway"],
    ["a gateway starting with '-'", "gateway", "-g", "gateway"],
    ["a backup that is no timestamp", "backup", "latest", "backup"],
    ["a numeric backup", "backup", 20261128, "backup"],
    ["a missing backup", "backup", undefined, "backup"],
    ["a safety backup that is no timestamp", "safetyBackup", "2026-11-28", "safetyBackup"],
    ["a missing safetyBackup (must be null)", "safetyBackup", undefined, "safetyBackup"],
    ["a numeric image", "image", 3, "image"],
    ["a missing image (must be null)", "image", undefined, "image"],
    ["an unknown finalPhase", "finalPhase", "Running", "finalPhase"],
    ["an unknown phase", "phase", "done", "phase"],
    ["a capitalised phase", "phase", "Deleting", "phase"],
    ["a numeric startedAt", "startedAt", 1, "timestamps"],
    ["a missing updatedAt", "updatedAt", undefined, "timestamps"],
    ["a null command", "command", null, "command"],
    ["a null writer", "writer", null, "writer"],
    ["writer pid 1 (init)", "writer", { ...writer, pid: 1 }, "writer"],
    ["writer pid 0", "writer", { ...writer, pid: 0 }, "writer"],
    ["a string writer pid", "writer", { ...writer, pid: "4242" }, "writer"],
    ["a fractional writer pid", "writer", { ...writer, pid: 42.5 }, "writer"],
    ["a writer without hostname", "writer", { ...writer, hostname: undefined }, "writer"],
    ["a numeric bootId", "writer", { ...writer, bootId: 7 }, "writer"],
    ["a negative startTick", "writer", { ...writer, startTick: -1 }, "writer"],
    ["a writer that is an array", "writer", [4242], "writer"],
    ["a child pid of 1", "child", { pid: 1, pgid: 1, startTick: 5 }, "child"],
    ["a child without pgid", "child", { pid: 10, startTick: 5 }, "child"],
    ["a child with a negative start tick", "child", { pid: 10, pgid: 10, startTick: -5 }, "child"],
    ["a missing child (must be null)", "child", undefined, "child"],
    ["a child that is a pid", "child", 10, "child"],
  ])("refuses %s", (_label, field, value, problem) => {
    expect(reasonOf(withField(field, value))).toBe(`invalid field(s): ${problem}`);
  });

  it("lists every invalid field at once", () => {
    const text = JSON.stringify({ ...journal(), operation: "x", phase: "y", command: 1 });
    expect(reasonOf(text)).toBe("invalid field(s): operation, phase, command");
  });
});

describe("pinnedBy", () => {
  it("pins the backup, and the safety backup when there is one", () => {
    expect(pinnedBy(journal())).toEqual([BACKUP]);
    expect(pinnedBy(journal({ safetyBackup: SAFETY }))).toEqual([BACKUP, SAFETY]);
    const EXTRA = "2026-11-30T09-00-00-000Z";
    expect(pinnedBy(journal({ safetyBackup: SAFETY, extraSafetyBackups: [EXTRA] }))).toEqual([
      BACKUP,
      SAFETY,
      EXTRA,
    ]);
  });
});

describe("selectPrunable", () => {
  const F = (timestamp: string, fileCount = 3) => ({ timestamp, fileCount });
  const E = (timestamp: string) => ({ timestamp, fileCount: 0 });
  const none = new Set<string>();

  it("keeps the N newest backups with files and removes the older ones", () => {
    expect(selectPrunable([F("f4"), F("f3"), F("f2"), F("f1")], 2, none)).toEqual(["f2", "f1"]);
    expect(selectPrunable([F("f2"), F("f1")], 2, none)).toEqual([]);
    expect(selectPrunable([F("f3"), F("f2"), F("f1")], 1, none)).toEqual(["f2", "f1"]);
  });

  it("never counts empty backups toward keep", () => {
    // keep 2: e1 and e2 are newer than the oldest kept backup with files (f2), so they stay too.
    expect(selectPrunable([E("e1"), F("f1"), E("e2"), F("f2"), F("f3")], 2, none)).toEqual(["f3"]);
  });

  it("keeps the newest backup with files when every newer one is empty", () => {
    expect(selectPrunable([E("e3"), E("e2"), E("e1"), F("f1"), F("f0")], 1, none)).toEqual([
      "e2",
      "e1",
      "f0",
    ]);
  });

  it("removes empty backups older than the oldest kept backup with files", () => {
    expect(selectPrunable([F("f2"), E("e1"), F("f1"), E("e0")], 1, none)).toEqual(["e1", "f1", "e0"]);
  });

  it("never removes a pinned backup, empty or not", () => {
    const pinned = new Set(["f1", "e0"]);
    const out = selectPrunable([F("f3"), F("f2"), F("f1"), E("e0")], 1, pinned);
    expect(out).toEqual(["f2"]);
    expect(out).not.toContain("f1");
    expect(out).not.toContain("e0");
  });

  it("keeps the `keep` newest empty backups of a sandbox that has only empty ones", () => {
    expect(selectPrunable([E("e3"), E("e2"), E("e1")], 2, none)).toEqual(["e1"]);
    expect(selectPrunable([E("e3"), E("e2"), E("e1")], 1, none)).toEqual(["e2", "e1"]);
  });

  // docs/design.md "Pins": empty backups survive only while newer than the oldest kept backup
  // with files — also when fewer than `keep` backups hold files.
  it("removes an empty backup older than every backup with files, even below keep (design rule 3)", () => {
    expect(selectPrunable([F("f1"), E("e0")], 2, none)).toEqual(["e0"]);
  });

  it("removes nothing from an empty list", () => {
    expect(selectPrunable([], 1, none)).toEqual([]);
  });
});

describe("decideResume", () => {
  const observations: [string, SandboxObservation][] = [
    ["absent", { exists: false }],
    ["Deleting", { exists: true, phase: "Deleting" }],
    ["Error", { exists: true, phase: "Error" }],
    ["Stopped", { exists: true, phase: "Stopped" }],
    ["Provisioning", { exists: true, phase: "Provisioning" }],
    ["Ready", { exists: true, phase: "Ready" }],
  ];
  const expected: Record<JournalPhase, Record<string, string>> = {
    deleting: {
      absent: "create",
      Deleting: "wait-deleted",
      Error: "abandon",
      Stopped: "abandon",
      Provisioning: "abandon",
      Ready: "abandon",
    },
    creating: {
      absent: "create",
      Deleting: "wait-deleted",
      Error: "recreate",
      Stopped: "start",
      Provisioning: "wait-ready",
      Ready: "continue",
    },
    restoring: {
      absent: "create",
      Deleting: "wait-deleted",
      Error: "recreate",
      Stopped: "start",
      Provisioning: "wait-ready",
      Ready: "continue",
    },
    verifying: {
      absent: "create",
      Deleting: "wait-deleted",
      Error: "recreate",
      Stopped: "start",
      Provisioning: "wait-ready",
      Ready: "continue",
    },
    registering: {
      absent: "create",
      Deleting: "wait-deleted",
      Error: "recreate",
      Stopped: "start",
      Provisioning: "wait-ready",
      Ready: "continue",
    },
  };
  const cases = JOURNAL_PHASES.flatMap((phase) =>
    observations.map(([label, seen]) => [phase, label, seen, expected[phase][label]] as const),
  );

  it("covers every phase and observation", () => {
    expect(cases).toHaveLength(30);
  });

  it.each(cases)("phase %s, sandbox %s → %s", (phase, _label, seen, move) => {
    expect(decideResume(phase, seen)).toBe(move);
  });

  it("waits for any other transitional phase (Starting, Unknown) once past deleting", () => {
    expect(decideResume("restoring", { exists: true, phase: "Starting" })).toBe("wait-ready");
    expect(decideResume("creating", { exists: true, phase: "Unknown" })).toBe("wait-ready");
  });
});

describe("describeInterruption and finishingCommand", () => {
  it.each<[JournalPhase, string]>([
    ["deleting", "rebuild interrupted while deleting the old sandbox"],
    ["creating", "rebuild interrupted while creating the sandbox"],
    ["restoring", "rebuild interrupted while restoring state"],
    ["verifying", "rebuild interrupted while verifying the restored state"],
    ["registering", "rebuild interrupted while updating the registry"],
  ])("names phase %s", (phase, text) => {
    expect(describeInterruption(journal({ phase }))).toBe(text);
  });

  it("names the operation", () => {
    expect(describeInterruption(journal({ operation: "restore", phase: "creating" }))).toBe(
      "restore interrupted while creating the sandbox",
    );
  });

  it("finishes a rebuild with upgrade-sandboxes, a restore with restore and the same backup", () => {
    expect(finishingCommand(journal({ sandbox: "beta" }))).toBe("nemoclaw upgrade-sandboxes --yes beta");
    expect(finishingCommand(journal({ sandbox: "beta", gateway: "staging" }))).toBe(
      "nemoclaw upgrade-sandboxes --yes beta --gateway staging",
    );
    expect(finishingCommand(journal({ operation: "restore", safetyBackup: SAFETY }))).toBe(
      `nemoclaw restore alpha --backup ${BACKUP} --yes`,
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Adapter: the journal files.

const dirs: string[] = [];
const tracker = new ChildTracker();
afterEach(async () => {
  await tracker.stopAll();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function stateRoot(): string {
  const dir = mkdtempSync(path.join(tmpdir(), "journal-"));
  dirs.push(dir);
  return dir;
}
const mode = (p: string) => statSync(p).mode & 0o777;
const onDisk = (root: string, sandbox = "alpha") =>
  JSON.parse(readFileSync(journalFile(root, sandbox), "utf8")) as OperationJournal;

/** A clock that moves one second per reading. */
function ticking(start = Date.parse("2026-11-29T10:00:00.000Z")) {
  let t = start;
  return () => {
    const d = new Date(t);
    t += 1000;
    return d;
  };
}

function openFresh(root: string, now = ticking(), phase: JournalPhase = "deleting") {
  const { writer: _w, child: _c, updatedAt: _u, ...rest } = journal({ phase });
  return JournalHandle.open(root, rest, { now, procRoot: "/proc" });
}

describe("JournalHandle", () => {
  it("writes the journal 0600 in a 0700 operations dir, as this process", () => {
    const root = stateRoot();
    const handle = openFresh(root);
    const file = journalFile(root, "alpha");
    expect(file).toBe(path.join(root, "operations", "alpha.json"));
    expect(mode(operationsDir(root))).toBe(0o700);
    expect(mode(file)).toBe(0o600);
    const written = onDisk(root);
    expect(written).toEqual(handle.journal);
    expect(written.phase).toBe("deleting");
    expect(written.child).toBeNull();
    expect(written.updatedAt).toBe("2026-11-29T10:00:00.000Z");
    expect(written.writer).toEqual({
      pid: process.pid,
      bootId: currentWriter().bootId,
      startTick: processStartTime(process.pid),
      hostname: os.hostname(),
    });
    expect(parseJournal(readFileSync(file, "utf8"), "alpha").ok).toBe(true);
    expect(writerState(written.writer)).toBe("self");
  });

  it("rewrites the phase on disk at every advance, before returning", () => {
    const root = stateRoot();
    const handle = openFresh(root);
    const seen: [string, string][] = [];
    for (const phase of ["creating", "restoring", "verifying", "registering"] as const) {
      handle.advance(phase);
      const written = onDisk(root);
      seen.push([written.phase, written.updatedAt]);
      expect(written).toEqual(handle.journal);
      expect(mode(journalFile(root, "alpha"))).toBe(0o600);
    }
    expect(seen).toEqual([
      ["creating", "2026-11-29T10:00:01.000Z"],
      ["restoring", "2026-11-29T10:00:02.000Z"],
      ["verifying", "2026-11-29T10:00:03.000Z"],
      ["registering", "2026-11-29T10:00:04.000Z"],
    ]);
    // Atomic writes leave no temp files behind.
    expect(readdirSync(operationsDir(root))).toEqual(["alpha.json"]);
  });

  it("does not rewrite when the phase is unchanged and no child is recorded", () => {
    const root = stateRoot();
    const handle = openFresh(root, ticking(), "creating");
    const before = readFileSync(journalFile(root, "alpha"), "utf8");
    handle.advance("creating");
    expect(readFileSync(journalFile(root, "alpha"), "utf8")).toBe(before);
  });

  it("records a live child with its start tick, and the next advance clears it", () => {
    const root = stateRoot();
    const handle = openFresh(root);
    handle.trackChild(process.pid);
    expect(onDisk(root).child).toEqual({
      pid: process.pid,
      pgid: process.pid,
      startTick: processStartTime(process.pid),
    });
    // Same phase, but a child is recorded: the advance must still write (clearing it).
    handle.advance("deleting");
    expect(onDisk(root).child).toBeNull();
    expect(onDisk(root).phase).toBe("deleting");
  });

  it("records no child for a pid that names no process", () => {
    const root = stateRoot();
    const handle = openFresh(root);
    const before = readFileSync(journalFile(root, "alpha"), "utf8");
    handle.trackChild(NO_SUCH_PID);
    expect(readFileSync(journalFile(root, "alpha"), "utf8")).toBe(before);
    expect(handle.journal.child).toBeNull();
  });

  it("close appends one history line (journal + outcome + finishedAt) and removes the journal", () => {
    const root = stateRoot();
    const handle = openFresh(root);
    handle.advance("registering");
    const last = handle.journal;
    handle.close("completed");
    expect(existsSync(journalFile(root, "alpha"))).toBe(false);
    const history = path.join(operationsDir(root), "history.jsonl");
    expect(mode(history)).toBe(0o600);
    const lines = readFileSync(history, "utf8").trimEnd().split("\n");
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0] as string)).toEqual({
      ...last,
      finishedAt: "2026-11-29T10:00:02.000Z",
      outcome: "completed",
    });
    expect(readJournals(root).size).toBe(0);
  });

  it("appends, never rewrites, the history", () => {
    const root = stateRoot();
    openFresh(root).close("abandoned-no-delete");
    openFresh(root).close("resumed-and-completed");
    closeJournal(root, journal({ sandbox: "beta" }), "replaced", new Date("2026-11-30T00:00:00.000Z"));
    const outcomes = readFileSync(path.join(operationsDir(root), "history.jsonl"), "utf8")
      .trimEnd()
      .split("\n")
      .map((l) => JSON.parse(l) as { outcome: string; sandbox: string });
    expect(outcomes.map((o) => [o.sandbox, o.outcome])).toEqual([
      ["alpha", "abandoned-no-delete"],
      ["alpha", "resumed-and-completed"],
      ["beta", "replaced"],
    ]);
  });

  it("a history that cannot be appended is a warning: the journal is still removed", () => {
    const root = stateRoot();
    const handle = openFresh(root);
    // history.jsonl as a directory: the append fails (EISDIR) whatever the privileges.
    mkdirSync(path.join(operationsDir(root), "history.jsonl"));
    const warning = handle.close("completed");
    expect(warning).toMatch(
      /could not append to .*history\.jsonl \(EISDIR\); the completed operation of alpha/,
    );
    expect(readJournals(root).size).toBe(0);
  });

  it("records safety backups (first `safetyBackup`, then `extraSafetyBackups`) and the verified version durably", () => {
    const root = stateRoot();
    const handle = openFresh(root);
    handle.addSafetyBackup("2026-11-30T01-00-00-000Z");
    handle.addSafetyBackup("2026-11-30T02-00-00-000Z");
    handle.advance("registering", { verifiedAgentVersion: "2026.7.1" });
    const written = onDisk(root);
    expect(written.safetyBackup).toBe("2026-11-30T01-00-00-000Z");
    expect(written.extraSafetyBackups).toEqual(["2026-11-30T02-00-00-000Z"]);
    expect(written.verifiedAgentVersion).toBe("2026.7.1");
    expect(written.phase).toBe("registering");
    expect(parseJournal(JSON.stringify(written), "alpha").ok).toBe(true);
  });

  it("taking over a found journal keeps its phase and makes this process the writer", () => {
    const root = stateRoot();
    const found = journal({ phase: "verifying", child: { pid: 999, pgid: 999, startTick: 5 } });
    writeJournal(root, found);
    const handle = JournalHandle.open(root, found, { now: ticking(), procRoot: "/proc" });
    const written = onDisk(root);
    expect(written.phase).toBe("verifying");
    expect(written.startedAt).toBe(found.startedAt);
    expect(written.writer.pid).toBe(process.pid);
    expect(written.child).toBeNull();
    expect(handle.journal).toEqual(written);
  });

  it("refuses a journal path for an invalid sandbox name", () => {
    expect(() => journalFile(stateRoot(), "../etc")).toThrow(/refusing a journal path/);
  });
});

describe("readJournals", () => {
  it("finds nothing when there is no operations dir", () => {
    const root = stateRoot();
    expect(readJournals(root).size).toBe(0);
    expect(readJournal(root, "alpha")).toBeNull();
    expect(existsSync(operationsDir(root))).toBe(false);
  });

  it("reads journals only: never history.jsonl, *.started.json, temp files or odd names", () => {
    const root = stateRoot();
    writeJournal(root, journal());
    const ops = operationsDir(root);
    writeFileSync(path.join(ops, "history.jsonl"), `${JSON.stringify(journal({ sandbox: "gamma" }))}\n`);
    writeFileSync(path.join(ops, "alpha.started.json"), "garbage");
    writeFileSync(path.join(ops, ".beta.json.123.abcdef.tmp"), JSON.stringify(journal({ sandbox: "beta" })));
    writeFileSync(path.join(ops, "Upper.json"), "{}");
    writeFileSync(path.join(ops, "delta.json.bak"), "{}");
    writeFileSync(path.join(ops, "-x.json"), "{}");
    const found = readJournals(root);
    expect([...found.keys()]).toEqual(["alpha"]);
    expect(found.get("alpha")).toEqual({
      sandbox: "alpha",
      file: path.join(ops, "alpha.json"),
      ok: true,
      journal: journal(),
    });
  });

  it("reports unreadable, foreign and newer-version journals as not ok, never drops them", () => {
    const root = stateRoot();
    const ops = operationsDir(root);
    mkdirSync(ops, { recursive: true });
    writeFileSync(
      path.join(ops, "beta.json"),
      JSON.stringify({ ...journal({ sandbox: "beta" }), version: 2 }),
    );
    writeFileSync(path.join(ops, "gamma.json"), "{not json");
    mkdirSync(path.join(ops, "delta.json"));
    symlinkSync(path.join(ops, "gamma.json"), path.join(ops, "epsilon.json"));
    writeFileSync(path.join(ops, "zeta.json"), JSON.stringify(journal({ sandbox: "alpha" })));
    writeFileSync(path.join(ops, "eta.json"), " ".repeat(256 * 1024 + 1));
    const found = readJournals(root);
    const reasons = Object.fromEntries(
      [...found].map(([name, f]: [string, FoundJournal]) => [name, f.ok ? "ok" : f.reason]),
    );
    expect(reasons).toEqual({
      beta: "written by a newer nemoclaw (journal version 2)",
      delta: "not a regular file",
      epsilon: "unreadable (ELOOP)",
      eta: "larger than 256 KiB",
      gamma: expect.stringMatching(/^not JSON/),
      zeta: "invalid field(s): sandbox",
    });
    expect(readJournal(root, "beta")).toMatchObject({ ok: false, sandbox: "beta" });
    expect(readJournal(root, "epsilon")).toMatchObject({ ok: false, reason: "unreadable (ELOOP)" });
    // Reading touched nothing.
    expect(readdirSync(ops).sort()).toEqual(
      ["beta.json", "delta.json", "epsilon.json", "eta.json", "gamma.json", "zeta.json"].sort(),
    );
  });
});

/** A fake /proc: a boot id and `<pid>/stat` files with chosen start ticks. */
function fakeProc(bootId: string, processes: Record<number, number>): string {
  const root = stateRoot();
  mkdirSync(path.join(root, "sys/kernel/random"), { recursive: true });
  writeFileSync(path.join(root, "sys/kernel/random/boot_id"), `${bootId}\n`);
  for (const [pid, tick] of Object.entries(processes)) {
    mkdirSync(path.join(root, pid));
    const fields = Array.from({ length: 17 }, () => "0").join(" ");
    writeFileSync(path.join(root, pid, "stat"), `${pid} (nemoclaw) S 1 ${fields} ${tick} 0 0\n`);
  }
  return root;
}

describe("writerState", () => {
  const host = os.hostname();

  it("is self for this process", () => {
    expect(writerState(currentWriter())).toBe("self");
  });

  it("is other-host for a writer on another host, even with our pid", () => {
    expect(writerState({ ...currentWriter(), hostname: `${host}-elsewhere` })).toBe("other-host");
  });

  it("is dead for a pid that names no process", () => {
    const proc = fakeProc("boot-1", {});
    expect(writerState({ pid: 4242, bootId: "boot-1", startTick: 77, hostname: host }, proc)).toBe("dead");
    expect(writerState({ pid: 4242, bootId: null, startTick: null, hostname: host }, proc)).toBe("dead");
    expect(writerState({ pid: NO_SUCH_PID, bootId: null, startTick: 5, hostname: host })).toBe("dead");
  });

  it("is alive for a live process with the recorded start tick", () => {
    const proc = fakeProc("boot-1", { 4242: 77 });
    expect(writerState({ pid: 4242, bootId: "boot-1", startTick: 77, hostname: host }, proc)).toBe("alive");
    const ppid = process.ppid;
    const tick = processStartTime(ppid);
    expect(tick).not.toBeNull();
    expect(writerState({ pid: ppid, bootId: null, startTick: tick, hostname: host })).toBe("alive");
  });

  it("is dead for a live process with another start tick (a reused pid)", () => {
    const proc = fakeProc("boot-1", { 4242: 77 });
    expect(writerState({ pid: 4242, bootId: "boot-1", startTick: 76, hostname: host }, proc)).toBe("dead");
    const ppid = process.ppid;
    const tick = processStartTime(ppid) as number;
    expect(writerState({ pid: ppid, bootId: null, startTick: tick + 1, hostname: host })).toBe("dead");
  });

  it("is dead for a writer of another boot, even when the pid and tick match", () => {
    const proc = fakeProc("boot-2", { 4242: 77 });
    expect(writerState({ pid: 4242, bootId: "boot-1", startTick: 77, hostname: host }, proc)).toBe("dead");
  });

  it("without a start tick, goes by liveness alone", () => {
    const proc = fakeProc("boot-1", { 4242: 77 });
    expect(writerState({ pid: 4242, bootId: null, startTick: null, hostname: host }, proc)).toBe("alive");
  });
});

describe("stopOrphanChild", () => {
  const boot = currentWriter().bootId;
  function sleeper(detached = true): { pid: number; tick: number } {
    const child = spawn("sleep", ["30"], { detached, stdio: "ignore" });
    const pid = tracker.track(child);
    const tick = processStartTime(pid);
    if (tick === null) throw new Error("sleep did not start");
    return { pid, tick };
  }
  function orphan(child: OperationJournal["child"], bootId: string | null = boot) {
    return { child, writer: { pid: NO_SUCH_PID, bootId, startTick: 1, hostname: os.hostname() } };
  }

  it("does nothing without a child or for one that is gone", async () => {
    expect(await stopOrphanChild(orphan(null))).toBe(false);
    expect(await stopOrphanChild(orphan({ pid: NO_SUCH_PID, pgid: NO_SUCH_PID, startTick: 1 }))).toBe(false);
  });

  it("never signals a live process whose start tick differs (a reused pid)", async () => {
    const { pid, tick } = sleeper();
    expect(await stopOrphanChild(orphan({ pid, pgid: pid, startTick: tick + 1 }), "/proc", 200)).toBe(false);
    expect(readProcessState(pid)).toBe("alive");
  });

  it("never signals a live group named by a journal of another boot, or of an unknown boot", async () => {
    const { pid, tick } = sleeper();
    const child = { pid, pgid: pid, startTick: tick };
    expect(orphanGroupToSignal(child, "another-boot")).toBeNull();
    expect(await stopOrphanChild(orphan(child, "another-boot"), "/proc", 200)).toBe(false);
    expect(await stopOrphanChild(orphan(child, null), "/proc", 200)).toBe(false);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(isSameProcessInstance(pid, tick)).toBe(true);
  });

  it("never signals a group whose leader is not the recorded process", async () => {
    const leader = sleeper(); // an unrelated live process group
    const member = sleeper();
    // The recorded child is real (pid + tick match) but the journal names another live group.
    const crafted = { pid: member.pid, pgid: leader.pid, startTick: member.tick };
    expect(orphanGroupToSignal(crafted, boot)).toBeNull();
    expect(await stopOrphanChild(orphan(crafted), "/proc", 200)).toBe(false);
    // A real process that is not the leader of its own group (it shares ours): -pid names no
    // group it leads, so nothing is signalled.
    const inOurGroup = sleeper(false);
    const notLeader = { pid: inOurGroup.pid, pgid: inOurGroup.pid, startTick: inOurGroup.tick };
    expect(orphanGroupToSignal(notLeader, boot)).toBeNull();
    expect(await stopOrphanChild(orphan(notLeader), "/proc", 200)).toBe(false);
    // Our own process and pid 1 are never candidates, whatever the journal says.
    const ownTick = processStartTime(process.pid) ?? 0;
    expect(orphanGroupToSignal({ pid: process.pid, pgid: process.pid, startTick: ownTick }, boot)).toBeNull();
    expect(orphanGroupToSignal({ pid: 1, pgid: 1, startTick: processStartTime(1) ?? 0 }, boot)).toBeNull();
    await new Promise((resolve) => setTimeout(resolve, 100));
    for (const p of [leader, member, inOurGroup]) expect(isSameProcessInstance(p.pid, p.tick)).toBe(true);
  });

  it("kills the recorded child's process group, on the same boot, and waits until it is gone", async () => {
    const { pid, tick } = sleeper();
    expect(orphanGroupToSignal({ pid, pgid: pid, startTick: tick }, boot)).toBe(pid);
    expect(await stopOrphanChild(orphan({ pid, pgid: pid, startTick: tick }), "/proc", 2000)).toBe(true);
    await waitFor(() => readProcessState(pid) !== "alive", 2000);
    expect(processStartTime(pid)).toBeNull();
  });
});

describe("describeOperation and pinnedBackups", () => {
  const file = "/state/operations/alpha.json";

  it("an unreadable journal is reported, names `operations abandon`, and pins everything (null)", () => {
    const op = describeOperation({ sandbox: "alpha", file, ok: false, reason: "not JSON (x)" }, "/proc");
    expect(op).toMatchObject({
      sandbox: "alpha",
      state: "unreadable",
      journal: null,
      command: "nemoclaw operations abandon alpha --yes",
    });
    expect(op.reason).toContain(`operations journal ${file} is unreadable (not JSON (x))`);
    expect(op.reason).toContain("nemoclaw operations abandon alpha --yes");
    expect(pinnedBackups(new Map([["alpha", op]]), "alpha")).toBeNull();
  });

  it("a journal of this live process is in progress", () => {
    const j = journal({ writer: currentWriter() });
    const op = describeOperation({ sandbox: "alpha", file, ok: true, journal: j }, "/proc");
    expect(op.state).toBe("in-progress");
    expect(op.reason).toBe(`rebuild in progress (pid ${process.pid})`);
    expect(op.command).toBeNull();
  });

  it("a journal of another host is never resumed from here; the message names `operations abandon`", () => {
    const j = journal({ writer: { ...currentWriter(), hostname: "far-away" } });
    const op = describeOperation({ sandbox: "alpha", file, ok: true, journal: j }, "/proc");
    expect(op.state).toBe("other-host");
    expect(op.reason).toContain("on host far-away");
    expect(op.command).toBe("nemoclaw operations abandon alpha --yes");
    expect(op.reason).toContain(op.command);
  });

  it("a dead run's journal of another gateway: `other-gateway`, finished only with --gateway", () => {
    const dead = { pid: NO_SUCH_PID, bootId: null, startTick: 9, hostname: os.hostname() };
    const j = journal({ operation: "restore", gateway: "other", writer: dead });
    const op = describeOperation({ sandbox: "alpha", file, ok: true, journal: j }, "/proc", "nemoclaw");
    expect(op.state).toBe("other-gateway");
    expect(op.command).toBe(`nemoclaw restore alpha --backup ${BACKUP} --yes --gateway other`);
    expect(op.reason).toContain("on gateway 'other'");
    // The same journal, seen by a command for gateway `other`: an ordinary interrupted one.
    expect(describeOperation({ sandbox: "alpha", file, ok: true, journal: j }, "/proc", "other").state).toBe(
      "interrupted",
    );
  });

  it("a journal of a dead run is interrupted, with the command that finishes it", () => {
    const j = journal({
      operation: "restore",
      safetyBackup: SAFETY,
      writer: { pid: NO_SUCH_PID, bootId: null, startTick: 9, hostname: os.hostname() },
    });
    const op = describeOperation({ sandbox: "alpha", file, ok: true, journal: j }, "/proc");
    expect(op.state).toBe("interrupted");
    expect(op.command).toBe(`nemoclaw restore alpha --backup ${BACKUP} --yes`);
    expect(op.reason).toBe(
      `restore interrupted while restoring state; its state is kept in backup ${BACKUP}; run \`${op.command}\` to finish it`,
    );
    const ops = new Map([["alpha", op]]);
    expect(pinnedBackups(ops, "alpha")).toEqual(new Set([BACKUP, SAFETY]));
    expect(pinnedBackups(ops, "beta")).toEqual(new Set());
  });
});
