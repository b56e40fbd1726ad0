import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { readAgentCatalog } from "../../src/adapters/agent-catalog.js";
import { EnvironmentError } from "../../src/domain/errors.js";

const BUNDLED = fileURLToPath(new URL("../../catalog/agents.json", import.meta.url));

const OPENCLAW = {
  expectedVersion: "2026.7.1",
  image: "ghcr.io/nvidia/nemoclaw/sandbox-openclaw:2026.7.1",
  versionCommand: ["openclaw", "--version"],
  stateDirs: ["/sandbox/.openclaw"],
};

describe("readAgentCatalog", () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  function file(content: string): string {
    const dir = mkdtempSync(path.join(tmpdir(), "catalog-"));
    dirs.push(dir);
    const f = path.join(dir, "agents.json");
    writeFileSync(f, content);
    return f;
  }
  function catalogWith(spec: Record<string, unknown>): string {
    return file(JSON.stringify({ agents: { openclaw: { ...OPENCLAW, ...spec } } }));
  }
  function invalid(f: string): EnvironmentError {
    try {
      readAgentCatalog(f);
    } catch (error) {
      expect(error).toBeInstanceOf(EnvironmentError);
      const e = error as EnvironmentError;
      expect(e.code).toBe("catalog_invalid");
      expect(e.exitCode).toBe(4);
      expect(e.message).toContain(`agent catalog ${f} is invalid`);
      return e;
    }
    throw new Error(`expected ${f} to be refused`);
  }

  it("parses the bundled catalog", () => {
    const catalog = readAgentCatalog(BUNDLED);
    expect(Object.keys(catalog).sort()).toEqual(["hermes", "openclaw"]);
    expect(catalog.openclaw).toEqual(OPENCLAW);
    expect(catalog.hermes).toMatchObject({
      expectedVersion: "0.19.0",
      versionCommand: ["hermes", "--version"],
      stateDirs: ["/sandbox/.hermes"],
    });
    expect(catalog.hermes?.image).toMatch(/sandbox-hermes:0\.19\.0$/);
  });

  it("keeps only the known fields of a valid entry and accepts several state dirs", () => {
    const f = catalogWith({
      stateDirs: ["/sandbox/.openclaw", "/home/agent/.cache/openclaw-data"],
      comment: "ignored",
    });
    expect(readAgentCatalog(f).openclaw).toEqual({
      ...OPENCLAW,
      stateDirs: ["/sandbox/.openclaw", "/home/agent/.cache/openclaw-data"],
    });
  });

  it("accepts an empty agents object", () => {
    expect(readAgentCatalog(file('{"agents": {}}'))).toEqual({});
  });

  it("refuses bad JSON with a message naming the file", () => {
    const f = file('{"agents": {');
    expect(invalid(f).message).toMatch(/JSON/);
  });

  it("refuses a missing file with a message naming the file", () => {
    const f = path.join(path.dirname(file("{}")), "nope.json");
    expect(invalid(f).message).toContain("ENOENT");
  });

  it.each(["null", "[]", "{}", '{"agents": []}', '{"agents": null}', '{"agents": "x"}'])(
    "refuses %s: agents is not an object",
    (text) => {
      expect(invalid(file(text)).message).toContain('"agents" is not an object');
    },
  );

  it.each([
    ["expectedVersion", undefined, "agents.openclaw.expectedVersion is missing"],
    ["expectedVersion", 2026, "agents.openclaw.expectedVersion is missing"],
    ["image", undefined, "agents.openclaw.image is missing"],
    ["image", "", "agents.openclaw.image is missing"],
    ["versionCommand", undefined, "agents.openclaw.versionCommand must be a non-empty array of strings"],
    ["versionCommand", [], "agents.openclaw.versionCommand must be a non-empty array of strings"],
    ["versionCommand", [""], "agents.openclaw.versionCommand must be a non-empty array of strings"],
    ["versionCommand", "openclaw --version", "versionCommand must be a non-empty array of strings"],
    ["versionCommand", ["openclaw", 1], "versionCommand must be a non-empty array of strings"],
    ["stateDirs", undefined, "agents.openclaw.stateDirs must be a non-empty array of paths"],
    ["stateDirs", [], "agents.openclaw.stateDirs must be a non-empty array of paths"],
    ["stateDirs", "/sandbox/.openclaw", "agents.openclaw.stateDirs must be a non-empty array of paths"],
    ["stateDirs", [""], "agents.openclaw.stateDirs must be a non-empty array of paths"],
  ])("refuses %s = %j", (key, value, message) => {
    expect(invalid(catalogWith({ [key]: value })).message).toContain(message);
  });

  it("refuses an agent entry that is not an object", () => {
    expect(invalid(file('{"agents": {"openclaw": null}}')).message).toContain(
      "agents.openclaw.expectedVersion is missing",
    );
  });

  it.each([
    "sandbox/.openclaw",
    ".openclaw",
    "/",
    "//",
    "/sandbox/.openclaw/",
    "/sandbox/../etc",
    "/sandbox/./.openclaw",
    "//sandbox/.openclaw",
    "/sandbox//.openclaw",
    "/sandbox/.openclaw/..",
    "/sandbox/.open\0claw",
  ])("refuses the state dir %j", (dir) => {
    expect(invalid(catalogWith({ stateDirs: ["/sandbox/.ok", dir] })).message).toContain(
      `agents.openclaw.stateDirs entry ${JSON.stringify(dir)} must be an absolute, normalized path`,
    );
  });

  it("refuses state dirs with the same basename", () => {
    const f = catalogWith({ stateDirs: ["/sandbox/state", "/home/agent/state"] });
    expect(invalid(f).message).toContain("agents.openclaw.stateDirs basenames must be unique (state)");
  });

  it("names the offending agent", () => {
    const f = file(JSON.stringify({ agents: { openclaw: OPENCLAW, hermes: { ...OPENCLAW, image: 3 } } }));
    expect(invalid(f).message).toContain("agents.hermes.image is missing");
  });
});
