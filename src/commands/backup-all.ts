import { Flags } from "@oclif/core";
import { backupAll, backupAllFailed } from "../actions/backup-all.js";
import { inRegistryOrder } from "../actions/known-sandbox.js";
import { type PushResult, pushBackups, resticFor } from "../actions/offhost.js";
import { batchOutcome } from "../cli/batch-outcome.js";
import { gatewayFlag, metricsFileFlag, repoFlag, resolveGatewayName } from "../cli/flags.js";
import { exitCodesHelp } from "../cli/help-text.js";
import { finalizeMetrics, type MetricsPlan, metricsFileOf } from "../cli/metrics.js";
import { NemoclawCommand, type Outcome } from "../cli/nemoclaw-command.js";
import { clearsLiveView, interruptedBy } from "../context.js";
import { type CommandVerdict, pushVerdict } from "../domain/command-verdicts.js";
import { EnvironmentError } from "../domain/errors.js";
import { ExitCode, worseExitCode } from "../domain/exit-codes.js";
import { backupProgressListener, renderBackupSummary } from "../output/backup-view.js";
import { renderPush } from "../output/offhost-view.js";
import { progressForm, progressRows } from "../output/progress.js";
import { styleFor } from "../output/style.js";
import { tableWidth } from "../output/table.js";

export default class BackupAll extends NemoclawCommand {
  static override commandId = "backup-all";
  static override gracefulInterrupt = true;
  static override summary = "Back up the state of every registered sandbox.";
  static override description =
    `Use it before an upgrade, and nightly (with --keep and --push): it backs up the state of every registered sandbox into <state root>/rebuild-backups/<sandbox>/<timestamp>/ with a SHA-256 manifest, after the gateway preflight (a drifted gateway: exit 3, nothing written). One sandbox's failure never stops the others. A Stopped sandbox is started for its backup and stopped again (--skip-stopped leaves it alone); sandboxes that are not Ready are skipped with a reason (a failure with --require-all). --keep N then keeps only the newest N backups of each sandbox and says which it removed; --push copies this run's backups to the restic repository. Ctrl-C stops starting new backups, cleans up, prints the summary.

How a backup is made atomic and proven: docs/design.md, "backup-all".

${exitCodesHelp("backup-all")}`;
  static override examples = [
    {
      description: "Back up every registered sandbox before an upgrade",
      command: "<%= config.bin %> <%= command.id %>",
    },
    {
      description: "CI: every sandbox must be backed up, keep the newest 5 backups each, machine-readable",
      command: "<%= config.bin %> <%= command.id %> --require-all --keep 5 --json",
    },
    {
      description: "Leave stopped sandboxes alone (skip them with a reason) instead of starting them",
      command: "<%= config.bin %> <%= command.id %> --skip-stopped",
    },
    {
      description: "Four transfers at a time against another gateway",
      command: "<%= config.bin %> <%= command.id %> --concurrency 4 --gateway staging",
    },
    {
      description: "Nightly (the systemd timer of examples/systemd): keep 7, copy off-host, export metrics",
      command:
        "<%= config.bin %> <%= command.id %> --keep 7 --push --metrics-file /var/lib/prometheus/node-exporter/nemoclaw.prom",
    },
  ];
  static override flags = {
    "require-all": Flags.boolean({
      description: "Fail (exit 1) when any registered sandbox could not be backed up, skipped ones included.",
      default: false,
    }),
    keep: Flags.integer({
      description: "After a sandbox's backup succeeds, keep only its newest N complete backups.",
      min: 1,
    }),
    concurrency: Flags.integer({
      description:
        "Sandboxes downloading from the gateway at the same time (hashing overlaps with the next download).",
      default: 2,
      min: 1,
      max: 32,
    }),
    "skip-stopped": Flags.boolean({
      description:
        "Skip Stopped sandboxes (with a reason) instead of starting them for their backup and stopping them again.",
      default: false,
    }),
    gateway: gatewayFlag,
    push: Flags.boolean({
      description: "Copy the backups this run completed to the restic repository (see backups push).",
      // No default: a default counts as given, and --repo needs --push really given.
    }),
    repo: { ...repoFlag, dependsOn: ["push"] },
    "metrics-file": metricsFileFlag,
  };

  private metrics: MetricsPlan | undefined;

  protected override finalize(outcome: Outcome): Promise<Outcome> {
    return finalizeMetrics(this.currentContext, this.metrics, this.commandId, outcome);
  }

  protected async execute(): Promise<Outcome> {
    const { flags } = await this.parse(BackupAll);
    const gatewayName = resolveGatewayName(flags.gateway);
    const ctx = this.createContext(gatewayName);
    const style = styleFor(ctx.io.color);
    const requireAll = flags["require-all"] || ctx.settings.requireAllBackups;
    const rerun = ["nemoclaw backup-all", ...this.argv.filter((a) => a !== "--json")].join(" ");
    const showProgress = !this.wantsJson;
    const file = metricsFileOf(ctx, flags["metrics-file"]);
    if (file) this.metrics = { file, gatewayName, strict: ctx.settings.strictPreflight };
    // Not configured → exit 2 before anything runs.
    const restic = flags.push ? resticFor(ctx, flags.repo) : null;
    let push: PushResult | null = null;
    let pushProblem: EnvironmentError | null = null;
    const view = progressRows(ctx.io, progressForm(ctx.io, this.wantsJson), style);
    const warningLines: string[] = [];
    const run = await backupAll(ctx, {
      gatewayName,
      requireAll,
      keep: flags.keep,
      concurrency: flags.concurrency,
      skipStopped: flags["skip-stopped"],
      strict: ctx.settings.strictPreflight,
      rerunCommand: rerun,
      onEvent: showProgress ? backupProgressListener(view) : undefined,
      onWarnings: (w) => {
        warningLines.push(...w);
        if (showProgress) view.print(w.map((l, i) => (i === 0 ? style.yellow(l) : l)));
      },
      whileLocked: restic
        ? async (done) => {
            const only = done.sandboxes.flatMap((o) =>
              o.status === "backed-up" && o.timestamp ? [{ sandbox: o.name, timestamp: o.timestamp }] : [],
            );
            if (only.length === 0) return;
            try {
              const pushed = await pushBackups(ctx, restic, { only });
              push = pushed.result;
              if (this.metrics) this.metrics.remote = pushed.remote;
            } catch (error) {
              if (!(error instanceof EnvironmentError)) throw error;
              pushProblem = error;
            }
          }
        : undefined,
      // On the terminal the result goes to, the live view gives way to the result (printed once).
    }).finally(() => view.finish({ clear: clearsLiveView(ctx.io) }));
    const { result } = run;
    if (result.registered === 0) {
      return {
        exitCode: ExitCode.Ok,
        preflight: null,
        result,
        warnings: [],
        stdout: ["No sandboxes registered. Nothing to back up."],
      };
    }
    const backupOutcome = batchOutcome(
      run.refusal,
      interruptedBy(ctx),
      backupAllFailed(result)
        ? {
            code:
              result.summary.failed > 0 &&
              result.sandboxes.every((o) => o.status !== "failed" || o.code === "lifecycle_outcome_unknown")
                ? "lifecycle_outcome_unknown"
                : "backup_failed",
            message: `${result.summary.failed} failed, ${result.summary.skipped} skipped${requireAll ? " (--require-all)" : ""}`,
          }
        : null,
    );
    const pushOutcome = pushFailure(push, pushProblem);
    const exitCode = worseExitCode(backupOutcome.exitCode, pushOutcome?.exitCode ?? ExitCode.Ok);
    const error = exitCode === backupOutcome.exitCode ? backupOutcome.error : pushOutcome?.error;
    const stdoutStyle = styleFor(ctx.io.stdoutColor);
    const pushResult = push as PushResult | null;
    const problem = pushProblem as EnvironmentError | null;
    return {
      exitCode,
      preflight: run.preflight,
      result: restic ? { ...result, push: pushResult } : result,
      warnings: warningLines,
      ...(error ? { error } : {}),
      stdout: [
        ...renderBackupSummary(
          // Rows in registry order (results arrive in the order sandboxes finish).
          { ...result, sandboxes: inRegistryOrder(ctx, result.sandboxes, (o) => o.name) },
          stdoutStyle,
          ctx.io.stdoutIsTTY,
          tableWidth(ctx.io.stdout, ctx.io.stdoutIsTTY),
        ),
        ...(pushResult ? renderPush(pushResult, stdoutStyle) : []),
      ],
      stderr: [
        ...(run.refusal ? run.refusal.diagnostic.map((l, i) => (i === 0 ? style.red(l) : l)) : []),
        ...(problem ? [`${style.red("Push failed:")} ${problem.message}`] : []),
      ],
    };
  }
}

/** The push's exit code and error: 4 when the repository could not be used, 1 when a backup failed to push. */
function pushFailure(
  push: PushResult | null,
  problem: EnvironmentError | null,
): Required<CommandVerdict> | null {
  const { exitCode, error } = pushVerdict({
    interrupted: null,
    problem,
    pushed: push?.pushed ?? 0,
    failed: push?.failed ?? 0,
  });
  return error ? { exitCode, error } : null;
}
