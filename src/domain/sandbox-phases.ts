import { isAtLeast } from "./versions.js";

/**
 * Sandbox phases and what OpenShell can do about them (docs/design.md). Only `Ready` counts as running.
 * `Stopping`, `Stopped` and `Starting` exist from OpenShell 0.0.105, which added `sandbox stop` and
 * `sandbox start`; older CLIs reject those subcommands as a usage error (exit 2).
 */
export const STOP_START_SINCE = "0.0.105";

/** `sandbox create --detach` exists from this OpenShell; older CLIs reject it (clap, exit 2). */
export const CREATE_DETACH_SINCE = "0.0.111";

/**
 * Every phase a supported OpenShell prints (§4 and, from 0.0.105, §14). Anything else — above all
 * `Unspecified`, which a 0.0.52 CLI shows for every sandbox of a ≥ 0.0.53 gateway, exit 0 — means
 * the CLI misread the gateway's answer: a schema mismatch, never an ordinary phase.
 */
export const KNOWN_PHASES: ReadonlySet<string> = new Set([
  "Provisioning",
  "Ready",
  "Error",
  "Deleting",
  "Unknown",
  "Stopping",
  "Stopped",
  "Starting",
]);

export function isKnownPhase(phase: string): boolean {
  return KNOWN_PHASES.has(phase);
}

/** Phases that change by themselves: wait them out (bounded) before deciding anything. */
const TRANSIENT_PHASES = new Set(["Stopping", "Starting", "Provisioning"]);

export function isTransientPhase(phase: string): boolean {
  return TRANSIENT_PHASES.has(phase);
}

/** Can this installed `openshell` start and stop sandboxes? Decided by its `--version`. */
export function canStartStop(installedVersion: string | null): boolean {
  return installedVersion !== null && isAtLeast(installedVersion, STOP_START_SINCE);
}

/** The skip reason for a Stopped sandbox on an OpenShell without `sandbox start`. */
export function cannotStartReason(installedVersion: string | null): string {
  return `stopped; this OpenShell (${installedVersion ?? "unknown version"}) cannot start it`;
}

/** The exact command an operator runs when nemoclaw could not stop a sandbox again. */
export function stopCommand(gatewayName: string, sandbox: string): string {
  return `openshell -g ${gatewayName} sandbox stop ${sandbox}`;
}
