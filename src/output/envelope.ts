import type { ExitCode } from "../domain/exit-codes.js";
import type { Preflight } from "../domain/preflight-types.js";

/** The one JSON document every `--json` run prints (docs/design.md, "JSON envelope"; schema/nemoclaw-output.schema.json). */
export interface JsonEnvelope {
  ok: boolean;
  command: string;
  exitCode: ExitCode;
  preflight: Preflight | null;
  result: unknown;
  warnings: string[];
  error?: { code: string; message: string; diagnostic?: string[] };
}

const RAW_IN_JSON = /[\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;

/**
 * The document, with the characters JSON.stringify leaves raw inside strings (DEL, C1, bidi
 * controls) written as `\uNNNN` escapes: the same exact strings for a parser, and nothing that
 * acts on a terminal when the document is simply printed.
 */
export function renderJson(envelope: JsonEnvelope): string {
  const text = JSON.stringify(envelope, null, 2).replace(
    RAW_IN_JSON,
    (ch) => `\\u${(ch.codePointAt(0) ?? 0).toString(16).padStart(4, "0")}`,
  );
  return `${text}\n`;
}
