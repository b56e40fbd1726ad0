import { Flags } from "@oclif/core";
import { diskUsageBySandbox, listBackupSummaries } from "../../actions/backups.js";
import { inRegistryOrder, requireKnownSandbox } from "../../actions/known-sandbox.js";
import { listRemote } from "../../actions/offhost.js";
import { repoFlag } from "../../cli/flags.js";
import { exitCodesHelp } from "../../cli/help-text.js";
import { NemoclawCommand, type Outcome } from "../../cli/nemoclaw-command.js";
import { ExitCode } from "../../domain/exit-codes.js";
import { renderBackupList } from "../../output/backups-view.js";
import { renderRemoteList } from "../../output/offhost-view.js";
import { styleFor } from "../../output/style.js";
import { tableWidth } from "../../output/table.js";

export default class BackupsList extends NemoclawCommand {
  static override commandId = "backups list";
  static override summary = "List sandbox backups.";
  static override description =
    `Use it to see which backups this host has before a restore or a prune: newest first per sandbox, with size, file count, agent version and the bytes each sandbox's backups occupy on disk (hard links counted once). Corrupt backups are flagged; unfinished ones never listed. Reads only local files. --remote lists the restic repository's copies instead.

${exitCodesHelp("backups list")}`;
  static override examples = [
    { description: "Every backup on this host", command: "<%= config.bin %> <%= command.id %>" },
    {
      description: "One sandbox's backups, machine-readable",
      command: "<%= config.bin %> <%= command.id %> --sandbox alpha --json",
    },
    {
      description: "What the restic repository holds (every host's nemoclaw snapshots)",
      command: "<%= config.bin %> <%= command.id %> --remote",
    },
  ];
  static override flags = {
    sandbox: Flags.string({ description: "Only this sandbox's backups.", helpValue: "NAME" }),
    remote: Flags.boolean({
      description:
        "List the nemoclaw snapshots in the restic repository instead (any host; read-only, restic snapshots --no-lock).",
      default: false,
    }),
    repo: repoFlag,
  };

  protected async execute(): Promise<Outcome> {
    const { flags } = await this.parse(BackupsList);
    const ctx = this.createContext();
    if (flags.sandbox !== undefined && !flags.remote) requireKnownSandbox(ctx, flags.sandbox);
    if (flags.remote) {
      const remote = await listRemote(ctx, {
        ...(flags.repo !== undefined ? { repo: flags.repo } : {}),
        ...(flags.sandbox !== undefined ? { sandbox: flags.sandbox } : {}),
      });
      return {
        exitCode: ExitCode.Ok,
        preflight: null,
        result: remote,
        warnings: [],
        stdout: renderRemoteList(remote, ctx.io.stdoutIsTTY),
      };
    }
    const backups = listBackupSummaries(ctx, flags.sandbox);
    const diskBytes = diskUsageBySandbox(backups);
    return {
      exitCode: ExitCode.Ok,
      preflight: null,
      result: { backupsRoot: ctx.settings.paths.backupsRoot, backups, diskBytes },
      warnings: [],
      stdout: renderBackupList(
        // Human rows in registry order, like every table of sandboxes.
        inRegistryOrder(ctx, backups, (b) => b.sandbox),
        ctx.settings.paths.backupsRoot,
        styleFor(ctx.io.stdoutColor),
        diskBytes,
        ctx.io.stdoutIsTTY,
        tableWidth(ctx.io.stdout, ctx.io.stdoutIsTTY),
      ),
    };
  }
}
