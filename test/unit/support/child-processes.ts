// Real child processes for the process-identity tests: tracked so afterEach stops every one of
// them by pid, and a real zombie made without orphaning it.
import { type ChildProcess, spawn } from "node:child_process";
import { readProcessState } from "../../../src/adapters/process-identity.js";

/** Polls `probe` every 20 ms until it returns a truthy value (returned), or throws on timeout. */
export async function waitFor<T>(probe: () => T | undefined | null | false, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined && value !== null && value !== false) return value;
    if (Date.now() > deadline) throw new Error("timed out waiting for condition");
    await new Promise((r) => setTimeout(r, 20));
  }
}

export class ChildTracker {
  private children: ChildProcess[] = [];

  track(child: ChildProcess): number {
    this.children.push(child);
    if (child.pid === undefined) throw new Error("spawn failed");
    return child.pid;
  }

  async stopAll(): Promise<void> {
    for (const child of this.children.splice(0)) {
      if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) continue;
      // A zombie parent reaps its child once stdin closes; give it a moment before the hard kill.
      if (child.stdin) {
        const exited = new Promise((resolve) => child.once("exit", resolve));
        child.stdin.end();
        await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 1000))]);
        if (child.exitCode !== null || child.signalCode !== null) continue;
      }
      try {
        process.kill(child.pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
  }
}

/**
 * A real zombie: perl forks a child (argv0 as given) that exits at once, and does not reap it
 * until its stdin closes. Unlike `exec sleep` as the parent, closing stdin lets the parent reap
 * the zombie and exit, so no zombie is orphaned onto an init that may never reap it.
 */
const ZOMBIE_PARENT = [
  "$| = 1;",
  "my $p = fork() // die 'fork';",
  'if (!$p) { exec { "sleep" } ($ARGV[0] // "sleep"), "0.05"; exit 1 }',
  'print "$p\\n";',
  "<STDIN>;",
  "waitpid($p, 0);",
].join(" ");

export async function startZombie(
  tracker: ChildTracker,
  argv0?: string,
): Promise<{ pid: number; release: () => Promise<void> }> {
  const parent = spawn("perl", ["-e", ZOMBIE_PARENT, ...(argv0 ? [argv0] : [])], {
    stdio: ["pipe", "pipe", "ignore"],
  });
  tracker.track(parent);
  let out = "";
  parent.stdout?.on("data", (chunk: Buffer) => {
    out += chunk.toString();
  });
  const exited = new Promise<void>((resolve) => parent.once("exit", () => resolve()));
  await waitFor(() => /^\d+\n/.test(out));
  const pid = Number(out.trim());
  await waitFor(() => readProcessState(pid) === "zombie");
  return {
    pid,
    release: async () => {
      parent.stdin?.end();
      await exited;
    },
  };
}
