import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  endpointPort,
  OutputFormatError,
  parseGatewayInfo,
  parseSandboxGet,
  parseSandboxList,
  parseStatus,
  parseVersionOutput,
  stripAnsi,
} from "../../src/adapters/openshell-output.js";

const fixture = (name: string): string =>
  readFileSync(new URL(`./fixtures/openshell/${name}`, import.meta.url), "utf8");

describe("fixtures", () => {
  it("carry real escape bytes", () => {
    expect(fixture("status-connected.stdout.txt")).toContain("\x1b[1mServer Status\x1b[0m");
    expect(fixture("sandbox-list.stdout.txt")).toContain("\x1b[");
    expect(fixture("status-unreachable-0.0.91.stderr.txt")).toContain("\x1b[31m");
  });
});

describe("parseVersionOutput", () => {
  it("reads `openshell --version`", () => {
    expect(parseVersionOutput(fixture("version-openshell.stdout.txt"), "openshell")).toBe("0.0.44");
    expect(parseVersionOutput(fixture("version-openshell-ansi.stdout.txt"), "openshell")).toBe("0.0.44");
  });

  it("reads a dev build of `openshell-gateway --version`", () => {
    expect(parseVersionOutput(fixture("version-gateway-dev.stdout.txt"), "openshell-gateway")).toBe(
      "0.0.4-dev.6+g2bf9969",
    );
  });

  it("does not confuse the two tools", () => {
    expect(parseVersionOutput("openshell-gateway 0.0.44\n", "openshell")).toBeNull();
    expect(parseVersionOutput("openshell 0.0.44\n", "openshell-gateway")).toBeNull();
  });

  it("tolerates a leading warning line and a v prefix", () => {
    expect(parseVersionOutput("warning: config ignored\nopenshell v0.0.45\n", "openshell")).toBe("0.0.45");
  });

  it("returns null for anything else", () => {
    expect(parseVersionOutput("", "openshell")).toBeNull();
    expect(parseVersionOutput("openshell unknown\n", "openshell")).toBeNull();
    expect(parseVersionOutput("openshell 0.0.44junk\n", "openshell")).toBeNull();
    expect(parseVersionOutput("Usage: openshell [OPTIONS]\n", "openshell")).toBeNull();
  });
});

describe("parseStatus", () => {
  it("parses a connected gateway (≤ 0.0.90, no Authentication line)", () => {
    expect(parseStatus({ stdout: fixture("status-connected.stdout.txt"), stderr: "", exitCode: 0 })).toEqual({
      state: "connected",
      statusText: "Connected",
      gatewayName: "nemoclaw",
      server: "http://127.0.0.1:8080",
      version: "0.0.44",
    });
  });

  it("parses a connected gateway with an Authentication line and an OSC hyperlink (≥ 0.0.91)", () => {
    expect(
      parseStatus({ stdout: fixture("status-connected-auth.stdout.txt"), stderr: "", exitCode: 0 }),
    ).toEqual({
      state: "connected",
      statusText: "Connected",
      gatewayName: "nemoclaw",
      server: "http://127.0.0.1:8080",
      authentication: "disabled",
      version: "0.0.92",
    });
  });

  it("parses `Connected (HTTP)` with a dev build version", () => {
    const status = parseStatus({
      stdout: fixture("status-connected-http.stdout.txt"),
      stderr: "",
      exitCode: 0,
    });
    expect(status.state).toBe("connected");
    expect(status.statusText).toBe("Connected (HTTP)");
    expect(status.version).toBe("0.0.4-dev.6+g2bf9969");
  });

  it("parses Error and Disconnected", () => {
    expect(parseStatus({ stdout: fixture("status-error.stdout.txt"), stderr: "", exitCode: 0 }).state).toBe(
      "error",
    );
    expect(
      parseStatus({ stdout: fixture("status-disconnected.stdout.txt"), stderr: "", exitCode: 0 }).state,
    ).toBe("disconnected");
  });

  it("parses unreachable (≤ 0.0.91: header on stdout, miette error on stderr)", () => {
    const status = parseStatus({
      stdout: fixture("status-unreachable-0.0.91.stdout.txt"),
      stderr: fixture("status-unreachable-0.0.91.stderr.txt"),
      exitCode: 1,
    });
    expect(status).toEqual({
      state: "unreachable",
      gatewayName: "nemoclaw",
      server: "http://127.0.0.1:8080",
    });
  });

  it("parses unreachable (≥ 0.0.92: the error only)", () => {
    expect(
      parseStatus({ stdout: "", stderr: fixture("status-unreachable-0.0.92.stderr.txt"), exitCode: 1 }),
    ).toEqual({ state: "unreachable" });
  });

  it("parses `No gateway configured.` (exit 0)", () => {
    const status = parseStatus({ stdout: fixture("status-no-gateway.stdout.txt"), stderr: "", exitCode: 0 });
    expect(status.state).toBe("no-gateway");
    expect(status.version).toBeUndefined();
  });

  it("reads an unregistered -g NAME as no gateway", () => {
    expect(
      parseStatus({ stdout: "", stderr: fixture("gateway-info-unknown.stderr.txt"), exitCode: 1 }).state,
    ).toBe("no-gateway");
  });

  it("does not trust `Connected` or a version from a failing command", () => {
    const status = parseStatus({
      stdout: fixture("status-connected.stdout.txt"),
      stderr: fixture("mismatch-tonic-0.14.stderr.txt"),
      exitCode: 1,
    });
    expect(status.state).toBe("unknown");
    expect(status.version).toBeUndefined();
  });

  it("returns unknown for garbage", () => {
    expect(parseStatus({ stdout: "¯\\_(ツ)_/¯", stderr: "", exitCode: 0 })).toEqual({ state: "unknown" });
    expect(parseStatus({ stdout: "  Status: Rebooting\n", stderr: "", exitCode: 0 }).state).toBe("unknown");
    expect(parseStatus({ stdout: "", stderr: "", exitCode: null }).state).toBe("unknown");
  });

  it("omits an unreadable Version", () => {
    const stdout = stripAnsi(fixture("status-connected.stdout.txt")).replace("0.0.44", "n/a");
    expect(parseStatus({ stdout, stderr: "", exitCode: 0 }).version).toBeUndefined();
  });
});

describe("parseGatewayInfo", () => {
  it("parses the ≤ 0.0.84 form (`Gateway endpoint:`)", () => {
    expect(parseGatewayInfo(fixture("gateway-info-0.0.84.stdout.txt"))).toEqual({
      gatewayName: "nemoclaw",
      endpoint: "http://127.0.0.1:8080",
    });
  });

  it("parses the ≥ 0.0.85 form (`Server:` + `Status:` + `Version:`)", () => {
    expect(parseGatewayInfo(fixture("gateway-info-0.0.85.stdout.txt"))).toEqual({
      gatewayName: "nemoclaw",
      endpoint: "http://127.0.0.1:8080",
      status: "Connected",
      version: "0.0.85",
    });
  });

  it("returns an empty object for unrecognised output", () => {
    expect(parseGatewayInfo("")).toEqual({});
  });
});

describe("endpointPort", () => {
  it.each([
    ["http://127.0.0.1:8080", 8080],
    ["https://gw.example:9443/", 9443],
    ["http://127.0.0.1", 80],
    ["https://gw.example", 443],
    ["grpcs://gw.example", 443],
    ["127.0.0.1:8081", 8081],
    ["localhost:8082", 8082],
    ["http://[::1]:8083", 8083],
  ])("%s → %s", (endpoint, port) => {
    expect(endpointPort(endpoint)).toBe(port);
  });

  it.each([[""], ["not a url at all"], ["ftp://host"], ["http://host:99999"]])("%j → null", (endpoint) => {
    expect(endpointPort(endpoint)).toBeNull();
  });
});

describe("parseSandboxList", () => {
  it("parses the NAME CREATED PHASE table with a bold header", () => {
    expect(parseSandboxList(fixture("sandbox-list.stdout.txt"))).toEqual([
      { name: "alpha", created: "2026-07-01 10:11:12", phase: "Ready" },
      { name: "beta", created: "2026-07-02 08:00:00", phase: "Provisioning" },
      { name: "gamma", created: null, phase: "Error" },
    ]);
  });

  it("parses per-cell styled output whose padding is off", () => {
    expect(parseSandboxList(fixture("sandbox-list-styled-cells.stdout.txt"))).toEqual([
      { name: "alpha", created: "2026-07-01 10:11:12", phase: "Ready" },
      { name: "delta-2", created: "2026-07-03 09:30:00", phase: "Stopped" },
    ]);
  });

  it("parses the ≤ 0.0.36 table with NAMESPACE", () => {
    expect(parseSandboxList(fixture("sandbox-list-namespace.stdout.txt"))).toEqual([
      { name: "alpha", namespace: "openshell", created: "2026-07-01 10:11:12", phase: "Ready" },
      { name: "beta", namespace: "openshell", created: null, phase: "Starting" },
    ]);
  });

  it("parses a leading WORKSPACE column (OpenShell ≥ 0.0.88 in a workspace) and the ≥ 0.0.105 phases", () => {
    const table = [
      "\x1b[1mWORKSPACE\x1b[0m  \x1b[1mNAME\x1b[0m   \x1b[1mCREATED\x1b[0m              \x1b[1mPHASE\x1b[0m",
      "team-a     alpha  2026-07-01 10:11:12  \x1b[32mReady\x1b[39m",
      "team-a     beta   -                    \x1b[33mStopped\x1b[39m",
      "team-a     gamma  2026-07-02 08:00:00  Stopping",
      "",
    ].join("\n");
    expect(parseSandboxList(table)).toEqual([
      { workspace: "team-a", name: "alpha", created: "2026-07-01 10:11:12", phase: "Ready" },
      { workspace: "team-a", name: "beta", created: null, phase: "Stopped" },
      { workspace: "team-a", name: "gamma", created: "2026-07-02 08:00:00", phase: "Stopping" },
    ]);
  });

  it("rejects a table whose NAME follows anything but a leading WORKSPACE", () => {
    expect(() => parseSandboxList("OWNER  NAME  CREATED  PHASE\nbob  alpha  -  Ready\n")).toThrow(
      OutputFormatError,
    );
    expect(() => parseSandboxList("NAME  WORKSPACE  CREATED  PHASE\nalpha  -  Ready\n")).toThrow(
      OutputFormatError,
    );
  });

  it("parses `No sandboxes found.` as empty", () => {
    expect(parseSandboxList(fixture("sandbox-list-empty.stdout.txt"))).toEqual([]);
  });

  it("parses a header-only table as empty", () => {
    expect(parseSandboxList("\x1b[1mNAME  CREATED  PHASE\x1b[0m\n")).toEqual([]);
  });

  it.each([
    ["", "printed nothing"],
    ["ID  NAME  STATE\nx  alpha  Ready\n", "unrecognised"],
    ["NAME  PHASE\nalpha  Ready\n", "unrecognised"],
    ["NAME CREATED PHASE\nalpha - Ready\n", "unrecognised"],
    ["NAME  CREATED  PHASE\nalpha  Ready\n", "does not match"],
    [stripAnsi("Error: × failed to decode Protobuf message"), "unrecognised"],
    ["NAME  CREATED  PHASE  image\nalpha  -  Ready  x\n", "unrecognised"],
  ])("throws OutputFormatError on %j", (stdout, message) => {
    expect(() => parseSandboxList(stdout)).toThrow(OutputFormatError);
    expect(() => parseSandboxList(stdout)).toThrow(message);
  });
});

describe("parseSandboxGet", () => {
  it("reads the Name and Phase of the sandbox block", () => {
    expect(parseSandboxGet(fixture("sandbox-get.stdout.txt"))).toEqual({ name: "alpha", phase: "Ready" });
  });

  it("returns nothing for unrelated output", () => {
    expect(parseSandboxGet("")).toEqual({});
  });
});

describe("parseSandboxList with a column a later release adds", () => {
  it("reads NAME and PHASE by header position and still checks every row's cells", () => {
    const table =
      "NAME   IMAGE              CREATED              PHASE\nalpha  ghcr.io/x/a:1.0    2026-11-01 10:00:00  Ready\n";
    expect(parseSandboxList(table)).toEqual([
      { name: "alpha", created: "2026-11-01 10:00:00", phase: "Ready" },
    ]);
    expect(() => parseSandboxList("NAME  IMAGE  CREATED  PHASE\nalpha  -  Ready\n")).toThrow(
      OutputFormatError,
    );
  });
});
