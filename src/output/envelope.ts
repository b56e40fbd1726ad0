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

export function renderJson(envelope: JsonEnvelope): string {
  return `${JSON.stringify(envelope, null, 2)}\n`;
}
