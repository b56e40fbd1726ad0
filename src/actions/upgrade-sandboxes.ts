/**
 * `nemoclaw upgrade-sandboxes [--check]` (docs/design.md, "upgrade-sandboxes"). The stages live in
 * ./upgrade-sandboxes/, one file each:
 * - classify.ts: probe every Ready sandbox's agent version and classify the registry;
 * - check.ts: `--check`, strictly read-only;
 * - run.ts: the run without --check, under the maintenance lock — first finish-interrupted.ts
 *   (every operation left open in the journals), then rebuild-stale.ts (the plan: what is
 *   skipped, what is rebuilt) with rebuild-one.ts for each stale sandbox;
 * - outcomes.ts: a rebuild's result as the run reports it; upgrade-run.ts: what the stages share.
 */
export type { RebuildOutcome, RebuildStatus } from "./rebuild-outcome.js";
export { type CheckResult, checkUpgrades } from "./upgrade-sandboxes/check.js";
export { CHECK_ACTION, classifyRegistry, type UpgradePolicy } from "./upgrade-sandboxes/classify.js";
export { upgradeSandboxes } from "./upgrade-sandboxes/run.js";
export type {
  UpgradeEvent,
  UpgradeOptions,
  UpgradeResult,
  UpgradeRun,
} from "./upgrade-sandboxes/upgrade-run.js";
