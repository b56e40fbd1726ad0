// One racer of the registry-lock race test (test/unit/registry-lock-race.test.ts), bundled by
// esbuild and run as its own process. On each `go` line it takes the lock once; inside, it creates
// the O_EXCL witness file (EEXIST there means two holders at once), checks that the lock directory
// still names it as owner (else its lock was lost), lingers a little, removes the witness.
import fs from "node:fs";
import path from "node:path";
import readline from "node:readline";
import { withRegistryLock } from "../../../src/adapters/registry-lock.js";

const [lockDir, witness] = process.argv.slice(2) as [string, string];
let overlaps = 0;
let lost = 0;

function critical(): void {
  let fd: number;
  try {
    fd = fs.openSync(witness, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o600);
  } catch {
    overlaps++;
    return;
  }
  fs.closeSync(fd);
  // Read at least once (a loaded machine may deschedule us past the deadline before the first read).
  const until = process.hrtime.bigint() + 300_000n;
  let owner: string;
  do {
    try {
      owner = fs.readFileSync(path.join(lockDir, "owner"), "utf8");
    } catch (error) {
      owner = `unreadable: ${(error as NodeJS.ErrnoException).code}`;
    }
  } while (owner === `${process.pid}\n` && process.hrtime.bigint() < until);
  if (owner !== `${process.pid}\n`) {
    lost++;
    process.stderr.write(`racer ${process.pid}: its lock's owner reads ${JSON.stringify(owner)}\n`);
  }
  fs.unlinkSync(witness);
}

const lines = readline.createInterface({ input: process.stdin });
lines.on("line", async (line) => {
  const [verb, round] = line.split(" ");
  if (verb !== "go") return;
  try {
    await withRegistryLock(lockDir, { retryMs: 2, timeoutMs: 30_000 }, critical);
    process.stdout.write(`done ${round} ${overlaps} ${lost}\n`);
  } catch (error) {
    process.stdout.write(`fail ${round} ${(error as Error).message.replace(/\n/g, " ")}\n`);
  }
});
lines.on("close", () => process.exit(0));
