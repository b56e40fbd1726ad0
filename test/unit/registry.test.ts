import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { readRegistry, updateRegistryEntry } from "../../src/adapters/registry.js";
import { EnvironmentError } from "../../src/domain/errors.js";

describe("registry", () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  function file(content?: string): string {
    const dir = mkdtempSync(path.join(tmpdir(), "registry-"));
    dirs.push(dir);
    const f = path.join(dir, "sandboxes.json");
    if (content !== undefined) writeFileSync(f, content);
    return f;
  }

  it("treats a missing file as an empty registry", () => {
    expect(readRegistry(file()).names).toEqual([]);
  });

  it.each(["{", "[]", '{"sandboxes": []}', '{"sandboxes": {"a": 3}}', "null"])(
    "refuses %s with exit 4",
    (text) => {
      const f = file(text);
      expect(() => readRegistry(f)).toThrow(EnvironmentError);
      expect(() => readRegistry(f)).toThrow(f);
    },
  );

  it("updates one entry atomically and keeps every other field and unknown top-level keys", () => {
    const doc = {
      defaultSandbox: "alpha",
      schemaRevision: 7,
      sandboxes: {
        alpha: {
          name: "alpha",
          agent: "openclaw",
          agentVersion: "2026.6.0",
          policy: { network: ["a", "b"] },
          gpu: true,
        },
        beta: { name: "beta", agent: "hermes", custom: 1 },
      },
      futureKey: { nested: [1, 2, 3] },
    };
    const f = file(JSON.stringify(doc));
    updateRegistryEntry(f, "alpha", {
      agentVersion: "2026.7.1",
      nemoclawVersion: "0.1.0",
      imageTag: "img:2026.7.1",
    });
    const after = JSON.parse(readFileSync(f, "utf8"));
    expect(after).toEqual({
      ...doc,
      sandboxes: {
        ...doc.sandboxes,
        alpha: {
          ...doc.sandboxes.alpha,
          agentVersion: "2026.7.1",
          nemoclawVersion: "0.1.0",
          imageTag: "img:2026.7.1",
        },
      },
    });
    expect(statSync(f).mode & 0o777).toBe(0o600);
  });

  it("never writes when the file no longer parses", () => {
    const f = file('{"sandboxes": {"alpha": {}}}');
    writeFileSync(f, "{broken");
    expect(() => updateRegistryEntry(f, "alpha", { agentVersion: "1" })).toThrow(EnvironmentError);
    expect(readFileSync(f, "utf8")).toBe("{broken");
  });
});
