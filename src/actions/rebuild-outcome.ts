import type { SafetyBackupLine } from "./operation-driver.js";

/**
 * What `upgrade-sandboxes` reports for one sandbox. Its own module so the stage that rebuilds a
 * Stopped sandbox (stopped-rebuild.ts) and the workflow that runs it (upgrade-sandboxes.ts) share
 * it without importing each other.
 */
export type RebuildStatus = "rebuilt" | "restored" | "failed" | "skipped" | "current" | "declined";

export interface RebuildOutcome {
  name: string;
  status: RebuildStatus;
  reason: string;
  from: string | null;
  to: string | null;
  backup?: { timestamp: string; path: string };
  /** For a failure after the delete: the command that brings the sandbox back. */
  recoveryCommand?: string;
  /** Beside it: the command that finishes the journaled operation. */
  finishCommand?: string;
  /** Set when this run finished an operation a killed run had left (from its journal). */
  resumed?: boolean;
  /** A create/start/stop of this sandbox was cut or failed: it may have changed (docs/design.md). */
  code?: "lifecycle_outcome_unknown";
  attempts?: number;
  /**
   * Safety backups of live state the operation holds (a resumed run that found the state changed
   * since its upload saved it first), each with the command that brings it back.
   */
  safetyBackups?: SafetyBackupLine[];
  durationMs: number;
}
