// docs/design.md, "Registry lock": many processes racing to break the same stale lock — at most one
// holder at any moment (an O_EXCL witness file inside the critical section), no lock lost (each
// holder still finds its own owner file while it holds the lock), every racer gets the lock once
// per round, and nothing is left behind.
import { type ChildProcess, spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import readline from "node:readline";
import { buildSync } from "esbuild";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { processStartTime } from "../../src/adapters/process-identity.js";
import { NO_SUCH_PID } from "./support/stub-runner.js";

const RACERS = 8;
const ROUNDS = 100;

let tmp: string;
let lockDir: string;
let witness: string;
const racers: { child: ChildProcess; lines: string[]; waiters: (() => void)[] }[] = [];

function nextLine(r: (typeof racers)[number]): Promise<string> {
  return new Promise((resolve, reject) => {
    const take = () => resolve(r.lines.shift() as string);
    if (r.lines.length) return take();
    const timer = setTimeout(() => reject(new Error("racer did not answer within 30 s")), 30_000);
    r.waiters.push(() => {
      clearTimeout(timer);
      take();
    });
  });
}

beforeAll(() => {
  // tmpfs when there is one: the race is about directory operations, not fsync latency.
  const base = fs.existsSync("/dev/shm") ? "/dev/shm" : os.tmpdir();
  tmp = fs.mkdtempSync(path.join(base, "nemoclaw-lock-race-"));
  lockDir = path.join(tmp, "sandboxes.json.lock");
  witness = path.join(tmp, "witness");
  const bundle = path.join(tmp, "racer.mjs");
  buildSync({
    entryPoints: [path.join(import.meta.dirname, "support/registry-lock-worker.ts")],
    bundle: true,
    platform: "node",
    format: "esm",
    outfile: bundle,
    logLevel: "silent",
  });
  for (let i = 0; i < RACERS; i++) {
    const child = spawn(process.execPath, [bundle, lockDir, witness], { stdio: ["pipe", "pipe", "inherit"] });
    const r = { child, lines: [] as string[], waiters: [] as (() => void)[] };
    readline.createInterface({ input: child.stdout as NodeJS.ReadableStream }).on("line", (line) => {
      r.lines.push(line);
      r.waiters.shift()?.();
    });
    racers.push(r);
  }
});

afterAll(async () => {
  for (const r of racers) {
    const exited = new Promise((resolve) => r.child.once("exit", resolve));
    r.child.stdin?.end();
    await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 2000))]);
    if (r.child.exitCode === null && r.child.signalCode === null && r.child.pid)
      process.kill(r.child.pid, "SIGKILL");
  }
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** A stale lock of one of the three kinds: dead owner, reused pid, ownerless and 11 s old. */
function staleLock(round: number): void {
  fs.mkdirSync(lockDir, { mode: 0o700 });
  const boot = fs.readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim();
  const kind = round % 3;
  if (kind === 0) {
    fs.writeFileSync(path.join(lockDir, "owner"), `${NO_SUCH_PID}\n`);
    fs.writeFileSync(path.join(lockDir, "process-start"), `${NO_SUCH_PID} ${boot} 12345\n`);
  } else if (kind === 1) {
    // This test process is alive, but not the instance recorded: its pid was "reused".
    const tick = (processStartTime(process.pid) ?? 0) + 1;
    fs.writeFileSync(path.join(lockDir, "owner"), `${process.pid}\n`);
    fs.writeFileSync(path.join(lockDir, "process-start"), `${process.pid} ${boot} ${tick}\n`);
  } else {
    const old = new Date(Date.now() - 11_000);
    fs.utimesSync(lockDir, old, old);
  }
}

describe("registry lock race", () => {
  it(`${RACERS} processes, ${ROUNDS} rounds over a stale lock: one holder at a time, no lock lost`, async () => {
    let acquisitions = 0;
    for (let round = 0; round < ROUNDS; round++) {
      staleLock(round);
      for (const r of racers) r.child.stdin?.write(`go ${round}\n`);
      const answers = await Promise.all(racers.map(nextLine));
      for (const answer of answers) {
        // `done <round> <overlaps so far> <lost so far>`
        expect(answer).toBe(`done ${round} 0 0`);
        acquisitions++;
      }
      expect(fs.existsSync(lockDir)).toBe(false);
      expect(fs.existsSync(witness)).toBe(false);
    }
    expect(acquisitions).toBe(RACERS * ROUNDS);
    // Nothing but claims (and no moved lock) is left beside the lock.
    const leftovers = fs
      .readdirSync(tmp)
      .filter((n) => !["racer.mjs", "sandboxes.json.lock.breaks"].includes(n));
    expect(leftovers).toEqual([]);
    const boots = fs.readdirSync(path.join(tmp, "sandboxes.json.lock.breaks"));
    expect(boots).toHaveLength(1);
    const claims = fs.readdirSync(path.join(tmp, "sandboxes.json.lock.breaks", boots[0] as string));
    expect(claims.filter((n) => n.endsWith(".lock"))).toEqual([]);
  }, 120_000);
});
