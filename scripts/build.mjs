#!/usr/bin/env node
// Builds dist/ from src/ with esbuild: one ES module per oclif command plus the CLI entry, with
// the code they share (ours, execa, semver) split into chunks under dist/chunks/.
//
// Why bundle: start-up is most of a short command's wall time. Loading execa 9 alone resolves
// and compiles about a hundred small ES modules (~100 ms on a 2-core host); bundled, the same
// code loads in ~30 ms. @oclif/core stays external: the commands must extend the very Command
// class that oclif's Config loads, and oclif discovers commands as files under dist/commands.
// Type checking is `npm run typecheck` (tsc); esbuild only strips types.
import { readdirSync, rmSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const SRC = path.join(ROOT, "src");
const OUT = path.join(ROOT, "dist");

function commandFiles(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const file = path.join(dir, entry.name);
    if (entry.isDirectory()) return commandFiles(file);
    return entry.name.endsWith(".ts") ? [file] : [];
  });
}

rmSync(OUT, { recursive: true, force: true });
await build({
  entryPoints: [
    path.join(SRC, "cli/main.ts"),
    path.join(SRC, "cli/help.ts"),
    ...commandFiles(path.join(SRC, "commands")),
  ],
  outbase: SRC,
  outdir: OUT,
  bundle: true,
  splitting: true,
  chunkNames: "chunks/[name]-[hash]",
  format: "esm",
  platform: "node",
  target: "node20",
  external: ["@oclif/core"],
  // Bundled CommonJS dependencies (cross-spawn, semver) call require(); give ES modules one.
  banner: {
    js: 'import { createRequire as __nemoclawRequire } from "node:module";\nconst require = __nemoclawRequire(import.meta.url);',
  },
  logLevel: "warning",
});
