// Drives a simulated OpenShell host (test/sim) for the demo and the benchmark: one temp
// directory per host, HOME/PATH pointing into it, every process it started stopped on dispose.
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const SIMCTL = path.join(REPO, "test/sim/simctl.mjs");
export const CLI = path.join(REPO, "bin/run.js");

export class SimHost {
  constructor(prefix = "nemoclaw-sim-") {
    this.dir = mkdtempSync(path.join(tmpdir(), prefix));
  }

  simctl(command, ...args) {
    return execFileSync(process.execPath, [SIMCTL, command, this.dir, ...args], { encoding: "utf8" }).trim();
  }

  init(...args) {
    this.simctl("init", "--port", "0", ...args);
    this.port = JSON.parse(readFileSync(path.join(this.dir, "state/config.json"), "utf8")).port;
    return this;
  }

  get env() {
    return {
      ...process.env,
      HOME: path.join(this.dir, "home"),
      PATH: `${path.join(this.dir, "bin")}:${path.dirname(process.execPath)}:/usr/local/bin:/usr/bin:/bin`,
      NEMOCLAW_GATEWAY_PORT: String(this.port),
    };
  }

  /** Runs the built CLI against this host; returns { status, stdout, stderr, ms }. */
  nemoclaw(args, extraEnv = {}) {
    const started = performance.now();
    const r = spawnSync(process.execPath, [CLI, ...args], {
      env: { ...this.env, ...extraEnv },
      encoding: "utf8",
    });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr, ms: performance.now() - started };
  }

  dispose() {
    try {
      this.simctl("stop");
    } finally {
      rmSync(this.dir, { recursive: true, force: true });
    }
  }
}
