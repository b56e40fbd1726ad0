// Fails (exit 1, naming the offset and byte) when a file holds a raw control character that a
// terminal would act on: C0 other than newline, DEL, C1 (U+0080–U+009F) or a bidi control
// (U+202A–U+202E, U+2066–U+2069). Used by hostile.bats on captured stdout and stderr.
import fs from "node:fs";

let bad = 0;
for (const file of process.argv.slice(2)) {
  const text = fs.readFileSync(file, "utf8");
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    const control =
      (c < 0x20 && c !== 0x0a) ||
      (c >= 0x7f && c <= 0x9f) ||
      (c >= 0x202a && c <= 0x202e) ||
      (c >= 0x2066 && c <= 0x2069);
    if (control) {
      const line = text.slice(0, i).split("\n").length;
      console.error(
        `${file}: raw U+${c.toString(16).padStart(4, "0")} at line ${line}: ${JSON.stringify(text.split("\n")[line - 1])}`,
      );
      bad++;
    }
  }
}
process.exit(bad ? 1 : 0);
