import { describe, expect, it } from "vitest";
import {
  type ClassificationInput,
  classifySandbox,
  needsAttention,
} from "../../src/domain/upgrade-classification.js";

const base: ClassificationInput = {
  name: "alpha",
  valid: true,
  agent: "openclaw",
  expectedVersion: "2026.7.1",
  registryAgentVersion: "2026.7.1",
  registryNemoclawVersion: "0.1.0",
  cliVersion: "0.1.0",
  phase: "Ready",
  probedVersion: "2026.7.1",
};

describe("classifySandbox", () => {
  it.each([
    ["current by probe", {}, "current", "probe"],
    [
      "stale: calendar version behind (numeric, not lexical)",
      { probedVersion: "2026.6.30" },
      "stale",
      "probe",
    ],
    ["current: 2026.10.0 is newer than 2026.7.1", { probedVersion: "2026.10.0" }, "current", "probe"],
    ["stale: semver behind", { expectedVersion: "0.19.0", probedVersion: "0.9.9" }, "stale", "probe"],
    [
      "current: semver 0.19.0 vs 0.19.0",
      { expectedVersion: "0.19.0", probedVersion: "0.19.0" },
      "current",
      "probe",
    ],
    ["stale: fingerprint differs", { registryNemoclawVersion: "0.0.9" }, "stale", "probe"],
    ["current: no fingerprint recorded", { registryNemoclawVersion: null }, "current", "probe"],
    [
      "falls back to the registry when not probed",
      { phase: "Stopped", probedVersion: null, registryAgentVersion: "2026.1.0" },
      "stale",
      "registry",
    ],
    ["unknown: no version anywhere", { probedVersion: null, registryAgentVersion: null }, "unknown", null],
    ["unknown: unparseable version", { probedVersion: "banana" }, "unknown", "probe"],
    ["unknown: agent not in catalog", { expectedVersion: null }, "unknown", null],
    ["missing: not listed by the gateway", { phase: null }, "missing", null],
    ["invalid name", { valid: false }, "invalid", null],
  ] as const)("%s", (_title, patch, status, source) => {
    const c = classifySandbox({ ...base, ...patch });
    expect(c.status).toBe(status);
    expect(c.versionSource).toBe(source);
    expect(needsAttention(c)).toBe(status !== "current");
  });

  it("names the probe problem when no version could be had", () => {
    const c = classifySandbox({
      ...base,
      probedVersion: null,
      registryAgentVersion: null,
      probeProblem: "version probe timed out",
    });
    expect(c.reason).toContain("version probe timed out");
  });

  it("never says 'orphan' or advises deleting a missing sandbox", () => {
    const c = classifySandbox({ ...base, phase: null });
    expect(c.reason).not.toMatch(/orphan|destroy|delete it/i);
  });
});
