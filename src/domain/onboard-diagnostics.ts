import { REINSTALL_STEP } from "./diagnostics.js";

/**
 * `onboard` refuses to launch a gateway binary whose version differs from the installed CLI
 * (docs/design.md, "onboard", step 1): restarting would only recreate the drift the preflight refuses. The recovery
 * is the same reinstall step the preflight advises when the fallback binary is the drifted one.
 */
export function binaryMismatchLines(opts: {
  installedVersion: string;
  binary: string;
  binaryVersion: string;
}): string[] {
  return [
    "  nemoclaw onboard refused to launch the OpenShell gateway: the gateway binary and the installed CLI differ.",
    `  Installed OpenShell: ${opts.installedVersion}`,
    `  Gateway binary: ${opts.binary} (${opts.binaryVersion})`,
    "",
    "  Nothing was changed: no gateway was stopped or started.",
    "",
    "  Recovery:",
    REINSTALL_STEP,
  ];
}
