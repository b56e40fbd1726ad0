import { describe, expect, it } from "vitest";
import type { ProcessRunner, RunOptions, RunResult } from "../../src/adapters/process-runner.js";
import { configuredRestic, RepositoryError, ResticCommandError } from "../../src/adapters/restic.js";
import { EnvironmentError, UsageError } from "../../src/domain/errors.js";

/** A runner that answers each call with the next canned result and records the argv. */
function runner(
  results: Partial<RunResult>[],
): ProcessRunner & { calls: { args: readonly string[]; options: RunOptions }[] } {
  const calls: { args: readonly string[]; options: RunOptions }[] = [];
  return {
    calls,
    async run(file, args, options) {
      calls.push({ args, options });
      const r = results.shift() ?? {};
      return {
        file,
        args,
        exitCode: 0,
        signal: null,
        stdout: "",
        stderr: "",
        timedOut: false,
        aborted: false,
        startError: null,
        truncated: false,
        durationMs: 1,
        ...r,
      };
    },
  };
}

const ENV = { RESTIC_REPOSITORY: "/r", RESTIC_PASSWORD_FILE: "/p", HOME: "/h" };

describe("restic adapter", () => {
  it("not configured is a usage error (exit 2) before restic runs", () => {
    const r = runner([]);
    expect(() => configuredRestic({ runner: r, env: {}, timeoutMs: 1000 })).toThrow(UsageError);
    expect(r.calls).toHaveLength(0);
  });

  it("passes --repo and the environment through, never a shell", async () => {
    const r = runner([{ stdout: "[]" }]);
    const restic = configuredRestic({
      runner: r,
      env: ENV,
      repo: "rest:http://127.0.0.1:1/",
      timeoutMs: 1000,
    });
    expect(await restic.snapshots({ noLock: true })).toEqual([]);
    expect(r.calls[0]?.args).toEqual([
      "--repo",
      "rest:http://127.0.0.1:1/",
      "--no-lock",
      "snapshots",
      "--json",
      "--tag",
      "nemoclaw",
    ]);
    expect(r.calls[0]?.options.env.RESTIC_PASSWORD_FILE).toBe("/p");
  });

  it("a repository it cannot open is exit 4 with restic's message", async () => {
    const r = runner([{ exitCode: 1, stderr: "Fatal: wrong password or no key found\n" }]);
    const restic = configuredRestic({ runner: r, env: ENV, timeoutMs: 1000 });
    const error = await restic.snapshots().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RepositoryError);
    expect((error as RepositoryError).exitCode).toBe(4);
    expect((error as Error).message).toContain("wrong password or no key found");
  });

  it("restic missing is exit 4 saying how to install it", async () => {
    const r = runner([{ exitCode: null, startError: "spawn restic ENOENT" }]);
    const restic = configuredRestic({ runner: r, env: ENV, timeoutMs: 1000 });
    const error = await restic.snapshots().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EnvironmentError);
    expect((error as EnvironmentError).code).toBe("restic_not_found");
  });

  it("backup runs on a relative path in the backups root and reads the summary line", async () => {
    const r = runner([
      {
        stdout:
          '{"message_type":"summary","files_new":3,"files_changed":0,"files_unmodified":0,"data_added":120,"snapshot_id":"2c458fc3"}\n',
      },
      { exitCode: 1, stderr: "Fatal: unable to save snapshot: disk full\n" },
    ]);
    const restic = configuredRestic({ runner: r, env: ENV, timeoutMs: 1000 });
    const args = {
      cwd: "/root/b",
      relativePath: "alpha/2026-12-01T02-30-00-000Z",
      tags: ["nemoclaw"],
      host: "h1",
      time: "2026-12-01 02:30:00",
    };
    expect(await restic.backup(args)).toMatchObject({ snapshotId: "2c458fc3", filesNew: 3, dataAdded: 120 });
    expect(r.calls[0]?.options.cwd).toBe("/root/b");
    expect(r.calls[0]?.args.slice(-2)).toEqual(["--", "alpha/2026-12-01T02-30-00-000Z"]);
    expect(r.calls[0]?.options.env.TZ).toBe("UTC");
    await expect(restic.backup(args)).rejects.toBeInstanceOf(ResticCommandError);
  });

  it("check: damage is a result (exit 1 for the caller), a lock is exit 4", async () => {
    const r = runner([
      {
        exitCode: 1,
        stdout: "Pack ID does not match, want 11, got 22\n",
        stderr: "Fatal: repository contains errors\n",
      },
      {
        exitCode: 1,
        stderr:
          "Fatal: unable to create lock in backend: repository is already locked exclusively by PID 7\n",
      },
    ]);
    const restic = configuredRestic({ runner: r, env: ENV, timeoutMs: 1000 });
    const damaged = await restic.check("all");
    expect(damaged.ok).toBe(false);
    expect(damaged.message).toContain("Pack ID does not match");
    expect(r.calls[0]?.args).toEqual(["check", "--read-data"]);
    await expect(restic.check("1/10")).rejects.toBeInstanceOf(RepositoryError);
    expect(r.calls[1]?.args).toEqual(["check", "--read-data-subset=1/10"]);
  });
});
