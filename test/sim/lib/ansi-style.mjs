// Colour and error layout of the simulated OpenShell CLI.
//
// Real OpenShell colours its output unconditionally (owo-colors without TTY detection, miette's
// graphical handler), so even a pipe receives escape sequences. The simulator deliberately mixes
// the forms real output contains — plain resets (`0m`), attribute-specific resets (`22m`, `39m`)
// and combined codes (`1;31m`) — so every parser has to strip `\x1b\[[0-9;]*m` before matching.

const esc = (code) => `\x1b[${code}m`;

export const bold = (text) => `${esc(1)}${text}${esc(0)}`;
export const dim = (text) => `${esc(2)}${text}${esc(22)}`;
export const green = (text) => `${esc(32)}${text}${esc(39)}`;
export const red = (text) => `${esc(31)}${text}${esc(39)}`;
export const yellow = (text) => `${esc(33)}${text}${esc(39)}`;
export const boldRed = (text) => `${esc("1;31")}${text}${esc(0)}`;

/** A `  Label: value` line of a status block: two-space indent, dimmed label. */
export const field = (label, value) => `  ${dim(`${label}:`)} ${value}\n`;

/** Colour a gateway connection state or sandbox phase the way OpenShell does. */
export function statusColour(text) {
  if (/^(Connected|Ready)\b/.test(text)) return green(text);
  if (/^(Error|Disconnected|Failed)\b/.test(text)) return red(text);
  return yellow(text);
}

/**
 * miette's report layout, reduced to what OpenShell prints on stderr:
 *
 *   Error:   × <message>
 *     ├─▶ <cause>
 *     ╰─▶ <last cause>
 *
 * Continuation lines of a multi-line message carry miette's `│` gutter, as measured.
 */
export function miette(message, causes = []) {
  const [first, ...rest] = String(message).split("\n");
  let out = `Error: ${red("  ×")} ${first}\n`;
  for (const line of rest) out += `  │ ${line}\n`;
  causes.forEach((cause, i) => {
    out += `${red(i === causes.length - 1 ? "  ╰─▶ " : "  ├─▶ ")}${cause}\n`;
  });
  return out;
}

/** clap's usage error (exit code 2). clap colours it too. */
export function clapError(message, usage) {
  return `${boldRed("error:")} ${message}\n\n${bold("Usage:")} ${usage}\n\nFor more information, try '${bold("--help")}'.\n`;
}
