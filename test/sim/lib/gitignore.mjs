// `.gitignore` matching for `openshell sandbox upload` without `--no-git-ignore`: real OpenShell
// silently skips git-ignored files, which is the trap a restore must avoid.
//
// Supported: blank lines, `#` comments, `!` negation (last match wins), `\#`/`\!` escapes,
// trailing `/` (directories only), a `/` at the start or in the middle (anchored to the
// .gitignore's directory, else the pattern matches a name at any depth), `*`, `?`, `[…]` classes,
// and `**` (`**/x`, `x/**`, `a/**/b`). Nested .gitignore files apply to their own subtree. As in
// git, nothing below an ignored directory can be re-included: the walk never enters it.

import fs from "node:fs";
import path from "node:path";

const escapeRe = (c) => c.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");

function globToRegex(glob) {
  let re = "";
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (c === "*") {
      if (glob[i + 1] === "*") {
        const atStart = i === 0 || glob[i - 1] === "/";
        if (atStart && glob[i + 2] === "/") {
          re += "(?:.*/)?"; // `**/`: zero or more directories
          i += 2;
          continue;
        }
        if (atStart && i + 2 === glob.length) {
          re += ".*"; // trailing `/**`: everything inside
          i += 1;
          continue;
        }
        i += 1; // any other `**` is a plain `*`
      }
      re += "[^/]*";
    } else if (c === "?") {
      re += "[^/]";
    } else if (c === "[") {
      const close = glob.indexOf("]", i + 2);
      if (close === -1) {
        re += "\\[";
        continue;
      }
      let body = glob.slice(i + 1, close);
      if (body.startsWith("!")) body = `^${body.slice(1)}`;
      re += `[${body.replace(/\\/g, "\\\\")}]`;
      i = close;
    } else if (c === "\\" && i + 1 < glob.length) {
      re += escapeRe(glob[++i]);
    } else {
      re += escapeRe(c);
    }
  }
  return re;
}

/** One .gitignore line → `{ negate, dirOnly, regex }`, or null for blanks and comments. */
export function compileGitignoreLine(line) {
  let p = line.replace(/\r$/, "");
  if (p.trim() === "" || p.startsWith("#")) return null;
  p = p.replace(/(?<!\\) +$/, "");
  let negate = false;
  if (p.startsWith("!")) {
    negate = true;
    p = p.slice(1);
  } else if (p.startsWith("\\!") || p.startsWith("\\#")) {
    p = p.slice(1);
  }
  let dirOnly = false;
  if (p.endsWith("/")) {
    dirOnly = true;
    p = p.slice(0, -1);
  }
  const anchored = p.includes("/");
  p = p.replace(/^\//, "");
  if (p === "") return null;
  const body = globToRegex(p);
  return { negate, dirOnly, regex: new RegExp(anchored ? `^${body}$` : `^(?:.*/)?${body}$`) };
}

export function parseGitignore(text) {
  return text.split("\n").map(compileGitignoreLine).filter(Boolean);
}

/** Rules gathered while walking a tree; `loadDir` is called for a directory before its entries. */
export class GitIgnore {
  sets = []; // { base: rel dir ("" = top), rules }

  loadDir(absDir, rel) {
    let text;
    try {
      text = fs.readFileSync(path.join(absDir, ".gitignore"), "utf8");
    } catch {
      return;
    }
    this.sets.push({ base: rel, rules: parseGitignore(text) });
  }

  /** Is `rel` (relative to the top of the walk) ignored? Deeper .gitignore files override. */
  ignores(rel, isDir) {
    let ignored = false;
    for (const { base, rules } of this.sets) {
      if (base && !rel.startsWith(`${base}/`)) continue;
      const local = base ? rel.slice(base.length + 1) : rel;
      for (const rule of rules) {
        if (rule.dirOnly && !isDir) continue;
        if (rule.regex.test(local)) ignored = !rule.negate;
      }
    }
    return ignored;
  }
}
