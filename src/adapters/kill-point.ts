import fs from "node:fs";
import os from "node:os";
import { parseProcStat } from "./process-identity.js";

/**
 * The crash matrix's test seam (docs/design.md, "Crash matrix"): every OpenShell call and every
 * durable write calls `killPoint(kind, detail)` while its step runs. Inert unless one of two
 * variables is set when the CLI starts (read once, here):
 *
 * - `NEMOCLAW_TEST_KILL_POINTS=<file>`: append `<ordinal>\t<label>#<n>\n` for each point reached
 *   (n counts the points with that label), so the matrix enumerates the points from the code;
 * - `NEMOCLAW_TEST_KILL_AT=<ordinal>` or `<label>#<n>`: at that point SIGKILL the process group
 *   this process leads (only itself when it leads none), as the OOM killer or a CI timeout would.
 *
 * Labels hold no run-specific text: the home directory becomes `~`, backup timestamps `<ts>`,
 * temp names `<tmp>`, so two runs of the same workflow reach the same labels.
 */
export interface KillPointConfig {
  pointsFile: string | null;
  /** An ordinal (1-based) or a `label#n`. */
  killAt: number | string | null;
}

export function killPointConfig(env: NodeJS.ProcessEnv): KillPointConfig | null {
  const pointsFile = env.NEMOCLAW_TEST_KILL_POINTS || null;
  const at = env.NEMOCLAW_TEST_KILL_AT || null;
  if (pointsFile === null && at === null) return null;
  return { pointsFile, killAt: at !== null && /^\d+$/.test(at) ? Number(at) : at };
}

const TIMESTAMP = /\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d(?:-\d{3})?Z/g;

/** A path or argument with the run-specific parts replaced (home, timestamps, temp names). */
export function normaliseLabel(text: string, home: string = os.homedir()): string {
  let out = home && home !== "/" ? text.split(home).join("~") : text;
  out = out.replace(TIMESTAMP, "<ts>");
  // Temp siblings (`.<name>.<pid>.<hex>.tmp`) and mkdtemp suffixes of scratch directories.
  out = out.replace(/\.\d+\.[0-9a-f]{8,}\.tmp\b/g, ".<tmp>");
  out = out.replace(/(restore-verify|scratch)\/([a-z0-9-]+)-[A-Za-z0-9]{6}\b/g, "$1/$2-<tmp>");
  return out;
}

export class KillPoints {
  private ordinal = 0;
  private readonly perLabel = new Map<string, number>();

  constructor(
    private readonly config: KillPointConfig,
    private readonly die: () => void = killOwnGroup,
    private readonly home: string = os.homedir(),
  ) {}

  reach(kind: string, detail: string): void {
    const label = normaliseLabel(detail ? `${kind} ${detail}` : kind, this.home).replace(/[\t\n]/g, " ");
    this.ordinal++;
    const n = (this.perLabel.get(label) ?? 0) + 1;
    this.perLabel.set(label, n);
    if (this.config.pointsFile) fs.appendFileSync(this.config.pointsFile, `${this.ordinal}\t${label}#${n}\n`);
    const at = this.config.killAt;
    if (at !== null && (at === this.ordinal || at === `${label}#${n}`)) this.die();
  }
}

/** SIGKILL the group we lead (never a group we merely belong to, such as a test runner's). */
export function killOwnGroup(): void {
  let leader = false;
  try {
    leader = parseProcStat(fs.readFileSync("/proc/self/stat", "latin1"))?.pgrp === process.pid;
  } catch {
    leader = false;
  }
  process.kill(leader ? -process.pid : process.pid, "SIGKILL");
  // SIGKILL to ourselves is delivered on the way back from the kernel; never run another step.
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10_000);
}

const config = killPointConfig(process.env);
const points = config ? new KillPoints(config) : null;

/**
 * A step that may be cut here: an OpenShell child that has started, a temp file written and not
 * yet renamed, a directory about to be renamed or removed. No-op unless the seam is on.
 */
export function killPoint(kind: string, detail = ""): void {
  if (points !== null) points.reach(kind, detail);
}
