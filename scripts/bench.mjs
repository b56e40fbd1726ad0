#!/usr/bin/env node
// Performance figures of the issues, measured side by side in one run on this machine:
//  1. preflight wall time with every OpenShell/Docker probe delayed by 0.4 s vs no delay
//     (goal: difference ≤ 1.5 × 0.4 s; a sequential preflight would cost ≈ 9 × 0.4 s);
//  2. `nemoclaw --version` start-up vs bare `node -e 0` (goal ≤ 3×);
//  3. backup-all of 8 × (64 MiB + 200 small files) vs `cp -a` + `sync` (goal ≤ 1.5×), peak RSS,
//     and the disk of a second backup-all of that unchanged state vs the first (goal ≤ 1.05×);
//     the simulator answers at native speed there (knobs fastQueries/fastTransfer), since each
//     Node simulator process costs more CPU than a native openshell call.
//  4. upgrade-sandboxes --check over 50/100/200 Ready sandboxes (goal < 5 s for 200).
//  5. backup-all human output vs --json over a 15,000-entry registry (goal ≤ 2×).
//  6. incremental backups, 4 sandboxes × 20,000 files of 1 KiB in nested directories: the disk
//     of a second backup-all of unchanged state vs the first (`du -sk`, goal ≤ 1.05×), and the
//     time of backup-all vs `cp -a` + `sync` (goal ≤ 1.3×, SPEC §19), first and second alike.
//  7. scale (SPEC §19): one sandbox holding N × 100-byte files (node_modules-like: 100 files per
//     directory). Peak RSS (GNU `time -f %M` of the CLI process) and wall time of backup-all
//     (first, then second of unchanged state), backups verify, backups prune and restore; the
//     first backup vs `cp -a` + `sync` (goal ≤ 1.3×), the second vs the first (≤ 1.2× time,
//     ≤ 1.05× disk), verify vs `find -type f -print0 | xargs -0 sha256sum` (≤ 1.3×), peak RSS
//     ≤ 256 MiB. Median of 3 rounds up to 100,000 files, one round above. The default `npm run
//     bench` runs it at 20,000 files; `npm run bench -- scale --files 1000000` runs one size
//     (restore goes through the Node simulator's upload, slow per file: capped at 20,000 files unless
//     `--restore-files N`; stated in the output).
// `npm run bench -- backup` runs one suite.
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { REPO, SimHost } from "./sim-host.mjs";

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
};
const fmt = (ms) => `${(ms / 1000).toFixed(3)} s`;

/** A simulated host whose openshell CLI and gateway are both 0.0.44, the gateway running. */
function healthyHost(prefix) {
  const host = new SimHost(prefix).init("--cli-version", "0.0.44", "--gateway-version", "0.0.44");
  try {
    host.simctl("start-gateway");
  } catch (error) {
    host.dispose();
    throw error;
  }
  return host;
}

function timeRun(file, args, env) {
  const started = performance.now();
  const r = spawnSync(file, args, { env, stdio: "ignore" });
  if (r.status !== 0) throw new Error(`${args.join(" ")} exited ${r.status}`);
  return performance.now() - started;
}

function benchPreflight() {
  const DELAY_MS = 400;
  const RUNS = 5;
  const host = healthyHost("nemoclaw-bench-");
  try {
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

function peakRssKiB(file, args, env) {
  // GNU time reports the child's maximum resident set size.
  const r = spawnSync("/usr/bin/time", ["-f", "%M", file, ...args], { env, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${args.join(" ")} exited ${r.status}: ${r.stderr}`);
  return Number(r.stderr.trim().split("\n").pop());
}

/** Removes the cp baseline and the backups of the last round, and flushes the disk. */
function clearRound(copies, backupsRoot) {
  rmSync(copies, { recursive: true, force: true });
  rmSync(backupsRoot, { recursive: true, force: true });
  spawnSync("sync");
}

/** The baseline of the backup suites: a plain copy of `trees` made durable, timed (ms). */
function copyTrees(trees, copies) {
  mkdirSync(copies);
  const started = performance.now();
  trees.forEach((tree, i) => {
    const r = spawnSync("cp", ["-a", tree, path.join(copies, String(i))]);
    if (r.status !== 0) throw new Error("cp failed");
  });
  spawnSync("sync");
  return performance.now() - started;
}

/** One `backup-all --json` against `env`, timed; its JSON result is returned too. */
function timedBackupAll(env) {
  const started = performance.now();
  const r = spawnSync(process.execPath, [path.join(REPO, "bin/run.js"), "backup-all", "--json"], {
    env,
    encoding: "utf8",
    maxBuffer: 64 * 1024 * 1024,
  });
  if (r.status !== 0) throw new Error(`backup-all exited ${r.status}: ${r.stderr.slice(0, 500)}`);
  return { ms: performance.now() - started, result: JSON.parse(r.stdout).result };
}

async function benchBackup() {
  const SANDBOXES = 8;
  const host = healthyHost("nemoclaw-bench-backup-");
  try {
    // The benchmark's sandboxes, and the same number with 1 MiB instead of 64 MiB files: peak
    // memory of both shows whether it depends on the file sizes.
    const seed = (prefix, bigMiB) => {
      const registry = { sandboxes: {} };
      for (let i = 0; i < SANDBOXES; i++) {
        const name = `${prefix}-${i}`;
        host.simctl(
          "add-sandbox",
          name,
          "--phase",
          "Ready",
          "--agent",
          "openclaw",
          "--image",
          "ghcr.io/nvidia/nemoclaw/sandbox-openclaw:2026.7.1",
          "--seed",
          "--big-mib",
          String(bigMiB),
          "--small-files",
          "200",
        );
        registry.sandboxes[name] = { name, agent: "openclaw", agentVersion: "2026.7.1" };
      }
      return JSON.stringify(registry);
    };
    const smallRegistry = seed("small", 1);
    const benchRegistry = seed("bench", 64);
    const home = path.join(host.dir, "home");
    const registryFile = path.join(home, ".nemoclaw/sandboxes.json");
    mkdirSync(path.join(home, ".nemoclaw"), { recursive: true });
    writeFileSync(registryFile, benchRegistry);
    const trees = Array.from({ length: SANDBOXES }, (_, i) =>
      host.simctl("sandbox-path", `bench-${i}`, "/sandbox/.openclaw"),
    );

    const env = host.env;
    const backupsRoot = path.join(home, ".nemoclaw/rebuild-backups");
    const copies = path.join(host.dir, "cp-baseline");
    const fresh = () => clearRound(copies, backupsRoot);
    // Baseline: a plain copy of the same trees, made durable.
    const copyAll = () => {
      fresh();
      return copyTrees(trees, copies);
    };
    const backupAll = () => {
      fresh();
      return timedBackupAll(env).ms;
    };

    // First with the Node simulator as it is: every openshell call is a Node process.
    const nodeSimMs = backupAll();
    // Then as a native openshell behaves: answers in milliseconds, transfers at copy speed (the
    // `fastQueries`/`fastTransfer` knobs, test/sim/README.md). One preflight records the answers.
    host.simctl("set", "fastQueries=true", "fastTransfer=true");
    const preflight = host.nemoclaw(["gateway", "preflight"]).ms;
    host.nemoclaw(["gateway", "preflight"]);
    spawnSync(path.join(host.dir, "bin/openshell"), ["sandbox", "list", "-g", "nemoclaw"], {
      env,
      stdio: "ignore",
    });
    const preflightFast = host.nemoclaw(["gateway", "preflight"]).ms;

    // The machine is noisy (shared disk, 2 cores, CPU speed drifting over seconds): one warm-up
    // round is discarded, then each round runs both back to back, alternating which goes first,
    // and the goal is judged on the median of the per-round ratios.
    const ROUNDS = 7;
    const cpRuns = [];
    const backupRuns = [];
    copyAll();
    backupAll();
    for (let round = 0; round < ROUNDS; round++) {
      if (round % 2 === 0) {
        cpRuns.push(copyAll());
        backupRuns.push(backupAll());
      } else {
        backupRuns.push(backupAll());
        cpRuns.push(copyAll());
      }
    }
    // Incremental storage on the same state: the second backup-all of unchanged state costs
    // (almost) no disk — its files are hard links to the first's (du counts each inode once).
    fresh();
    timedBackupAll(env);
    const firstKiB = duKiB(backupsRoot);
    timedBackupAll(env);
    const diskRatio = duKiB(backupsRoot) / firstKiB;
    fresh();
    const cpMs = median(cpRuns);
    const backupMs = median(backupRuns);
    const ratios = backupRuns.map((ms, i) => ms / cpRuns[i]);
    const ratio = median(ratios);
    const rssKiB = peakRssKiB(process.execPath, [path.join(REPO, "bin/run.js"), "backup-all", "--json"], env);
    writeFileSync(registryFile, smallRegistry);
    const smallRssKiB = peakRssKiB(
      process.execPath,
      [path.join(REPO, "bin/run.js"), "backup-all", "--json"],
      env,
    );
    writeFileSync(registryFile, benchRegistry);
    const list = (runs) => runs.map((ms) => (ms / 1000).toFixed(2)).join(" ");
    console.log(
      `backup-all of ${SANDBOXES} sandboxes × (64 MiB + 200 small files), hashed and fsynced (${ROUNDS} rounds, each side by side)`,
    );
    console.log(`  cp -a + sync:                         median ${fmt(cpMs)}  (${list(cpRuns)})`);
    console.log(`  nemoclaw backup-all:                  median ${fmt(backupMs)}  (${list(backupRuns)})`);
    console.log(`    per-round ratios: ${ratios.map((r) => r.toFixed(2)).join(" ")}`);
    console.log(
      `    ratio ${ratio.toFixed(2)}× cp, median of the rounds (goal ≤ 1.5×)  ${ratio <= 1.5 ? "OK" : "MISSED"}`,
    );
    console.log(
      `    simulator at native speed: recorded answers (preflight ${fmt(preflightFast)}, was ${fmt(preflight)}) and cp -a transfers`,
    );
    console.log(
      `  with every openshell call a Node process (informational): ${fmt(nodeSimMs)} (${(nodeSimMs / cpMs).toFixed(2)}× cp)`,
    );
    console.log(
      `  peak RSS of nemoclaw:                 ${(rssKiB / 1024).toFixed(0)} MiB with 64 MiB files, ${(smallRssKiB / 1024).toFixed(0)} MiB with 1 MiB files (flat: no whole-file buffering)`,
    );
    console.log(
      `  disk after a second backup-all of unchanged state: ${diskRatio.toFixed(3)}× the first (goal ≤ 1.05×)  ${diskRatio <= 1.05 ? "OK" : "MISSED"}`,
    );
    return ratio <= 1.5 && diskRatio <= 1.05;
  } finally {
    host.dispose();
  }
}

function benchCheck() {
  const host = healthyHost("nemoclaw-bench-check-");
  try {
    const home = path.join(host.dir, "home");
    mkdirSync(path.join(home, ".nemoclaw"), { recursive: true });
    const lines = [];
    let registered = 0;
    for (const count of [50, 100, 200]) {
      const registry = { sandboxes: {} };
      for (let i = 0; i < count; i++) {
        const name = `check-${i}`;
        if (i >= registered) {
          host.simctl(
            "add-sandbox",
            name,
            "--phase",
            "Ready",
            "--image",
            "ghcr.io/nvidia/nemoclaw/sandbox-openclaw:2026.7.1",
          );
        }
        registry.sandboxes[name] = {
          name,
          agent: "openclaw",
          agentVersion: "2026.7.1",
          nemoclawVersion: "0.1.0",
        };
      }
      registered = count;
      // Answer version probes at native speed, as a compiled openshell would (see test/sim).
      host.simctl("set", "fastExec=true");
      writeFileSync(path.join(home, ".nemoclaw/sandboxes.json"), JSON.stringify(registry));
      const r = host.nemoclaw(["upgrade-sandboxes", "--check", "--json"]);
      if (r.status !== 0) throw new Error(`--check exited ${r.status}: ${r.stderr.slice(0, 500)}`);
      lines.push([count, r.ms]);
    }
    console.log("upgrade-sandboxes --check over N registered Ready sandboxes (one live version probe each)");
    for (const [count, ms] of lines)
      console.log(
        `  ${String(count).padStart(3)} sandboxes:          ${fmt(ms)}  (${(ms / count).toFixed(1)} ms per sandbox)`,
      );
    const last = lines[lines.length - 1][1];
    console.log(`  goal for 200: < 5 s  ${last < 5000 ? "OK" : "MISSED"}`);
    // status over the same 200 sandboxes: the preflight, one sandbox list and the same version
    // probes, plus the journals and the backups; judged on the median per-round ratio, the two
    // commands alternating so machine noise hits both alike.
    const ratios = [];
    for (let round = 0; round < 5; round++) {
      const pair = round % 2 === 0 ? ["check", "status"] : ["status", "check"];
      const ms = {};
      for (const which of pair) {
        const args = which === "check" ? ["upgrade-sandboxes", "--check", "--json"] : ["status", "--json"];
        const r = host.nemoclaw(args);
        // status exits 1 here: none of the 200 sandboxes was ever backed up.
        if (r.status !== (which === "check" ? 0 : 1))
          throw new Error(`${which} exited ${r.status}: ${r.stderr.slice(0, 500)}`);
        ms[which] = r.ms;
      }
      ratios.push(ms.status / ms.check);
    }
    const statusRatio = median(ratios);
    const statusOk = statusRatio <= 1.2;
    console.log(
      `  status vs --check, 200 sandboxes: ratio ${statusRatio.toFixed(2)}× (median of ${ratios.length} rounds; goal ≤ 1.2×)  ${statusOk ? "OK" : "MISSED"}`,
    );
    return last < 5000 && statusOk;
  } finally {
    host.dispose();
  }
}

/**
 * Rendering cost: backup-all over a 15,000-entry registry the gateway does not list (every
 * sandbox is skipped at once, so the run is all bookkeeping and output), human output vs
 * `--json`. Human output must stay linear in rows: goal ≤ 2× the JSON run.
 */
function benchRows() {
  const ENTRIES = 15_000;
  const RUNS = 3;
  const host = healthyHost("nemoclaw-bench-rows-");
  try {
    const home = path.join(host.dir, "home");
    mkdirSync(path.join(home, ".nemoclaw"), { recursive: true });
    const registry = { sandboxes: {} };
    for (let i = 0; i < ENTRIES; i++) {
      const name = `row-${i}`;
      registry.sandboxes[name] = {
        name,
        agent: "openclaw",
        agentVersion: "2026.7.1",
        nemoclawVersion: "0.1.0",
      };
    }
    writeFileSync(path.join(home, ".nemoclaw/sandboxes.json"), JSON.stringify(registry));
    host.simctl("set", "fastQueries=true");
    // Output goes to /dev/null: the cost measured is producing it, not a pipe reader's.
    const run = (args) =>
      timeRun(process.execPath, [path.join(REPO, "bin/run.js"), "backup-all", ...args], host.env);
    run(["--json"]); // record the simulator's answers, warm the file cache
    const json = [];
    const human = [];
    for (let i = 0; i < RUNS; i++) {
      json.push(run(["--json"]));
      human.push(run([]));
    }
    const jsonMs = median(json);
    const humanMs = median(human);
    const ratio = humanMs / jsonMs;
    console.log(`backup-all over a ${ENTRIES}-entry registry, every sandbox skipped (median of ${RUNS})`);
    console.log(`  --json:                   ${fmt(jsonMs)}`);
    console.log(`  human output:             ${fmt(humanMs)}`);
    console.log(
      `  ratio ${ratio.toFixed(2)}× (goal ≤ 2×; quadratic rendering was 12.9×)  ${ratio <= 2 ? "OK" : "MISSED"}`,
    );
    return ratio <= 2;
  } finally {
    host.dispose();
  }
}

/** KiB `du -sk` reports for a directory (hard links counted once). */
function duKiB(dir) {
  const r = spawnSync("du", ["-sk", dir], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`du failed: ${r.stderr}`);
  return Number(r.stdout.split("\t")[0]);
}

/**
 * Incremental backups on small-file-heavy state: 4 sandboxes × 20,000 files of 1 KiB, 20 × 20
 * nested directories. Each round: `cp -a` + `sync`, a first backup-all into an empty backup root,
 * then a second one of the unchanged state (whose files become hard links to the first's).
 */
async function benchIncremental() {
  const SANDBOXES = 4;
  const FILES = 20_000;
  const ROUNDS = Number(process.env.NEMOCLAW_BENCH_ROUNDS ?? 3);
  const host = healthyHost("nemoclaw-bench-incr-");
  try {
    const registry = { sandboxes: {} };
    const trees = [];
    for (let i = 0; i < SANDBOXES; i++) {
      const name = `incr-${i}`;
      host.simctl(
        "add-sandbox",
        name,
        "--phase",
        "Ready",
        "--agent",
        "openclaw",
        "--image",
        "ghcr.io/nvidia/nemoclaw/sandbox-openclaw:2026.7.1",
        "--seed",
      );
      registry.sandboxes[name] = { name, agent: "openclaw", agentVersion: "2026.7.1" };
      const tree = host.simctl("sandbox-path", name, "/sandbox/.openclaw");
      for (let f = 0; f < FILES; f++) {
        const dir = path.join(tree, "notes", String(f % 20), String(Math.floor(f / 20) % 20));
        if (f < 400) mkdirSync(dir, { recursive: true });
        writeFileSync(path.join(dir, `note-${f}.md`), randomBytes(768).toString("base64"));
      }
      trees.push(tree);
    }
    const home = path.join(host.dir, "home");
    mkdirSync(path.join(home, ".nemoclaw"), { recursive: true });
    writeFileSync(path.join(home, ".nemoclaw/sandboxes.json"), JSON.stringify(registry));
    const env = host.env;
    host.simctl("set", "fastQueries=true", "fastTransfer=true");
    host.nemoclaw(["gateway", "preflight"]);
    host.nemoclaw(["gateway", "preflight"]);
    spawnSync(path.join(host.dir, "bin/openshell"), ["sandbox", "list", "-g", "nemoclaw"], {
      env,
      stdio: "ignore",
    });

    const backupsRoot = path.join(home, ".nemoclaw/rebuild-backups");
    const copies = path.join(host.dir, "cp-baseline");
    const fresh = () => clearRound(copies, backupsRoot);
    const copyAll = () => {
      fresh();
      return copyTrees(trees, copies);
    };
    const backupAll = () => {
      const { ms, result } = timedBackupAll(env);
      const linked = result.sandboxes.reduce((n, s) => n + (s.linkedFiles ?? 0), 0);
      return { ms, linked };
    };
    const round = (cpFirst) => {
      let cp = 0;
      if (cpFirst) cp = copyAll();
      fresh();
      const first = backupAll();
      const firstKiB = duKiB(backupsRoot);
      const second = backupAll();
      const bothKiB = duKiB(backupsRoot);
      if (!cpFirst) cp = copyAll();
      return { cp, first, second, ratio: bothKiB / firstKiB, firstKiB, bothKiB };
    };
    // No warm-up round: one round takes minutes at this file count (measured, see README).
    const rounds = [];
    for (let i = 0; i < ROUNDS; i++) {
      const r = round(i % 2 === 0);
      rounds.push(r);
      console.log(
        `  round ${i + 1}: cp ${fmt(r.cp)}, first ${fmt(r.first.ms)}, second ${fmt(r.second.ms)} (${r.second.linked} linked), disk ${r.firstKiB} → ${r.bothKiB} KiB`,
      );
    }
    fresh();
    const list = (xs) => xs.map((x) => x.toFixed(2)).join(" ");
    const firstRatio = median(rounds.map((r) => r.first.ms / r.cp));
    const secondRatio = median(rounds.map((r) => r.second.ms / r.cp));
    const diskRatio = median(rounds.map((r) => r.ratio));
    const last = rounds[rounds.length - 1];
    console.log(
      `Incremental backup-all of ${SANDBOXES} sandboxes × ${FILES} files of 1 KiB in nested directories (${ROUNDS} rounds, each side by side)`,
    );
    console.log(
      `  cp -a + sync:                         median ${fmt(median(rounds.map((r) => r.cp)))}  (${list(rounds.map((r) => r.cp / 1000))})`,
    );
    console.log(
      `  first backup-all (empty root):        median ${fmt(median(rounds.map((r) => r.first.ms)))}  (${list(rounds.map((r) => r.first.ms / 1000))})`,
    );
    console.log(
      `  second backup-all (unchanged state):  median ${fmt(median(rounds.map((r) => r.second.ms)))}  (${list(rounds.map((r) => r.second.ms / 1000))}), ${last.second.linked} files linked`,
    );
    console.log(
      `    first  ${firstRatio.toFixed(2)}× cp (goal ≤ 1.3×, SPEC §19)  ${firstRatio <= 1.3 ? "OK" : "MISSED"}`,
    );
    console.log(
      `    second ${secondRatio.toFixed(2)}× cp (goal ≤ 1.3×, SPEC §19)  ${secondRatio <= 1.3 ? "OK" : "MISSED"}`,
    );
    console.log(
      `  disk (du -sk): first ${last.firstKiB} KiB, both ${last.bothKiB} KiB: ratio ${diskRatio.toFixed(3)}× (goal ≤ 1.05×)  ${diskRatio <= 1.05 ? "OK" : "MISSED"}`,
    );
    return firstRatio <= 1.3 && secondRatio <= 1.3 && diskRatio <= 1.05;
  } finally {
    host.dispose();
  }
}

/** `/usr/bin/time -f %M` around one CLI run: wall ms, peak RSS KiB of the CLI process, stdout. */
function measuredCli(args, env, allowed = [0]) {
  const started = performance.now();
  const r = spawnSync(
    "/usr/bin/time",
    ["-f", "%M", process.execPath, path.join(REPO, "bin/run.js"), ...args],
    {
      env,
      encoding: "utf8",
      maxBuffer: 512 * 1024 * 1024,
    },
  );
  const ms = performance.now() - started;
  if (!allowed.includes(r.status))
    throw new Error(`${args.join(" ")} exited ${r.status}: ${r.stderr.slice(-800)}`);
  const rssKiB = Number(r.stderr.trim().split("\n").pop());
  return { ms, rssKiB, stdout: r.stdout };
}

function timed(file, args, options = {}) {
  const started = performance.now();
  const r = spawnSync(file, args, { stdio: "ignore", ...options });
  if (r.status !== 0) throw new Error(`${file} ${args.join(" ")} exited ${r.status}`);
  return performance.now() - started;
}

/** N files of 100 bytes, 100 per directory, under `<tree>/node_modules` (written once). */
function writeSmallFiles(tree, n) {
  const body = randomBytes(50).toString("hex");
  for (let i = 0; i < n; i++) {
    const dir = path.join(tree, "node_modules", `pkg-${Math.floor(i / 100)}`);
    if (i % 100 === 0) mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, `file-${i % 100}.js`), `${body.slice(0, 88)}${String(i).padStart(12, "0")}`);
  }
}

function argValue(name, fallback) {
  const i = process.argv.indexOf(name);
  return i === -1 ? fallback : Number(process.argv[i + 1]);
}

/** SPEC §19: memory bounded independent of the file count, small files at disk speed. */
async function benchScale() {
  const FILES = argValue("--files", only === "scale" ? 100_000 : 20_000);
  const RESTORE_FILES = Math.min(FILES, argValue("--restore-files", 20_000));
  const ROUNDS = argValue("--rounds", FILES <= 100_000 ? 3 : 1);
  const MiB = 1024;
  const host = healthyHost("nemoclaw-bench-scale-");
  try {
    const addSandbox = (name, files) => {
      host.simctl(
        "add-sandbox",
        name,
        "--phase",
        "Ready",
        "--agent",
        "openclaw",
        "--image",
        "ghcr.io/nvidia/nemoclaw/sandbox-openclaw:2026.7.1",
        "--seed",
        "--small-files",
        "0",
      );
      const tree = host.simctl("sandbox-path", name, "/sandbox/.openclaw");
      writeSmallFiles(tree, files);
      return tree;
    };
    const genStart = performance.now();
    const tree = addSandbox("scale", FILES);
    const home = path.join(host.dir, "home");
    mkdirSync(path.join(home, ".nemoclaw"), { recursive: true });
    const registryFile = path.join(home, ".nemoclaw/sandboxes.json");
    const register = (name) =>
      writeFileSync(
        registryFile,
        JSON.stringify({ sandboxes: { [name]: { name, agent: "openclaw", agentVersion: "2026.7.1" } } }),
      );
    register("scale");
    const env = host.env;
    host.simctl("set", "fastQueries=true", "fastTransfer=true");
    host.nemoclaw(["gateway", "preflight"]);
    host.nemoclaw(["gateway", "preflight"]);
    spawnSync(path.join(host.dir, "bin/openshell"), ["sandbox", "list", "-g", "nemoclaw"], {
      env,
      stdio: "ignore",
    });
    const stateFiles = Number(
      spawnSync("sh", ["-c", 'find "$1" -type f | wc -l', "sh", tree], { encoding: "utf8" }).stdout.trim(),
    );
    console.log(
      `Scale (SPEC §19): one sandbox, ${FILES} files × 100 bytes (${stateFiles} files in its state dir), generated in ${fmt(performance.now() - genStart)}; ${ROUNDS === 1 ? "one run" : `median of ${ROUNDS} rounds`}`,
    );
    const backupsRoot = path.join(home, ".nemoclaw/rebuild-backups");
    const copies = path.join(host.dir, "cp-baseline");
    const fresh = () => clearRound(copies, backupsRoot);
    const rounds = [];
    // The disk is shared and noisy (other jobs; ext4 `discard` makes the deletes of one step slow
    // down the next): each round runs the copy and the backups back to back, alternating which
    // goes first, and the goals are judged on the median of the per-round ratios.
    const copyOnce = () => {
      const ms = copyTrees([tree], copies);
      rmSync(copies, { recursive: true, force: true });
      spawnSync("sync");
      return ms;
    };
    for (let i = 0; i < ROUNDS; i++) {
      fresh();
      let cp = i % 2 === 0 ? copyOnce() : 0;
      const first = measuredCli(["backup-all", "--json"], env);
      const firstKiB = duKiB(backupsRoot);
      const second = measuredCli(["backup-all", "--json"], env);
      const linked = JSON.parse(second.stdout).result.sandboxes[0]?.linkedFiles ?? 0;
      const bothKiB = duKiB(backupsRoot);
      const [newest] = readdirSync(path.join(backupsRoot, "scale"))
        .filter((n) => !n.startsWith("."))
        .sort()
        .reverse();
      const backupDir = path.join(backupsRoot, "scale", newest);
      // verify and sha256sum over the same files, alternating which goes first (same cache state).
      const sha = () =>
        timed("sh", ["-c", 'find "$1" -type f -print0 | xargs -0 sha256sum >/dev/null', "sh", backupDir]);
      let shaMs;
      let verify;
      if (i % 2 === 0) {
        shaMs = sha();
        verify = measuredCli(["backups", "verify", "scale", "--backup", newest, "--json"], env);
      } else {
        verify = measuredCli(["backups", "verify", "scale", "--backup", newest, "--json"], env);
        shaMs = sha();
      }
      const prune = measuredCli(["backups", "prune", "scale", "--keep", "1", "--json"], env);
      if (i % 2 === 1) {
        rmSync(backupsRoot, { recursive: true, force: true });
        spawnSync("sync");
        cp = copyOnce();
      }
      const r = { cp, first, second, linked, firstKiB, bothKiB, shaMs, verify, prune };
      rounds.push(r);
      console.log(
        `  round ${i + 1}: cp -a + sync ${fmt(cp)}, first ${fmt(first.ms)} (${(first.rssKiB / MiB).toFixed(0)} MiB), second ${fmt(second.ms)} (${(second.rssKiB / MiB).toFixed(0)} MiB, ${linked} linked), disk ${firstKiB} → ${bothKiB} KiB, verify ${fmt(verify.ms)} (${(verify.rssKiB / MiB).toFixed(0)} MiB) vs sha256sum ${fmt(shaMs)}, prune ${fmt(prune.ms)} (${(prune.rssKiB / MiB).toFixed(0)} MiB)`,
      );
    }
    fresh();
    // Restore: a smaller tree when the state is larger than RESTORE_FILES (stated).
    let restoreName = "scale";
    if (RESTORE_FILES < FILES) {
      restoreName = "scale-restore";
      addSandbox(restoreName, RESTORE_FILES);
      register(restoreName);
      host.simctl("set", "fastQueries=true", "fastTransfer=true");
    }
    measuredCli(["backup-all", "--json"], env);
    const restore = measuredCli(["restore", restoreName, "--yes", "--json"], env);
    fresh();
    const med = (f) => median(rounds.map(f));
    const firstRatio = med((r) => r.first.ms / r.cp);
    const ratios = (f) => rounds.map((r) => f(r).toFixed(2)).join(" ");
    const secondRatio = med((r) => r.second.ms / r.first.ms);
    const diskRatio = med((r) => r.bothKiB / r.firstKiB);
    const verifyRatio = med((r) => r.verify.ms / r.shaMs);
    const maxRss = (f) => Math.max(...rounds.map(f)) / MiB;
    const rss = {
      "backup-all (first)": maxRss((r) => r.first.rssKiB),
      "backup-all (second)": maxRss((r) => r.second.rssKiB),
      "backups verify": maxRss((r) => r.verify.rssKiB),
      "backups prune": maxRss((r) => r.prune.rssKiB),
      [`restore (${RESTORE_FILES} files${RESTORE_FILES < FILES ? ", stated" : ""})`]: restore.rssKiB / MiB,
    };
    const ok = (b) => (b ? "OK" : "MISSED");
    const list = (f) => rounds.map((r) => (f(r) / 1000).toFixed(2)).join(" ");
    console.log(`  cp -a + sync:                  median ${fmt(med((r) => r.cp))}  (${list((r) => r.cp)})`);
    console.log(
      `  first backup-all:              median ${fmt(med((r) => r.first.ms))}  (${list((r) => r.first.ms)})`,
    );
    console.log(
      `  second backup-all (unchanged): median ${fmt(med((r) => r.second.ms))}  (${list((r) => r.second.ms)})`,
    );
    console.log(
      `  backups verify:                median ${fmt(med((r) => r.verify.ms))}  (${list((r) => r.verify.ms)})`,
    );
    console.log(
      `  find | xargs sha256sum:        median ${fmt(med((r) => r.shaMs))}  (${list((r) => r.shaMs)})`,
    );
    console.log(`  backups prune --keep 1:        median ${fmt(med((r) => r.prune.ms))}`);
    console.log(
      `  restore --yes (${RESTORE_FILES} files):    ${fmt(restore.ms)} (safety backup, re-hash, upload through the Node simulator, re-download and compare)`,
    );
    console.log(
      `    first backup ${firstRatio.toFixed(2)}× cp -a + sync, median of per-round ratios ${ratios((r) => r.first.ms / r.cp)} (goal ≤ 1.3×)  ${ok(firstRatio <= 1.3)}`,
    );
    console.log(
      `    second backup ${secondRatio.toFixed(2)}× the first's time, per round ${ratios((r) => r.second.ms / r.first.ms)} (goal ≤ 1.2×)  ${ok(secondRatio <= 1.2)}`,
    );
    console.log(
      `    disk after the second: ${diskRatio.toFixed(3)}× the first (goal ≤ 1.05×)  ${ok(diskRatio <= 1.05)}`,
    );
    console.log(
      `    verify ${verifyRatio.toFixed(2)}× sha256sum, per round ${ratios((r) => r.verify.ms / r.shaMs)} (goal ≤ 1.3×)  ${ok(verifyRatio <= 1.3)}`,
    );
    let rssOk = true;
    for (const [what, mib] of Object.entries(rss)) {
      rssOk &&= mib <= 256;
      console.log(`    peak RSS ${what}: ${mib.toFixed(0)} MiB (goal ≤ 256 MiB)  ${ok(mib <= 256)}`);
    }
    return firstRatio <= 1.3 && secondRatio <= 1.2 && diskRatio <= 1.05 && verifyRatio <= 1.3 && rssOk;
  } finally {
    host.dispose();
  }
}

const only = process.argv[2];
const suites = {
  preflight: benchPreflight,
  startup: benchStartup,
  backup: benchBackup,
  check: benchCheck,
  rows: benchRows,
  incremental: benchIncremental,
  scale: benchScale,
};
const results = [];
for (const [name, run] of Object.entries(suites)) {
  if (!only || name === only) results.push(await run());
}
console.log(results.every(Boolean) ? "All goals met." : "Some goals missed.");
