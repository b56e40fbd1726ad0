import { neutralizeControls } from "../domain/display.js";

/**
 * The one table renderer of every command (docs/design.md, "Tables"). Cells are padded on their
 * plain text and only then painted, so colour codes never skew the columns; the last non-empty
 * cell of a row is never padded (no trailing blanks). Without a width (not a terminal) the table
 * is exactly as wide as its cells. With a width (the terminal's), it fits before anything wraps:
 * first cells with a `narrow` form use it (a timestamp becomes an age), then the columns marked
 * `cut` (paths, notes, details) lose characters from their end, shown by `…` — the widest first.
 * Other columns (sandbox names above all) are never cut.
 */
export interface Cell {
  text: string;
  /** Colour applied after padding (a Style function). */
  paint?: (text: string) => string;
  /** Numbers read best right-aligned. */
  right?: boolean;
  /** A shorter form for a terminal too narrow for the table (e.g. `3h ago` for a timestamp). */
  narrow?: string;
}

export type TableRow = ReadonlyArray<string | Cell>;

export interface TableOptions {
  /** The terminal's width; absent (not a terminal) → no fitting at all. */
  width?: number | undefined;
  /** Columns (by index) that may be cut with `…`, in the order they give way. */
  cut?: readonly number[];
}

/** A terminal narrower than this is treated as this wide (a table cannot be made useful below it). */
const MIN_WIDTH = 40;
/** A cut column keeps at least its header's width (and at least this many characters). */
const MIN_CUT = 4;
/** Before a timestamp becomes an age, a cut column keeps this much. */
const READABLE_CUT = 24;
const GAP = 2;

/** Widths count the text as shown: control characters escaped (names were escaped by the views). */
const cellOf = (c: string | Cell | undefined): Cell =>
  typeof c === "string"
    ? { text: neutralizeControls(c) }
    : c
      ? {
          ...c,
          text: neutralizeControls(c.text),
          ...(c.narrow !== undefined ? { narrow: neutralizeControls(c.narrow) } : {}),
        }
      : { text: "" };

/** Characters as a terminal counts them (code points; our tables hold no wide characters). */
const len = (text: string): number => {
  let n = 0;
  for (const _ of text) n++;
  return n;
};

/** `text` in at most `width` characters, the last one `…` when something was cut. */
export function ellipsize(text: string, width: number): string {
  if (len(text) <= width) return text;
  if (width <= 1) return "…".slice(0, width);
  return `${Array.from(text)
    .slice(0, width - 1)
    .join("")}…`;
}

function columnWidths(rows: readonly Cell[][]): number[] {
  const widths: number[] = [];
  for (const row of rows) {
    row.forEach((c, i) => {
      widths[i] = Math.max(widths[i] ?? 0, len(c.text));
    });
  }
  return widths;
}

/** The width of a row's text: the cells up to its last non-empty one, with the gaps. */
function lineWidth(rows: readonly Cell[][], widths: readonly number[]): number {
  let widest = 0;
  for (const row of rows) {
    let last = row.length - 1;
    while (last > 0 && (row[last] as Cell).text === "") last--;
    let w = 0;
    for (let i = 0; i <= last; i++)
      w += (i === last ? len((row[i] as Cell).text) : (widths[i] ?? 0)) + (i ? GAP : 0);
    widest = Math.max(widest, w);
  }
  return widest;
}

/** Cuts the `cut` columns (widest first) until the table fits or each is down to `floorOf`. */
function cutColumns(
  rows: Cell[][],
  width: number,
  cut: readonly number[],
  floorOf: (i: number) => number,
): void {
  let widths = columnWidths(rows);
  const floor = (i: number) => Math.min(widths[i] ?? 0, floorOf(i));
  let over = lineWidth(rows, widths) - width;
  while (over > 0) {
    // The widest cut column that can still give something.
    let pick = -1;
    for (const i of cut) {
      if ((widths[i] ?? 0) <= floor(i)) continue;
      if (pick === -1 || (widths[i] ?? 0) > (widths[pick] ?? 0)) pick = i;
    }
    if (pick === -1) return;
    const others = widths.filter((w, i) => i !== pick && cut.includes(i) && w > floor(i));
    const target = Math.max(floor(pick), (widths[pick] ?? 0) - over, Math.max(0, ...others));
    const next = target === widths[pick] ? (widths[pick] ?? 1) - 1 : target;
    for (const row of rows) {
      const c = row[pick];
      if (c) c.text = ellipsize(c.text, next);
    }
    widths = columnWidths(rows);
    over = lineWidth(rows, widths) - width;
  }
}

/**
 * Shrinks the table in place to `width`: the cut columns (paths, notes) first, down to a
 * readable width; then the narrow forms (timestamps become ages); then the cut columns again,
 * down to their headers. Columns without either (names) are never touched.
 */
function fitToWidth(rows: Cell[][], width: number, cut: readonly number[]): number[] {
  const header = (i: number) => len(rows[0]?.[i]?.text ?? "");
  cutColumns(rows, width, cut, (i) => Math.max(READABLE_CUT, header(i)));
  if (lineWidth(rows, columnWidths(rows)) > width) {
    for (const row of rows) for (const c of row) if (c.narrow !== undefined) c.text = c.narrow;
    cutColumns(rows, width, cut, (i) => Math.max(MIN_CUT, header(i)));
  }
  // Last resort (very long names): a cut column that still does not fit is left out, the last
  // one first, rather than let every row wrap.
  for (const i of [...cut].sort((a, b) => b - a)) {
    if (lineWidth(rows, columnWidths(rows)) <= width) break;
    for (const row of rows) if (row[i]) row[i] = { text: "" };
  }
  return columnWidths(rows);
}

/**
 * On a terminal, a column empty in every row but the header (a DETAIL nobody needed this run)
 * is left out: it would only take room. Returns the rows and the cut columns renumbered.
 */
function dropEmptyColumns(rows: Cell[][], cut: readonly number[]): { rows: Cell[][]; cut: number[] } {
  const count = Math.max(0, ...rows.map((r) => r.length));
  const keep: number[] = [];
  for (let i = 0; i < count; i++)
    if (rows.length < 2 || rows.slice(1).some((r) => (r[i]?.text ?? "") !== "")) keep.push(i);
  if (keep.length === count) return { rows, cut: [...cut] };
  return {
    rows: rows.map((r) => keep.map((i) => r[i] ?? { text: "" })),
    cut: cut.flatMap((i) => (keep.includes(i) ? [keep.indexOf(i)] : [])),
  };
}

export function renderTable(rows: readonly TableRow[], options: TableOptions = {}): string[] {
  let shown = rows.map((row) => row.map(cellOf));
  let widths: number[];
  if (options.width !== undefined && options.width > 0) {
    const dropped = dropEmptyColumns(shown, options.cut ?? []);
    shown = dropped.rows;
    widths = fitToWidth(shown, Math.max(MIN_WIDTH, options.width), dropped.cut);
  } else widths = columnWidths(shown);
  return shown.map((cells) => {
    let last = cells.length - 1;
    while (last > 0 && (cells[last] as Cell).text === "") last--;
    const out: string[] = [];
    for (let i = 0; i <= last; i++) {
      const cell = cells[i] as Cell;
      const width = widths[i] ?? 0;
      const pad = " ".repeat(Math.max(0, width - len(cell.text)));
      const painted = cell.paint && cell.text ? cell.paint(cell.text) : cell.text;
      if (cell.right) out.push(`${pad}${painted}`);
      else out.push(i === last ? painted : `${painted}${pad}`);
    }
    return out.join("  ");
  });
}

/**
 * A terminal's width for tables: the stream's columns when it is a terminal that reports its
 * size, else none (a pipe, or a pseudo-terminal without a size: nothing to fit).
 */
export function tableWidth(stream: unknown, isTTY: boolean): number | undefined {
  if (!isTTY) return undefined;
  const columns = (stream as { columns?: unknown })?.columns;
  return typeof columns === "number" && columns > 0 ? columns : undefined;
}

/**
 * Prose for a terminal `width` wide: words wrapped onto further lines (indented by `indent`)
 * instead of the terminal cutting them anywhere. Without a width (not a terminal) the line is
 * returned as it is.
 */
export function wrapText(text: string, width: number | undefined, indent = "  "): string[] {
  if (width === undefined || len(text) <= width) return [text];
  const lines: string[] = [];
  const lead = /^ */.exec(text)?.[0] ?? "";
  let line = lead;
  for (const word of text.slice(lead.length).split(" ")) {
    const next = line.trim() ? `${line} ${word}` : `${line}${word}`;
    if (line.trim() && len(next) > width) {
      lines.push(line);
      line = `${indent}${word}`;
    } else line = next;
  }
  if (line) lines.push(line);
  return lines;
}
