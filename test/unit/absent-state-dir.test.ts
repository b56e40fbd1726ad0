// When is a state dir absent from a sandbox (docs/design.md, "Sandbox commands")? Only on the
// answer the real CLIs give for a missing path — never on a broken transfer that looks similar.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { isAbsentStateDir } from "../../src/actions/sandbox-backup.js";

const fixture = (name: string): string =>
  readFileSync(new URL(`./fixtures/openshell/${name}`, import.meta.url), "utf8");

describe("isAbsentStateDir", () => {
  it("is true for the measured missing-path answer naming that dir (0.0.104 and 0.0.111)", () => {
    const stderr = fixture("real-0.0.111-download-missing.stderr.txt");
    expect(isAbsentStateDir({ exitCode: 1, stderr }, "/sandbox/nope")).toBe(true);
    // Coloured like the real CLI prints it, even into pipes.
    const coloured = stderr.replace("×", "\x1b[31m×\x1b[0m").replace("╰─▶", "\x1b[31m╰─▶\x1b[0m");
    expect(isAbsentStateDir({ exitCode: 1, stderr: coloured }, "/sandbox/nope")).toBe(true);
  });

  it("is false for another dir, another exit code, or the old simulator's invented text", () => {
    const stderr = fixture("real-0.0.111-download-missing.stderr.txt");
    expect(isAbsentStateDir({ exitCode: 1, stderr }, "/sandbox/.openclaw")).toBe(false);
    expect(isAbsentStateDir({ exitCode: 2, stderr }, "/sandbox/nope")).toBe(false);
    expect(isAbsentStateDir({ exitCode: null, stderr }, "/sandbox/nope")).toBe(false);
    expect(
      isAbsentStateDir(
        { exitCode: 1, stderr: "Error:   × no such path in the sandbox: /sandbox/nope\n" },
        "/sandbox/nope",
      ),
    ).toBe(false);
  });

  it("is false when the ssh probe broke (status 255, no realpath line): that is a failed backup", () => {
    // Seen once on a loaded host with the real 0.0.104 CLI.
    const stderr = [
      "Downloading sandbox:/sandbox/nope -> /tmp/dest",
      "Connection to sandbox closed by remote host.",
      "Error:   × failed to resolve sandbox source path '/sandbox/nope'",
      "  ╰─▶ ssh probe exited with status exit status: 255",
      "",
    ].join("\n");
    expect(isAbsentStateDir({ exitCode: 1, stderr }, "/sandbox/nope")).toBe(false);
  });
});
