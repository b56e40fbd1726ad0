#!/usr/bin/env node
// Normalises `openshell` output for the simulator differential test (SPEC §17 "Precisely"):
// ANSI and miette gutters stripped; ports, pids, timestamps, temp paths and UUIDs replaced by
// placeholders (and `Resource version: N`, a counter). Reads stdin, writes stdout.
//
//   normalize.mjs stdout            the whole stdout, placeholders in, runs of spaces collapsed
//   normalize.mjs stdout-until RE   the same, up to (not including) the first line matching RE
//   normalize.mjs patterns          the names of the error patterns nemoclaw matches that occur in
//                                   the (miette-joined) text, one per line, sorted
import { readFileSync } from "node:fs";

const [mode, arg] = process.argv.slice(2);
const ESC = String.fromCharCode(27);
const raw = readFileSync(0, "utf8").replace(new RegExp(`${ESC}\\[[0-9;]*[A-Za-z]`, "g"), "");

function placeholders(text) {
  return text
    .replace(/[0-9a-f]{8}-[0-9a-f]{4}-\s*[0-9a-f]{4}-[0-9a-f]{4}-\s*[0-9a-f]{12}/gi, "<UUID>")
    .replace(/\b\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(\.\d+)?Z?/g, "<TS>")
    .replace(/\b(127\.0\.0\.1|localhost):\d+/g, "$1:<PORT>")
    .replace(/\bpid \d+/g, "pid <PID>")
    .replace(/^(\s*Resource version:) \d+$/gm, "$1 <N>")
    .replace(/\/tmp\/[^\s'"]*/g, "<TMP>");
}

/** miette: drop the gutter marks and indentation of each line, join the lines with one space. */
function joinMiette(text) {
  return text
    .split("\n")
    .map((line) => line.replace(/^\s*(Error:)?\s*([│├╰]─*▶?|×)?\s*/u, "").trim())
    .filter((line) => line.length > 0)
    .join(" ");
}

// The stderr patterns nemoclaw's parsers and classifiers match (src/adapters/openshell-output.ts,
// src/domain), by name. A pattern counts when it matches the joined text.
const PATTERNS = {
  "not-found": /sandbox not found/,
  "not-found-code": /code: 'Some requested entity was not found'|status: NotFound/,
  "already-exists": /already exists/,
  "resolve-source-path": /failed to resolve sandbox source path '[^']*'/,
  "realpath-missing": /realpath: \S+: No such file or directory/,
  "path-not-found-legacy": /sandbox path not found/,
  "unknown-gateway": /Unknown gateway '[^']+'/,
  "no-gateway-configured": /No gateway configured/,
  "no-gateway-metadata": /No gateway metadata found/,
  "connect-refused": /Connection refused|tcp connect error/,
  "unexpected-argument": /unexpected argument '[^']+' found/,
  "unrecognized-subcommand": /unrecognized subcommand '[^']+'/,
  unimplemented: /not implemented or not supported|Unimplemented|is not supported by this gateway version/,
  "decode-error": /failed to decode Protobuf message/,
  "must-be-ready-to-stop": /must be Ready to stop/,
  "must-be-stopped-to-start": /must be Stopped to start/,
  "not-ready": /is not ready|sandbox is not ready/,
  "provision-timeout": /provisioning timed out/,
  "lifecycle-timeout": /timed out after \d+s waiting/,
  "local-path-missing": /local path does not exist/,
};

switch (mode) {
  case "stdout":
  case "stdout-until": {
    let lines = placeholders(raw).split("\n");
    if (mode === "stdout-until") {
      const stop = lines.findIndex((line) => new RegExp(arg).test(line));
      if (stop >= 0) lines = lines.slice(0, stop);
    }
    const text = lines
      .map((line) => line.replace(/\s+$/, "").replace(/ {2,}/g, "  "))
      .join("\n")
      .replace(/^\n+|\n+$/g, "");
    process.stdout.write(`${text}\n`);
    break;
  }
  case "patterns": {
    const joined = placeholders(joinMiette(raw));
    const hits = Object.entries(PATTERNS)
      .filter(([, re]) => re.test(joined))
      .map(([name]) => name)
      .sort();
    process.stdout.write(hits.length ? `${hits.join("\n")}\n` : "");
    break;
  }
  default:
    console.error("usage: normalize.mjs stdout | stdout-until REGEX | patterns");
    process.exit(2);
}
