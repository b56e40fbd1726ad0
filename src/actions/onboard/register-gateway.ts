import type { OpenShellCli } from "../../adapters/openshell-cli.js";
import { parseGatewayInfo } from "../../adapters/openshell-output.js";
import type { RunResult } from "../../adapters/process-runner.js";
import { sameEndpoint } from "../../domain/gateway-readiness.js";
import { stripAnsi } from "../../domain/schema-mismatch.js";
import { type OnboardProgress, runFailure, StartFailure } from "./onboard-run.js";

/**
 * `openshell gateway add <endpoint> --name <gw>` (an existing registration is fine when it points
 * at our endpoint; one pointing elsewhere is re-pointed), then `openshell gateway select <gw>`.
 */
export async function registerGateway(
  openshell: OpenShellCli,
  gatewayName: string,
  endpoint: string,
  warnings: string[],
  progress: (event: OnboardProgress) => void,
): Promise<void> {
  progress({ kind: "step", message: `Registering gateway '${gatewayName}' at ${endpoint}` });
  const fail = (what: string, result: RunResult) =>
    new StartFailure("gateway_register_failed", `\`openshell ${what}\` ${runFailure(result)}`);
  const add = await openshell.gatewayAdd(endpoint, gatewayName);
  if (add.aborted) return;
  if (add.exitCode !== 0) {
    if (!/already exists/i.test(stripAnsi(`${add.stderr}\n${add.stdout}`))) throw fail("gateway add", add);
    const info = await openshell.gatewayInfo(gatewayName);
    const registered = info.exitCode === 0 ? parseGatewayInfo(info.stdout).endpoint : undefined;
    if (registered !== undefined && !sameEndpoint(registered, endpoint)) {
      const removed = await openshell.gatewayRemove(gatewayName);
      if (removed.exitCode !== 0) throw fail("gateway remove", removed);
      const again = await openshell.gatewayAdd(endpoint, gatewayName);
      if (again.exitCode !== 0) throw fail("gateway add", again);
      warnings.push(
        `Gateway '${gatewayName}' was registered at ${registered}; it now points at ${endpoint}.`,
      );
    }
  }
  const select = await openshell.gatewaySelect(gatewayName);
  if (select.aborted) return;
  if (select.exitCode !== 0) throw fail("gateway select", select);
}
