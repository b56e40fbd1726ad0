import { describe, expect, it } from "vitest";
import { checkStateQuery, enforcePreflight, type PreflightReport } from "../../src/actions/preflight.js";
import { OpenShellCli } from "../../src/adapters/openshell-cli.js";
import type { ProcessRunner, RunResult } from "../../src/adapters/process-runner.js";
import { EnvironmentError, PreflightRefusal } from "../../src/domain/errors.js";
import { ExitCode } from "../../src/domain/exit-codes.js";
import { decideVerdict } from "../../src/domain/gateway-verdict.js";
import type { VerdictInput } from "../../src/domain/preflight-types.js";

const noRunner: ProcessRunner = {
  run: () => Promise.reject(new Error("no process may run in this test")),
};

function report(input: Partial<VerdictInput>): PreflightReport {
  const verdict = decideVerdict({
    gatewayName: "nemoclaw",
    installedVersion: "0.0.44",
    status: {
      state: "connected",
      gatewayName: "nemoclaw",
      server: "http://127.0.0.1:8080",
      version: "0.0.44",
    },
    info: { endpoint: "http://127.0.0.1:8080" },
    cluster: null,
    hostBinary: { path: "/usr/local/bin/openshell-gateway", source: "runtime-marker", version: "0.0.44" },
    fallbackBinary: null,
    ...input,
  });
  return {
    gatewayName: "nemoclaw",
    verdict,
    openshell: new OpenShellCli({ runner: noRunner, bin: "/usr/bin/openshell", env: {}, timeoutMs: 1000 }),
    preflight: {
      verdict: verdict.verdict,
      ...(verdict.issue ? { issue: verdict.issue } : {}),
      installedVersion: "0.0.44",
      gateway: verdict.gateway,
      evidence: [],
      durationMs: 1,
    },
  };
}

function result(partial: Partial<RunResult>): RunResult {
  return {
    file: "/usr/bin/openshell",
    args: ["sandbox", "list"],
    exitCode: 0,
    signal: null,
    stdout: "",
    stderr: "",
    timedOut: false,
    aborted: false,
    startError: null,
    truncated: false,
    durationMs: 5,
    ...partial,
  };
}

const policy = {
  action: "backing up registered sandboxes",
  rerunCommand: "nemoclaw backup-all",
  strict: false,
};
/** The error `fn` throws, of class `type`; the test fails when it throws nothing or something else. */
function thrownBy<E extends Error>(type: new (...args: never[]) => E, fn: () => unknown): E {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(type);
    return error as E;
  }
  return expect.unreachable("expected a throw");
}

const TONIC14 =
  "Error: \x1b[31m  ×\x1b[39m status: 'Internal error', self: \"failed to decode Protobuf message: Sandbox.metadata: ListSandboxesResponse.sandboxes: invalid wire type: LengthDelimited (expected Varint)\"";

describe("checkStateQuery (the reactive check after every state query)", () => {
  it("refuses a schema mismatch with exit 3 and the reactive diagnostic", () => {
    const rep = report({});
    const refusal = thrownBy(PreflightRefusal, () =>
      checkStateQuery(result({ exitCode: 1, stderr: TONIC14 }), {
        ...policy,
        report: rep,
        query: "sandbox list",
      }),
    );
    expect(refusal.exitCode).toBe(ExitCode.Refused);
    expect(refusal.code).toBe("schema_mismatch");
    expect(refusal.preflight.verdict).toBe("schema_mismatch");
    expect(refusal.preflight.issue?.kind).toBe("protobuf_mismatch");
    expect(refusal.diagnostic[0]).toBe(
      "  OpenShell gateway/schema mismatch was detected while backing up registered sandboxes.",
    );
    expect(refusal.diagnostic.join("\n")).toContain("  OpenShell output: Error: status: 'Internal error'");
    expect(refusal.diagnostic).toContain("  No sandbox data was changed.");
  });

  it("attaches the up-front drift when one was resolved", () => {
    const rep = report({
      status: {
        state: "connected",
        gatewayName: "nemoclaw",
        server: "http://127.0.0.1:8080",
        version: "0.0.43",
      },
    });
    const refusal = thrownBy(PreflightRefusal, () =>
      checkStateQuery(result({ exitCode: 1, stderr: TONIC14 }), {
        ...policy,
        report: rep,
        query: "sandbox list",
      }),
    );
    expect(refusal.preflight.issue).toMatchObject({
      kind: "protobuf_mismatch",
      drift: "served_version_drift",
      foundVersion: "0.0.43",
    });
  });

  it("after a mutating step, names the modified sandbox and its backup instead of 'No sandbox data was changed.'", () => {
    const modified = {
      sandbox: "alpha",
      backupPath: "/home/op/.nemoclaw/rebuild-backups/alpha/2026-11-27T10-00-00-000Z",
      restoreCommand: "nemoclaw restore alpha --backup 2026-11-27T10-00-00-000Z --create --yes",
    };
    const refusal = thrownBy(PreflightRefusal, () =>
      checkStateQuery(result({ exitCode: 1, stderr: TONIC14 }), {
        ...policy,
        action: "rebuilding sandbox 'alpha'",
        report: report({}),
        query: "sandbox get alpha",
        modified,
      }),
    );
    const text = refusal.diagnostic.join("\n");
    expect(text).toContain(`Sandbox alpha was modified; its state is preserved in ${modified.backupPath}.`);
    expect(text).toContain(modified.restoreCommand);
    expect(text).not.toContain("No sandbox data was changed.");
    expect(refusal.exitCode).toBe(3);
  });

  it("treats a connection failure as gateway unreachable (exit 4), never as a stopped sandbox", () => {
    const stderr =
      "Error:   × client error (Connect)\n  ├─▶ tcp connect error\n  ╰─▶ Connection refused (os error 111)\n";
    const error = thrownBy(EnvironmentError, () =>
      checkStateQuery(result({ exitCode: 1, stderr }), {
        ...policy,
        report: report({}),
        query: "sandbox list",
      }),
    );
    expect(error.code).toBe("gateway_unreachable");
    expect(error.exitCode).toBe(4);
    expect(error.message).not.toMatch(/destroy|orphan|delete/i);
  });

  it("treats a timed-out query as unreachable, not as an answer", () => {
    expect(() =>
      checkStateQuery(result({ exitCode: null, timedOut: true }), {
        ...policy,
        report: report({}),
        query: "sandbox list",
      }),
    ).toThrow(/did not answer/);
  });

  it("returns null for a success and the classified failure otherwise", () => {
    const ctx = { ...policy, report: report({}), query: "sandbox get alpha" };
    expect(checkStateQuery(result({ stdout: "Sandbox:\n  Phase: Ready\n" }), ctx)).toBeNull();
    expect(
      checkStateQuery(
        result({ exitCode: 1, stderr: 'status: NotFound, message: "sandbox not found: alpha"' }),
        ctx,
      )?.kind,
    ).toBe("not_found");
  });
});

describe("enforcePreflight", () => {
  it("refuses drift with the up-front anchor and exit 3", () => {
    const rep = report({
      hostBinary: { path: "/opt/gw/openshell-gateway", source: "runtime-marker", version: "0.0.43" },
    });
    expect(rep.verdict.verdict).toBe("drift");
    const refusal = thrownBy(PreflightRefusal, () => enforcePreflight(rep, policy));
    expect(refusal.code).toBe("gateway_drift");
    expect(refusal.diagnostic[0]).toBe(
      "  OpenShell gateway schema preflight failed before backing up registered sandboxes.",
    );
    expect(refusal.diagnostic).toContain("  Running gateway binary: /opt/gw/openshell-gateway (0.0.43)");
  });

  it("warns on unknown, refuses it under strict", () => {
    const rep = report({ status: null, info: null, hostBinary: null });
    expect(rep.verdict.verdict).toBe("unknown");
    expect(enforcePreflight(rep, policy).warnings.length).toBeGreaterThan(0);
    expect(() => enforcePreflight(rep, { ...policy, strict: true })).toThrow(PreflightRefusal);
  });

  it("lets a compatible gateway through without warnings", () => {
    expect(enforcePreflight(report({}), policy)).toEqual({ warnings: [] });
  });
});
