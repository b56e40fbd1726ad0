import { Args, Flags } from "@oclif/core";
import { requireSandboxName } from "../actions/backups.js";
import { requireKnownSandbox } from "../actions/known-sandbox.js";
import { knownLocally, type PulledBackup, pullBackup } from "../actions/offhost.js";
import { RestoreFailed, restoreSandbox } from "../actions/restore.js";
import { askYesNo, requireConfirmationPath } from "../cli/confirm.js";
import { gatewayFlag, repoFlag, resolveGatewayName } from "../cli/flags.js";
import { exitCodesHelp } from "../cli/help-text.js";
import { NemoclawCommand, type Outcome } from "../cli/nemoclaw-command.js";
import { ExitCode } from "../domain/exit-codes.js";
import { renderRestoreFailure, renderRestoreResult } from "../output/backups-view.js";
import { UploadLine } from "../output/live-view.js";
import { renderPulled } from "../output/offhost-view.js";
import { progressForm, StepList } from "../output/progress.js";
import { styleFor } from "../output/style.js";

export default class Restore extends NemoclawCommand {
  static override commandId = "restore";
  static override gracefulInterrupt = true;
  static override summary = "Restore a sandbox's state from a backup.";
  static override description =
    `Use it to bring a sandbox's state back from a backup: after a failed rebuild (the command it printed), to undo an agent's damage, or with --create to recreate a deleted sandbox — with --from-repo, on a new host from the restic repository alone. It chooses the newest complete backup (or --backup), proves it against its manifest, asks (or --yes), takes and proves a safety backup of the current state, then replaces the state and verifies it by downloading it again. Run again after an interrupted rebuild or restore, it finishes that operation. On failure it prints the safety backup and the commands that bring the previous state back or retry.

The steps and the crash safety: docs/design.md, "restore".

${exitCodesHelp("restore")}`;
  static override examples = [
    {
      description: "Restore the latest backup of alpha (asks for confirmation)",
      command: "<%= config.bin %> <%= command.id %> alpha",
    },
    {
      description: "Recreate a deleted sandbox from a specific backup, unattended",
      command: "<%= config.bin %> <%= command.id %> alpha --backup 2026-11-27T10-00-00-000Z --create --yes",
    },
    {
      description: "Disaster recovery on a new host: the newest off-host copy of alpha, from any host",
      command:
        "RESTIC_REPOSITORY=sftp:backup@vault:/srv/restic RESTIC_PASSWORD_FILE=/etc/nemoclaw/restic.pass <%= config.bin %> <%= command.id %> alpha --from-repo --create --yes",
    },
    {
      description: "Pull the copy another host pushed",
      command: "<%= config.bin %> <%= command.id %> alpha --from-repo --host old-host-3 --yes",
    },
  ];
  static override args = {
    sandbox: Args.string({ description: "Sandbox to restore.", required: true }),
  };
  static override flags = {
    backup: Flags.string({
      description: "Timestamp of the backup to restore [default: latest complete].",
      helpValue: "TIMESTAMP",
    }),
    create: Flags.boolean({
      description: "Create the sandbox from the catalog image if it does not exist.",
      default: false,
    }),
    yes: Flags.boolean({
      char: "y",
      description: "Do not ask for confirmation (required without a terminal).",
      default: false,
    }),
    gateway: gatewayFlag,
    "from-repo": Flags.boolean({
      description:
        "Pull the backup from the restic repository first (newest of any host unless --backup/--host).",
      // No default: a default counts as given, and --host/--repo need --from-repo really given.
    }),
    host: Flags.string({
      description: "With --from-repo: only snapshots this host pushed.",
      helpValue: "HOSTNAME",
      dependsOn: ["from-repo"],
    }),
    repo: { ...repoFlag, dependsOn: ["from-repo"] },
  };

  protected async execute(): Promise<Outcome> {
    const { args, flags } = await this.parse(Restore);
    const sandbox = requireSandboxName(args.sandbox);
    const gatewayName = resolveGatewayName(flags.gateway);
    const ctx = this.createContext(gatewayName);
    // Before any lock or probe. With --from-repo the repository's snapshots may know it (a new
    // host's disaster recovery): pullBackup decides, before it takes the lock.
    if (!flags["from-repo"]) requireKnownSandbox(ctx, sandbox);
    requireConfirmationPath(flags.yes, ctx.io, "restore");
    const style = styleFor(ctx.io.color);
    const rerun = [
      "nemoclaw restore",
      sandbox,
      ...this.argv.filter((a) => a !== sandbox && a !== "--json"),
    ].join(" ");
    const quiet = this.wantsJson;
    const form = progressForm(ctx.io, quiet);
    // Each step once: on a terminal a spinner, then ✓ when the next begins.
    const steps = new StepList(ctx.io.stderr, form, style);
    // On a terminal the upload shows a bar with an ETA (the manifest gives the total).
    const upload = form === "tty" ? new UploadLine(ctx.io.stderr, style, sandbox) : undefined;
    let pulled: PulledBackup | null = null;
    if (flags["from-repo"]) {
      pulled = await pullBackup(ctx, sandbox, {
        knownLocally: knownLocally(ctx, sandbox),
        ...(flags.repo !== undefined ? { repo: flags.repo } : {}),
        ...(flags.backup !== undefined ? { backup: flags.backup } : {}),
        ...(flags.host !== undefined ? { host: flags.host } : {}),
      });
      if (!quiet) ctx.io.stderr.write(`${style.dim("…")} ${renderPulled(pulled)}\n`);
    }
    const timestamp = pulled ? pulled.timestamp : flags.backup;
    try {
      const run = await restoreSandbox(ctx, sandbox, {
        gatewayName,
        ...(timestamp !== undefined ? { timestamp } : {}),
        create: flags.create,
        strict: ctx.settings.strictPreflight,
        rerunCommand: rerun,
        onStep: quiet
          ? undefined
          : (text) => {
              upload?.end();
              steps.step(text);
            },
        onUpload: upload
          ? (progress) => {
              steps.handOver();
              upload.update(progress);
            }
          : undefined,
        confirm: async (p, exists, finishing) => {
          if (flags.yes) return true;
          steps.done();
          const what = finishing
            ? `finish the interrupted ${finishing.operation} (${finishing.phase}) from`
            : exists === false
              ? "create it and restore"
              : "replace its current state with";
          return askYesNo(
            ctx.io,
            `Restore sandbox ${p.sandbox}: ${what} backup ${p.backup.timestamp} (${p.backup.fileCount} files)?`,
            ctx.abort.signal,
          );
        },
      });
      steps.done();
      if (run.cancelled || !run.result) {
        return {
          exitCode: ExitCode.Failed,
          preflight: run.preflight,
          result: null,
          warnings: run.warnings,
          error: { code: "cancelled", message: "restore cancelled; nothing was changed" },
          stderr: ["Restore cancelled; nothing was changed."],
        };
      }
      return {
        exitCode: ExitCode.Ok,
        preflight: run.preflight,
        result: pulled ? { ...run.result, fromRepo: pulled } : run.result,
        warnings: run.warnings,
        stdout: renderRestoreResult(run.result, styleFor(ctx.io.stdoutColor)),
        stderr: run.warnings,
      };
    } catch (error) {
      upload?.end();
      steps.done(false);
      if (error instanceof RestoreFailed && (error.safetyBackup || error.recovery.length)) {
        // The state is partial: say where the previous state is and how to get back, in the JSON too.
        return {
          exitCode: error.exitCode,
          // A preflight that ran stays in the envelope, with its warnings.
          preflight: error.preflight ?? ctx.preflightRan?.preflight ?? null,
          result: { sandbox, safetyBackup: error.safetyBackup, recovery: error.recovery },
          warnings: ctx.preflightRan ? [...ctx.preflightRan.warnings] : [],
          error: {
            code: error.code,
            message: error.message,
            ...(error.diagnostic.length ? { diagnostic: error.diagnostic } : {}),
          },
          stderr: renderRestoreFailure(error, style),
        };
      }
      throw error;
    } finally {
      upload?.end();
      steps.done();
    }
  }
}
