import { describe, expect, it } from "vitest";
import {
  clusterImageVersion,
  compareVersions,
  extractVersion,
  isAtLeast,
  parseVersion,
  versionsEqual,
} from "../../src/domain/versions.js";

describe("extractVersion", () => {
  it.each([
    ["openshell 0.0.44", "0.0.44"],
    ["openshell 0.0.44\n", "0.0.44"],
    ["openshell-gateway 0.0.4-dev.6+g2bf9969", "0.0.4-dev.6+g2bf9969"],
    ["\x1b[1mopenshell\x1b[0m \x1b[32m0.0.44\x1b[0m", "0.0.44"],
    ["openshell v0.0.44", "0.0.44"],
    ["openclaw 2026.7.1 (abc123)", "2026.7.1"],
    ["hermes version 0.19.0.", "0.19.0"],
    ["tool 1.2", "1.2"],
    ["tool 1.2.3.4", "1.2.3.4"],
  ])("%j → %s", (text, expected) => {
    expect(extractVersion(text)).toBe(expected);
  });

  it.each([[""], ["openshell"], ["no version here 42"], ["x86_64"], ["error: unknown flag --version"]])(
    "%j → null",
    (text) => {
      expect(extractVersion(text)).toBeNull();
    },
  );
});

describe("compareVersions", () => {
  it("ignores build metadata", () => {
    expect(compareVersions("0.0.4-dev.6+g2bf9969", "0.0.4-dev.6+gdeadbee")).toBe(0);
    expect(compareVersions("0.0.4-dev.6+g2bf9969", "0.0.4-dev.6")).toBe(0);
    expect(compareVersions("0.0.44+build.1", "0.0.44")).toBe(0);
  });

  it("orders prereleases", () => {
    expect(compareVersions("0.0.4-dev.6", "0.0.4-dev.7")).toBe(-1);
    expect(compareVersions("0.0.4-dev.10", "0.0.4-dev.9")).toBe(1);
    expect(compareVersions("0.0.4-dev.6", "0.0.4")).toBe(-1);
    expect(compareVersions("0.0.4", "0.0.4-dev.6")).toBe(1);
    expect(compareVersions("1.0.0-alpha", "1.0.0-alpha.1")).toBe(-1);
    expect(compareVersions("1.0.0-alpha.beta", "1.0.0-beta")).toBe(-1);
    expect(compareVersions("1.0.0-1", "1.0.0-alpha")).toBe(-1);
  });

  it("compares semver cores numerically", () => {
    expect(compareVersions("0.0.43", "0.0.44")).toBe(-1);
    expect(compareVersions("0.0.44", "0.0.44")).toBe(0);
    expect(compareVersions("0.0.100", "0.0.99")).toBe(1);
    expect(compareVersions("v0.0.36", "0.0.36")).toBe(0);
  });

  it("compares calendar versions numerically", () => {
    expect(compareVersions("2026.7.1", "2026.10.0")).toBe(-1);
    expect(compareVersions("2026.07.01", "2026.7.1")).toBe(0);
    expect(compareVersions("2027.1.0", "2026.12.31")).toBe(1);
  });

  it("tolerates 2-part and 4-part versions", () => {
    expect(compareVersions("1.2", "1.2.0")).toBe(0);
    expect(compareVersions("1.2", "1.2.1")).toBe(-1);
    expect(compareVersions("1.2.3.4", "1.2.3")).toBe(1);
    expect(compareVersions("1.2.3.0", "1.2.3")).toBe(0);
    expect(compareVersions("1.2.3.4", "1.2.3.5")).toBe(-1);
  });

  it("compares numbers beyond double precision exactly", () => {
    expect(compareVersions("1.0.90071992547409931", "1.0.90071992547409932")).toBe(-1);
  });

  it("returns null when either side is unparseable", () => {
    expect(compareVersions("latest", "0.0.44")).toBeNull();
    expect(compareVersions("0.0.44", "")).toBeNull();
    expect(compareVersions("1", "1")).toBeNull();
    expect(compareVersions("0.0.44-", "0.0.44")).toBeNull();
    expect(compareVersions("0.0.44 extra", "0.0.44")).toBeNull();
  });
});

describe("versionsEqual / isAtLeast", () => {
  it("versionsEqual is false for anything unreadable", () => {
    expect(versionsEqual("0.0.4-dev.6+g2bf9969", "0.0.4-dev.6+gdeadbee")).toBe(true);
    expect(versionsEqual("0.0.4-dev.6", "0.0.4-dev.7")).toBe(false);
    expect(versionsEqual(null, "0.0.44")).toBe(false);
    expect(versionsEqual("garbage", "garbage")).toBe(false);
  });

  it("isAtLeast fails closed", () => {
    expect(isAtLeast("0.0.44", "0.0.37")).toBe(true);
    expect(isAtLeast("0.0.37", "0.0.37")).toBe(true);
    expect(isAtLeast("0.0.36", "0.0.37")).toBe(false);
    expect(isAtLeast("0.0.37-dev.1", "0.0.37")).toBe(false);
    expect(isAtLeast("2026.10.0", "2026.7.1")).toBe(true);
    expect(isAtLeast(null, "0.0.1")).toBe(false);
    expect(isAtLeast("unknown", "0.0.1")).toBe(false);
  });

  it("parseVersion keeps build metadata apart", () => {
    expect(parseVersion("0.0.4-dev.6+g2bf9969")).toEqual({
      core: ["0", "0", "4"],
      prerelease: ["dev", "6"],
      build: "g2bf9969",
    });
    expect(parseVersion("2026.07.01")).toEqual({ core: ["2026", "7", "1"], prerelease: [] });
  });
});

describe("clusterImageVersion", () => {
  it.each([
    ["ghcr.io/nvidia/openshell/cluster:0.0.36", "0.0.36"],
    ["ghcr.io/nvidia/openshell/cluster:v0.0.36", "0.0.36"],
    ["ghcr.io/nvidia/openshell/cluster:0.0.4-dev.6+g2bf9969", "0.0.4-dev.6+g2bf9969"],
    ["localhost:5000/openshell/cluster:0.0.30", "0.0.30"],
    [`ghcr.io/nvidia/openshell/cluster:0.0.36@sha256:${"a".repeat(64)}`, "0.0.36"],
    ["ghcr.io/nvidia/nemoclaw/nemoclaw-cluster:0.0.36-fuse-overlayfs-aa8b8487", "0.0.36"],
    ["nemoclaw-cluster:0.0.36-fuse-overlayfs-aa8b8487", "0.0.36"],
    ["registry.local:443/x/nemoclaw-cluster:v0.0.35-patched", "0.0.35"],
  ])("%s → %s", (ref, expected) => {
    expect(clusterImageVersion(ref)).toBe(expected);
  });

  it.each([
    ["ghcr.io/nvidia/openshell/cluster:latest"],
    ["ghcr.io/nvidia/openshell/cluster"],
    [`ghcr.io/nvidia/openshell/cluster@sha256:${"b".repeat(64)}`],
    ["ghcr.io/nvidia/nemoclaw/nemoclaw-cluster:latest"],
    ["ghcr.io/nvidia/nemoclaw/nemoclaw-cluster:0.0-foo"],
    ["ghcr.io/acme/gateway:0.0.36"],
    ["ghcr.io/acme/cluster:0.0.36"],
    ["localhost:5000/openshell/cluster"],
    [""],
  ])("%s → null", (ref) => {
    expect(clusterImageVersion(ref)).toBeNull();
  });

  it("does not treat the patch suffix as a prerelease", () => {
    const version = clusterImageVersion("nemoclaw-cluster:0.0.36-fuse-overlayfs-aa8b8487");
    expect(version).toBe("0.0.36");
    expect(compareVersions(version ?? "", "0.0.36")).toBe(0);
  });
});
