import { flush, run } from "@oclif/core";
import { processIOStreams } from "../context.js";
import { neutralizeControls } from "../domain/display.js";
import { ExitCode } from "../domain/exit-codes.js";
import { renderJson } from "../output/envelope.js";
import { jsonRequested } from "./flags.js";

/**
 * Runs the oclif CLI. Failures inside a command are rendered by NemoclawCommand; what reaches
 * here is oclif's own (unknown command, unknown topic): still one line, or one JSON document
 * under --json, with the usage exit code — never a stack trace unless DEBUG is set.
 */
export async function main(argv: string[], binUrl: string): Promise<void> {
  try {
    await run(argv, binUrl);
    await flush();
  } catch (error) {
    const exit = (error as { oclif?: { exit?: number } }).oclif?.exit;
    if (exit === 0) return;
    const io = processIOStreams(process.env);
    if (process.env.DEBUG && error instanceof Error) io.stderr.write(`${error.stack}\n`);
    const message = error instanceof Error ? error.message : String(error);
    if (jsonRequested(argv)) {
      io.stdout.write(
        renderJson({
          ok: false,
          command: "nemoclaw",
          exitCode: ExitCode.Usage,
          preflight: null,
          result: null,
          warnings: [],
          error: { code: "usage", message },
        }),
      );
    } else {
      io.stderr.write(
        `Error: ${neutralizeControls(message.split("\n")[0] ?? "")} (see \`nemoclaw --help\`)\n`,
      );
    }
    process.exitCode = ExitCode.Usage;
  }
}
