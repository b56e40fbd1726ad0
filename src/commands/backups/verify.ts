import { Args, Flags } from "@oclif/core";
import { verifyBackups } from "../../actions/backups.js";
import { requireKnownSandbox } from "../../actions/known-sandbox.js";
import { verifyRemote } from "../../actions/offhost.js";
import { repoFlag } from "../../cli/flags.js";
import { exitCodesHelp } from "../../cli/help-text.js";
import { NemoclawCommand, type Outcome } from "../../cli/nemoclaw-command.js";
import type { Context } from "../../context.js";
import { ExitCode } from "../../domain/exit-codes.js";
import { renderVerification } from "../../output/backups-view.js";
import { renderRemoteVerify } from "../../output/offhost-view.js";
import { styleFor } from "../../output/style.js";

export default class BackupsVerify extends NemoclawCommand {
  static override commandId = "backups verify";
  static override summary = "Re-hash backups and prove they are intact.";
  static override description =
    `Use it to prove backups are intact before relying on them (and weekly, from a timer): every file is re-hashed against the manifest written at backup time; missing, changed and extra files and changed modes are reported (exit 1). Reads only local files. --remote checks the restic repository instead (restic check, then a restore of each sandbox's newest copy re-hashed against its manifest).

What counts as corrupt: docs/design.md, "backups list, verify and prune".

${exitCodesHelp("backups verify")}`;
  static override examples = [
    { description: "Verify every backup on this host", command: "<%= config.bin %> <%= command.id %>" },
    {
      description: "Verify all backups of one sandbox",
      command: "<%= config.bin %> <%= command.id %> alpha",
    },
    {
      description: "Verify one backup, machine-readable",
      command: "<%= config.bin %> <%= command.id %> alpha --backup 2026-11-27T10-00-00-000Z --json",
    },
    {
      description:
        "Weekly: check the restic repository (a tenth of its data) and re-hash each sandbox's newest copy",
      command: "<%= config.bin %> <%= command.id %> --remote",
    },
    {
      description: "Read every byte of the repository and re-hash every snapshot",
      command: "<%= config.bin %> <%= command.id %> --remote --read-data",
    },
  ];
  static override args = {
    sandbox: Args.string({ description: "Sandbox whose backups to verify (default: all).", required: false }),
  };
  static override flags = {
    backup: Flags.string({ description: "Only the backup with this timestamp.", helpValue: "TIMESTAMP" }),
    remote: Flags.boolean({
      description: "Verify the copies in the restic repository instead of the local backups.",
      // No default: a default counts as given, and --read-data needs --remote really given.
    }),
    "read-data": Flags.boolean({
      description:
        "With --remote: read all of the repository's data (default: a tenth) and re-hash every snapshot.",
      dependsOn: ["remote"],
    }),
    repo: repoFlag,
  };

  protected async execute(): Promise<Outcome> {
    const { args, flags } = await this.parse(BackupsVerify);
    const ctx = this.createContext();
    // The repository may hold a sandbox this host never had: --remote checks its snapshots.
    if (args.sandbox !== undefined && !flags.remote) requireKnownSandbox(ctx, args.sandbox);
    if (flags.remote) return this.remote(ctx, args.sandbox, flags);
    const results = await verifyBackups(ctx, args.sandbox, flags.backup);
    const failed = results.filter((r) => !r.ok);
    const exitCode = failed.length ? ExitCode.Failed : ExitCode.Ok;
    return {
      exitCode,
      preflight: null,
      result: { backups: results, verified: results.length - failed.length, failed: failed.length },
      warnings: [],
      ...(failed.length
        ? {
            error: {
              code: "backup_mismatch",
              message: `${failed.length} of ${results.length} backups failed verification`,
            },
          }
        : {}),
      stdout: renderVerification(results, styleFor(ctx.io.stdoutColor)),
    };
  }

  private async remote(
    ctx: Context,
    sandbox: string | undefined,
    flags: { backup?: string; "read-data"?: boolean; repo?: string },
  ): Promise<Outcome> {
    const r = await verifyRemote(ctx, {
      readData: flags["read-data"] ?? false,
      ...(sandbox !== undefined ? { sandbox } : {}),
      ...(flags.backup !== undefined ? { backup: flags.backup } : {}),
      ...(flags.repo !== undefined ? { repo: flags.repo } : {}),
    });
    const bad = !r.check.ok || r.failed > 0;
    return {
      exitCode: bad ? ExitCode.Failed : ExitCode.Ok,
      preflight: null,
      result: r,
      warnings: [],
      ...(bad
        ? {
            error: {
              code: "remote_mismatch",
              message: r.check.ok
                ? `${r.failed} of ${r.snapshots.length} snapshots do not match their manifests`
                : `restic check found errors in ${r.repository}: ${r.check.message ?? ""}`,
            },
          }
        : {}),
      stdout: renderRemoteVerify(r, styleFor(ctx.io.stdoutColor)),
    };
  }
}
