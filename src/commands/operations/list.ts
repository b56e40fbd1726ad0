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
    `One row per operations journal (<state root>/operations/<sandbox>.json: a rebuild or restore that did not finish) and per started record (<sandbox>.started.json: a Stopped sandbox a killed run started and left running): sandbox, kind (rebuild, restore, started-for-backup), state (interrupted, in-progress, other-host, other-gateway, unreadable), phase, gateway, the backups it pins, and the command that finishes it — or, for a journal no command can finish from here (written on another host, unreadable), \`nemoclaw operations abandon\`. Reads only local files: no lock, no preflight, no OpenShell call. Exit 0 when nothing is open, 1 otherwise.

${exitCodesHelp()}`;
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
