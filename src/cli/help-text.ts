import { EXIT_CODE_HELP } from "../domain/exit-codes.js";

/** The exit-code table every command's --help ends with. */
export function exitCodesHelp(): string {
  return ["EXIT CODES", ...EXIT_CODE_HELP.map(([code, text]) => `  ${String(code).padEnd(4)}${text}`)].join(
    "\n",
  );
}
