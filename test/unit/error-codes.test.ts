// One list of error codes (src/domain/error-codes.ts), the schema's enum, and the code literals
// in src/ agree: a code added in one place and not the others fails here.
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { ERROR_CODES } from "../../src/domain/error-codes.js";
import { REPO_ROOT } from "./support/stub-runner.js";

const SRC = path.join(REPO_ROOT, "src");
/**
 * Files whose `code` is not an error code: process-identity's match result (dead, zombie, …),
 * errno names (EADDRINUSE, …); and the list itself.
 */
const NOT_ERROR_CODES = new Set([
  "adapters/process-identity.ts",
  "adapters/errno.ts",
  "adapters/port-probe.ts",
  "domain/error-codes.ts",
]);
/** An errno fallback (`(error as ErrnoException).code ?? "error"`), never an `error.code`. */
const ERRNO_FALLBACK = "error";
const LITERAL = /"([a-z][a-z0-9_]*)"/;

/** The end of the expression starting at `from`: a top-level `,` `;` or an unmatched closing bracket. */
function expressionEnd(text: string, from: number): number {
  let depth = 0;
  let quote: string | null = null;
  for (let i = from; i < text.length; i++) {
    const ch = text[i] as string;
    if (quote) {
      if (ch === "\\") i++;
      else if (ch === quote) quote = null;
    } else if (ch === '"' || ch === "'" || ch === "`") quote = ch;
    else if ("([{".includes(ch)) depth++;
    else if (")]}".includes(ch)) {
      if (depth === 0) return i;
      depth--;
    } else if ((ch === "," || ch === ";") && depth === 0) return i;
  }
  return text.length;
}

/** The literals an expression can evaluate to: the whole, a ternary branch, a `??` or `|` alternative. */
function resultLiterals(expression: string): string[] {
  const found = [];
  const branch = new RegExp(`(?:^|\\?\\?|[?:|])\\s*${LITERAL.source}`, "g");
  for (const m of expression.matchAll(branch)) found.push(m[1] as string);
  return found;
}

/** Every error code a source text writes: `code` values, typed errors' code arguments. */
function codeLiterals(text: string): string[] {
  const found: string[] = [];
  // code: "x" / code = "x" / code ?? "x" / readonly code: ErrorCode = "x" / code?: "x" | "y"
  for (const m of text.matchAll(/\bcode\??\s*(?::\s*ErrorCode\s*)?(?::|=(?!=)|\?\?)/g)) {
    const start = (m.index ?? 0) + m[0].length;
    found.push(...resultLiterals(text.slice(start, expressionEnd(text, start)).trim()));
  }
  // new EnvironmentError("x", …), new PreflightRefusal("x", …), super("x", …) in a subclass
  const firstArgument = new RegExp(
    `(?:new (?:EnvironmentError|PreflightRefusal|StartFailure)|super)\\(\\s*${LITERAL.source}`,
    "g",
  );
  for (const m of text.matchAll(firstArgument)) found.push(m[1] as string);
  // new UsageError(message, "x")
  for (const m of text.matchAll(/new UsageError\(/g)) {
    const args: string[] = [];
    let start = (m.index ?? 0) + m[0].length;
    for (;;) {
      const end = expressionEnd(text, start);
      args.push(text.slice(start, end).trim());
      if (text[end] !== ",") break;
      start = end + 1;
    }
    const code = args
      .filter(Boolean)
      .at(-1)
      ?.match(new RegExp(`^${LITERAL.source}$`));
    if (args.filter(Boolean).length > 1 && code) found.push(code[1] as string);
  }
  return [...new Set(found)];
}

function sourceFiles(): string[] {
  return (readdirSync(SRC, { recursive: true }) as string[])
    .filter((f) => f.endsWith(".ts"))
    .map((f) => f.split(path.sep).join("/"))
    .sort();
}

describe("error codes: one union, the schema's enum, the literals in src/", () => {
  it("finds the code literals of every kind of site (a check of the scan itself)", () => {
    const text = `
      throw new EnvironmentError("lock_held", "held");
      throw new UsageError(\`bad \${x}, really\`, "confirmation_required");
      throw new UsageError("plain usage message");
      const e = { code: ok ? "push_failed" : "backup_failed", message: "m" };
      if (o.code === "not_a_code") return;
      class C extends EnvironmentError { constructor() { super("repository_unavailable", "m"); } }
      readonly code: ErrorCode = "interrupted";
      this.code = options.code ?? "restore_failed";
      code?: "lifecycle_outcome_unknown" | "usage";
    `;
    expect(codeLiterals(text).sort()).toEqual(
      [
        "backup_failed",
        "confirmation_required",
        "interrupted",
        "lifecycle_outcome_unknown",
        "lock_held",
        "push_failed",
        "repository_unavailable",
        "restore_failed",
        "usage",
      ].sort(),
    );
  });

  it("every code src/ writes is in ERROR_CODES", () => {
    const known = new Set<string>(ERROR_CODES);
    const unknown: string[] = [];
    for (const file of sourceFiles()) {
      if (NOT_ERROR_CODES.has(file)) continue;
      for (const code of codeLiterals(readFileSync(path.join(SRC, file), "utf8"))) {
        if (!known.has(code) && code !== ERRNO_FALLBACK) unknown.push(`${file}: ${code}`);
      }
    }
    expect(unknown).toEqual([]);
  });

  it("every code in ERROR_CODES is written somewhere in src/ (no stale entry)", () => {
    const texts = sourceFiles()
      .filter((f) => f !== "domain/error-codes.ts")
      .map((f) => readFileSync(path.join(SRC, f), "utf8"))
      .join("\n");
    expect(ERROR_CODES.filter((code) => !texts.includes(`"${code}"`))).toEqual([]);
  });

  it("ERROR_CODES has no duplicate and is sorted", () => {
    expect(new Set(ERROR_CODES).size).toBe(ERROR_CODES.length);
    expect([...ERROR_CODES]).toEqual([...ERROR_CODES].sort());
  });

  it("the schema enumerates exactly ERROR_CODES for error.code, and per-sandbox codes are among them", () => {
    const schema = JSON.parse(
      readFileSync(path.join(REPO_ROOT, "schema/nemoclaw-output.schema.json"), "utf8"),
    );
    expect(schema.properties.error.properties.code.enum).toEqual([...ERROR_CODES]);
    const rowCodes = [...JSON.stringify(schema).matchAll(/"code":\{"const":"([a-z_]+)"/g)].map((m) => m[1]);
    expect(rowCodes.length).toBeGreaterThan(0);
    for (const code of rowCodes) expect(ERROR_CODES).toContain(code);
  });
});
