import { stripAnsi } from "../domain/schema-mismatch.js";

/**
 * oclif's own failures (a missing flag or argument, a value that does not parse, an unexpected
 * argument, a flag that does not exist, an unknown command) as one line of our own wording:
 * docs/design.md, "Usage errors". The caller prints it as `Error: <line>` and then
 * `See: nemoclaw <command> --help` — never oclif's multi-line text or its internal command ids.
 */

interface ParseErrorShape {
  message?: unknown;
  args?: unknown;
  flags?: unknown;
  parse?: unknown;
}

const HELP_TAIL = /\s*See more help with --help\s*$/;

/** The error's text without colour, oclif's help pointer or line breaks. */
function plain(text: string): string {
  return stripAnsi(text).replace(HELP_TAIL, "").replace(/\s+/g, " ").trim();
}

function argName(arg: unknown): string {
  const name = (arg as { name?: unknown })?.name;
  return typeof name === "string" ? name.toUpperCase() : "ARGUMENT";
}

/** `Missing required flag keep` → `missing required flag --keep`, and the other validation reasons. */
function validationReason(reason: string): string {
  const missing = /^Missing required flag (\S+)$/.exec(reason);
  if (missing) return `missing required flag --${missing[1]}`;
  const needs = /^All of the following must be provided when using --(\S+): (.+)$/.exec(reason);
  if (needs) return `--${needs[1]} needs ${needs[2]}`;
  const exclusive = /^--(\S+?)(?:=\S*)? cannot also be provided when using --(\S+)$/.exec(reason);
  if (exclusive) return `--${exclusive[1]} cannot be used with --${exclusive[2]}`;
  return reason.charAt(0).toLowerCase() + reason.slice(1);
}

/**
 * The one line for an oclif parse or validation error, or null when `error` is not one (the
 * caller then reports it as it is).
 */
export function usageLine(error: unknown): string | null {
  if (!(error instanceof Error)) return null;
  const e = error as Error & ParseErrorShape;
  const name = e.constructor?.name ?? "";
  const message = stripAnsi(e.message);
  if (name === "RequiredArgsError" && Array.isArray(e.args)) {
    const names = e.args.map(argName);
    return `missing argument${names.length === 1 ? "" : "s"} ${names.join(", ")}`;
  }
  if (name === "UnexpectedArgsError" && Array.isArray(e.args)) {
    return `unexpected argument${e.args.length === 1 ? "" : "s"}: ${e.args.map(String).join(" ")}`;
  }
  if (name === "NonExistentFlagsError" && Array.isArray(e.flags)) {
    return `unknown flag${e.flags.length === 1 ? "" : "s"} ${e.flags.map(String).join(", ")}`;
  }
  const failed = /^The following errors? occurred:\s*([\s\S]*)$/.exec(message);
  if (failed) {
    const reasons = (failed[1] ?? "")
      .replace(HELP_TAIL, "")
      .split("\n")
      .map((r) => r.trim())
      .filter(Boolean);
    return reasons.map(validationReason).join("; ") || "invalid flags";
  }
  const parsing = /^Parsing (--\S+)\s*\n\s*([\s\S]*)$/.exec(message);
  if (parsing) {
    const why = plain(parsing[2] ?? "");
    return `invalid value for ${parsing[1]}: ${why.charAt(0).toLowerCase()}${why.slice(1)}`;
  }
  if (/^Expected .* to be one of: /.test(message)) return plain(message);
  if (typeof e.parse === "object" || name.endsWith("ParseError") || name === "CLIError") {
    return plain(message.split("\n")[0] ?? message);
  }
  return null;
}

/** What oclif's `command a:b:c not found` meant, given the commands and topics that exist. */
export interface UnknownCommand {
  line: string;
  /** The command (or topic) whose `--help` to point at, space-separated; "" for the root. */
  helpFor: string;
}

/**
 * `command backups:list:extra not found`: the longest known command it starts with takes the
 * rest as unexpected arguments; else the longest known topic names an unknown subcommand; else
 * the first word is an unknown command.
 */
export function unknownCommand(
  id: string,
  commandIds: readonly string[],
  topics: readonly string[],
): UnknownCommand {
  const words = id.split(":").filter(Boolean);
  for (let n = words.length - 1; n >= 1; n--) {
    const prefix = words.slice(0, n).join(":");
    if (commandIds.includes(prefix)) {
      const rest = words.slice(n);
      return {
        line: `unexpected argument${rest.length === 1 ? "" : "s"}: ${rest.join(" ")}`,
        helpFor: words.slice(0, n).join(" "),
      };
    }
  }
  for (let n = words.length - 1; n >= 1; n--) {
    const prefix = words.slice(0, n).join(":");
    if (topics.includes(prefix)) {
      return {
        line: `unknown command "${words.slice(0, n + 1).join(" ")}"`,
        helpFor: words.slice(0, n).join(" "),
      };
    }
  }
  return { line: `unknown command "${words[0] ?? id}"`, helpFor: "" };
}

/** `See: nemoclaw <command> --help` (the root's help for an unknown command). */
export function helpPointer(command: string): string {
  return `See: nemoclaw ${command ? `${command} ` : ""}--help`;
}
