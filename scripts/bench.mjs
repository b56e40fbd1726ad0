#!/usr/bin/env node
// Performance figures of the issues, measured side by side in one run on this machine:
//  1. preflight wall time with every OpenShell/Docker probe delayed by 0.4 s vs no delay
//     (goal: difference ≤ 1.5 × 0.4 s; a sequential preflight would cost ≈ 9 × 0.4 s);
//  2. `nemoclaw --version` start-up vs bare `node -e 0` (goal ≤ 3×).
import { spawnSync } from "node:child_process";
import path from "node:path";
import { REPO, SimHost } from "./sim-host.mjs";

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
};
const fmt = (ms) => `${(ms / 1000).toFixed(3)} s`;

function timeRun(file, args, env) {
  const started = performance.now();
  const r = spawnSync(file, args, { env, stdio: "ignore" });
  if (r.status !== 0) throw new Error(`${args.join(" ")} exited ${r.status}`);
  return performance.now() - started;
}

function benchPreflight() {
  const DELAY_MS = 400;
  const RUNS = 5;
  const host = new SimHost("nemoclaw-bench-").init("--cli-version", "0.0.44", "--gateway-version", "0.0.44");
  try {
    host.simctl("start-gateway");
    const measure = (delay) => {
      host.simctl("set", `delayMs=${delay}`);
      const times = [];
      for (let i = 0; i < RUNS; i++) {
        const r = host.nemoclaw(["gateway", "preflight", "--json"]);
        if (r.status !== 0) throw new Error(`preflight exited ${r.status}: ${r.stderr}`);
        times.push(r.ms);
      }
      return median(times);
    };
    measure(0); // warm the file cache
    const base = measure(0);
    const delayed = measure(DELAY_MS);
    const diff = delayed - base;
    const goal = 1.5 * DELAY_MS;
    console.log("Preflight (simulated host, median of 5)");
    console.log(`  no probe delay:           ${fmt(base)}`);
    console.log(`  every probe +0.4 s:       ${fmt(delayed)}`);
    console.log(
      `  difference:               ${fmt(diff)}  (goal ≤ ${fmt(goal)}; sequential ≈ ${fmt(9 * DELAY_MS)})  ${diff <= goal ? "OK" : "MISSED"}`,
    );
    return diff <= goal;
  } finally {
    host.dispose();
  }
}

function benchStartup() {
  const RUNS = 21;
  const env = { ...process.env };
  const node = [];
  const cli = [];
  const bin = path.join(REPO, "bin/run.js");
  for (let i = 0; i < 3; i++) timeRun(process.execPath, [bin, "--version"], env);
  for (let i = 0; i < RUNS; i++) {
    // Interleaved so both see the same machine load.
    node.push(timeRun(process.execPath, ["-e", "0"], env));
    cli.push(timeRun(process.execPath, [bin, "--version"], env));
  }
  const ratio = median(cli) / median(node);
  const help = [];
  for (let i = 0; i < 5; i++)
    help.push(timeRun(process.execPath, [bin, "gateway", "preflight", "--help"], env));
  console.log(`Start-up (median of ${RUNS}, interleaved)`);
  console.log(`  node -e 0:                ${fmt(median(node))}`);
  console.log(
    `  nemoclaw --version:       ${fmt(median(cli))}  ratio ${ratio.toFixed(2)}× (goal ≤ 3×)  ${ratio <= 3 ? "OK" : "MISSED"}`,
  );
  console.log(`  nemoclaw gateway preflight --help (loads oclif + manifest): ${fmt(median(help))}`);
  return ratio <= 3;
}

const results = [benchPreflight(), benchStartup()];
console.log(results.every(Boolean) ? "All goals met." : "Some goals missed.");
