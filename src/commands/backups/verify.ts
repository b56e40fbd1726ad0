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
    `Re-reads every file of the chosen backups and compares it with the SHA-256 manifest written at backup time; reports missing, changed and extra files, and files whose permission bits (0777) differ from the recorded mode. A backup directory whose manifest is missing or broken, names a path outside its state directories, or whose stored state directory is a symlink is CORRUPT; a backup removed while it is checked (a prune) is reported as vanished. Exit 1 on any mismatch. Reads only local files.

With --remote, checks the restic repository instead: \`restic check --read-data-subset=1/10\` (all data with --read-data), then restores the newest snapshot of each sandbox (every snapshot with --read-data; the one of --backup) into a temporary directory and re-hashes it against the manifest it carries. Exit 1 when restic finds damage or a restored backup does not match; exit 4 when the repository cannot be opened (wrong password, unreachable, locked).

${exitCodesHelp()}`;
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
      default: false,
    }),
    "read-data": Flags.boolean({
      description:
        "With --remote: read all of the repository's data (default: a tenth) and re-hash every snapshot.",
      default: false,
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
    flags: { backup?: string; "read-data": boolean; repo?: string },
  ): Promise<Outcome> {
    const r = await verifyRemote(ctx, {
      readData: flags["read-data"],
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
