import { Flags } from "@oclif/core";
import { runOnboard } from "../actions/onboard.js";
import { gatewayFlag, resolveGatewayName } from "../cli/flags.js";
import { exitCodesHelp } from "../cli/help-text.js";
import { NemoclawCommand, type Outcome } from "../cli/nemoclaw-command.js";
import { ExitCode } from "../domain/exit-codes.js";
import { OnboardProgressView, renderOnboardOutcome } from "../output/onboard-view.js";
import { styleFor } from "../output/style.js";

export default class Onboard extends NemoclawCommand {
  static override commandId = "onboard";
  static override gracefulInterrupt = true;
  static override summary =
    "Start or repair the host-process OpenShell gateway and wait until it is really healthy.";
  static override description =
    `Resolves the installed OpenShell (\`openshell --version\`) and the gateway binary it ships (NEMOCLAW_OPENSHELL_GATEWAY_BIN, else \`openshell-gateway\` beside \`openshell\`, ~/.local/bin, /usr/local/bin, /usr/bin — never the binary recorded in the runtime marker). A binary whose version differs from the CLI is refused (exit 3): reinstall OpenShell first.

Under the maintenance lock: a running gateway (identity-checked from the runtime marker) that already serves the installed version under the gateway name is left alone ("already healthy", exit 0). With --resume, any other running gateway of ours is stopped (SIGTERM, then SIGKILL) — a stale marker naming some other process never gets that process signalled. The gateway is then launched detached on 127.0.0.1:NEMOCLAW_GATEWAY_PORT (default 8080), logging to openshell-gateway.log in the gateway state directory, recorded in runtime.json and the pid file, registered and selected with \`openshell gateway add/select\`.

It is reported healthy only after \`openshell status\` shows it Connected and serving the installed version on two polls at least one second apart, with the process still alive after each. If it exits or is not ready within NEMOCLAW_GATEWAY_START_TIMEOUT_MS (default 60000), it is stopped, its marker and pid file are removed, the last 20 log lines are shown, and the exit code is 1.

Without --resume (first start), a running gateway that is not healthy is not touched: onboard exits 4 and asks for --resume.

${exitCodesHelp()}`;
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
    const view = flags.json
      ? null
      : new OnboardProgressView(ctx.io.stderr, ctx.io.color, style, columns && columns > 0 ? columns : 80);

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
