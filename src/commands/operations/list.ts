import { listOperations } from "../../actions/operations-admin.js";
import { exitCodesHelp } from "../../cli/help-text.js";
import { NemoclawCommand, type Outcome } from "../../cli/nemoclaw-command.js";
import { ExitCode } from "../../domain/exit-codes.js";
import { renderOperationsList } from "../../output/operations-view.js";
import { styleFor } from "../../output/style.js";

export default class OperationsList extends NemoclawCommand {
  static override commandId = "operations list";
  static override summary = "List unfinished rebuilds, restores and sandboxes left started.";
  static override description =
    `Use it after a crash or a killed run, or when status reports an interrupted sandbox: one row per unfinished rebuild or restore and per Stopped sandbox a killed run left started, with its state, phase, gateway, the backups it pins and the command that finishes it — or \`nemoclaw operations abandon\` for one no command can finish from here. Reads only local files.

${exitCodesHelp("operations list")}`;
  static override examples = [
    { description: "What is unfinished on this host", command: "<%= config.bin %> <%= command.id %>" },
    { description: "The same, machine-readable", command: "<%= config.bin %> <%= command.id %> --json" },
  ];

  protected async execute(): Promise<Outcome> {
    await this.parse(OperationsList);
    const ctx = this.createContext();
    const result = listOperations(ctx);
    const open = result.operations.length > 0;
    return {
      exitCode: open ? ExitCode.Failed : ExitCode.Ok,
      preflight: null,
      result,
      warnings: [],
      ...(open
        ? {
            error: {
              code: "operations_open",
              message: `${result.operations.length} unfinished operation(s): ${result.operations.map((o) => o.sandbox).join(", ")}`,
            },
          }
        : {}),
      stdout: renderOperationsList(result, styleFor(ctx.io.stdoutColor)),
    };
  }
}
