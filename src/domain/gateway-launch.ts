import { stripAnsi } from "./schema-mismatch.js";

/**
 * How nemoclaw launches the host-process gateway (docs/design.md, "Gateway launch environment"): no arguments, configured only by
 * `OPENSHELL_*` environment variables, loopback only. Pure: the hash itself is computed by the
 * adapter (it needs node:crypto); what is hashed is decided here.
 */

export const GATEWAY_BIND_ADDRESS = "127.0.0.1";
export const GATEWAY_DRIVER = "docker";
/** Lines of the gateway log shown when a start fails. */
export const LOG_TAIL_LINES = 20;

/** `http://127.0.0.1:<port>`: what the gateway is registered under and what the marker records. */
export function gatewayEndpoint(port: number): string {
  return `http://${GATEWAY_BIND_ADDRESS}:${port}`;
}

/**
 * The gateway's configuration (docs/design.md, "OpenShell output forms handled"). `stateDir` is absolute; the sqlite database lives in it,
 * next to the marker and the log.
 */
export function gatewayLaunchEnv(port: number, stateDir: string): Record<string, string> {
  const dir = stateDir.length > 1 ? stateDir.replace(/\/+$/, "") : stateDir;
  return {
    OPENSHELL_BIND_ADDRESS: GATEWAY_BIND_ADDRESS,
    OPENSHELL_SERVER_PORT: String(port),
    OPENSHELL_DRIVERS: GATEWAY_DRIVER,
    OPENSHELL_DISABLE_TLS: "true",
    OPENSHELL_DB_URL: `sqlite:${dir === "/" ? "" : dir}/openshell.db`,
  };
}

/**
 * The canonical text `desiredEnvHash` is the SHA-256 of: the `K=V` lines of the desired
 * `OPENSHELL_*` variables, sorted by key (code-unit order), joined by `\n`, no trailing newline.
 * Only the gateway's own configuration counts — PATH, HOME or DOCKER_* changing between runs
 * does not make a running gateway "misconfigured". Older NemoClaw markers use the same form, so a
 * gateway they launched with the same settings is recognised as such.
 */
export function canonicalGatewayEnv(env: Readonly<Record<string, string>>): string {
  return Object.keys(env)
    .filter((key) => key.startsWith("OPENSHELL_"))
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
    .map((key) => `${key}=${env[key]}`)
    .join("\n");
}

/**
 * The last `count` lines of a gateway log excerpt, made safe to print: ANSI colour (tracing
 * colours its levels even into files) and other control characters are removed, so a log line
 * cannot move the cursor or forge output. Trailing blank lines are dropped.
 */
export function logTailLines(text: string, count: number = LOG_TAIL_LINES): string[] {
  const lines = stripAnsi(text)
    .split(/\r?\n/)
    // biome-ignore lint/suspicious/noControlCharactersInRegex: removing control characters is the point
    .map((line) => line.replace(/[\u0000-\u0008\u000b-\u001f\u007f]/g, "").replace(/\t/g, "  "));
  while (lines.length > 0 && lines[lines.length - 1]?.trim() === "") lines.pop();
  return count <= 0 ? [] : lines.slice(-count);
}
