import { Flags } from "@oclif/core";
import { runOnboard } from "../actions/onboard.js";
import { gatewayFlag, resolveGatewayName } from "../cli/flags.js";
import { exitCodesHelp } from "../cli/help-text.js";
import { NemoclawCommand, type Outcome } from "../cli/nemoclaw-command.js";
import { ExitCode } from "../domain/exit-codes.js";
import { OnboardProgressView, renderOnboardOutcome } from "../output/onboard-view.js";
import { progressForm } from "../output/progress.js";
import { styleFor } from "../output/style.js";

export default class Onboard extends NemoclawCommand {
  static override commandId = "onboard";
  static override gracefulInterrupt = true;
  static override summary =
    "Start or repair the host-process OpenShell gateway and wait until it is really healthy.";
  static override description =
    `Use it on a new host to start the host-process OpenShell gateway, and with --resume to repair it after an OpenShell upgrade (what a preflight refusal recommends). It launches the gateway binary of the installed OpenShell, registers and selects it, and reports it healthy only once \`openshell status\` shows it connected and serving the installed version twice, a second apart. A gateway that does not become healthy is stopped again and its last log lines shown (exit 1). A healthy gateway is left alone. Without --resume an unhealthy running gateway is not touched (exit 4).

Binary resolution, launch and health rules: docs/design.md, "onboard".

${exitCodesHelp("onboard")}`;
  static override examples = [
    {
      description: "Repair the gateway after an OpenShell upgrade (what a preflight refusal recommends)",
      command: "<%= config.bin %> <%= command.id %> --resume",
    },
    {
      description: "First start on a new host",
      command: "<%= config.bin %> <%= command.id %>",
    },
    {
      description: "Repair from a script, machine-readable, with a longer start timeout",
      command: "NEMOCLAW_GATEWAY_START_TIMEOUT_MS=120000 <%= config.bin %> <%= command.id %> --resume --json",
    },
  ];
  static override flags = {
    resume: Flags.boolean({
      description:
        "Repair: restart a running gateway that is not healthy or does not serve the installed version.",
      default: false,
    }),
    gateway: gatewayFlag,
  };

  protected async execute(): Promise<Outcome> {
    const { flags } = await this.parse(Onboard);
    const gatewayName = resolveGatewayName(flags.gateway);
    const ctx = this.createContext(gatewayName);
    const style = styleFor(ctx.io.color);
    const columns = (ctx.io.stderr as { columns?: number }).columns;
    // The progress printer's form decides (docs/design.md, "On a terminal: tables and progress").
    const form = progressForm(ctx.io, this.wantsJson);
    const view =
      form === "json"
        ? null
        : new OnboardProgressView(
            ctx.io.stderr,
            form === "tty",
            style,
            columns && columns > 0 ? columns : 80,
          );

    // An interrupt (first SIGINT/SIGTERM) aborts ctx.abort: the action stops what it launched,
    // removes its marker and releases the lock, then the run exits 130/143.
    let report: Awaited<ReturnType<typeof runOnboard>>;
    try {
      report = await runOnboard(ctx, {
        gatewayName,
        resume: flags.resume,
        signal: ctx.abort.signal,
        onProgress: view ? (event) => view.update(event) : undefined,
      });
    } finally {
      view?.stop();
    }

    const human = renderOnboardOutcome(report, style, styleFor(ctx.io.stdoutColor));
    const failed = report.result.action === "failed";
    return {
      exitCode: failed ? ExitCode.Failed : ExitCode.Ok,
      preflight: null,
      result: report.result,
      warnings: report.warnings,
      ...(report.failure ? { error: report.failure } : {}),
      stdout: human.stdout,
      stderr: human.stderr,
    };
  }
}
