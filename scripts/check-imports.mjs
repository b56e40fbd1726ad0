#!/usr/bin/env node
// Enforces the layer rules of ARCHITECTURE.md: imports point down only.
//   domain   → domain (+ pure libraries), no node: built-ins, no I/O
//   adapters → domain, adapters (never actions, commands, cli, output, oclif)
//   context  → adapters, domain
//   actions  → domain, adapters, context (never oclif, commands, cli)
//   output   → domain, output, context; actions as `import type` only (never oclif)
//   cli      → anything but commands
//   commands → anything but other commands
// Usage: node scripts/check-imports.mjs [srcDir]   (exit 1 and one line per violation)
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";

const srcDir = path.resolve(process.argv[2] ?? "src");
const PURE_LIBRARIES = new Set(["semver"]);

const RULES = {
  domain: { layers: ["domain"], oclif: false, node: false, libraries: "pure" },
  adapters: { layers: ["domain", "adapters"], oclif: false, node: true, libraries: "any" },
  context: { layers: ["adapters", "domain"], oclif: false, node: true, libraries: "any" },
  actions: {
    layers: ["domain", "adapters", "context", "actions"],
    oclif: false,
    node: true,
    libraries: "any",
  },
  output: {
    layers: ["domain", "output", "context"],
    typeOnly: ["actions"],
    oclif: false,
    node: true,
    libraries: "any",
  },
  cli: {
    layers: ["domain", "adapters", "context", "actions", "output", "cli"],
    oclif: true,
    node: true,
    libraries: "any",
  },
  commands: {
    layers: ["domain", "adapters", "context", "actions", "output", "cli"],
    oclif: true,
    node: true,
    libraries: "any",
  },
};

function layerOf(file) {
  const rel = path.relative(srcDir, file).split(path.sep);
  if (rel.length === 1) return rel[0].replace(/\.(ts|js)$/, "");
  return rel[0];
}

function* walk(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) yield* walk(full);
    else if (entry.name.endsWith(".ts")) yield full;
  }
}

const IMPORT =
  /^\s*(import|export)\s+(type\s+)?(?:[^'";]*?\sfrom\s+)?["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)/gm;

const violations = [];
for (const file of walk(srcDir)) {
  const layer = layerOf(file);
  const rule = RULES[layer];
  const rel = path.relative(process.cwd(), file);
  if (!rule) {
    violations.push(`${rel}: not in a known layer (${Object.keys(RULES).join(", ")})`);
    continue;
  }
  const text = readFileSync(file, "utf8");
  for (const match of text.matchAll(IMPORT)) {
    const typeOnly = Boolean(match[2]);
    const spec = match[3] ?? match[4];
    if (spec.startsWith(".")) {
      const target = layerOf(path.resolve(path.dirname(file), spec));
      if (layer === "commands" && target === "commands") {
        violations.push(`${rel}: commands must not import other commands (${spec})`);
      } else if (!rule.layers.includes(target) && !(typeOnly && rule.typeOnly?.includes(target))) {
        violations.push(`${rel}: ${layer} must not import ${target} (${spec})`);
      }
    } else if (spec.startsWith("node:")) {
      if (!rule.node) violations.push(`${rel}: ${layer} must stay free of I/O, not import ${spec}`);
    } else if (spec.startsWith("@oclif/")) {
      if (!rule.oclif) violations.push(`${rel}: ${layer} must not import oclif (${spec})`);
    } else if (rule.libraries === "pure" && !PURE_LIBRARIES.has(spec.split("/")[0])) {
      violations.push(`${rel}: ${layer} may only import pure libraries, not ${spec}`);
    }
  }
}

if (violations.length) {
  for (const v of violations) console.error(v);
  console.error(`import check: ${violations.length} violation(s)`);
  process.exit(1);
}
console.log("import check: layer rules hold");
