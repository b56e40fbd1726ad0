/**
 * Reactive classification of an OpenShell state query (`sandbox list`, `get`, `exec`, …) after the
 * preflight (docs/design.md, "Error shapes" and "Reactive check"). The point is fail-closed: a query that failed or came back garbled must
 * never be read as "sandbox stopped/missing", and a protobuf decode error means the CLI and the
 * gateway disagree on the schema, whatever else the output says.
 */

export interface CommandOutput {
  stdout: string;
  stderr: string;
  /** null when the process did not exit normally (killed, timed out). */
  exitCode: number | null;
}

export type OpenShellFailureKind =
  | "schema_mismatch"
  | "unreachable"
  | "not_found"
  | "gateway_not_registered"
  | "other";

export interface OpenShellFailure {
  kind: OpenShellFailureKind;
  /** ≤ 260 characters, ANSI stripped, whitespace folded. */
  excerpt: string;
}

export const EXCERPT_MAX = 260;

// CSI (colours, cursor moves, `?25l` …), OSC (hyperlinks `ESC]8;;url ESC\`, titles; BEL or ST
// terminated) and the remaining two-byte escapes. OpenShell colours output even into pipes.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching terminal escape bytes is the point
const ANSI = /\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-Z\\-_]/g;

export function stripAnsi(text: string): string {
  return text.replace(ANSI, "");
}

/**
 * miette's report decorations at the start of a line: the `×` of the headline, the `├─▶`/`╰─▶` of
 * each cause and the `│` gutter of wrapped text (miette wraps at 80 columns mid-sentence).
 */
const MIETTE_LEAD = /^\s*(?:(?:×|│|├─▶|╰─▶)\s*)+/u;

/**
 * A miette report as one line: ANSI stripped, each line's indentation and leading `│`, `├─▶`,
 * `╰─▶` or `×` dropped (after an `Error:` prefix too), the lines joined with one space. Patterns
 * are matched against this, so a phrase miette wrapped across lines still matches.
 */
export function unwrapMiette(text: string): string {
  return stripAnsi(text)
    .split(/\r?\n/)
    .map((line) => {
      const error = /^\s*Error:\s*/.exec(line);
      const rest = error ? line.slice(error[0].length) : line;
      const stripped = rest.replace(MIETTE_LEAD, "").trim();
      return error ? `Error: ${stripped}`.trim() : stripped;
    })
    .filter((line) => line !== "")
    .join(" ");
}

/** miette unwrapped (see unwrapMiette), whitespace runs folded to one space, cut to `max` characters. */
export function foldExcerpt(text: string, max: number = EXCERPT_MAX): string {
  const folded = unwrapMiette(text).replace(/\s+/g, " ").trim();
  const chars = Array.from(folded);
  return chars.length <= max ? folded : chars.slice(0, max).join("");
}

/**
 * prost/tonic decode failures. tonic 0.12 prints `status: Internal, message: "failed to decode
 * Protobuf message: … invalid wire type value: 6"`; tonic 0.14 (OpenShell ≥ 0.0.61) prints
 * `status: 'Internal error', self: "failed to decode Protobuf message: …"`. Whatever follows the
 * prefix (invalid wire type, invalid tag value, buffer underflow, …) is a schema disagreement.
 */
const MISMATCH_PATTERNS: RegExp[] = [
  /failed to decode protobuf message/i,
  /invalid wire type(?: value)?:/i,
  /invalid tag value:/i,
  /\bproto(?:buf)?[\s_-]+(?:decode|schema|wire)/i,
  // An older gateway does not know an RPC the newer CLI calls.
  /is not supported by this gateway version/i,
  /\b(?:status|code)\s*[:=]\s*['"]?Unimplemented\b/i,
  /Code::Unimplemented\b/,
  /\bgrpc-status:\s*12\b/i,
  // tonic 0.14 (OpenShell ≥ 0.0.61) prints the code's description instead of its name:
  // `code: 'Operation is not implemented or not supported'` (measured: a 0.0.111 CLI calling
  // `sandbox stop` on a 0.0.104 gateway).
  /\b(?:status|code)\s*[:=]\s*['"]?Operation is not implemented or not supported/i,
  /\bunimplemented\s+(?:rpc|method|grpc|service)\b/i,
];

const UNREACHABLE_PATTERNS: RegExp[] = [
  /client error \(Connect\)/i,
  /tcp connect error/i,
  /connection refused/i,
  /transport error/i,
  /dns error/i,
  /error trying to connect/i,
  /deadline has elapsed/i,
  /connect(?:ion)?\s+timed?\s?out/i,
  /operation timed out/i,
  /no route to host/i,
  /network is unreachable/i,
  /connection reset by peer/i,
  /\b(?:status|code)\s*[:=]\s*['"]?Unavailable\b/i,
  // tonic 0.14's description of Unavailable.
  /\bcode:\s*'The service is currently unavailable/i,
  /The service is currently unavailable/i,
  /\bUnavailable\b/,
];

const NOT_FOUND_PATTERNS: RegExp[] = [
  /sandbox not found/i,
  /sandbox ['"`]?[a-z0-9-]+['"`]? not found/i,
  /\bNotFound\b/,
  /Some requested entity was not found/i,
];

// A missing directory inside a live sandbox (download of an absent state dir: `realpath: <p>: No
// such file or directory` and `failed to resolve sandbox source path '<p>'`, measured on 0.0.104
// and 0.0.111) says nothing about the sandbox itself, so it must not read as "sandbox missing".
const PATH_NOT_FOUND = /failed to resolve sandbox source path|no such file or directory/i;

/**
 * The gateway name is not registered with this `openshell` CLI (measured on 0.0.52, 0.0.104,
 * 0.0.111): `sandbox list/get -g NAME` → `× Unknown gateway 'NAME'.`; `gateway info -g NAME` →
 * `No gateway metadata found for 'NAME'.` (0.0.52) or `No gateway configured.` (0.0.104+).
 */
const NOT_REGISTERED_PATTERNS: RegExp[] = [
  /Unknown gateway '[^']*'/i,
  /No gateway metadata found for/i,
  /No gateway configured\./i,
];

export function isGatewayNotRegisteredText(text: string): boolean {
  return matchesAny(unwrapMiette(text), NOT_REGISTERED_PATTERNS);
}

function matchesAny(text: string, patterns: RegExp[]): boolean {
  return patterns.some((pattern) => pattern.test(text));
}

export function isSchemaMismatchText(text: string): boolean {
  return matchesAny(unwrapMiette(text), MISMATCH_PATTERNS);
}

export function isUnreachableText(text: string): boolean {
  return matchesAny(unwrapMiette(text), UNREACHABLE_PATTERNS);
}

/**
 * null means success. A mismatch wins over everything and is looked for in both streams even on
 * exit 0: some wrappers print the decode error to stdout and exit 0, and that output must not be
 * parsed as a (possibly empty) sandbox list.
 */
export function classifyOpenShellFailure(output: CommandOutput): OpenShellFailure | null {
  const stderr = unwrapMiette(output.stderr);
  const stdout = unwrapMiette(output.stdout);
  const primary = stderr.trim() !== "" ? stderr : stdout;

  if (matchesAny(stderr, MISMATCH_PATTERNS)) return { kind: "schema_mismatch", excerpt: foldExcerpt(stderr) };
  // The excerpt comes from the stream that carries the decode error, so it is never unrelated noise.
  if (matchesAny(stdout, MISMATCH_PATTERNS)) return { kind: "schema_mismatch", excerpt: foldExcerpt(stdout) };

  if (output.exitCode === 0) return null;

  const both = `${stderr}\n${stdout}`;
  const excerpt = foldExcerpt(primary);
  if (matchesAny(both, NOT_REGISTERED_PATTERNS)) return { kind: "gateway_not_registered", excerpt };
  if (matchesAny(both, UNREACHABLE_PATTERNS)) return { kind: "unreachable", excerpt };
  if (matchesAny(both, NOT_FOUND_PATTERNS)) {
    const sandboxMissing = /sandbox not found/i.test(both) || !PATH_NOT_FOUND.test(both);
    if (sandboxMissing) return { kind: "not_found", excerpt };
  }
  return { kind: "other", excerpt };
}
