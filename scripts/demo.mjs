#!/usr/bin/env node
// The operator story on a simulated OpenShell host, printing each command before it runs.
// Exits 0 only if every step behaved as expected; always stops its processes and removes its
// temp directory.
import path from "node:path";
import { SimHost } from "./sim-host.mjs";

const host = new SimHost("nemoclaw-demo-");
let failures = 0;

function say(text) {
  process.stdout.write(`\n${text}\n`);
}

function step(args, expected) {
  process.stdout.write(`\n$ nemoclaw ${args.join(" ")}\n`);
  const r = host.nemoclaw(args, { NO_COLOR: process.env.NO_COLOR ?? "" });
  process.stdout.write(r.stdout);
  process.stdout.write(r.stderr);
  const ok = r.status === expected;
  process.stdout.write(`[exit ${r.status}${ok ? "" : ` — expected ${expected}`}]\n`);
  if (!ok) failures += 1;
  return r;
}

function cleanup() {
  try {
    host.dispose();
  } catch (error) {
    console.error(`cleanup: ${error.message}`);
  }
}
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => {
    cleanup();
    process.exit(signal === "SIGINT" ? 130 : 143);
  });
}

try {
  host.init("--cli-version", "0.0.44", "--gateway-version", "0.0.44");
  const oldBin = path.join(host.dir, "opt/openshell-0.0.43/openshell-gateway");
  host.simctl("install-gateway-bin", oldBin, "--version", "0.0.43");
  host.simctl("start-gateway", "--bin", oldBin);
  say(
    `Simulated host in ${host.dir}: openshell 0.0.44 installed, but the gateway started before the upgrade (0.0.43) is still running.`,
  );

  step(["gateway", "preflight"], 3);

  say("# Repair: restart the gateway with the installed OpenShell and wait until it is really healthy.");
  step(["onboard", "--resume"], 0);

  step(["gateway", "preflight"], 0);
} catch (error) {
  console.error(`demo failed: ${error.message}`);
  failures += 1;
} finally {
  cleanup();
}

say(
  failures === 0
    ? "Demo finished: every step behaved as expected."
    : `Demo finished with ${failures} unexpected result(s).`,
);
process.exit(failures === 0 ? 0 : 1);
