import { describe, expect, it } from "vitest";
import { chmodCommands } from "../../src/actions/sandbox-state.js";
import { type BackupManifest, type ManifestFile, modeRepairs } from "../../src/domain/backup-manifest.js";

const SHA = "a".repeat(64);
const manifest = (files: ManifestFile[]): BackupManifest => ({
  version: 1,
  sandboxName: "alpha",
  timestamp: "2026-07-01T12-34-56-789Z",
  agentType: "openclaw",
  agentVersion: null,
  stateDirs: ["/sandbox/.openclaw", "/home/agent/.hermes"],
  backedUpDirs: ["/sandbox/.openclaw", "/home/agent/.hermes"],
  absentDirs: [],
  files,
  complete: true,
});
const file = (p: string | Buffer, mode: string): ManifestFile =>
  typeof p === "string"
    ? { path: p, size: 1, sha256: SHA, mode }
    : { pathB64: p.toString("base64"), size: 1, sha256: SHA, mode };

describe("chmodCommands (restore's mode repair)", () => {
  it("one chmod argv per mode, with absolute sandbox paths under each file's own state dir", () => {
    const expected = [file(".openclaw/a", "0666"), file(".hermes/b", "0666"), file(".openclaw/x/c", "0700")];
    const actual = expected.map((f) => ({ ...f, mode: "0644" }));
    const m = manifest(expected);
    expect(chmodCommands(m, modeRepairs(expected, actual))).toEqual([
      ["chmod", "0666", "/sandbox/.openclaw/a", "/home/agent/.hermes/b"],
      ["chmod", "0700", "/sandbox/.openclaw/x/c"],
    ]);
  });

  it("passes a backslash name (recorded as bytes) but leaves out one that is not UTF-8", () => {
    const odd = Buffer.concat([Buffer.from(".openclaw/bad-"), Buffer.from([0xff])]);
    const expected = [file(Buffer.from(".openclaw/a\\b"), "0666"), file(odd, "0666")];
    const actual = expected.map((f) => ({ ...f, mode: "0644" }));
    expect(chmodCommands(manifest(expected), modeRepairs(expected, actual))).toEqual([
      ["chmod", "0666", "/sandbox/.openclaw/a\\b"],
    ]);
  });

  it("splits a very long operand list over several execs of the same mode", () => {
    const expected = Array.from({ length: 3000 }, (_, i) => file(`.openclaw/${"n".repeat(40)}-${i}`, "0666"));
    const actual = expected.map((f) => ({ ...f, mode: "0644" }));
    const commands = chmodCommands(manifest(expected), modeRepairs(expected, actual));
    expect(commands.length).toBeGreaterThan(1);
    expect(commands.every((argv) => argv[0] === "chmod" && argv[1] === "0666")).toBe(true);
    expect(commands.flatMap((argv) => argv.slice(2))).toHaveLength(3000);
    for (const argv of commands) expect(argv.slice(2).join(" ").length).toBeLessThanOrEqual(64 * 1024);
  });

  it("asks for nothing when every mode matches", () => {
    const expected = [file(".openclaw/a", "0600")];
    expect(chmodCommands(manifest(expected), modeRepairs(expected, expected))).toEqual([]);
  });
});
