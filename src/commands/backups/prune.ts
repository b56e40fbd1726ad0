import { Args, Flags } from "@oclif/core";
import { pruneAll } from "../../actions/backups.js";
import { requireKnownSandbox } from "../../actions/known-sandbox.js";
import { exitCodesHelp } from "../../cli/help-text.js";
import { NemoclawCommand, type Outcome } from "../../cli/nemoclaw-command.js";
import { ExitCode } from "../../domain/exit-codes.js";
import { renderPrune, renderPruneFailure } from "../../output/backups-view.js";
import { styleFor } from "../../output/style.js";

export default class BackupsPrune extends NemoclawCommand {
  static override commandId = "backups prune";
  static override summary = "Remove old backups, keeping the newest N per sandbox (for cron).";
  static override description =
    `The retention of \`backup-all --keep\` as a command of its own. Per sandbox (or only SANDBOX), keeps the newest N complete backups that hold files and removes older ones. Never removes a backup an unfinished rebuild or restore still needs (pinned by its operations journal), never the newest backup that holds files (empty backups never count toward N), and never a corrupt timestamp directory (reported instead). Prints each backup removed and the bytes actually freed (a file still hard-linked from a kept backup frees nothing). Takes the maintenance lock (exit 4 while another maintenance command runs) and cleans dead runs' scratch; --dry-run only reports, without the lock. A backup that cannot be removed (a mount point, an immutable file, any error) is named on stderr, the others are still removed, and the command exits 1 (error code prune_incomplete).

${exitCodesHelp()}`;
  static override examples = [
    {
      description: "Nightly cron: keep a week of backups per sandbox",
      command: "<%= config.bin %> <%= command.id %> --keep 7",
    },
    {
      description: "What would go, for one sandbox, machine-readable",
      command: "<%= config.bin %> <%= command.id %> alpha --keep 2 --dry-run --json",
    },
  ];
  static override args = {
    sandbox: Args.string({ description: "Only this sandbox's backups.", required: false }),
  };
  static override flags = {
    keep: Flags.integer({ description: "Backups with files to keep per sandbox.", required: true, min: 1 }),
    "dry-run": Flags.boolean({ description: "Only report what would be removed.", default: false }),
  };

  protected async execute(): Promise<Outcome> {
    const { args, flags } = await this.parse(BackupsPrune);
    const ctx = this.createContext();
    if (args.sandbox !== undefined) requireKnownSandbox(ctx, args.sandbox);
    const result = pruneAll(ctx, {
      ...(args.sandbox !== undefined ? { sandbox: args.sandbox } : {}),
      keep: flags.keep,
      dryRun: flags["dry-run"],
    });
    const stdout = renderPrune(result, styleFor(ctx.io.stdoutColor));
    if (result.failed === 0) return { exitCode: ExitCode.Ok, preflight: null, result, warnings: [], stdout };
    // Environmental: the others were pruned; exit 1 at the end, naming what is left.
    const paths = result.sandboxes.flatMap((s) => (s.failed ?? []).map((f) => f.path));
    const message = `could not remove ${result.failed} backup(s): ${paths.join(", ")}`;
    return {
      exitCode: ExitCode.Failed,
      preflight: null,
      result,
      warnings: [],
      error: { code: "prune_incomplete", message },
      stdout,
      stderr: renderPruneFailure(result, styleFor(ctx.io.color)),
    };
  }
}
