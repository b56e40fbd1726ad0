import { Args } from "@oclif/core";
import { pushCommand } from "../../actions/offhost.js";
import { metricsFileFlag, repoFlag, resolveGatewayName } from "../../cli/flags.js";
import { exitCodesHelp } from "../../cli/help-text.js";
import { finalizeMetrics, type MetricsPlan, metricsFileOf } from "../../cli/metrics.js";
import { NemoclawCommand, type Outcome } from "../../cli/nemoclaw-command.js";
import { pushVerdict } from "../../domain/command-verdicts.js";
import { renderPush } from "../../output/offhost-view.js";
import { styleFor } from "../../output/style.js";

export default class BackupsPush extends NemoclawCommand {
  static override commandId = "backups push";
  static override gracefulInterrupt = true;
  static override summary = "Copy backups off this host into a restic repository.";
  static override description =
    `Use it (or backup-all --push) so a dead disk does not take the backups with it: every complete backup not yet in the restic repository becomes one snapshot tagged with its sandbox, timestamp and host; pushing twice stores nothing new. Each backup is re-hashed against its manifest first (a damaged one is not pushed), and one failure never stops the others. The repository and its password come from restic's own variables (or --repo); create it once with \`restic init\`.

Tags, locking and restore from the repository: docs/design.md, "Beyond one disk".

${exitCodesHelp("backups push")}`;
  static override examples = [
    {
      description: "Push every backup of this host to an SFTP repository",
      command:
        "RESTIC_REPOSITORY=sftp:backup@vault:/srv/restic RESTIC_PASSWORD_FILE=/etc/nemoclaw/restic.pass <%= config.bin %> <%= command.id %>",
    },
    {
      description: "Push one sandbox's backups to a REST server, machine-readable",
      command:
        "<%= config.bin %> <%= command.id %> alpha --repo rest:https://restic.example:8000/fleet --json",
    },
    {
      description: "Push and update the node_exporter textfile",
      command:
        "<%= config.bin %> <%= command.id %> --metrics-file /var/lib/prometheus/node-exporter/nemoclaw.prom",
    },
  ];
  static override args = {
    sandbox: Args.string({ description: "Only this sandbox's backups (default: all).", required: false }),
  };
  static override flags = {
    repo: repoFlag,
    "metrics-file": metricsFileFlag,
  };

  private metrics: MetricsPlan | undefined;

  protected override finalize(outcome: Outcome): Promise<Outcome> {
    return finalizeMetrics(this.currentContext, this.metrics, this.commandId, outcome);
  }

  protected async execute(): Promise<Outcome> {
    const { args, flags } = await this.parse(BackupsPush);
    const gatewayName = resolveGatewayName(undefined);
    const ctx = this.createContext(gatewayName);
    const file = metricsFileOf(ctx, flags["metrics-file"]);
    if (file) this.metrics = { file, gatewayName, strict: ctx.settings.strictPreflight };
    const { result, remote } = await pushCommand(ctx, {
      ...(flags.repo !== undefined ? { repo: flags.repo } : {}),
      ...(args.sandbox !== undefined ? { sandbox: args.sandbox } : {}),
    });
    if (this.metrics) this.metrics.remote = remote;
    const { exitCode, error } = pushVerdict({
      interrupted: result.interrupted,
      pushed: result.pushed,
      failed: result.failed,
    });
    return {
      exitCode,
      preflight: null,
      result,
      warnings: [],
      ...(error ? { error } : {}),
      stdout: renderPush(result, styleFor(ctx.io.stdoutColor)),
    };
  }
}
