import { describe, expect, it } from "vitest";
import BackupAll from "../../src/commands/backup-all.js";
import BackupsList from "../../src/commands/backups/list.js";
import BackupsPrune from "../../src/commands/backups/prune.js";
import BackupsPush from "../../src/commands/backups/push.js";
import BackupsVerify from "../../src/commands/backups/verify.js";
import GatewayPreflight from "../../src/commands/gateway/preflight.js";
import Onboard from "../../src/commands/onboard.js";
import OperationsAbandon from "../../src/commands/operations/abandon.js";
import OperationsList from "../../src/commands/operations/list.js";
import Restore from "../../src/commands/restore.js";
import Status from "../../src/commands/status.js";
import UpgradeSandboxes from "../../src/commands/upgrade-sandboxes.js";

/**
 * SPEC §21 "Precisely": the exit codes each command's --help lists, exactly. Where the spec is
 * silent (backups push, operations abandon) or the command returns more (onboard refuses a
 * gateway binary of another version with 3), the codes the command's code can return.
 */
const EXPECTED: Array<[{ commandId: string; description?: string; summary?: string }, number[]]> = [
  [Status, [0, 1, 2, 3, 4]],
  [GatewayPreflight, [0, 2, 3, 4]],
  [BackupAll, [0, 1, 2, 3, 4, 130, 143]],
  [BackupsList, [0, 2, 4]],
  [BackupsVerify, [0, 1, 2, 4]],
  [BackupsPrune, [0, 1, 2, 4]],
  [BackupsPush, [0, 1, 2, 4, 130, 143]],
  [Restore, [0, 1, 2, 3, 4, 130, 143]],
  [UpgradeSandboxes, [0, 1, 2, 3, 4, 130, 143]],
  [Onboard, [0, 1, 2, 3, 4, 130, 143]],
  [OperationsList, [0, 1, 2, 4]],
  [OperationsAbandon, [0, 1, 2, 4]],
];

function helpCodes(description: string): number[] {
  const block = description.split("EXIT CODES\n")[1] ?? "";
  return block
    .split("\n")
    .map((line) => /^ {2}(\d+)\s/.exec(line)?.[1])
    .filter((code): code is string => code !== undefined)
    .map(Number);
}

describe("--help exit codes", () => {
  for (const [command, codes] of EXPECTED) {
    it(`${command.commandId}: exactly ${codes.join("/")}`, () => {
      expect(helpCodes(command.description ?? "")).toEqual(codes);
    });
  }

  it("upgrade-sandboxes says which codes --check cannot return", () => {
    const block = UpgradeSandboxes.description?.split("EXIT CODES\n")[1] ?? "";
    expect(block).toMatch(/130 .*not with --check/);
  });

  it("no description starts with its summary, and each says when to use the command", () => {
    for (const [command] of EXPECTED) {
      const first = (command.description ?? "").split("\n")[0] ?? "";
      expect(first.startsWith(command.summary ?? "\u0000")).toBe(false);
      expect(first).toMatch(/^Use it\b/);
    }
  });
});
