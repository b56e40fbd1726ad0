import { Flags } from "@oclif/core";
import { enforcePreflight, runPreflight } from "../../actions/preflight.js";
import { gatewayFlag, resolveGatewayName } from "../../cli/flags.js";
import { exitCodesHelp } from "../../cli/help-text.js";
import { NemoclawCommand, type Outcome } from "../../cli/nemoclaw-command.js";
import { PreflightRefusal } from "../../domain/errors.js";
import { ExitCode } from "../../domain/exit-codes.js";
import { renderPreflightSummary } from "../../output/preflight-view.js";
import { colourFirstLine, styleFor } from "../../output/style.js";

export default class GatewayPreflight extends NemoclawCommand {
  static override commandId = "gateway preflight";
  static override summary = "Check that the OpenShell CLI and the running gateway agree on their schema.";
  static override description =
    `Use it before trusting what OpenShell says about sandboxes — after an OpenShell upgrade above all, and as a CI gate: it tells whether the installed openshell CLI and the running gateway agree on their schema. Verdicts: compatible; drift (the gateway runs another version: exit 3, with the recovery steps); unknown (something essential could not be read, e.g. a gateway name OpenShell does not know: a warning, exit 0, or exit 3 with --strict). Read-only: it never starts, stops or selects a gateway.

The probes and the verdict rules: docs/design.md, "The preflight decision".

${exitCodesHelp("gateway preflight")}`;
  static override examples = [
    {
      description: "Check the default gateway (nemoclaw) before an upgrade",
      command: "<%= config.bin %> <%= command.id %>",
    },
    {
      description: "Gate a CI job: fail unless compatibility is proven, machine-readable",
      command: "<%= config.bin %> <%= command.id %> --strict --json",
    },
    {
      description: "Check another registered gateway",
      command: "<%= config.bin %> <%= command.id %> --gateway staging",
    },
  ];
  static override flags = {
    strict: Flags.boolean({
      description: "Refuse (exit 3) when compatibility cannot be established (verdict unknown).",
      default: false,
    }),
    gateway: gatewayFlag,
  };

  protected async execute(): Promise<Outcome> {
    const { flags } = await this.parse(GatewayPreflight);
    const gatewayName = resolveGatewayName(flags.gateway);
    const ctx = this.createContext(gatewayName);
    const strict = flags.strict || ctx.settings.strictPreflight;
    const rerun = [
      "nemoclaw gateway preflight",
      ...(flags.gateway ? [`--gateway ${gatewayName}`] : []),
      ...(flags.strict ? ["--strict"] : []),
    ].join(" ");
    const report = await runPreflight(ctx, ctx.settings.gatewayName);
    const style = styleFor(ctx.io.color);
    try {
      const { warnings } = enforcePreflight(report, {
        action: "checking the gateway",
        rerunCommand: rerun,
        strict,
      });
      const verdict = report.preflight.verdict as "compatible" | "unknown";
      return {
        exitCode: ExitCode.Ok,
        preflight: report.preflight,
        result: { gatewayName, verdict, proceed: true, strict, diagnostic: warnings },
        warnings,
        stdout: renderPreflightSummary(report, styleFor(ctx.io.stdoutColor)),
        stderr: colourFirstLine(warnings, style.yellow),
      };
    } catch (error) {
      if (!(error instanceof PreflightRefusal)) throw error;
      return {
        exitCode: ExitCode.Refused,
        preflight: error.preflight,
        result: {
          gatewayName,
          verdict: report.preflight.verdict === "unknown" ? "unknown" : "drift",
          proceed: false,
          strict,
          diagnostic: error.diagnostic,
        },
        warnings: [],
        error: { code: error.code, message: error.message, diagnostic: error.diagnostic },
        stderr: colourFirstLine(error.diagnostic, style.red),
      };
    }
  }
}
