#!/usr/bin/env node
// A tiny terminal emulator for PTY transcripts: prints the final screen (scrollback included)
// after applying what the live view emits — \r, \n, cursor up (ESC[nA), erase line (ESC[2K) and
// erase to the end of the screen (ESC[J). Colour (SGR) and other sequences are dropped.
// Usage: node screen.mjs TRANSCRIPT
import fs from "node:fs";

const text = fs.readFileSync(process.argv[2], "utf8");
const lines = [""];
let row = 0;
let col = 0;
const put = (ch) => {
  const line = lines[row] ?? "";
  lines[row] = line.padEnd(col).slice(0, col) + ch + line.slice(col + 1);
  col++;
};
for (let i = 0; i < text.length; i++) {
  const ch = text[i];
  if (ch === "\x1b" && text[i + 1] === "[") {
    let j = i + 2;
    while (j < text.length && !/[A-Za-z]/.test(text[j])) j++;
    const params = text.slice(i + 2, j);
    const cmd = text[j];
    i = j;
    if (cmd === "A") row = Math.max(0, row - (Number.parseInt(params || "1", 10) || 1));
    else if (cmd === "K") lines[row] = params === "2" ? "" : (lines[row] ?? "").slice(0, col);
    else if (cmd === "J") {
      lines[row] = (lines[row] ?? "").slice(0, col);
      lines.length = row + 1;
    }
    continue;
  }
  if (ch === "\x1b") continue;
  if (ch === "\r") col = 0;
  else if (ch === "\n") {
    row++;
    col = 0;
    if (lines[row] === undefined) lines[row] = "";
  } else put(ch);
}
while (lines.length > 0 && lines[lines.length - 1].trim() === "") lines.pop();
process.stdout.write(`${lines.map((l) => l.trimEnd()).join("\n")}\n`);
