import { neutralizeControls } from "../domain/display.js";

/**
 * Aligned result tables for a terminal. Cells are padded on their plain text and only then
 * painted, so colour codes never skew the columns; the last non-empty cell of a row is never
 * padded (no trailing blanks).
 */
export interface Cell {
  text: string;
  /** Colour applied after padding (a Style function). */
  paint?: (text: string) => string;
  /** Numbers read best right-aligned. */
  right?: boolean;
}

export type TableRow = ReadonlyArray<string | Cell>;

/** Widths count the text as shown: control characters escaped (names were escaped by the views). */
const cellOf = (c: string | Cell | undefined): Cell =>
  typeof c === "string"
    ? { text: neutralizeControls(c) }
    : c
      ? { ...c, text: neutralizeControls(c.text) }
      : { text: "" };

export function renderTable(rows: readonly TableRow[]): string[] {
  const shown = rows.map((row) => row.map(cellOf));
  const widths: number[] = [];
  for (const row of shown) {
    row.forEach((c, i) => {
      widths[i] = Math.max(widths[i] ?? 0, c.text.length);
    });
  }
  return shown.map((cells) => {
    let last = cells.length - 1;
    while (last > 0 && (cells[last] as Cell).text === "") last--;
    const out: string[] = [];
    for (let i = 0; i <= last; i++) {
      const cell = cells[i] as Cell;
      const width = widths[i] ?? 0;
      const pad = " ".repeat(width - cell.text.length);
      const painted = cell.paint && cell.text ? cell.paint(cell.text) : cell.text;
      if (cell.right) out.push(`${pad}${painted}`);
      else out.push(i === last ? painted : `${painted}${pad}`);
    }
    return out.join("  ");
  });
}
