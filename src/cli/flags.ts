import { Flags } from "@oclif/core";
import { defaultGatewayName } from "../adapters/host-paths.js";
import { UsageError } from "../domain/errors.js";
import { isValidGatewayName } from "../domain/names.js";

export const jsonFlag = Flags.boolean({
  description:
    "Print exactly one JSON document (schema/nemoclaw-output.schema.json) on stdout and nothing else.",
  default: false,
});

export const gatewayFlag = Flags.string({
  description: "OpenShell gateway name [default: $NEMOCLAW_GATEWAY or nemoclaw].",
  helpValue: "NAME",
});

/** Whether `--json` was asked for (before a `--` end of options): decides the one output form. */
export function jsonRequested(argv: readonly string[]): boolean {
  const end = argv.indexOf("--");
  return (end === -1 ? argv : argv.slice(0, end)).includes("--json");
}

/** --gateway, else NEMOCLAW_GATEWAY, else `nemoclaw`; refused unless it is a plain gateway name. */
export function resolveGatewayName(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  const name = flag ?? defaultGatewayName(env);
  if (!isValidGatewayName(name)) {
    throw new UsageError(
      `invalid gateway name ${JSON.stringify(name)} (letters, digits, '.', '_', '-'; at most 63)`,
    );
  }
  return name;
}

/** `--repo` of the commands that reach a restic repository (docs/design.md, "Beyond one disk"). */
export const repoFlag = Flags.string({
  description:
    "restic repository (passed to restic as --repo) [default: $RESTIC_REPOSITORY or $RESTIC_REPOSITORY_FILE]. The password comes from RESTIC_PASSWORD_FILE, RESTIC_PASSWORD or RESTIC_PASSWORD_COMMAND.",
  helpValue: "REPOSITORY",
});

/** `--metrics-file` (docs/design.md, "Metrics"). */
export const metricsFileFlag = Flags.string({
  description:
    "After the run, write a node_exporter textfile (*.prom, atomically, mode 0644) with this host's nemoclaw metrics.",
  helpValue: "PATH",
  env: "NEMOCLAW_METRICS_FILE",
});
