// A tiny program for test/unit/kill-point.test.ts, bundled with esbuild and run as a real process:
// a grandchild in its own process group (it must die with us when we lead the group), two atomic
// writes, and one OpenShell-like call through the real process runner.
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { writeFileAtomic } from "../../../src/adapters/atomic-file.js";
import { ExecaProcessRunner } from "../../../src/adapters/process-runner.js";

const dir = process.argv[2] as string;
const stepSeconds = process.argv[3] ?? "0.1";
const sleeper = spawn("sleep", ["30"], { stdio: "ignore" });
fs.writeFileSync(path.join(dir, "sleeper.pid"), String(sleeper.pid));
writeFileAtomic(path.join(dir, "a.txt"), "one\n");
writeFileAtomic(path.join(dir, "b.txt"), "two\n");
await new ExecaProcessRunner().run("sleep", [stepSeconds], {
  timeoutMs: 10_000,
  env: { PATH: process.env.PATH },
  onSpawn: (pid) => fs.writeFileSync(path.join(dir, "step.pid"), String(pid)),
});
fs.writeFileSync(path.join(dir, "finished"), "");
sleeper.kill();
