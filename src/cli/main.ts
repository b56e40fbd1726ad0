import { Config, flush, run } from "@oclif/core";
import { processIOStreams } from "../context.js";
import { neutralizeControls } from "../domain/display.js";
import { ExitCode } from "../domain/exit-codes.js";
import { renderJson } from "../output/envelope.js";
import { styleFor } from "../output/style.js";
import { jsonRequested } from "./flags.js";
import { helpPointer, unknownCommand, usageLine } from "./usage-errors.js";

/**
 * Runs the oclif CLI. Failures inside a command are rendered by NemoclawCommand; what reaches
 * here is oclif's own (unknown command, unknown topic, an argument oclif took for a
 * subcommand): one line of our own and a help pointer, or one JSON document under --json, with
 * the usage exit code — never a stack trace unless DEBUG is set.
 */
export async function main(argv: string[], binUrl: string): Promise<void> {
  let config: Config | undefined;
  try {
    config = await Config.load(binUrl);
    await run(argv, config);
    await flush();
  } catch (error) {
    const exit = (error as { oclif?: { exit?: number } }).oclif?.exit;
    if (exit === 0) return;
    const io = processIOStreams(process.env);
    if (process.env.DEBUG && error instanceof Error) io.stderr.write(`${error.stack}\n`);
    const raw = error instanceof Error ? error.message : String(error);
    const notFound = /^command (\S+) not found/.exec(raw);
    const mapped = notFound
      ? unknownCommand(
          notFound[1] ?? "",
          config?.commandIDs ?? [],
          (config?.topics ?? []).map((t) => t.name),
        )
      : { line: usageLine(error) ?? raw.split("\n")[0] ?? raw, helpFor: "" };
    const command = mapped.helpFor && config?.commandIDs.includes(mapped.helpFor.replace(/ /g, ":"));
    if (jsonRequested(argv)) {
      io.stdout.write(
        renderJson({
          ok: false,
          command: command ? mapped.helpFor : "nemoclaw",
          exitCode: ExitCode.Usage,
          preflight: null,
          result: null,
          warnings: [],
          error: { code: "usage", message: mapped.line },
        }),
      );
    } else {
      const style = styleFor(io.color);
      io.stderr.write(
        `${style.red("Error:")} ${neutralizeControls(mapped.line)}\n${helpPointer(mapped.helpFor)}\n`,
      );
    }
    process.exitCode = ExitCode.Usage;
  }
}
