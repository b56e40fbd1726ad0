/**
 * Text that came from outside nemoclaw's control — file names written by the agent inside a
 * sandbox, registry keys, paths read from manifests, locks and journals — made safe to print on
 * an operator's terminal (docs/design.md, "Names, paths and input"). `--json` keeps the exact
 * text; only human output goes through here.
 */

const BIDI = new Set([0x202a, 0x202b, 0x202c, 0x202d, 0x202e, 0x2066, 0x2067, 0x2068, 0x2069]);

function hex2(n: number): string {
  return n.toString(16).padStart(2, "0");
}

/** True when `cp` is shown escaped: C0, DEL, C1, the bidi controls, and the backslash itself. */
function needsEscape(cp: number): boolean {
  return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp === 0x5c || BIDI.has(cp);
}

/**
 * The escaped form of a name for human output: C0, DEL and C1 controls as `\xNN` (newline, CR and
 * tab as `\n`, `\r`, `\t`), the backslash as `\\`, the bidi controls U+202A–U+202E and
 * U+2066–U+2069 as `\uNNNN`; every other character as it is. Injective (the backslash is escaped
 * too), so two different names never look the same; widths of tables count this form.
 */
export function escapeForDisplay(text: string): string {
  let plain = true;
  for (let i = 0; i < text.length; i++) {
    if (needsEscape(text.charCodeAt(i))) {
      plain = false;
      break;
    }
  }
  if (plain) return text;
  let out = "";
  for (const ch of text) {
    const cp = ch.codePointAt(0) ?? 0;
    if (!needsEscape(cp)) out += ch;
    else if (cp === 0x5c) out += "\\\\";
    else if (cp === 0x0a) out += "\\n";
    else if (cp === 0x0d) out += "\\r";
    else if (cp === 0x09) out += "\\t";
    else if (cp <= 0xff) out += `\\x${hex2(cp)}`;
    else out += `\\u${cp.toString(16).padStart(4, "0")}`;
  }
  return out;
}

/** True when `text` holds anything `escapeForDisplay` would change other than a backslash. */
export function hasUnsafeChars(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c !== 0x5c && needsEscape(c)) return true;
  }
  return false;
}

/**
 * A path as one shell word the operator can paste: as it is when it holds only safe
 * characters, else single-quoted; a path with control characters becomes a bash `$'…'` word
 * whose escapes are those of `escapeForDisplay`, so nothing raw reaches the terminal.
 */
export function shellWord(p: string): string {
  if (/^[A-Za-z0-9_./@%+=:,-]+$/.test(p)) return p;
  if (hasUnsafeChars(p)) return `$'${escapeForDisplay(p).replace(/'/g, "\\'")}'`;
  return `'${p.replace(/'/g, "'\\''")}'`;
}

/**
 * Prose that may carry names (an error message, a reason, OpenShell's stderr quoted back) made
 * safe for a terminal: every control character `escapeForDisplay` escapes is escaped the same
 * way, except that backslashes stay as they are (names inside were escaped already; escaping
 * their backslashes again would garble them). Newlines are escaped too unless `keepNewlines`.
 */
export function neutralizeControls(text: string, keepNewlines = false): string {
  let plain = true;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c !== 0x5c && needsEscape(c) && !(keepNewlines && c === 0x0a)) {
      plain = false;
      break;
    }
  }
  if (plain) return text;
  let out = "";
  for (const ch of text) {
    const cp = ch.codePointAt(0) ?? 0;
    out += cp === 0x5c || !needsEscape(cp) || (keepNewlines && cp === 0x0a) ? ch : escapeForDisplay(ch);
  }
  return out;
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: our own colour codes are the point
const SGR = /\x1b\[[0-9;]*m/g;

/**
 * The last line of defence before human output reaches a terminal: `neutralizeControls` with
 * newlines kept, and — only when nemoclaw itself is colouring this stream — its own SGR colour
 * codes (`ESC[…m`) left intact. Names are escaped where they are shown; this only guarantees
 * that nothing missed there can act on the terminal.
 */
export function sanitizeForTerminal(text: string, keepColour: boolean): string {
  if (!keepColour) return neutralizeControls(text, true);
  let out = "";
  let last = 0;
  for (const m of text.matchAll(SGR)) {
    out += neutralizeControls(text.slice(last, m.index), true) + m[0];
    last = m.index + m[0].length;
  }
  return out + neutralizeControls(text.slice(last), true);
}
