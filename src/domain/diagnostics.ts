import type { GatewayFacts, PreflightIssue } from "./preflight-types.js";
import { foldExcerpt } from "./schema-mismatch.js";

/**
 * The refusal text of docs/design.md, "The preflight decision", as plain lines (the renderer adds colour and writes to stderr).
 * Operators' scripts grep the anchor lines, so their wording, indentation and the blank lines
 * around them are part of the contract.
 */

export interface RefusalOptions {
  /** e.g. "backing up registered sandboxes", "rebuilding sandbox 'alpha'". */
  action: string;
  /** The exact command to rerun once the gateway is healthy. */
  rerunCommand: string;
  gatewayName: string;
  installedVersion: string | null;
  gateway: GatewayFacts;
  issues: PreflightIssue[];
  reinstallAdvised: boolean;
  /** Set for a mismatch detected on a state query after the preflight. */
  reactive?: { output: string };
  /** Set when the mismatch was detected after a mutating step on a sandbox. */
  modified?: { sandbox: string; backupPath: string; restoreCommand: string };
  /** Set for `--strict` refusing an `unknown` verdict. */
  strictUnknown?: { missing: string[] };
}

const UNKNOWN = "unknown";

export const REFUSAL_TRUST_LINE =
  "  Refusing to trust OpenShell sandbox state while the host CLI and gateway schema may be out of sync.";
export const NO_DATA_CHANGED_LINE = "  No sandbox data was changed.";
export const ONBOARD_STEP =
  "    1. Run `nemoclaw onboard --resume` to repair or recreate the NemoClaw gateway with the installed OpenShell version.";
export const REINSTALL_STEP =
  "    1. Reinstall OpenShell so that `openshell` and `openshell-gateway` have the same version, then run `nemoclaw onboard --resume`.";

export function preflightRefusalLines(opts: RefusalOptions): string[] {
  const { gateway, issues } = opts;
  const lines: string[] = [];

  lines.push(
    opts.reactive
      ? `  OpenShell gateway/schema mismatch was detected while ${opts.action}.`
      : `  OpenShell gateway schema preflight failed before ${opts.action}.`,
  );
  if (opts.strictUnknown) {
    lines.push(
      `  Could not verify gateway compatibility (--strict): could not read ${joinMissing(opts.strictUnknown.missing)}.`,
    );
  }
  lines.push(`  Installed OpenShell: ${opts.installedVersion ?? UNKNOWN}`);

  if (gateway.mode === "cluster") {
    const imageVersion = gateway.imageVersion ?? issueVersion(issues, "image_drift");
    lines.push(`  Running gateway image: ${gateway.image ?? UNKNOWN} (${imageVersion ?? UNKNOWN})`);
  }
  if (gateway.mode === "host-process" && gateway.binary !== undefined) {
    const binaryVersion = gateway.binaryVersion ?? issueVersion(issues, "host_process_drift");
    lines.push(`  Running gateway binary: ${gateway.binary} (${binaryVersion ?? UNKNOWN})`);
  }
  const servedVersion = gateway.servedVersion ?? issueVersion(issues, "served_version_drift");
  if (servedVersion !== undefined) {
    lines.push(`  Serving gateway version: ${servedVersion} (reported by \`openshell status\`)`);
  }
  if (opts.reactive) {
    lines.push(`  OpenShell output: ${foldExcerpt(opts.reactive.output)}`);
  }

  lines.push("", REFUSAL_TRUST_LINE);
  if (opts.modified) {
    lines.push(
      `  Sandbox ${opts.modified.sandbox} was modified; its state is preserved in ${opts.modified.backupPath}.`,
      `  Restore it with: ${opts.modified.restoreCommand}`,
    );
  } else {
    lines.push(NO_DATA_CHANGED_LINE);
  }

  lines.push(
    "",
    "  Recovery:",
    opts.reinstallAdvised ? REINSTALL_STEP : ONBOARD_STEP,
    `    2. Rerun \`${opts.rerunCommand}\` after \`openshell status\` reports a healthy NemoClaw gateway.`,
    preservationLine(gateway, opts.gatewayName),
  );
  return lines;
}

/**
 * One line on what not to destroy. A legacy cluster keeps sandbox state in its Docker volumes;
 * for a host-process (or unidentified) gateway, talking about cluster containers would send the
 * operator after the wrong thing, so the advice stays gateway-neutral.
 */
export function preservationLine(gateway: GatewayFacts, gatewayName: string): string {
  if (gateway.mode === "cluster") {
    return `  Do not remove the \`openshell-cluster-${gatewayName}\` Docker volumes without a backup: they hold the sandbox state.`;
  }
  return "  Preserve sandbox state first: do not delete sandbox state, backups or gateway data until `openshell status` is healthy.";
}

/** The non-strict `unknown` warning: what could not be read, and that the command carries on. */
export function unknownWarningLines(missing: string[]): string[] {
  const lines = ["  OpenShell gateway schema preflight could not verify the gateway; continuing without it."];
  for (const item of missing) lines.push(`    - could not read ${item}`);
  lines.push("  Pass `--strict` (or set NEMOCLAW_STRICT_PREFLIGHT=1) to refuse instead.");
  return lines;
}

function issueVersion(issues: PreflightIssue[], kind: PreflightIssue["kind"]): string | undefined {
  return issues.find((issue) => issue.kind === kind)?.foundVersion;
}

function joinMissing(missing: string[]): string {
  if (missing.length === 0) return "the gateway version";
  return missing.join("; ");
}
