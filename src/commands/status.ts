import { Flags } from "@oclif/core";
import { type OffhostStatus, offhostStatus, resticFor } from "../actions/offhost.js";
import { hostStatus, needsAction } from "../actions/status.js";
import { gatewayFlag, metricsFileFlag, repoFlag, resolveGatewayName } from "../cli/flags.js";
import { exitCodesHelp } from "../cli/help-text.js";
import { finalizeMetrics, type MetricsPlan, metricsFileOf } from "../cli/metrics.js";
import { NemoclawCommand, type Outcome } from "../cli/nemoclaw-command.js";
import { statusVerdict } from "../domain/command-verdicts.js";
import { parseDuration } from "../domain/duration.js";
import { EnvironmentError, UsageError } from "../domain/errors.js";
import { gatewayArg as gatewayArgFor } from "../domain/operation-journal.js";
import { renderOffhostStatus } from "../output/offhost-view.js";
import { renderStatus } from "../output/status-view.js";
import { styleFor } from "../output/style.js";
import { tableWidth } from "../output/table.js";

export default class Status extends NemoclawCommand {
  static override commandId = "status";
  static override summary = "Is this host safe to upgrade, and is every sandbox's state backed up?";
  static override description =
    `Use it first, before an upgrade or when something looks wrong: one answer for the whole host. It runs the gateway preflight and, unless that refuses, asks OpenShell for every registered sandbox, then shows each one's phase, agent version against the catalog's, status (current, stale, unknown, missing, interrupted, in-progress), newest backup and its age (flagged when older than --max-age), pinned backups and unfinished operations — and, when anything needs action, the commands to run, in order. Read-only: no lock, no writes (but --metrics-file).

When the preflight refuses or the gateway is unreachable, the rows come from the registry and the backups. --remote also shows each sandbox's newest off-host copy (restic, read-only). How it decides: docs/design.md, "status".

${exitCodesHelp("status")}`;
  static override examples = [
    {
      description: "Before an upgrade: one answer for the whole host",
      command: "<%= config.bin %> <%= command.id %>",
    },
    {
      description: "Fleet summary per host (one JSON document), backups may be a week old",
      command: "<%= config.bin %> <%= command.id %> --json --max-age 7d",
    },
    {
      description: "Are the off-host copies recent too? (restic repository from RESTIC_REPOSITORY)",
      command: "<%= config.bin %> <%= command.id %> --remote --max-age 26h",
    },
    {
      description: "Refresh the node_exporter textfile every few minutes (a systemd timer or cron)",
      command:
        "<%= config.bin %> <%= command.id %> --metrics-file /var/lib/prometheus/node-exporter/nemoclaw.prom",
    },
  ];
  static override flags = {
    "max-age": Flags.string({
      description: "Flag backups older than this (s, m, h or d: 90m, 24h, 7d).",
      default: "24h",
      helpValue: "DURATION",
    }),
    strict: Flags.boolean({
      description: "Treat an unknown preflight verdict as a refusal (exit 3).",
      default: false,
    }),
    gateway: gatewayFlag,
    remote: Flags.boolean({
      description: "Also show the newest off-host copy per sandbox from the restic repository (read-only).",
      // No default: a default counts as given, and --repo needs --remote really given.
    }),
    repo: { ...repoFlag, dependsOn: ["remote"] },
    "metrics-file": metricsFileFlag,
  };

  private metrics: MetricsPlan | undefined;

  protected override finalize(outcome: Outcome): Promise<Outcome> {
    return finalizeMetrics(this.currentContext, this.metrics, this.commandId, outcome);
  }

  protected async execute(): Promise<Outcome> {
    const { flags } = await this.parse(Status);
    const maxAgeSeconds = parseDuration(flags["max-age"]);
    if (maxAgeSeconds === null) {
      throw new UsageError(
        `invalid --max-age ${JSON.stringify(flags["max-age"])}: use a number with s, m, h or d (90m, 24h, 7d)`,
      );
    }
    const gatewayName = resolveGatewayName(flags.gateway);
    const ctx = this.createContext(gatewayName);
    const strict = flags.strict || ctx.settings.strictPreflight;
    const file = metricsFileOf(ctx, flags["metrics-file"]);
    if (file) this.metrics = { file, gatewayName, strict };
    // Every command printed names the gateway unless it is the default (also when it came from
    // NEMOCLAW_GATEWAY: the operator may paste it into another shell).
    const gatewayArg = gatewayArgFor(gatewayName);
    // A missing repository is a usage error (exit 2) found before the gateway is contacted.
    if (flags.remote) resticFor(ctx, flags.repo);
    const run = await hostStatus(ctx, {
      gatewayName,
      strict,
      rerunCommand: `nemoclaw status${gatewayArg}`,
      maxAgeSeconds,
      gatewayFlag: gatewayArg,
    });
    if (this.metrics) this.metrics.status = run;
    let offhost: OffhostStatus | null = null;
    let repoProblem: EnvironmentError | null = null;
    if (flags.remote) {
      try {
        const remote = await offhostStatus(
          ctx,
          run.result.sandboxes.map((r) => r.name),
          { maxAgeSeconds, ...(flags.repo !== undefined ? { repo: flags.repo } : {}) },
        );
        offhost = remote.status;
        if (this.metrics) this.metrics.remote = remote.remote;
      } catch (error) {
        if (!(error instanceof EnvironmentError)) throw error;
        repoProblem = error;
      }
    }
    const { exitCode, error } = statusVerdict({
      refusal: run.refusal,
      unreachable: run.unreachable,
      repoProblem,
      needsAction: needsAction(run.result),
      actions: run.result.actions,
      offhostStale: offhost !== null && offhost.stale > 0,
    });
    const stdoutStyle = styleFor(ctx.io.stdoutColor);
    return {
      exitCode,
      preflight: run.preflight,
      result: flags.remote ? { ...run.result, offhost } : run.result,
      warnings: run.warnings,
      ...(error ? { error } : {}),
      stdout: [
        ...renderStatus(
          run.result,
          run.preflight,
          stdoutStyle,
          tableWidth(ctx.io.stdout, ctx.io.stdoutIsTTY),
        ),
        ...(offhost ? renderOffhostStatus(offhost, stdoutStyle) : []),
      ],
      stderr: [...run.warnings, ...(repoProblem ? [`Off-host copies unknown: ${repoProblem.message}`] : [])],
    };
  }
}
