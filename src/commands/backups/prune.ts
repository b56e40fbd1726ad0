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
    `Use it from cron to bound the disk that backups take: per sandbox (or only SANDBOX) it keeps the newest N backups that hold files and removes the older ones, printing each backup removed and the bytes freed. It never removes a backup an unfinished operation still needs, the newest backup with files, or a corrupt one. --dry-run only reports. A backup that cannot be removed is named; the others are still removed (exit 1).

Retention rules: docs/design.md, "backups list, verify and prune".

${exitCodesHelp("backups prune")}`;
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
