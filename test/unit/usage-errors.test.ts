import { Errors } from "@oclif/core";
import { describe, expect, it } from "vitest";
import { helpPointer, unknownCommand, usageLine } from "../../src/cli/usage-errors.js";

/** An error shaped like oclif's parser errors (class name and fields are what usageLine reads). */
function oclifError(name: string, message: string, fields: Record<string, unknown> = {}): Error {
  const Named = { [name]: class extends Error {} }[name] as new (m: string) => Error;
  return Object.assign(new Named(message), { parse: {} }, fields);
}

describe("usageLine", () => {
  it("maps each oclif parse error to one line of our own", () => {
    expect(
      usageLine(
        oclifError("RequiredArgsError", "Missing 1 required arg:\nsandbox", { args: [{ name: "sandbox" }] }),
      ),
    ).toBe("missing argument SANDBOX");
    expect(usageLine(oclifError("UnexpectedArgsError", "Unexpected argument: x", { args: ["x", "y"] }))).toBe(
      "unexpected arguments: x y",
    );
    expect(
      usageLine(oclifError("NonExistentFlagsError", "Nonexistent flag: --bogus", { flags: ["--bogus"] })),
    ).toBe("unknown flag --bogus");
    expect(
      usageLine(
        oclifError(
          "FailedFlagValidationError",
          "The following error occurred:\n  \x1b[2mMissing required flag keep\x1b[22m\nSee more help with --help",
        ),
      ),
    ).toBe("missing required flag --keep");
    expect(
      usageLine(
        oclifError(
          "FailedFlagValidationError",
          "The following errors occurred:\n  All of the following must be provided when using --host: --from-repo\n  Missing required flag keep\nSee more help with --help",
        ),
      ),
    ).toBe("--host needs --from-repo; missing required flag --keep");
    expect(
      usageLine(
        oclifError(
          "CLIError",
          "Parsing --keep \n\tExpected an integer but received: x\nSee more help with --help",
        ),
      ),
    ).toBe("invalid value for --keep: expected an integer but received: x");
  });

  it("takes the first line of any other CLI error, never oclif's help pointer", () => {
    expect(usageLine(new Errors.CLIError("something odd\nmore\nSee more help with --help"))).toBe(
      "something odd",
    );
  });

  it("is null for anything that is not oclif's", () => {
    expect(usageLine(new Error("boom"))).toBeNull();
    expect(usageLine("text")).toBeNull();
  });
});

describe("unknownCommand", () => {
  const ids = ["backups:list", "backups:prune", "status"];
  const topics = ["backups", "gateway"];
  it("a known command followed by words: they are unexpected arguments", () => {
    expect(unknownCommand("backups:list:extra", ids, topics)).toEqual({
      line: "unexpected argument: extra",
      helpFor: "backups list",
    });
    expect(unknownCommand("status:now:please", ids, topics).line).toBe("unexpected arguments: now please");
  });
  it("a topic with an unknown subcommand points at the topic's help", () => {
    expect(unknownCommand("backups:bogus", ids, topics)).toEqual({
      line: 'unknown command "backups bogus"',
      helpFor: "backups",
    });
  });
  it("an unknown command points at the root help", () => {
    expect(unknownCommand("bogus", ids, topics)).toEqual({ line: 'unknown command "bogus"', helpFor: "" });
    expect(helpPointer("")).toBe("See: nemoclaw --help");
    expect(helpPointer("backups list")).toBe("See: nemoclaw backups list --help");
  });
});
