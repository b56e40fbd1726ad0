/** Minimal SGR styling; a no-op unless colour is on (TTY and no NO_COLOR), decided in IOStreams. */
export interface Style {
  bold(text: string): string;
  dim(text: string): string;
  red(text: string): string;
  green(text: string): string;
  yellow(text: string): string;
}

const sgr = (open: number, close: number) => (text: string) => `\x1b[${open}m${text}\x1b[${close}m`;

const COLOURED: Style = {
  bold: sgr(1, 22),
  dim: sgr(2, 22),
  red: sgr(31, 39),
  green: sgr(32, 39),
  yellow: sgr(33, 39),
};

const identity = (text: string) => text;
const PLAIN: Style = { bold: identity, dim: identity, red: identity, green: identity, yellow: identity };

export function styleFor(color: boolean): Style {
  return color ? COLOURED : PLAIN;
}

/** A diagnostic block with its first line (the headline) coloured. */
export function colourFirstLine(lines: readonly string[], colour: (text: string) => string): string[] {
  return lines.map((line, i) => (i === 0 ? colour(line) : line));
}
