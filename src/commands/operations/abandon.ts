import { Args, Flags } from "@oclif/core";
import { requireSandboxName } from "../../actions/backups.js";
import { abandonOperation } from "../../actions/operations-admin.js";
import { askYesNo, requireConfirmationPath } from "../../cli/confirm.js";
import { exitCodesHelp } from "../../cli/help-text.js";
import { NemoclawCommand, type Outcome } from "../../cli/nemoclaw-command.js";
import { ExitCode } from "../../domain/exit-codes.js";
import { renderAbandonPlan, renderAbandonResult } from "../../output/operations-view.js";
import { styleFor } from "../../output/style.js";

export default class OperationsAbandon extends NemoclawCommand {
  static override commandId = "operations abandon";
  static override summary = "Drop one unfinished operation's journal (or started record), explicitly.";
  static override description =
    `Use it only for an unfinished operation no command can finish from here — written on another host (say, before a hostname change) or unreadable — or when you decide to give it up. It prints what the operation pins and what the sandbox holds now, asks (or --yes), then drops the journal and records it as abandoned. The backups stay (no longer pinned) and the sandbox is not touched; the commands that restore a pinned state are printed. Finishing is always better: \`nemoclaw operations list\` shows the command that does.

${exitCodesHelp("operations abandon")}`;
  static override examples = [
    {
      description: "A journal left by this host under its old hostname",
      command: "<%= config.bin %> <%= command.id %> alpha",
    },
    {
      description: "Unattended, machine-readable",
      command: "<%= config.bin %> <%= command.id %> alpha --yes --json",
    },
  ];
  static override args = {
    sandbox: Args.string({ description: "Sandbox whose unfinished operation to drop.", required: true }),
  };
  static override flags = {
    yes: Flags.boolean({
      char: "y",
      description: "Do not ask for confirmation (required without a terminal).",
      default: false,
    }),
  };

  protected async execute(): Promise<Outcome> {
    const { args, flags } = await this.parse(OperationsAbandon);
    const sandbox = requireSandboxName(args.sandbox);
    const ctx = this.createContext();
    requireConfirmationPath(flags.yes, ctx.io, "operations abandon");
    const style = styleFor(ctx.io.stdoutColor);
    const { result, warnings } = await abandonOperation(ctx, sandbox, async (plan) => {
      if (flags.yes) return true;
      ctx.io.stderr.write(`${renderAbandonPlan(plan).join("\n")}\n`);
      return askYesNo(ctx.io, `Drop this ${plan.kind} journal of ${sandbox}?`, ctx.abort.signal);
    });
    return {
      exitCode: result.abandoned ? ExitCode.Ok : ExitCode.Failed,
      preflight: null,
      result,
      warnings,
      ...(result.abandoned
        ? {}
        : { error: { code: "cancelled", message: "operations abandon cancelled; nothing was changed" } }),
      stdout: renderAbandonResult(result, style),
      stderr: warnings,
    };
  }
}
