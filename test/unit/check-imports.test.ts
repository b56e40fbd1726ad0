import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";

const script = path.resolve("scripts/check-imports.mjs");

describe("scripts/check-imports.mjs (layer rules)", () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  function tree(files: Record<string, string>): string {
    const root = mkdtempSync(path.join(tmpdir(), "layers-"));
    dirs.push(root);
    for (const [rel, text] of Object.entries(files)) {
      mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
      writeFileSync(path.join(root, rel), text);
    }
    return root;
  }

  it("passes the real source tree", () => {
    expect(execFileSync("node", [script, "src"], { encoding: "utf8" })).toContain("layer rules hold");
  });

  it.each([
    ["domain/a.ts", 'import { readFileSync } from "node:fs";\n', "must stay free of I/O"],
    ["domain/a.ts", 'import { x } from "../adapters/b.js";\n', "domain must not import adapters"],
    ["actions/a.ts", 'import { Command } from "@oclif/core";\n', "must not import oclif"],
    ["adapters/a.ts", 'import { run } from "../actions/b.js";\n', "adapters must not import actions"],
    ["output/a.ts", 'import { run } from "../actions/b.js";\n', "output must not import actions"],
  ])("rejects %s importing %s", (file, text, message) => {
    const root = tree({ [file]: text });
    const r = spawnSync("node", [script, root], { encoding: "utf8" });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(message);
  });

  it("rejects an import cycle inside a layer, type-only imports included, naming its path", () => {
    const root = tree({
      "actions/a.ts": 'import { b } from "./b.js";\nexport const a = 1;\n',
      "actions/b.ts": 'import type { C } from "./c.js";\nexport const b = 2;\n',
      "actions/c.ts": 'import { a } from "./a.js";\nexport type C = number;\n',
      "actions/d.ts": 'import { a } from "./a.js";\n',
    });
    const r = spawnSync("node", [script, root], { encoding: "utf8" });
    expect(r.status).toBe(1);
    const lines = r.stderr.split("\n").filter((line) => line.includes("import cycle"));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/actions\/a\.ts → .*actions\/b\.ts → .*actions\/c\.ts → .*actions\/a\.ts$/);
  });

  it("rejects a cycle through a folder's modules and passes the same tree once it is broken", () => {
    const files = {
      "actions/flow/index.ts": 'export { run } from "./stage.js";\n',
      "actions/flow/stage.ts": 'import { shared } from "./index.js";\nexport const run = shared;\n',
    };
    expect(spawnSync("node", [script, tree(files)]).status).toBe(1);
    const broken = {
      ...files,
      "actions/flow/stage.ts": 'import { shared } from "./shared.js";\nexport const run = shared;\n',
      "actions/flow/shared.ts": "export const shared = 1;\n",
    };
    const r = spawnSync("node", [script, tree(broken)], { encoding: "utf8" });
    expect(r.status).toBe(0);
    expect(r.stdout).toContain("no import cycle");
  });

  it("allows type-only imports of action results in renderers", () => {
    const root = tree({ "output/a.ts": 'import type { R } from "../actions/b.js";\n' });
    expect(spawnSync("node", [script, root]).status).toBe(0);
  });
});
