import { describe, expect, it } from "vitest";
import { pushVerdict, type StatusFacts, statusVerdict } from "../../src/domain/command-verdicts.js";
import { ExitCode } from "../../src/domain/exit-codes.js";

const calm: StatusFacts = {
  refusal: null,
  unreachable: null,
  repoProblem: null,
  needsAction: false,
  actions: [],
  offhostStale: false,
};
const refusal = { code: "gateway_drift" as const, message: "drift", diagnostic: ["line one", "line two"] };
const unreachable = { code: "gateway_unreachable" as const, message: "cannot reach" };
const repoProblem = { code: "repository_unavailable" as const, message: "no repository" };

describe("statusVerdict: 3 over 4 over 1 over 0", () => {
  it("0 and no error when nothing needs action", () => {
    expect(statusVerdict(calm)).toEqual({ exitCode: ExitCode.Ok });
  });

  it("1 (action_needed) listing the commands to run, `backups push` last when off-host copies are stale", () => {
    expect(
      statusVerdict({ ...calm, needsAction: true, actions: ["nemoclaw backup-all"], offhostStale: true }),
    ).toEqual({
      exitCode: ExitCode.Failed,
      error: { code: "action_needed", message: "nemoclaw backup-all; nemoclaw backups push" },
    });
    expect(statusVerdict({ ...calm, offhostStale: true }).error?.message).toBe("nemoclaw backups push");
    expect(statusVerdict({ ...calm, needsAction: true }).error?.message).toBe("something needs action");
  });

  it("4 beats 1: an unreachable gateway, or an unreadable repository, with its own code", () => {
    const stale = { ...calm, needsAction: true, actions: ["nemoclaw backup-all"] };
    expect(statusVerdict({ ...stale, unreachable })).toEqual({
      exitCode: ExitCode.Environment,
      error: unreachable,
    });
    expect(statusVerdict({ ...stale, repoProblem })).toEqual({
      exitCode: ExitCode.Environment,
      error: repoProblem,
    });
    expect(statusVerdict({ ...stale, unreachable, repoProblem }).error?.code).toBe("gateway_unreachable");
  });

  it("3 beats everything, and carries the diagnostic", () => {
    const verdict = statusVerdict({ ...calm, refusal, unreachable, repoProblem, needsAction: true });
    expect(verdict).toEqual({ exitCode: ExitCode.Refused, error: refusal });
  });
});

describe("pushVerdict: interrupt over 4 over 1 over 0", () => {
  it("0 when every backup was pushed", () => {
    expect(pushVerdict({ interrupted: null, pushed: 3, failed: 0 })).toEqual({ exitCode: ExitCode.Ok });
  });

  it("1 (push_failed) counting the failures among the attempts", () => {
    expect(pushVerdict({ interrupted: null, pushed: 2, failed: 1 })).toEqual({
      exitCode: ExitCode.Failed,
      error: { code: "push_failed", message: "1 of 3 backups failed to push" },
    });
  });

  it("4 when the repository could not be used; an interrupt (130/143) beats it", () => {
    expect(pushVerdict({ interrupted: null, problem: repoProblem, pushed: 0, failed: 1 })).toEqual({
      exitCode: ExitCode.Environment,
      error: repoProblem,
    });
    expect(pushVerdict({ interrupted: "SIGTERM", problem: repoProblem, pushed: 0, failed: 1 })).toEqual({
      exitCode: ExitCode.Terminated,
      error: { code: "interrupted", message: "interrupted by SIGTERM" },
    });
    expect(pushVerdict({ interrupted: "SIGINT", pushed: 0, failed: 0 }).exitCode).toBe(ExitCode.Interrupted);
  });
});
