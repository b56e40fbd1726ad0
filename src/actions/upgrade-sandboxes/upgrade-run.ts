import type { AgentCatalog } from "../../adapters/agent-catalog.js";
import type { Context } from "../../context.js";
import type { Classification } from "../../domain/upgrade-classification.js";
import type { BatchRun } from "../batch-run.js";
import type { PreflightReport } from "../preflight.js";
import type { RebuildOutcome } from "../rebuild-outcome.js";
import type { UploadProgress } from "../upload-progress.js";
import type { UpgradePolicy } from "./classify.js";

export type UpgradeEvent =
  | { type: "planned"; names: string[] }
  /** The stale sandboxes about to be rebuilt (each asked first on a terminal), once classified. */
  | { type: "plan"; rebuild: Classification[] }
  | { type: "step"; name: string; step: string }
  | { type: "upload"; name: string; progress: UploadProgress }
  | { type: "finished"; outcome: RebuildOutcome };

export interface UpgradeOptions extends UpgradePolicy {
  concurrency: number;
  /** Limit the run to these sandboxes (empty: all). */
  names?: string[];
  /** Per-sandbox confirmation (TTY without --yes); absent means yes. */
  confirm?: (c: Classification) => Promise<boolean>;
  onEvent?: (event: UpgradeEvent) => void;
  onWarnings?: (warnings: string[]) => void;
}

export interface UpgradeResult {
  gatewayName: string;
  sandboxes: RebuildOutcome[];
  summary: { rebuilt: number; restored: number; failed: number; skipped: number; current: number };
  interrupted: "SIGINT" | "SIGTERM" | null;
}

export type UpgradeRun = BatchRun<UpgradeResult>;

/** What every stage of one `upgrade-sandboxes` run (without --check) shares. */
export interface RunState {
  ctx: Context;
  report: PreflightReport;
  options: UpgradeOptions;
  catalog: AgentCatalog;
  clock: () => number;
}
