import { createInterface } from "node:readline/promises";
import type { IOStreams } from "../context.js";
import { UsageError } from "../domain/errors.js";

/**
 * Mutating commands need `--yes` or a person at a terminal. Checked at argument parsing,
 * before anything is read or probed (docs/design.md, "Confirmation"): a CI script without --yes fails at once.
 */
export function requireConfirmationPath(yes: boolean, io: IOStreams, command: string): void {
  if (yes) return;
  if (!io.stdinIsTTY || !io.stderrIsTTY) {
    throw new UsageError(
      `${command} changes sandboxes: pass --yes to run it without a terminal`,
      "confirmation_required",
    );
  }
}

/**
 * Asks a yes/no question on the terminal (stderr); anything but y/yes is no, and so is an
 * interrupt while it waits (`signal`).
 */
export async function askYesNo(io: IOStreams, question: string, signal?: AbortSignal): Promise<boolean> {
  const rl = createInterface({ input: io.stdin, output: io.stderr, terminal: true });
  try {
    const answer = await rl.question(`${question} [y/N] `, signal ? { signal } : {});
    return /^y(es)?$/i.test(answer.trim());
  } catch (error) {
    if (signal?.aborted) return false;
    throw error;
  } finally {
    rl.close();
  }
}
