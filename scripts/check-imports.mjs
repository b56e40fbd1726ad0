#!/usr/bin/env node
// Enforces the layer rules of ARCHITECTURE.md: imports point down only.
//   domain   → domain (+ pure libraries), no node: built-ins, no I/O
//   adapters → domain, adapters (never actions, commands, cli, output, oclif)
//   context  → adapters, domain
//   actions  → domain, adapters, context (never oclif, commands, cli)
//   output   → domain, output, context; actions as `import type` only (never oclif)
//   cli      → anything but commands
//   commands → anything but other commands
// It also fails on an import cycle (type-only imports included: a cycle of types is still two
// modules that cannot be understood one without the other).
// Usage: node scripts/check-imports.mjs [srcDir]   (exit 1 and one line per violation)
import { existsSync, readdirSync, readFileSync } from "node:fs";
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

/** The source file a relative specifier names: `./x.js` is `./x.ts` (NodeNext style). */
function resolveSource(from, spec) {
  const target = path.resolve(path.dirname(from), spec);
  for (const candidate of [
    target.replace(/\.js$/, ".ts"),
    target,
    `${target}.ts`,
    path.join(target, "index.ts"),
  ]) {
    if (candidate.endsWith(".ts") && existsSync(candidate)) return candidate;
  }
  return null;
}

/** Every cycle of the import graph, one per strongly connected component, as a path a → … → a. */
function findCycles(graph) {
  // Tarjan's strongly connected components, iterative so a deep tree cannot overflow the stack.
  const index = new Map();
  const low = new Map();
  const onStack = new Set();
  const stack = [];
  const components = [];
  let next = 0;
  for (const root of [...graph.keys()].sort()) {
    if (index.has(root)) continue;
    const work = [[root, 0]];
    while (work.length) {
      const frame = work[work.length - 1];
      const [node, i] = frame;
      if (i === 0) {
        index.set(node, next);
        low.set(node, next);
        next += 1;
        stack.push(node);
        onStack.add(node);
      }
      const edges = [...(graph.get(node) ?? [])].sort();
      if (i < edges.length) {
        frame[1] = i + 1;
        const to = edges[i];
        if (!index.has(to)) work.push([to, 0]);
        else if (onStack.has(to)) low.set(node, Math.min(low.get(node), index.get(to)));
        continue;
      }
      work.pop();
      if (work.length) {
        const parent = work[work.length - 1][0];
        low.set(parent, Math.min(low.get(parent), low.get(node)));
      }
      if (low.get(node) === index.get(node)) {
        const component = [];
        let member;
        do {
          member = stack.pop();
          onStack.delete(member);
          component.push(member);
        } while (member !== node);
        const selfLoop = graph.get(node)?.has(node);
        if (component.length > 1 || selfLoop) components.push(new Set(component));
      }
    }
  }
  return components.map((members) => cyclePath(graph, members));
}

/** One concrete cycle through a strongly connected component, from its first member by name. */
function cyclePath(graph, members) {
  const start = [...members].sort()[0];
  const previous = new Map([[start, null]]);
  const queue = [start];
  while (queue.length) {
    const node = queue.shift();
    for (const to of [...(graph.get(node) ?? [])].sort()) {
      if (!members.has(to)) continue;
      if (to === start) {
        const path = [start];
        for (let at = node; at !== start; at = previous.get(at)) path.splice(1, 0, at);
        return [...path, start];
      }
      if (!previous.has(to)) {
        previous.set(to, node);
        queue.push(to);
      }
    }
  }
  return [start, start];
}

const violations = [];
const graph = new Map();
for (const file of walk(srcDir)) {
  graph.set(file, graph.get(file) ?? new Set());
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
      const source = resolveSource(file, spec);
      if (source) graph.get(file).add(source);
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

for (const cycle of findCycles(graph)) {
  const names = cycle.map((file) => path.relative(process.cwd(), file));
  violations.push(`${names[0]}: import cycle ${names.join(" → ")}`);
}

if (violations.length) {
  for (const v of violations) console.error(v);
  console.error(`import check: ${violations.length} violation(s)`);
  process.exit(1);
}
console.log("import check: layer rules hold, no import cycle");
