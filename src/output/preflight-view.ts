import type { PreflightReport } from "../actions/preflight.js";
import type { Style } from "./style.js";

const SOURCE_WORDS: Record<string, string> = {
  "runtime-marker": "running, from the runtime marker",
  env: "from NEMOCLAW_OPENSHELL_GATEWAY_BIN",
  sibling: "installed beside openshell",
  "standard-path": "from the standard install paths",
};

/** `openshell status -g <name>` said `No gateway configured.`: a name OpenShell does not know. */
function notRegistered(report: PreflightReport): boolean {
  const status = report.preflight.evidence.find((e) => e.probe === "gateway-status");
  return (status?.value as { state?: string } | undefined)?.state === "no-gateway";
}

/** The stdout summary of `gateway preflight` when it does not refuse. */
export function renderPreflightSummary(report: PreflightReport, style: Style): string[] {
  const { preflight, gatewayName } = report;
  const { gateway } = preflight;
  const installed = preflight.installedVersion ?? "unknown";
  const lines =
    preflight.verdict === "compatible"
      ? [
          `${style.green("✓")} OpenShell gateway '${gatewayName}' is compatible with the installed OpenShell ${installed}.`,
        ]
      : notRegistered(report)
        ? [
            `${style.yellow("!")} OpenShell gateway '${gatewayName}' compatibility is unknown: OpenShell knows no gateway by that name (\`openshell status -g ${gatewayName}\`: No gateway configured.; installed OpenShell ${installed}).`,
          ]
        : [
            `${style.yellow("!")} OpenShell gateway '${gatewayName}' compatibility is unknown (installed OpenShell ${installed}).`,
          ];
  lines.push(`  Mode: ${gateway.mode}`);
  if (gateway.image) lines.push(`  Gateway image: ${gateway.image} (${gateway.imageVersion ?? "unknown"})`);
  if (gateway.binary) {
    const source = gateway.binarySource
      ? `, ${SOURCE_WORDS[gateway.binarySource] ?? gateway.binarySource}`
      : "";
    lines.push(`  Gateway binary: ${gateway.binary} (${gateway.binaryVersion ?? "unknown"}${source})`);
  }
  if (gateway.servedVersion) lines.push(`  Serving gateway version: ${gateway.servedVersion}`);
  lines.push(style.dim(`  Checked ${preflight.evidence.length} probes in ${preflight.durationMs} ms`));
  return lines;
}
