// Running the simulator's executables and simctl from the simulator self-tests.
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

export const SIMCTL = fileURLToPath(new URL("../../sim/simctl.mjs", import.meta.url));

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run a process to completion (async, so independent invocations can overlap on 2 cores). */
export function exec(file: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      stdout += chunk;
    });
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
      stderr += chunk;
    });
    child.once("error", reject);
    child.once("close", (code) => resolve({ code, stdout, stderr }));
  });
}

export function simctl(...args: string[]): Promise<Run> {
  return exec(process.execPath, [SIMCTL, ...args]);
}

export async function simctlOk(...args: string[]): Promise<string> {
  const r = await simctl(...args);
  if (r.code !== 0) throw new Error(`simctl ${args.join(" ")} failed (${r.code}): ${r.stderr}`);
  return r.stdout.trim();
}
