import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os, { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { describeStarted } from "../../src/actions/operations.js";
import { holdsAt } from "../../src/actions/operations-admin.js";
import { currentWriter } from "../../src/adapters/operations-journal.js";
import { addRegistryEntry, readRegistry } from "../../src/adapters/registry.js";
import { listStartedRecords, writeStartedRecord } from "../../src/adapters/started-record.js";
import {
  abandonCommand,
  finishingCommand,
  gatewayArg,
  type OperationJournal,
  wayBackCommand,
} from "../../src/domain/operation-journal.js";
import { firstBadFile, rehashFailure } from "../../src/domain/proof.js";
import { NO_SUCH_PID } from "./support/stub-runner.js";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tmp(): string {
  const d = mkdtempSync(path.join(tmpdir(), "prove-"));
  dirs.push(d);
  return d;
}

const none = { missing: [], changed: [], modeChanged: [], extra: [] };

describe("firstBadFile / rehashFailure", () => {
  it("names the first bad file in path order, with what is wrong with it", () => {
    expect(firstBadFile(none)).toBeNull();
    expect(firstBadFile({ ...none, changed: ["b/x"], missing: ["a/y"], extra: ["c"] })).toEqual({
      path: "a/y",
      problem: "missing",
    });
    expect(firstBadFile({ ...none, modeChanged: ["m"] })).toEqual({ path: "m", problem: "mode differs" });
  });

  it("words a failed re-hash with the file and the counts; a corrupt manifest as corrupt", () => {
    expect(rehashFailure("/b/alpha/T", { ...none, changed: [".openclaw/notes.md"] })).toBe(
      "backup /b/alpha/T failed its re-hash: first bad file .openclaw/notes.md (content differs); 0 missing, 1 changed, 0 with another mode, 0 extra files",
    );
    expect(rehashFailure("/b/alpha/T", { ...none, corrupt: "manifest is missing" })).toBe(
      "backup /b/alpha/T is corrupt (manifest is missing)",
    );
  });
});

describe("commands printed for a journal carry its gateway", () => {
  const j = (gateway: string, operation: "rebuild" | "restore" = "rebuild") =>
    ({ sandbox: "alpha", gateway, operation, backup: "T" }) as OperationJournal;
  it("adds --gateway only for a gateway other than nemoclaw", () => {
    expect(gatewayArg("nemoclaw")).toBe("");
    expect(gatewayArg("other")).toBe(" --gateway other");
    expect(finishingCommand(j("other", "restore"))).toBe(
      "nemoclaw restore alpha --backup T --yes --gateway other",
    );
    expect(wayBackCommand("alpha", "T", "nemoclaw")).toBe("nemoclaw restore alpha --backup T --create --yes");
    expect(wayBackCommand("alpha", "T", "g2")).toBe(
      "nemoclaw restore alpha --backup T --create --yes --gateway g2",
    );
    expect(abandonCommand("alpha")).toBe("nemoclaw operations abandon alpha --yes");
  });
});

describe("started records as unfinished operations", () => {
  it("a record carries its writer's boot id and start tick", () => {
    const root = tmp();
    writeStartedRecord(root, { sandbox: "beta", gateway: "nemoclaw", purpose: "backup" });
    const text = JSON.parse(readFileSync(path.join(root, "operations/beta.started.json"), "utf8"));
    const me = currentWriter();
    expect(text.writer).toEqual({
      pid: process.pid,
      hostname: os.hostname(),
      bootId: me.bootId,
      startTick: me.startTick,
    });
  });

  it("a dead writer's record is interrupted with `nemoclaw backup-all`; this live process's is in progress", () => {
    const root = tmp();
    writeStartedRecord(root, { sandbox: "beta", gateway: "nemoclaw", purpose: "backup" });
    const [mine] = listStartedRecords(root);
    expect(describeStarted(mine as never, "/proc").state).toBe("in-progress");
    const file = path.join(root, "operations/beta.started.json");
    const doc = JSON.parse(readFileSync(file, "utf8"));
    doc.writer = { pid: NO_SUCH_PID, hostname: os.hostname(), bootId: null, startTick: 5 };
    writeFileSync(file, JSON.stringify(doc));
    const [dead] = listStartedRecords(root);
    const op = describeStarted(dead as never, "/proc");
    expect(op).toMatchObject({ state: "interrupted", command: "nemoclaw backup-all" });
    expect(op.reason).toContain("still running");
    // Another gateway's record: finished by backup-all for that gateway.
    expect(describeStarted(dead as never, "/proc", "other")).toMatchObject({
      state: "other-gateway",
      command: "nemoclaw backup-all",
    });
  });

  it("an unparseable record is still reported, by its file name", () => {
    const root = tmp();
    mkdirSync(path.join(root, "operations"), { recursive: true });
    writeFileSync(path.join(root, "operations/gamma.started.json"), "{");
    const [found] = listStartedRecords(root);
    expect(describeStarted(found as never, "/proc")).toMatchObject({
      sandbox: "gamma",
      state: "unreadable",
      command: "nemoclaw backup-all",
    });
  });
});

describe("holdsAt: what a sandbox holds at a journal's phase", () => {
  const j = (phase: OperationJournal["phase"]) =>
    ({ operation: "restore", phase, backup: "T" }) as OperationJournal;
  it("says partial at restoring, complete (and maybe changed) from verifying on", () => {
    expect(holdsAt(j("restoring"), true)).toMatch(/^partial state/);
    expect(holdsAt(j("verifying"), false)).toBe(
      "the complete state of backup T, and whatever its agent wrote since; it is not registered",
    );
    expect(holdsAt(null, true)).toMatch(/^unknown/);
  });
});

describe("addRegistryEntry", () => {
  it("adds a missing entry keeping every other field, and never overwrites one already there", async () => {
    const root = tmp();
    const file = path.join(root, "sandboxes.json");
    writeFileSync(
      file,
      JSON.stringify({ defaultSandbox: "a", schemaRevision: 7, sandboxes: { a: { agent: "x", extra: 1 } } }),
    );
    expect(
      await addRegistryEntry(file, "beta", { name: "beta", agent: "openclaw", agentVersion: "2026.6.0" }),
    ).toBe(true);
    expect(await addRegistryEntry(file, "beta", { name: "beta", agent: "changed" })).toBe(false);
    const doc = JSON.parse(readFileSync(file, "utf8"));
    expect(doc.schemaRevision).toBe(7);
    expect(doc.sandboxes.a).toEqual({ agent: "x", extra: 1 });
    expect(doc.sandboxes.beta).toEqual({ name: "beta", agent: "openclaw", agentVersion: "2026.6.0" });
    expect(readRegistry(file).names).toEqual(["a", "beta"]);
  });

  it("creates the registry when there is none", async () => {
    const file = path.join(tmp(), "sandboxes.json");
    expect(await addRegistryEntry(file, "beta", { name: "beta" })).toBe(true);
    expect(readRegistry(file).names).toEqual(["beta"]);
  });
});
