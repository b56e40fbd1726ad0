import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  classifyOpenShellFailure,
  foldExcerpt,
  isSchemaMismatchText,
  stripAnsi,
  unwrapMiette,
} from "../../src/domain/schema-mismatch.js";

const fixture = (name: string): string =>
  readFileSync(new URL(`./fixtures/openshell/${name}`, import.meta.url), "utf8");

const failed = (stderr: string, stdout = "") => ({ stdout, stderr, exitCode: 1 });

describe("stripAnsi", () => {
  it("removes SGR, other CSI and OSC hyperlinks", () => {
    expect(stripAnsi("\x1b[1mServer Status\x1b[0m")).toBe("Server Status");
    expect(stripAnsi("  \x1b[2mStatus:\x1b[0m \x1b[32mConnected\x1b[0m")).toBe("  Status: Connected");
    expect(stripAnsi("\x1b[?25l\x1b[2K\x1b[1Gdone\x1b[?25h")).toBe("done");
    expect(stripAnsi("\x1b]8;;http://127.0.0.1:8080\x1b\\http://127.0.0.1:8080\x1b]8;;\x1b\\")).toBe(
      "http://127.0.0.1:8080",
    );
    expect(stripAnsi("\x1b]8;;file:///x\x07link\x1b]8;;\x07")).toBe("link");
    expect(stripAnsi("\x1b[38;5;196mred\x1b[39m")).toBe("red");
  });
});

describe("unwrapMiette", () => {
  it("drops gutters, cause arrows, the headline cross and indentation, joining the lines with one space", () => {
    expect(unwrapMiette(fixture("real-list-unreachable.stderr.txt"))).toBe(
      "Error: transport error tcp connect error tcp connect error Connection refused (os error 111)",
    );
    expect(unwrapMiette("  │ MetadataMap { a:\n  │ b }\n")).toBe("MetadataMap { a: b }");
    // Only leading decorations go: a `│` inside a line is text.
    expect(unwrapMiette("a │ b")).toBe("a │ b");
  });

  it("matches a pattern that miette wrapped across lines", () => {
    const wrapped =
      "Error:   × status: 'Internal error', self: \"failed to decode\n  │ Protobuf message: x\"\n";
    expect(isSchemaMismatchText(wrapped)).toBe(true);
  });
});

describe("foldExcerpt", () => {
  it("folds whitespace, strips ANSI and cuts at 260 characters", () => {
    expect(foldExcerpt("  a\n\n  b\t c  ")).toBe("a b c");
    expect(foldExcerpt("\x1b[31m  ×\x1b[0m boom")).toBe("boom");
    const long = "x".repeat(300);
    expect(foldExcerpt(long)).toHaveLength(260);
    expect(foldExcerpt(long, 10)).toBe("x".repeat(10));
  });

  it("does not split a surrogate pair", () => {
    expect(foldExcerpt("😀".repeat(5), 3)).toBe("😀😀😀");
  });
});

describe("classifyOpenShellFailure", () => {
  it("returns null on success", () => {
    expect(
      classifyOpenShellFailure({ stdout: fixture("sandbox-list.stdout.txt"), stderr: "", exitCode: 0 }),
    ).toBeNull();
    expect(classifyOpenShellFailure({ stdout: "", stderr: "Downloading… 42%", exitCode: 0 })).toBeNull();
  });

  it.each([
    ["mismatch-tonic-0.14.stderr.txt"],
    ["mismatch-tonic-0.12.stderr.txt"],
    ["mismatch-buffer-underflow.stderr.txt"],
    ["unimplemented.stderr.txt"],
  ])("classifies %s as a schema mismatch", (name) => {
    const result = classifyOpenShellFailure(failed(fixture(name)));
    expect(result?.kind).toBe("schema_mismatch");
    expect(result?.excerpt).toMatch(/^Error: status:/);
    expect(result?.excerpt).not.toContain("\x1b");
    expect(result?.excerpt.length).toBeLessThanOrEqual(260);
  });

  it("folds the tonic 0.14 excerpt into one line", () => {
    const result = classifyOpenShellFailure(failed(fixture("mismatch-tonic-0.14.stderr.txt")));
    expect(result?.excerpt).toBe(
      "Error: status: 'Internal error', self: \"failed to decode Protobuf message: Sandbox.metadata: ListSandboxesResponse.sandboxes: invalid wire type: LengthDelimited (expected Varint)\"",
    );
  });

  it.each([
    ['status: Internal, message: "failed to decode Protobuf message: invalid tag value: 0"'],
    ["failed to decode Protobuf message: something new entirely"],
    ["error: protobuf decode error in response"],
    ["Proto schema mismatch"],
    ["PROTO_WIRE error"],
    ["invalid wire type value: 6"],
    ["status: 'Unimplemented', self: \"unknown method\""],
    ["status: 'Operation is not implemented or not supported', self: \"\""],
    ["code: Unimplemented"],
    ["ExecSandbox is not supported by this gateway version"],
    ["grpc-status: 12"],
  ])("treats %j as a mismatch", (stderr) => {
    expect(classifyOpenShellFailure(failed(stderr))?.kind).toBe("schema_mismatch");
  });

  it("detects a mismatch even with exit code 0, on stdout", () => {
    const text = fixture("mismatch-tonic-0.12.stderr.txt");
    const result = classifyOpenShellFailure({ stdout: text, stderr: "", exitCode: 0 });
    expect(result?.kind).toBe("schema_mismatch");
    expect(result?.excerpt).toContain("failed to decode Protobuf message");
  });

  it("takes the excerpt from the stream carrying the decode error", () => {
    const result = classifyOpenShellFailure({
      stdout: fixture("mismatch-tonic-0.14.stderr.txt"),
      stderr: "warning: something unrelated",
      exitCode: 0,
    });
    expect(result?.kind).toBe("schema_mismatch");
    expect(result?.excerpt).toContain("invalid wire type");
  });

  it("lets a mismatch win over unreachable and not-found text", () => {
    const stderr = `${fixture("status-unreachable-0.0.92.stderr.txt")}\nsandbox not found\n${fixture("mismatch-tonic-0.12.stderr.txt")}`;
    expect(classifyOpenShellFailure(failed(stderr))?.kind).toBe("schema_mismatch");
  });

  it.each([["status-unreachable-0.0.92.stderr.txt"], ["unreachable-0.14.stderr.txt"]])(
    "classifies %s as unreachable",
    (name) => {
      const result = classifyOpenShellFailure(failed(fixture(name)));
      expect(result?.kind).toBe("unreachable");
      expect(result?.excerpt).toMatch(/^Error: \w/);
      expect(result?.excerpt).not.toMatch(/[×│╰├]/);
    },
  );

  it.each([
    ["transport error"],
    ["dns error: failed to lookup address information"],
    ['status: Cancelled, message: "Timeout expired" deadline has elapsed'],
    ["connection timed out"],
    ['status: Unavailable, message: "error trying to connect"'],
  ])("treats %j as unreachable", (stderr) => {
    expect(classifyOpenShellFailure(failed(stderr))?.kind).toBe("unreachable");
  });

  it("classifies a missing sandbox as not_found", () => {
    expect(classifyOpenShellFailure(failed(fixture("sandbox-get-missing.stderr.txt")))?.kind).toBe(
      "not_found",
    );
    expect(classifyOpenShellFailure(failed("Error: × sandbox not found: alpha"))?.kind).toBe("not_found");
  });

  it("does not read a missing path inside a sandbox as a missing sandbox (measured 0.0.111 download)", () => {
    const result = classifyOpenShellFailure(failed(fixture("real-0.0.111-download-missing.stderr.txt")));
    expect(result?.kind).toBe("other");
    expect(result?.excerpt).toContain(
      "Error: failed to resolve sandbox source path '/sandbox/nope' ssh probe exited with status exit status: 1",
    );
  });

  it.each([["real-0.0.104-get-missing.stderr.txt"], ["real-0.0.52-get-missing.stderr.txt"]])(
    "classifies the measured `sandbox get` not-found text %s as not_found",
    (name) => {
      expect(classifyOpenShellFailure(failed(fixture(name)))?.kind).toBe("not_found");
    },
  );

  it("classifies tonic 0.14's Unimplemented description (0.0.111 CLI, 0.0.104 gateway) as a schema mismatch", () => {
    const result = classifyOpenShellFailure(
      failed(fixture("real-0.0.111-vs-0.0.104-stop-unimplemented.stderr.txt")),
    );
    expect(result).toEqual({
      kind: "schema_mismatch",
      excerpt: "Error: code: 'Operation is not implemented or not supported'",
    });
    expect(classifyOpenShellFailure(failed('status: Unimplemented, message: "x"'))?.kind).toBe(
      "schema_mismatch",
    );
  });

  it("classifies an unregistered gateway name as gateway_not_registered, not unreachable", () => {
    const result = classifyOpenShellFailure(failed(fixture("real-unknown-gateway.stderr.txt")));
    expect(result?.kind).toBe("gateway_not_registered");
    expect(result?.excerpt).toBe(
      "Error: Unknown gateway 'nemoclaw'. Register it first: openshell gateway add <endpoint> --name nemoclaw Or list available gateways: openshell gateway select",
    );
  });

  it("a not-Ready stop (wrapped by miette mid-sentence) is neither missing nor unreachable", () => {
    const result = classifyOpenShellFailure(failed(fixture("real-0.0.111-stop-not-ready.stderr.txt")));
    expect(result?.kind).toBe("other");
    expect(result?.excerpt).toBe(
      `Error: code: 'The system is not in a state required for the operation's execution', message: "sandbox must be Ready to stop (current phase: Error)"`,
    );
  });

  it("falls back to other, with the stdout excerpt when stderr is empty", () => {
    expect(classifyOpenShellFailure(failed("", "  something\n  broke  "))).toEqual({
      kind: "other",
      excerpt: "something broke",
    });
  });

  it("treats a killed process (no exit code) as a failure", () => {
    expect(classifyOpenShellFailure({ stdout: "", stderr: "", exitCode: null })).toEqual({
      kind: "other",
      excerpt: "",
    });
  });
});
