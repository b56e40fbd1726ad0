import { Args, Flags } from "@oclif/core";
import { verifyBackups } from "../../actions/backups.js";
import { exitCodesHelp } from "../../cli/help-text.js";
import { NemoclawCommand, type Outcome } from "../../cli/nemoclaw-command.js";
import { ExitCode } from "../../domain/exit-codes.js";
import { renderVerification } from "../../output/backups-view.js";
import { styleFor } from "../../output/style.js";

export default class BackupsVerify extends NemoclawCommand {
  static override commandId = "backups verify";
  static override summary = "Re-hash backups and prove they are intact.";
  static override description =
    `Re-reads every file of the chosen backups and compares it with the SHA-256 manifest written at backup time; reports missing, changed and extra files, and files whose permission bits (0777) differ from the recorded mode. A backup directory whose manifest is missing or broken, names a path outside its state directories, or whose stored state directory is a symlink is CORRUPT; a backup removed while it is checked (a prune) is reported as vanished. Exit 1 on any mismatch. Reads only local files.

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
  ];
  static override args = {
    sandbox: Args.string({ description: "Sandbox whose backups to verify (default: all).", required: false }),
  };
  static override flags = {
    backup: Flags.string({ description: "Only the backup with this timestamp.", helpValue: "TIMESTAMP" }),
  };

  protected async execute(): Promise<Outcome> {
    const { args, flags } = await this.parse(BackupsVerify);
    const ctx = this.createContext();
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
}
