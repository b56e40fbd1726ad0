#!/usr/bin/env node
// Entry point. `--version` is answered without loading oclif: start-up cost matters to CI
// scripts that call nemoclaw in loops, and the version needs nothing but package.json.
import { readFileSync } from "node:fs";

const argv = process.argv.slice(2);
if (argv.length === 1 && (argv[0] === "--version" || argv[0] === "-v")) {
  const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8"));
  process.stdout.write(
    `nemoclaw/${pkg.version} ${process.platform}-${process.arch} node-${process.version}\n`,
  );
} else {
  const { main } = await import("../dist/cli/main.js");
  await main(argv, import.meta.url);
}
