#!/usr/bin/env node
// Runs every fenced `sh` block of the given Markdown files as written (bash, from the repository
// root, `set -e`), skipping a block preceded by `<!-- no-test -->`. A line whose comment says
// `# exit N` must exit N (the block goes on); any other failing line fails the block. Each block
// gets its own TMPDIR and HOME; afterwards every simulated host left there is stopped and the directory
// removed, also when the block failed.
// Usage: node doc-blocks.mjs FILE.md…   (prints one line per block; exit 1 if any failed)
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const SIMCTL = path.join(REPO, "test/sim/simctl.mjs");

/** The `sh` blocks of a Markdown text: { line, code, skip }. */
export function shBlocks(text) {
  const lines = text.split("\n");
  const blocks = [];
  for (let i = 0; i < lines.length; i++) {
    if (lines[i].trim() !== "```sh") continue;
    let prev = i - 1;
    while (prev >= 0 && lines[prev].trim() === "") prev--;
    const skip = prev >= 0 && lines[prev].trim() === "<!-- no-test -->";
    const start = i;
    const code = [];
    for (i++; i < lines.length && lines[i].trim() !== "```"; i++) code.push(lines[i]);
    blocks.push({ line: start + 1, code, skip });
  }
  return blocks;
}

const quote = (s) => `'${s.replaceAll("'", "'\\''")}'`;

/** The block as a script: `# exit N` lines checked, everything else under `set -e`. */
export function scriptOf(code, where) {
  const out = ["set -e"];
  code.forEach((line, i) => {
    const expected = /#\s*exit (\d+)\b/.exec(line);
    if (!expected || line.trimEnd().endsWith("\\")) {
      out.push(line);
      return;
    }
    out.push(
      `set +e; ${line.slice(0, expected.index).trimEnd()}`,
      `rc=$?; set -e; if [ "$rc" -ne ${expected[1]} ]; then echo ${quote(`${where}+${i + 1}: exit `)}"$rc"${quote(`, the text says ${expected[1]}`)} >&2; exit 1; fi`,
    );
  });
  return `${out.join("\n")}\n`;
}

/** Stops every simulated host under `dir` (a block that failed before its own cleanup). */
function stopHosts(dir) {
  let entries = [];
  try {
    entries = readdirSync(dir);
  } catch {
    return;
  }
  for (const name of entries) {
    const host = path.join(dir, name);
    try {
      if (statSync(path.join(host, "state", "config.json")).isFile())
        spawnSync(process.execPath, [SIMCTL, "stop", host], { stdio: "ignore" });
    } catch {
      // not a simulated host
    }
  }
}

let failed = 0;
for (const file of process.argv.slice(2)) {
  const rel = path.relative(REPO, path.resolve(file));
  for (const block of shBlocks(readFileSync(file, "utf8"))) {
    const where = `${rel}:${block.line}`;
    if (block.skip) {
      console.log(`skip ${where} (no-test)`);
      continue;
    }
    const tmp = mkdtempSync(path.join(tmpdir(), "nemoclaw-docblock-"));
    try {
      const script = path.join(tmp, "block.sh");
      writeFileSync(script, scriptOf(block.code, where));
      // Its own HOME too: a block never touches the real one.
      mkdirSync(path.join(tmp, "home"));
      const env = { ...process.env, TMPDIR: tmp, HOME: path.join(tmp, "home") };
      const r = spawnSync("bash", [script], { cwd: REPO, env, encoding: "utf8", timeout: 300_000 });
      if (r.status === 0) console.log(`ok   ${where}`);
      else {
        failed++;
        console.log(`FAIL ${where} (exit ${r.status ?? r.signal})\n${r.stdout}${r.stderr}`);
      }
    } finally {
      stopHosts(tmp);
      rmSync(tmp, { recursive: true, force: true });
    }
  }
}
process.exit(failed ? 1 : 0);
