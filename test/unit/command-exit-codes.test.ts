// Where each command's exit code comes from, tested where the mapping lives:
// - batchOutcome (backup-all, upgrade-sandboxes): refusal 3 > interrupt 130/143 > failure 1 > 0;
// - backupAllFailed (backup-all): failed, or skipped under --require-all;
// - needsAttention (upgrade-sandboxes --check): anything not current → 1;
// - needsAction (status): the "1" of status's 3 > 4 > 1 > 0 (the chain itself is inline in
//   src/commands/status.ts and is not reachable without running the oclif command);
// - exitCodeFor / the error classes (every command's thrown errors), RestoreFailed's options.
import { describe, expect, it } from "vitest";
import { type BackupAllResult, backupAllFailed } from "../../src/actions/backup-all.js";
import { RestoreFailed, restoreRecovery } from "../../src/actions/restore.js";
import { needsAction, type StatusResult } from "../../src/actions/status.js";
import { batchOutcome } from "../../src/cli/batch-outcome.js";
import { interruptedBy } from "../../src/context.js";
import {
  EnvironmentError,
  errorCodeFor,
  exitCodeFor,
  InterruptedError,
  PreflightRefusal,
  UsageError,
} from "../../src/domain/errors.js";
import { ExitCode, exitCodeForSignal } from "../../src/domain/exit-codes.js";
import type { Preflight } from "../../src/domain/preflight-types.js";
import { type Classification, needsAttention } from "../../src/domain/upgrade-classification.js";
import { fakeContext, StubRunner } from "./support/stub-runner.js";

const preflight: Preflight = {
  verdict: "schema_mismatch",
  installedVersion: "0.0.44",
  gateway: { mode: "host-process" } as Preflight["gateway"],
  evidence: [],
  durationMs: 1,
};
const refusal = () => new PreflightRefusal("schema_mismatch", "mismatch", preflight, ["  diagnostic line"]);
const failure = { code: "backup_failed", message: "1 failed" };

describe("batchOutcome (backup-all, upgrade-sandboxes)", () => {
  it("a refusal (3) wins over an interrupt and over failures, and carries its diagnostic", () => {
    for (const interrupted of [null, "SIGINT", "SIGTERM"] as const) {
      for (const f of [null, failure]) {
        const out = batchOutcome(refusal(), interrupted, f);
        expect(out.exitCode).toBe(ExitCode.Refused);
        expect(out.error).toEqual({
          code: "schema_mismatch",
          message: "mismatch",
          diagnostic: ["  diagnostic line"],
        });
      }
    }
  });

  it("an interrupt (130 for SIGINT, 143 for SIGTERM) wins over failures", () => {
    expect(batchOutcome(undefined, "SIGINT", failure)).toEqual({
      exitCode: 130,
      error: { code: "interrupted", message: "interrupted by SIGINT" },
    });
    expect(batchOutcome(undefined, "SIGTERM", null).exitCode).toBe(143);
  });

  it("failures alone → 1 with the failure as the error; nothing → 0 without an error", () => {
    expect(batchOutcome(undefined, null, failure)).toEqual({ exitCode: 1, error: failure });
    expect(batchOutcome(undefined, null, null)).toEqual({ exitCode: 0 });
  });

  it("interruptedBy reads the abort reason the command's signal handler set", () => {
    const { ctx } = fakeContext("/nonexistent", new StubRunner());
    expect(interruptedBy(ctx)).toBeNull();
    ctx.abort.abort("SIGTERM");
    expect(interruptedBy(ctx)).toBe("SIGTERM");
    expect(batchOutcome(undefined, interruptedBy(ctx), null).exitCode).toBe(143);
  });
});

describe("backupAllFailed (backup-all → 1)", () => {
  const result = (failed: number, skipped: number, requireAll: boolean): BackupAllResult => ({
    gatewayName: "nemoclaw",
    backupsRoot: "/b",
    registered: 3,
    sandboxes: [],
    summary: { backedUp: 3 - failed - skipped, failed, skipped },
    requireAll,
    interrupted: null,
    cleanedStaging: [],
  });
  it.each([
    [0, 0, false, false],
    [0, 2, false, false],
    [0, 2, true, true],
    [1, 0, false, true],
    [1, 1, true, true],
    [0, 0, true, false],
  ])("failed %i, skipped %i, requireAll %s → %s", (failed, skipped, requireAll, expected) => {
    expect(backupAllFailed(result(failed, skipped, requireAll))).toBe(expected);
  });
});

describe("needsAttention (upgrade-sandboxes --check → 1)", () => {
  const c = (status: Classification["status"]): Classification => ({
    name: "a",
    status,
    reason: "",
    current: null,
    expected: null,
    phase: null,
    versionSource: null,
  });
  it("only current needs nothing", () => {
    expect(needsAttention(c("current"))).toBe(false);
    for (const s of ["stale", "unknown", "missing", "interrupted", "in-progress", "invalid"] as const) {
      expect(needsAttention(c(s))).toBe(true);
    }
  });
});

describe("needsAction (status → 1 when neither refused (3) nor unreachable (4))", () => {
  const result = (counts: Partial<StatusResult["counts"]>): StatusResult =>
    ({
      counts: {
        total: 2,
        current: 2,
        stale: 0,
        unknown: 0,
        missing: 0,
        interrupted: 0,
        neverBackedUp: 0,
        oldBackup: 0,
        ...counts,
      },
      actions: [],
    }) as unknown as StatusResult;
  it("all current and backed up recently → 0", () => expect(needsAction(result({}))).toBe(false));
  it("anything not current → 1", () => expect(needsAction(result({ current: 1, stale: 1 }))).toBe(true));
  it("a sandbox never backed up → 1", () => expect(needsAction(result({ neverBackedUp: 1 }))).toBe(true));
  it("an old backup → 1", () => expect(needsAction(result({ oldBackup: 1 }))).toBe(true));
  it("an empty host → 0", () => expect(needsAction(result({ total: 0, current: 0 }))).toBe(false));
});

describe("exitCodeFor (every thrown error, every command)", () => {
  it("maps each error class to its documented exit code, anything else to 1", () => {
    expect(exitCodeFor(new UsageError("bad flag"))).toBe(ExitCode.Usage);
    expect(exitCodeFor(new EnvironmentError("registry_locked", "held"))).toBe(ExitCode.Environment);
    expect(exitCodeFor(refusal())).toBe(ExitCode.Refused);
    expect(exitCodeFor(new InterruptedError("SIGINT"))).toBe(130);
    expect(exitCodeFor(new InterruptedError("SIGTERM"))).toBe(143);
    expect(exitCodeFor(new Error("boom"))).toBe(ExitCode.Failed);
    expect(exitCodeFor("a string")).toBe(ExitCode.Failed);
    expect(errorCodeFor(new Error("boom"))).toBe("internal");
    expect(errorCodeFor(new EnvironmentError("registry_locked", "held"))).toBe("registry_locked");
  });

  it("exitCodeForSignal", () => {
    expect(exitCodeForSignal("SIGINT")).toBe(130);
    expect(exitCodeForSignal("SIGTERM")).toBe(143);
  });
});

describe("RestoreFailed (restore)", () => {
  it("defaults to exit 1 / restore_failed; a refusal or an interrupt after the rm sets 3 or 130", () => {
    const safety = { timestamp: "S", path: "/b/a/S" };
    const plain = new RestoreFailed("x", safety, restoreRecovery("a", "T", safety));
    expect([plain.exitCode, plain.code, exitCodeFor(plain)]).toEqual([1, "restore_failed", 1]);
    expect(plain.recovery).toEqual([
      "nemoclaw restore a --backup S --yes",
      "nemoclaw restore a --backup T --yes",
    ]);
    const refused = new RestoreFailed("x", safety, [], {
      exitCode: ExitCode.Refused,
      code: "schema_mismatch",
    });
    expect(exitCodeFor(refused)).toBe(3);
    const interrupted = new RestoreFailed("x", null, [], {
      exitCode: exitCodeForSignal("SIGINT"),
      code: "interrupted",
    });
    expect(exitCodeFor(interrupted)).toBe(130);
  });

  it("without a safety backup, the recovery is the one command that redoes the restore", () => {
    expect(restoreRecovery("a", "T", null)).toEqual(["nemoclaw restore a --backup T --yes"]);
  });
});
