// restore at action level: safety backup, journal, failure after the rm, cancel, finish and
// replace an open journal — all over the stub runner, the sandbox's files on disk.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { RestoreFailed, type RestoreOptions, restoreSandbox } from "../../src/actions/restore.js";
import { journalFile, readJournal } from "../../src/adapters/operations-journal.js";
import { ExitCode } from "../../src/domain/exit-codes.js";
import { fail, type StubAnswer } from "./support/stub-runner.js";
import {
  addSandbox,
  entry,
  GATEWAY,
  type Host,
  IMAGE,
  interruptedJournal,
  makeHost,
  registerPreflight,
  registerSandboxes,
  sealedBackup,
  workCalls,
  writeRegistry,
} from "./support/workflow-host.js";

const NOW_TS = "2026-11-29T12-00-00-000Z";
const TS = "2026-11-28T10-00-00-000Z";
const OTHER_TS = "2026-11-27T10-00-00-000Z";
const hosts: Host[] = [];
afterEach(() => {
  for (const h of hosts.splice(0)) {
    h.stub.assertAllUsed();
    h.cleanup();
  }
});

interface Setup {
  h: Host;
  /** What each OpenShell call on alpha saw: its verb and whether the journal existed. */
  seen: { verb: string; journal: boolean }[];
}

function setup(answer?: (args: readonly string[]) => StubAnswer | undefined): Setup {
  const h = makeHost();
  hosts.push(h);
  writeRegistry(h, { alpha: entry("alpha") });
  addSandbox(h, "alpha", { ".openclaw/live.txt": "live state\n" });
  sealedBackup(h, "alpha", TS);
  registerPreflight(h);
  const seen: Setup["seen"] = [];
  const journal = journalFile(h.ctx.settings.paths.stateRoot, "alpha");
  registerSandboxes(h, (args) => {
    if (args[0] === "-g") {
      const verb =
        args[3] === "exec" ? (args.slice(args.indexOf("--") + 1)[0] as string) : (args[3] as string);
      seen.push({ verb, journal: existsSync(journal) });
    }
    return answer?.(args);
  });
  return { h, seen };
}

function options(extra: Partial<RestoreOptions> = {}): RestoreOptions {
  return {
    gatewayName: GATEWAY,
    create: false,
    strict: false,
    rerunCommand: "nemoclaw restore alpha --yes",
    confirm: async () => true,
    ...extra,
  };
}

const liveFiles = (h: Host) => readdirSync(path.join(h.root, "boxes/alpha/sandbox/.openclaw")).sort();
const backups = (h: Host) => readdirSync(path.join(h.ctx.settings.paths.backupsRoot, "alpha")).sort();
function history(h: Host): { outcome: string; backup: string; operation: string }[] {
  const file = path.join(h.ctx.settings.paths.stateRoot, "operations", "history.jsonl");
  if (!existsSync(file)) return [];
  return readFileSync(file, "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));
}

describe("restore (action level)", () => {
  it("takes the safety backup before the journal exists, then rm + upload + verify under the journal", async () => {
    const { h, seen } = setup();
    const run = await restoreSandbox(h.ctx, "alpha", options({ timestamp: TS }));
    expect(run.cancelled).toBe(false);
    expect(run.result).toMatchObject({
      sandbox: "alpha",
      created: false,
      backup: { timestamp: TS, files: 1 },
      safetyBackup: { timestamp: NOW_TS },
      recovery: [],
      resumed: null,
    });
    const safetyDownload = seen.findIndex((s) => s.verb === "download");
    const rm = seen.findIndex((s) => s.verb === "rm");
    expect(safetyDownload).toBeGreaterThanOrEqual(0);
    expect(seen[safetyDownload]?.journal).toBe(false);
    expect(rm).toBeGreaterThan(safetyDownload);
    expect(seen.slice(rm).every((s) => s.journal)).toBe(true);
    expect(seen.map((s) => s.verb).slice(rm)).toEqual(expect.arrayContaining(["upload", "download"]));
    expect(seen.map((s) => s.verb)).not.toContain("delete");
    // The backup's state is live; the previous state is in the safety backup.
    expect(liveFiles(h)).toEqual(["x"]);
    expect(backups(h)).toEqual([TS, NOW_TS]);
    expect(
      readFileSync(
        path.join(h.ctx.settings.paths.backupsRoot, "alpha", NOW_TS, ".openclaw/live.txt"),
        "utf8",
      ),
    ).toBe("live state\n");
    expect(existsSync(journalFile(h.ctx.settings.paths.stateRoot, "alpha"))).toBe(false);
    expect(history(h).map((e) => [e.operation, e.outcome])).toEqual([["restore", "completed"]]);
  });

  it("a failed upload after the rm → RestoreFailed (exit 1) with the safety backup and both recovery commands", async () => {
    const { h } = setup((args) =>
      args[3] === "upload" ? fail("Error:   × upload failed: disk quota exceeded\n") : undefined,
    );
    const error = await restoreSandbox(h.ctx, "alpha", options({ timestamp: TS })).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RestoreFailed);
    const failed = error as RestoreFailed;
    expect(failed.exitCode).toBe(ExitCode.Failed);
    expect(failed.safetyBackup?.timestamp).toBe(NOW_TS);
    expect(failed.recovery).toEqual([
      `nemoclaw restore alpha --backup ${NOW_TS} --yes`,
      `nemoclaw restore alpha --backup ${TS} --yes`,
    ]);
    expect(failed.message).toContain(
      `the previous state is preserved in ${h.ctx.settings.paths.backupsRoot}/alpha/${NOW_TS}`,
    );
    // The journal stays open, naming the restore, so the next run finishes it.
    const found = readJournal(h.ctx.settings.paths.stateRoot, "alpha");
    expect(found?.ok && found.journal).toMatchObject({
      operation: "restore",
      backup: TS,
      safetyBackup: NOW_TS,
    });
    expect(existsSync(path.join(h.root, "boxes/alpha/sandbox/.openclaw"))).toBe(false);
  });

  it("upload progress: from 0 to the manifest's bytes on success, never reaching them on a failed upload", async () => {
    const ok = setup();
    const seen: { bytes: number; total: number }[] = [];
    await restoreSandbox(ok.h.ctx, "alpha", options({ timestamp: TS, onUpload: (p) => seen.push(p) }));
    expect(seen[0]).toMatchObject({ bytes: 0, total: 1 });
    expect(seen.at(-1)).toMatchObject({ bytes: 1, total: 1 });

    const failing = setup((args) => (args[3] === "upload" ? fail("Error:   × broken pipe\n") : undefined));
    const partial: { bytes: number; total: number }[] = [];
    await restoreSandbox(
      failing.h.ctx,
      "alpha",
      options({ timestamp: TS, onUpload: (p) => partial.push(p) }),
    ).catch(() => {});
    expect(partial.length).toBeGreaterThan(0);
    expect(partial.every((p) => p.bytes < p.total)).toBe(true);
  });

  it("cancelled at the prompt: no safety backup, no journal, no destructive call", async () => {
    const { h, seen } = setup();
    let asked: { exists: boolean | null; ts: string } | null = null;
    const run = await restoreSandbox(
      h.ctx,
      "alpha",
      options({
        confirm: async (plan, exists) => {
          asked = { exists, ts: plan.backup.timestamp };
          return false;
        },
      }),
    );
    expect(run.cancelled).toBe(true);
    expect(run.result).toBeNull();
    expect(asked).toEqual({ exists: true, ts: TS });
    expect(seen.map((s) => s.verb)).toEqual(["get"]);
    expect(workCalls(h.stub)).toEqual([`-g ${GATEWAY} sandbox get alpha`]);
    expect(backups(h)).toEqual([TS]);
    expect(liveFiles(h)).toEqual(["live.txt"]);
    expect(existsSync(journalFile(h.ctx.settings.paths.stateRoot, "alpha"))).toBe(false);
    expect(readdirSync(h.ctx.settings.paths.locksDir)).toEqual([]);
  });

  it("an open journal and no --backup: finishes it from its backup, no new safety backup", async () => {
    const { h, seen } = setup();
    sealedBackup(h, "alpha", OTHER_TS);
    interruptedJournal(h, "alpha", "restoring", TS, {
      operation: "restore",
      safetyBackup: OTHER_TS,
      image: IMAGE,
    });
    let finishing: string | null = null;
    const run = await restoreSandbox(
      h.ctx,
      "alpha",
      options({
        confirm: async (_plan, _exists, journal) => {
          finishing = journal?.backup ?? null;
          return true;
        },
      }),
    );
    expect(finishing).toBe(TS);
    expect(run.result).toMatchObject({
      backup: { timestamp: TS },
      safetyBackup: { timestamp: OTHER_TS },
      resumed: { operation: "restore", phase: "restoring" },
    });
    // No download before the rm: nothing of the partial live state was backed up.
    const verbs = seen.map((s) => s.verb);
    expect(verbs.slice(0, verbs.indexOf("rm"))).not.toContain("download");
    expect(backups(h)).toEqual([OTHER_TS, TS]);
    expect(liveFiles(h)).toEqual(["x"]);
    expect(history(h).map((e) => [e.operation, e.backup, e.outcome])).toEqual([
      ["restore", TS, "resumed-and-completed"],
    ]);
  });

  it("an open rebuild journal and a different --backup: replaced (history), its backup becomes the safety backup", async () => {
    const { h, seen } = setup();
    sealedBackup(h, "alpha", OTHER_TS);
    interruptedJournal(h, "alpha", "restoring", TS, { image: IMAGE });
    const run = await restoreSandbox(h.ctx, "alpha", options({ timestamp: OTHER_TS }));
    expect(run.result).toMatchObject({
      backup: { timestamp: OTHER_TS },
      safetyBackup: { timestamp: TS },
      resumed: null,
    });
    const verbs = seen.map((s) => s.verb);
    expect(verbs.slice(0, verbs.indexOf("rm"))).not.toContain("download");
    expect(backups(h)).toEqual([OTHER_TS, TS]);
    expect(history(h).map((e) => [e.operation, e.backup, e.outcome])).toEqual([
      ["rebuild", TS, "replaced"],
      ["restore", OTHER_TS, "completed"],
    ]);
    expect(existsSync(journalFile(h.ctx.settings.paths.stateRoot, "alpha"))).toBe(false);
  });
});
