import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { preflightRefusalLines, unknownWarningLines } from "../../src/domain/diagnostics.js";
import type { GatewayFacts, PreflightIssue } from "../../src/domain/preflight-types.js";

const hostFacts: GatewayFacts = {
  mode: "host-process",
  binary: "/home/op/.local/bin/openshell-gateway",
  binarySource: "runtime-marker",
  binaryVersion: "0.0.43",
  servedVersion: "0.0.43",
};
const hostIssues: PreflightIssue[] = [
  { kind: "host_process_drift", foundVersion: "0.0.43", expectedVersion: "0.0.44", source: "gateway binary" },
  {
    kind: "served_version_drift",
    foundVersion: "0.0.43",
    expectedVersion: "0.0.44",
    source: "`openshell status`",
  },
];
const clusterFacts: GatewayFacts = {
  mode: "cluster",
  image: "ghcr.io/nvidia/openshell/cluster:0.0.36",
  imageVersion: "0.0.36",
};

const base = {
  action: "backing up registered sandboxes",
  rerunCommand: "nemoclaw backup-all",
  gatewayName: "nemoclaw",
  installedVersion: "0.0.44",
  reinstallAdvised: false,
};

describe("preflightRefusalLines", () => {
  it("prints the diagnostic block of docs/design.md (Diagnostic text) verbatim for host-process drift", () => {
    expect(preflightRefusalLines({ ...base, gateway: hostFacts, issues: hostIssues })).toEqual([
      "  OpenShell gateway schema preflight failed before backing up registered sandboxes.",
      "  Installed OpenShell: 0.0.44",
      "  Running gateway binary: /home/op/.local/bin/openshell-gateway (0.0.43)",
      "  Serving gateway version: 0.0.43 (reported by `openshell status`)",
      "",
      "  Refusing to trust OpenShell sandbox state while the host CLI and gateway schema may be out of sync.",
      "  No sandbox data was changed.",
      "",
      "  Recovery:",
      "    1. Run `nemoclaw onboard --resume` to repair or recreate the NemoClaw gateway with the installed OpenShell version.",
      "    2. Rerun `nemoclaw backup-all` after `openshell status` reports a healthy NemoClaw gateway.",
      "  Preserve sandbox state first: do not delete sandbox state, backups or gateway data until `openshell status` is healthy.",
    ]);
  });

  it("prints the image line and the cluster volume warning for a cluster", () => {
    const lines = preflightRefusalLines({
      ...base,
      action: "checking the gateway",
      rerunCommand: "nemoclaw gateway preflight",
      gatewayName: "prod",
      gateway: clusterFacts,
      issues: [{ kind: "image_drift", foundVersion: "0.0.36", expectedVersion: "0.0.44" }],
    });
    expect(lines[0]).toBe("  OpenShell gateway schema preflight failed before checking the gateway.");
    expect(lines).toContain("  Running gateway image: ghcr.io/nvidia/openshell/cluster:0.0.36 (0.0.36)");
    expect(lines.some((line) => line.startsWith("  Running gateway binary:"))).toBe(false);
    expect(lines.some((line) => line.startsWith("  Serving gateway version:"))).toBe(false);
    expect(lines.at(-1)).toContain("`openshell-cluster-prod` Docker volumes");
    expect(lines.at(-1)).toContain("without a backup");
  });

  it("prints unknown for unreadable values", () => {
    const lines = preflightRefusalLines({
      ...base,
      installedVersion: null,
      gateway: { mode: "cluster", image: "registry.example/acme/gateway:latest" },
      issues: [],
    });
    expect(lines).toContain("  Installed OpenShell: unknown");
    expect(lines).toContain("  Running gateway image: registry.example/acme/gateway:latest (unknown)");
  });

  it("omits the binary line when no binary is known", () => {
    const lines = preflightRefusalLines({
      ...base,
      gateway: { mode: "host-process", servedVersion: "0.0.43" },
      issues: [hostIssues[1] as PreflightIssue],
    });
    expect(lines.some((line) => line.includes("Running gateway"))).toBe(false);
    expect(lines).toContain("  Serving gateway version: 0.0.43 (reported by `openshell status`)");
  });

  it("advises reinstalling when onboard would launch a drifted binary", () => {
    const lines = preflightRefusalLines({
      ...base,
      gateway: hostFacts,
      issues: hostIssues,
      reinstallAdvised: true,
    });
    expect(lines).toContain(
      "    1. Reinstall OpenShell so that `openshell` and `openshell-gateway` have the same version, then run `nemoclaw onboard --resume`.",
    );
    expect(lines.some((line) => line.includes("to repair or recreate"))).toBe(false);
  });

  it("prints the reactive form with the folded OpenShell output", () => {
    const output = readFileSync(
      new URL("./fixtures/openshell/mismatch-tonic-0.14.stderr.txt", import.meta.url),
      "utf8",
    );
    const lines = preflightRefusalLines({
      ...base,
      action: "checking sandbox upgrade state",
      rerunCommand: "nemoclaw upgrade-sandboxes --check",
      gateway: { mode: "host-process", binary: "/usr/bin/openshell-gateway", binaryVersion: "0.0.44" },
      issues: [{ kind: "protobuf_mismatch", output }],
      reactive: { output: `${output}${" padding".repeat(60)}` },
    });
    expect(lines[0]).toBe(
      "  OpenShell gateway/schema mismatch was detected while checking sandbox upgrade state.",
    );
    const outputLine = lines.find((line) => line.startsWith("  OpenShell output: "));
    expect(outputLine).toMatch(
      /^ {2}OpenShell output: Error: status: 'Internal error', self: "failed to decode/,
    );
    expect(outputLine).not.toContain("\x1b");
    expect(outputLine?.length).toBe("  OpenShell output: ".length + 260);
    expect(lines).toContain("  No sandbox data was changed.");
  });

  it("says which sandbox was modified and how to restore it", () => {
    const lines = preflightRefusalLines({
      ...base,
      action: "rebuilding sandbox 'alpha'",
      rerunCommand: "nemoclaw upgrade-sandboxes --yes",
      gateway: hostFacts,
      issues: [{ kind: "protobuf_mismatch", drift: "served_version_drift" }],
      reactive: { output: "failed to decode Protobuf message: buffer underflow" },
      modified: {
        sandbox: "alpha",
        backupPath: "/home/op/.nemoclaw/rebuild-backups/alpha/2026-07-01T10-00-00-000Z",
        restoreCommand: "nemoclaw restore alpha --backup 2026-07-01T10-00-00-000Z --create --yes",
      },
    });
    expect(lines).not.toContain("  No sandbox data was changed.");
    const trust = lines.indexOf(
      "  Refusing to trust OpenShell sandbox state while the host CLI and gateway schema may be out of sync.",
    );
    expect(lines[trust + 1]).toBe(
      "  Sandbox alpha was modified; its state is preserved in /home/op/.nemoclaw/rebuild-backups/alpha/2026-07-01T10-00-00-000Z.",
    );
    expect(lines[trust + 2]).toContain(
      "nemoclaw restore alpha --backup 2026-07-01T10-00-00-000Z --create --yes",
    );
  });

  it("never mentions clusters or Docker volumes for a host-process or unidentified gateway", () => {
    for (const gateway of [hostFacts, { mode: "none" } as GatewayFacts]) {
      for (const reinstallAdvised of [false, true]) {
        const text = preflightRefusalLines({ ...base, gateway, issues: hostIssues, reinstallAdvised })
          .join("\n")
          .toLowerCase();
        expect(text).not.toContain("cluster");
        expect(text).not.toContain("docker volume");
        expect(text).not.toContain("container");
      }
    }
  });

  it("refuses an unknown verdict under --strict, naming what could not be read", () => {
    const lines = preflightRefusalLines({
      ...base,
      installedVersion: null,
      gateway: { mode: "none" },
      issues: [],
      strictUnknown: { missing: ["installed OpenShell version (`openshell --version`)"] },
    });
    expect(lines[0]).toBe(
      "  OpenShell gateway schema preflight failed before backing up registered sandboxes.",
    );
    expect(lines[1]).toContain("could not read installed OpenShell version (`openshell --version`)");
    expect(lines).toContain("  Installed OpenShell: unknown");
    expect(lines).toContain("  No sandbox data was changed.");
  });
});

describe("unknownWarningLines", () => {
  it("names every missing item and how to make it strict", () => {
    const lines = unknownWarningLines([
      "installed OpenShell version (`openshell --version`)",
      "gateway version (x)",
    ]);
    expect(lines.join("\n")).toContain("could not read installed OpenShell version (`openshell --version`)");
    expect(lines.join("\n")).toContain("could not read gateway version (x)");
    expect(lines.join("\n")).toContain("--strict");
    expect(lines.every((line) => !line.includes("\x1b"))).toBe(true);
  });
});
