import { Command, Errors } from "@oclif/core";
import { SettingError } from "../adapters/host-paths.js";
import { type Context, createContext, type IOStreams, processIOStreams } from "../context.js";
import { neutralizeControls, sanitizeForTerminal } from "../domain/display.js";
import { errorCodeFor, exitCodeFor, NemoclawError, PreflightRefusal, UsageError } from "../domain/errors.js";
import { ExitCode, exitCodeForSignal } from "../domain/exit-codes.js";
import type { Preflight } from "../domain/preflight-types.js";
import { type JsonEnvelope, renderJson } from "../output/envelope.js";
import { colourFirstLine, styleFor } from "../output/style.js";
import { jsonFlag, jsonRequested } from "./flags.js";
import { helpPointer, usageLine } from "./usage-errors.js";

/** What a command produced: fed to both the JSON envelope and the human renderer. */
export interface Outcome {
  exitCode: ExitCode;
  preflight: Preflight | null;
  result: unknown;
  warnings: string[];
  error?: { code: string; message: string; diagnostic?: string[] };
  /** Human output: results on stdout, diagnostics on stderr (already styled). */
  stdout?: string[];
  stderr?: string[];
}

/**
 * Base of every nemoclaw command: builds the Context, turns any failure into an Outcome with
 * the documented exit code, and prints either exactly one JSON document or human text.
 * Commands never call process.exit; the exit code is set here and nowhere else.
 */
export abstract class NemoclawCommand extends Command {
  /** The command id as it appears in the JSON envelope (`gateway preflight`, …). */
  static commandId = "nemoclaw";

  /**
   * `--json` on every command (oclif's base flags). The flag only selects the output form: the
   * envelope written by `emit` stays the one JSON writer, on success and on every failure.
   */
  static override baseFlags = { json: jsonFlag };

  protected abstract execute(): Promise<Outcome>;

  protected get commandId(): string {
    return (this.constructor as typeof NemoclawCommand).commandId;
  }

  protected get wantsJson(): boolean {
    return jsonRequested(this.argv);
  }

  /** The one writer: the context's streams once it exists, the process's until then. */
  private get io(): IOStreams {
    return this.context?.io ?? processIOStreams(process.env);
  }

  /**
   * Commands whose actions stop gracefully on an interrupt (finish the summary, clean up) set
   * this; for the others an interrupt kills their probes' process groups and exits at once.
   */
  static gracefulInterrupt = false;

  private context: Context | undefined;

  /** The Context once `createContext` ran (for `finalize`). */
  protected get currentContext(): Context | undefined {
    return this.context;
  }

  /**
   * Runs after every outcome, failures included (before it is printed): `--metrics-file`
   * records the run there. The default changes nothing.
   */
  protected async finalize(outcome: Outcome): Promise<Outcome> {
    return outcome;
  }

  protected createContext(gatewayFlag?: string): Context {
    this.context = createContext({
      cliVersion: this.config.version,
      packageRoot: this.config.root,
      gatewayFlag,
    });
    return this.context;
  }

  async run(): Promise<void> {
    const onSignal = (signal: NodeJS.Signals) => this.interrupt(signal as "SIGINT" | "SIGTERM");
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
    let outcome: Outcome;
    try {
      outcome = await this.execute();
    } catch (error) {
      outcome = this.failureOutcome(error);
    } finally {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
    }
    try {
      outcome = await this.finalize(outcome);
    } catch (error) {
      outcome = { ...outcome, warnings: [...outcome.warnings, String((error as Error)?.message ?? error)] };
    }
    this.emit(outcome);
    process.exitCode = outcome.exitCode;
  }

  /**
   * Children run in their own process groups (so timeouts can kill whole trees), which also
   * means a terminal's Ctrl-C does not reach them: we must kill them ourselves.
   */
  private interrupt(signal: "SIGINT" | "SIGTERM"): void {
    const code = exitCodeForSignal(signal);
    const ctx = this.context;
    const graceful = (this.constructor as typeof NemoclawCommand).gracefulInterrupt;
    if (ctx && graceful && !ctx.abort.signal.aborted) {
      ctx.abort.abort(signal);
      return;
    }
    // Not graceful, or a second signal: stop now — still with exactly one document under --json.
    ctx?.runner.killAll("SIGKILL");
    this.emit({
      exitCode: code,
      preflight: ctx?.preflightRan?.preflight ?? null,
      result: null,
      warnings: ctx?.preflightRan ? [...ctx.preflightRan.warnings] : [],
      error: { code: "interrupted", message: `interrupted by ${signal}` },
      stderr: [`Interrupted by ${signal}.`],
    });
    process.exit(code);
  }

  private failureOutcome(error: unknown): Outcome {
    const normalized = normalizeError(error);
    if (process.env.DEBUG && error instanceof Error && error.stack) this.io.stderr.write(`${error.stack}\n`);
    const style = styleFor(this.io.color);
    const exitCode = exitCodeFor(normalized);
    const message = normalized instanceof Error ? normalized.message : String(normalized);
    // A preflight that ran stays in the envelope (with its warnings) whatever failed later.
    const ran = this.context?.preflightRan;
    const warnings = ran ? [...ran.warnings] : [];
    if (normalized instanceof PreflightRefusal) {
      return {
        exitCode,
        preflight: normalized.preflight,
        result: null,
        warnings,
        error: { code: normalized.code, message, diagnostic: normalized.diagnostic },
        stderr: colourFirstLine(normalized.diagnostic, style.red),
      };
    }
    const carried = (normalized as { preflight?: Preflight | null }).preflight;
    return {
      exitCode,
      preflight: carried ?? ran?.preflight ?? null,
      result: null,
      warnings,
      error: { code: errorCodeFor(normalized), message },
      stderr: [
        `${style.red("Error:")} ${neutralizeControls(oneLine(message))}`,
        // A usage error points at the one place that explains the command.
        ...(normalized instanceof UsageError ? [helpPointer(this.commandId)] : []),
      ],
    };
  }

  private emit(outcome: Outcome): void {
    if (this.wantsJson) {
      const envelope: JsonEnvelope = {
        ok: outcome.exitCode === ExitCode.Ok,
        command: this.commandId,
        exitCode: outcome.exitCode,
        preflight: outcome.preflight,
        result: outcome.result ?? null,
        warnings: outcome.warnings,
        ...(outcome.error ? { error: outcome.error } : {}),
      };
      this.io.stdout.write(renderJson(envelope));
      return;
    }
    // Names were escaped where they are shown; this guarantees nothing missed there reaches the
    // terminal raw (docs/design.md, "Names, paths and input").
    const io = this.io;
    if (outcome.stdout?.length)
      io.stdout.write(`${sanitizeForTerminal(outcome.stdout.join("\n"), io.stdoutColor)}\n`);
    if (outcome.stderr?.length)
      io.stderr.write(`${sanitizeForTerminal(outcome.stderr.join("\n"), io.color)}\n`);
  }
}

function oneLine(message: string): string {
  return message.replace(/\s*\n\s*/g, " ").trim();
}

/** oclif's parser errors (unknown flag, bad value, missing arg) are usage errors: exit 2. */
export function normalizeError(error: unknown): unknown {
  if (error instanceof NemoclawError) return error;
  if (error instanceof SettingError) return new UsageError(error.message, "invalid_setting");
  if (error instanceof Errors.CLIError || isOclifParseError(error)) {
    // One line of our own, never oclif's multi-line text (docs/design.md, "Usage errors").
    return new UsageError(usageLine(error) ?? (error instanceof Error ? error.message : String(error)));
  }
  return error;
}

function isOclifParseError(error: unknown): error is Error {
  return error instanceof Error && typeof (error as { parse?: unknown }).parse === "object";
}
