import { describe, expect, it } from "vitest";
import { decideVerdict, MISSING_INSTALLED_VERSION } from "../../src/domain/gateway-verdict.js";
import type {
  ClusterContainer,
  GatewayInfo,
  GatewayStatus,
  ResolvedGatewayBinary,
  VerdictInput,
} from "../../src/domain/preflight-types.js";

const GW = "nemoclaw";
const INSTALLED = "0.0.44";
const OLD = "0.0.43";
const INFO: GatewayInfo = { gatewayName: GW, endpoint: "http://127.0.0.1:8080" };

function input(overrides: Partial<VerdictInput>): VerdictInput {
  return {
    gatewayName: GW,
    installedVersion: INSTALLED,
    status: null,
    info: INFO,
    cluster: null,
    hostBinary: null,
    fallbackBinary: null,
    ...overrides,
  };
}

// ---- the full matrix -------------------------------------------------------------------------

const CLUSTER_STATES = ["absent", "stopped", "running-matching-port", "running-other-port"] as const;
const IMAGES = ["matching", "drifted", "unknown-ref"] as const;
const BINARIES = ["absent", "matching", "drifted", "version-unreadable"] as const;
const STATUSES = [
  "connected-matching",
  "connected-drifted",
  "connected-other-gateway-name",
  "unreachable",
  "no-gateway",
  "probe-failed",
] as const;
const INSTALLS = ["known", "unreadable"] as const;

type ClusterState = (typeof CLUSTER_STATES)[number];
type Image = (typeof IMAGES)[number];
type Binary = (typeof BINARIES)[number];
type StatusCase = (typeof STATUSES)[number];
type Install = (typeof INSTALLS)[number];

const IMAGE_REFS: Record<Image, string> = {
  matching: "ghcr.io/nvidia/openshell/cluster:0.0.44",
  drifted: "ghcr.io/nvidia/nemoclaw/nemoclaw-cluster:0.0.36-fuse-overlayfs-aa8b8487",
  "unknown-ref": "registry.example/acme/gateway:latest",
};

function makeCluster(state: ClusterState, image: Image): ClusterContainer | null {
  const name = `openshell-cluster-${GW}`;
  const ref = IMAGE_REFS[image];
  switch (state) {
    case "absent":
      return null;
    case "stopped":
      return { name, image: ref, running: false, hostPorts: [8080] };
    case "running-matching-port":
      return { name, image: ref, running: true, hostPorts: [8080] };
    case "running-other-port":
      return { name, image: ref, running: true, hostPorts: [9090] };
  }
}

function makeBinary(binary: Binary): ResolvedGatewayBinary | null {
  const path = "/home/op/.local/bin/openshell-gateway";
  switch (binary) {
    case "absent":
      return null;
    case "matching":
      return { path, source: "runtime-marker", version: INSTALLED };
    case "drifted":
      return { path, source: "runtime-marker", version: OLD };
    case "version-unreadable":
      return { path, source: "runtime-marker", version: null };
  }
}

function makeStatus(status: StatusCase): GatewayStatus | null {
  const server = "http://127.0.0.1:8080";
  switch (status) {
    case "connected-matching":
      return { state: "connected", statusText: "Connected", gatewayName: GW, server, version: INSTALLED };
    case "connected-drifted":
      return { state: "connected", statusText: "Connected", gatewayName: GW, server, version: OLD };
    case "connected-other-gateway-name":
      return { state: "connected", statusText: "Connected", gatewayName: "openshell", server, version: OLD };
    case "unreachable":
      return { state: "unreachable", gatewayName: GW, server };
    case "no-gateway":
      return { state: "no-gateway", statusText: "No gateway configured." };
    case "probe-failed":
      return null;
  }
}

interface Expected {
  verdict: "compatible" | "drift" | "unknown";
  issue?: string;
  issues: string[];
  mode: "cluster" | "host-process" | "none";
}

/** The rules of docs/design.md, "Verdict rules", restated plainly for this matrix. */
function oracle(
  c: ClusterState,
  image: Image,
  binary: Binary,
  status: StatusCase,
  install: Install,
): Expected {
  const statusHereConnected = status === "connected-matching" || status === "connected-drifted";
  const clusterActive = c === "running-matching-port" && statusHereConnected;

  let mode: Expected["mode"] = "none";
  if (clusterActive) mode = "cluster";
  else if (binary !== "absent" || statusHereConnected) mode = "host-process";

  if (install === "unreadable") return { verdict: "unknown", issues: [], mode };

  // The binaries of this matrix come from a live runtime marker: it vouches for a serving process,
  // except for a gateway name `openshell` does not know at all.
  const markerVouches = binary !== "absent" && status !== "no-gateway";
  const issues: string[] = [];
  if (clusterActive && image === "drifted") issues.push("image_drift");
  if (
    mode === "host-process" &&
    binary === "drifted" &&
    (markerVouches || statusHereConnected || clusterActive)
  )
    issues.push("host_process_drift");
  if (status === "connected-drifted") issues.push("served_version_drift");
  if (issues.length > 0) return { verdict: "drift", issue: issues[0], issues, mode };

  const someGatewayVersion =
    (clusterActive && image !== "unknown-ref") ||
    (mode === "host-process" && (binary === "matching" || binary === "drifted") && markerVouches) ||
    statusHereConnected;
  return { verdict: someGatewayVersion ? "compatible" : "unknown", issues: [], mode };
}

const matrix: [ClusterState, Image, Binary, StatusCase, Install][] = [];
for (const c of CLUSTER_STATES)
  for (const image of IMAGES)
    for (const binary of BINARIES)
      for (const status of STATUSES)
        for (const install of INSTALLS) matrix.push([c, image, binary, status, install]);

describe("decideVerdict — every combination", () => {
  it("covers the whole matrix", () => {
    expect(matrix).toHaveLength(4 * 3 * 4 * 6 * 2);
  });

  it.each(matrix)(
    "cluster=%s image=%s binary=%s status=%s installed=%s",
    (c, image, binary, status, install) => {
      const result = decideVerdict(
        input({
          installedVersion: install === "known" ? INSTALLED : null,
          cluster: makeCluster(c, image),
          hostBinary: makeBinary(binary),
          status: makeStatus(status),
        }),
      );
      const expected = oracle(c, image, binary, status, install);
      expect(result.verdict).toBe(expected.verdict);
      expect(result.issue?.kind).toBe(expected.issue);
      expect(result.issues.map((issue) => issue.kind)).toEqual(expected.issues);
      expect(result.gateway.mode).toBe(expected.mode);
      // Marker binaries never make `onboard --resume` loop, and no fallback binary was given.
      expect(result.reinstallAdvised).toBe(false);
      if (expected.verdict === "unknown") {
        expect(result.missing.length).toBeGreaterThan(0);
        expect(result.missing.includes(MISSING_INSTALLED_VERSION)).toBe(install === "unreadable");
      } else {
        expect(result.missing).toEqual([]);
      }
      // A stopped or unrelated container never shows up as the gateway.
      if (expected.mode !== "cluster") expect(result.gateway.image).toBeUndefined();
    },
  );
});

// ---- named design cases --------------------------------------------------------------------------

const marker = (version: string | null): ResolvedGatewayBinary => ({
  path: "/opt/openshell/bin/openshell-gateway",
  source: "runtime-marker",
  version,
});
const connected = (version: string | undefined, gatewayName: string | null = GW): GatewayStatus => ({
  state: "connected",
  statusText: "Connected",
  server: "http://127.0.0.1:8080",
  ...(gatewayName === null ? {} : { gatewayName }),
  ...(version === undefined ? {} : { version }),
});
const stoppedLeftover: ClusterContainer = {
  name: `openshell-cluster-${GW}`,
  image: "ghcr.io/nvidia/openshell/cluster:0.0.36",
  running: false,
  hostPorts: [8080],
};

describe("decideVerdict — design examples", () => {
  it("a stopped leftover cluster does not mask host-process drift", () => {
    const result = decideVerdict(
      input({ cluster: stoppedLeftover, hostBinary: marker(OLD), status: connected(OLD) }),
    );
    expect(result.verdict).toBe("drift");
    expect(result.issue).toMatchObject({
      kind: "host_process_drift",
      foundVersion: OLD,
      expectedVersion: INSTALLED,
    });
    expect(result.issues.map((issue) => issue.kind)).toEqual(["host_process_drift", "served_version_drift"]);
    expect(result.gateway).toEqual({
      mode: "host-process",
      binary: "/opt/openshell/bin/openshell-gateway",
      binarySource: "runtime-marker",
      binaryVersion: OLD,
      servedVersion: OLD,
    });
  });

  it("a stopped leftover cluster with an old image causes no false drift", () => {
    const result = decideVerdict(
      input({ cluster: stoppedLeftover, hostBinary: marker(INSTALLED), status: connected(INSTALLED) }),
    );
    expect(result.verdict).toBe("compatible");
    expect(result.gateway.mode).toBe("host-process");
    expect(result.gateway.image).toBeUndefined();
  });

  it("a hanging binary probe plus a matching served version is compatible", () => {
    const result = decideVerdict(input({ hostBinary: marker(null), status: connected(INSTALLED) }));
    expect(result.verdict).toBe("compatible");
    expect(result.gateway).toEqual({
      mode: "host-process",
      binary: "/opt/openshell/bin/openshell-gateway",
      binarySource: "runtime-marker",
      servedVersion: INSTALLED,
    });
  });

  it("an in-place upgrade (new binary on disk, old process serving) is served_version_drift", () => {
    const result = decideVerdict(
      input({ hostBinary: { ...marker(INSTALLED), source: "standard-path" }, status: connected(OLD) }),
    );
    expect(result.verdict).toBe("drift");
    expect(result.issue).toEqual({
      kind: "served_version_drift",
      foundVersion: OLD,
      expectedVersion: INSTALLED,
      source: "`openshell status`",
    });
    expect(result.reinstallAdvised).toBe(false);
  });

  it("a patched nemoclaw-cluster 0.0.36 image drifts against 0.0.44", () => {
    const image = "ghcr.io/nvidia/nemoclaw/nemoclaw-cluster:0.0.36-fuse-overlayfs-aa8b8487";
    const result = decideVerdict(
      input({
        cluster: { name: `openshell-cluster-${GW}`, image, running: true, hostPorts: [8080] },
        status: connected(undefined),
      }),
    );
    expect(result.verdict).toBe("drift");
    expect(result.issue).toMatchObject({
      kind: "image_drift",
      foundVersion: "0.0.36",
      expectedVersion: INSTALLED,
    });
    expect(result.gateway).toEqual({ mode: "cluster", image, imageVersion: "0.0.36" });
  });

  it("dev builds with different build metadata on both sides are compatible", () => {
    const result = decideVerdict(
      input({
        installedVersion: "0.0.4-dev.6+g2bf9969",
        hostBinary: marker("0.0.4-dev.6+g2bf9969"),
        status: connected("0.0.4-dev.6+gdeadbee"),
      }),
    );
    expect(result.verdict).toBe("compatible");
    expect(result.issues).toEqual([]);
  });

  it("a different dev prerelease is drift", () => {
    const result = decideVerdict(
      input({ installedVersion: "0.0.4-dev.7", hostBinary: marker("0.0.4-dev.6+g2bf9969") }),
    );
    expect(result.issue?.kind).toBe("host_process_drift");
  });
});

describe("decideVerdict — details", () => {
  it("image drift outranks host and served drift, and all are listed", () => {
    const result = decideVerdict(
      input({
        cluster: {
          name: `openshell-cluster-${GW}`,
          image: "ghcr.io/nvidia/openshell/cluster:0.0.36",
          running: true,
          hostPorts: [8080],
        },
        hostBinary: marker(OLD),
        status: connected(OLD),
      }),
    );
    expect(result.gateway.mode).toBe("cluster");
    expect(result.issues.map((issue) => issue.kind)).toEqual(["image_drift", "served_version_drift"]);
    expect(result.gateway.binary).toBeUndefined();
  });

  it("an active cluster needs a named match: an unnamed connected status keeps it inactive but serves a version", () => {
    const result = decideVerdict(
      input({
        cluster: {
          name: "c",
          image: "ghcr.io/nvidia/openshell/cluster:0.0.36",
          running: true,
          hostPorts: [8080],
        },
        status: connected(OLD, null),
      }),
    );
    expect(result.gateway.mode).toBe("host-process");
    expect(result.issue?.kind).toBe("served_version_drift");
  });

  it("falls back to status.server for the endpoint port when gateway info failed", () => {
    const cluster: ClusterContainer = {
      name: "c",
      image: "ghcr.io/nvidia/openshell/cluster:0.0.44",
      running: true,
      hostPorts: [8080],
    };
    expect(decideVerdict(input({ info: null, cluster, status: connected(INSTALLED) })).gateway.mode).toBe(
      "cluster",
    );
    expect(
      decideVerdict(
        input({
          info: { gatewayName: GW, endpoint: "http://127.0.0.1:9090" },
          cluster,
          status: connected(INSTALLED),
        }),
      ).gateway.mode,
    ).toBe("host-process");
  });

  it("a served version from another gateway is never trusted", () => {
    const result = decideVerdict(input({ status: connected(OLD, "other") }));
    expect(result.verdict).toBe("unknown");
    expect(result.gateway).toEqual({ mode: "none" });
  });

  it("reports what is missing for unknown", () => {
    expect(decideVerdict(input({ installedVersion: null, status: connected(INSTALLED) })).missing).toEqual([
      MISSING_INSTALLED_VERSION,
    ]);
    const none = decideVerdict(input({ status: { state: "no-gateway" } }));
    expect(none.missing).toHaveLength(1);
    expect(none.missing[0]).toMatch(
      /^the version of the gateway serving 'nemoclaw' \(gateway 'nemoclaw' is not registered/,
    );
    expect(none.missing[0]).toContain("nemoclaw onboard");
    const both = decideVerdict(input({ installedVersion: "garbage" }));
    expect(both.missing).toHaveLength(2);
    const unreadableBinary = decideVerdict(
      input({ hostBinary: marker(null), status: { state: "unreachable" } }),
    );
    expect(unreadableBinary.missing[0]).toContain("/opt/openshell/bin/openshell-gateway --version");
  });

  it("a matching binary alone is enough when the gateway is down", () => {
    const result = decideVerdict(input({ hostBinary: marker(INSTALLED), status: { state: "unreachable" } }));
    expect(result.verdict).toBe("compatible");
  });

  describe("serving evidence (a binary on disk says nothing about which process serves)", () => {
    it.each(["env", "sibling", "standard-path"] as const)(
      "a matching %s binary with no gateway answering is unknown, not compatible",
      (source) => {
        const result = decideVerdict(
          input({
            hostBinary: { ...marker(INSTALLED), source },
            status: { state: "unreachable" },
            info: null,
          }),
        );
        expect(result.verdict).toBe("unknown");
        expect(result.missing[0]).toContain("could not reach it");
        expect(result.missing[0]).toContain("no live runtime marker");
      },
    );

    it("a drifted binary on disk with no gateway answering is unknown too (no evidence either way)", () => {
      const result = decideVerdict(
        input({
          hostBinary: { ...marker(OLD), source: "sibling" },
          status: { state: "unreachable" },
          info: null,
        }),
      );
      expect(result.verdict).toBe("unknown");
      expect(result.reinstallAdvised).toBe(true);
    });

    it("an unregistered gateway name is unknown even with a live runtime marker", () => {
      const result = decideVerdict(
        input({ hostBinary: marker(INSTALLED), status: { state: "no-gateway" }, info: null }),
      );
      expect(result.verdict).toBe("unknown");
      expect(result.missing[0]).toContain("nemoclaw onboard");
    });

    it("an unregistered gateway name (`No gateway configured.`) is unknown", () => {
      const result = decideVerdict(
        input({
          hostBinary: { ...marker(INSTALLED), source: "sibling" },
          status: { state: "no-gateway" },
          info: null,
        }),
      );
      expect(result.verdict).toBe("unknown");
    });

    it("`gateway info`'s Version (≥ 0.0.85) counts as a served version when `status` gave none", () => {
      const info = { endpoint: "http://127.0.0.1:8080", status: "healthy", version: INSTALLED };
      expect(decideVerdict(input({ status: { state: "unreachable" }, info })).verdict).toBe("compatible");
      const drifted = decideVerdict(
        input({ status: { state: "unreachable" }, info: { ...info, version: OLD } }),
      );
      expect(drifted.issue).toMatchObject({
        kind: "served_version_drift",
        source: "`openshell gateway info`",
      });
    });
  });

  describe("reinstallAdvised", () => {
    it("is set when the drifted binary came from the fallback order", () => {
      for (const source of ["env", "sibling", "standard-path"] as const) {
        const result = decideVerdict(
          input({ hostBinary: { ...marker(OLD), source }, status: connected(INSTALLED) }),
        );
        expect(result.issue?.kind).toBe("host_process_drift");
        expect(result.reinstallAdvised).toBe(true);
      }
    });

    it("is not set for a drifted marker binary when the fallback binary matches", () => {
      const result = decideVerdict(
        input({
          hostBinary: marker(OLD),
          fallbackBinary: {
            path: "/usr/local/bin/openshell-gateway",
            source: "standard-path",
            version: INSTALLED,
          },
        }),
      );
      expect(result.issue?.kind).toBe("host_process_drift");
      expect(result.reinstallAdvised).toBe(false);
    });

    it("is set when the fallback binary onboard would launch is itself drifted", () => {
      const result = decideVerdict(
        input({
          hostBinary: marker(OLD),
          status: connected(OLD),
          fallbackBinary: { path: "/usr/local/bin/openshell-gateway", source: "standard-path", version: OLD },
        }),
      );
      expect(result.reinstallAdvised).toBe(true);
    });

    it("is not set when the fallback version is unreadable or the installed version is", () => {
      const fallbackBinary: ResolvedGatewayBinary = {
        path: "/usr/local/bin/openshell-gateway",
        source: "standard-path",
        version: null,
      };
      expect(decideVerdict(input({ hostBinary: marker(OLD), fallbackBinary })).reinstallAdvised).toBe(false);
      expect(
        decideVerdict(input({ installedVersion: null, hostBinary: { ...marker(OLD), source: "sibling" } }))
          .reinstallAdvised,
      ).toBe(false);
    });
  });
});
