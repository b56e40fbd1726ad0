import { Args, Flags } from "@oclif/core";
import { inRegistryOrder, requireKnownSandbox } from "../actions/known-sandbox.js";
import { checkUpgrades, upgradeSandboxes } from "../actions/upgrade-sandboxes.js";
import { batchOutcome } from "../cli/batch-outcome.js";
import { askYesNo, requireConfirmationPath } from "../cli/confirm.js";
import { gatewayFlag, metricsFileFlag, resolveGatewayName } from "../cli/flags.js";
import { exitCodesHelp } from "../cli/help-text.js";
import { finalizeMetrics, type MetricsPlan, metricsFileOf } from "../cli/metrics.js";
import { NemoclawCommand, type Outcome } from "../cli/nemoclaw-command.js";
import { clearsLiveView, interruptedBy } from "../context.js";
import { ExitCode } from "../domain/exit-codes.js";
import { needsAttention } from "../domain/upgrade-classification.js";
import { progressForm, progressRows } from "../output/progress.js";
import { styleFor } from "../output/style.js";
import { tableWidth } from "../output/table.js";
import {
  InteractiveUpgrade,
  renderCheckTable,
  renderUpgradeSummary,
  upgradeProgressListener,
} from "../output/upgrade-view.js";

export default class UpgradeSandboxes extends NemoclawCommand {
  static override commandId = "upgrade-sandboxes";
  static override gracefulInterrupt = true;
  static override summary = "Find sandboxes built from stale images and rebuild them, keeping their state.";
  static override description =
    `Use it after upgrading OpenShell or the agent catalog. --check (read-only, for CI gates) shows which sandboxes run a stale agent version, cannot be probed (unknown), are missing from the gateway or were left interrupted: exit 1 when any is. Without --check it first finishes every operation a killed run left unfinished, then rebuilds each stale sandbox from the catalog image, keeping its state: backup, delete, create, restore, verify. A failed backup means no rebuild; a rebuild that fails after the delete prints the backup and the exact restore command. On a terminal it shows the plan, asks per sandbox and shows each rebuild's progress; without one --yes is required.

The steps and what is proven before each destructive one: docs/design.md, "upgrade-sandboxes".

${exitCodesHelp("upgrade-sandboxes")}`;
  static override examples = [
    {
      description: "CI gate: is anything stale? (read-only)",
      command: "<%= config.bin %> <%= command.id %> --check --json",
    },
    {
      description: "Rebuild stale sandboxes, asking for each",
      command: "<%= config.bin %> <%= command.id %>",
    },
    {
      description: "Unattended rebuild from an installer script",
      command: "<%= config.bin %> <%= command.id %> --yes",
    },
    {
      description: "Finish the interrupted rebuild of alpha only (after a killed run)",
      command: "<%= config.bin %> <%= command.id %> --yes alpha",
    },
  ];
  static override strict = false;
  static override args = {
    sandbox: Args.string({
      description:
        "Limit the run to these sandboxes (repeatable; interrupted operations of others are left alone).",
      required: false,
    }),
  };
  static override flags = {
    check: Flags.boolean({
      description: "Only report; write nothing. Exit 1 when any sandbox is stale, unknown or missing.",
      default: false,
    }),
    yes: Flags.boolean({
      char: "y",
      description: "Rebuild without asking (required without a terminal).",
      default: false,
    }),
    auto: Flags.boolean({
      description: "Alias of --yes, kept for existing installer scripts.",
      default: false,
      hidden: false,
    }),
    concurrency: Flags.integer({
      description: "Sandboxes rebuilt at the same time (with --yes).",
      default: 1,
      min: 1,
      max: 8,
    }),
    gateway: gatewayFlag,
    "metrics-file": metricsFileFlag,
  };

  private metrics: MetricsPlan | undefined;

  protected override finalize(outcome: Outcome): Promise<Outcome> {
    return finalizeMetrics(this.currentContext, this.metrics, this.commandId, outcome);
  }

  protected async execute(): Promise<Outcome> {
    const { flags, argv } = await this.parse(UpgradeSandboxes);
    const gatewayName = resolveGatewayName(flags.gateway);
    const ctx = this.createContext(gatewayName);
    const names = (argv as string[]).map((name) => requireKnownSandbox(ctx, name));
    const metricsFile = metricsFileOf(ctx, flags["metrics-file"]);
    if (metricsFile) this.metrics = { file: metricsFile, gatewayName, strict: ctx.settings.strictPreflight };
    const yes = flags.yes || flags.auto;
    if (!flags.check) requireConfirmationPath(yes, ctx.io, "upgrade-sandboxes");
    const style = styleFor(ctx.io.color);
    const stdoutStyle = styleFor(ctx.io.stdoutColor);
    const rerun = ["nemoclaw upgrade-sandboxes", ...this.argv.filter((a) => a !== "--json")].join(" ");
    const policy = { gatewayName, strict: ctx.settings.strictPreflight, rerunCommand: rerun };

    if (flags.check) {
      const { preflight, result, warnings } = await checkUpgrades(ctx, policy);
      if (result.sandboxes.length === 0) {
        return {
          exitCode: ExitCode.Ok,
          preflight,
          result,
          warnings,
          stdout: ["No sandboxes found in the registry."],
        };
      }
      const attention = result.sandboxes.filter(needsAttention);
      return {
        exitCode: attention.length ? ExitCode.Failed : ExitCode.Ok,
        preflight,
        result,
        warnings,
        ...(attention.length
          ? {
              error: {
                code: "upgrade_needed",
                message: `${result.counts.stale} stale, ${result.counts.unknown} unknown, ${result.counts.missing} missing`,
              },
            }
          : {}),
        stdout: renderCheckTable(result, stdoutStyle, tableWidth(ctx.io.stdout, ctx.io.stdoutIsTTY)),
        stderr: warnings,
      };
    }

    const form = progressForm(ctx.io, this.wantsJson);
    const view = progressRows(ctx.io, form, style);
    const interactive = !yes;
    // On a terminal without --yes: the plan first, then each rebuild live after its answer.
    const asking = interactive
      ? new InteractiveUpgrade(ctx.io.stderr, form, style, tableWidth(ctx.io.stderr, ctx.io.stderrIsTTY))
      : undefined;
    const run = await upgradeSandboxes(ctx, {
      ...policy,
      names,
      concurrency: interactive ? 1 : flags.concurrency,
      ...(interactive
        ? {
            confirm: async (c) => {
              const yes = await askYesNo(
                ctx.io,
                `Rebuild sandbox ${c.name} (${c.current ?? "unknown"} → ${c.expected ?? "unknown"}: ${c.reason})?`,
                ctx.abort.signal,
              );
              if (yes && !this.wantsJson) asking?.started(c.name);
              return yes;
            },
          }
        : {}),
      onEvent: this.wantsJson ? undefined : asking ? asking.onEvent : upgradeProgressListener(view),
      onWarnings: (w) => {
        if (!this.wantsJson) view.print(w);
      },
      // On the terminal the result goes to, the live view gives way to the result (printed once).
    }).finally(() => {
      asking?.stop();
      view.finish({ clear: clearsLiveView(ctx.io) });
    });
    const { result } = run;
    if (result.sandboxes.length === 0) {
      return {
        exitCode: ExitCode.Ok,
        preflight: null,
        result,
        warnings: [],
        stdout: ["No sandboxes found in the registry."],
      };
    }
    const { exitCode, error } = batchOutcome(
      run.refusal,
      interruptedBy(ctx),
      result.summary.failed > 0
        ? {
            // Every failure a cut or failed lifecycle call: say so (look before retrying).
            code: result.sandboxes.every(
              (o) => o.status !== "failed" || o.code === "lifecycle_outcome_unknown",
            )
              ? "lifecycle_outcome_unknown"
              : "rebuild_failed",
            // Each failure's reason (a backup that failed its re-hash names its first bad file).
            message: `${result.summary.failed} sandbox(es) failed: ${result.sandboxes
              .filter((o) => o.status === "failed")
              .map((o) => `${o.name}: ${o.reason}`)
              .join("; ")}`,
          }
        : null,
    );
    return {
      exitCode,
      preflight: run.preflight,
      result,
      warnings: run.warnings,
      ...(error ? { error } : {}),
      stdout: renderUpgradeSummary(
        // Rows in registry order (results arrive in the order sandboxes finish).
        { ...result, sandboxes: inRegistryOrder(ctx, result.sandboxes, (o) => o.name) },
        stdoutStyle,
        ctx.io.stdoutIsTTY,
        tableWidth(ctx.io.stdout, ctx.io.stdoutIsTTY),
      ),
      stderr: run.refusal ? run.refusal.diagnostic : [],
    };
  }
}
