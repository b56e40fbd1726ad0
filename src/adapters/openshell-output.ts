import { endpointPort } from "../domain/gateway-verdict.js";
import type { GatewayInfo, GatewayStatus, SandboxRow } from "../domain/preflight-types.js";
import { type CommandOutput, foldExcerpt, isUnreachableText, stripAnsi } from "../domain/schema-mismatch.js";
import { extractVersion } from "../domain/versions.js";

/**
 * Parsers for what the `openshell` CLI prints (docs/design.md, "OpenShell output forms handled"). Real OpenShell colours its output even
 * into pipes, so every parser strips ANSI first. Parsers that feed decisions about sandbox data
 * throw `OutputFormatError` on output they do not recognise rather than guess: a misread table
 * would make a live sandbox look absent.
 */

export { endpointPort, stripAnsi };

export class OutputFormatError extends Error {
  constructor(
    message: string,
    /** The offending output, folded and cut, for diagnostics. */
    readonly excerpt: string,
  ) {
    super(message);
    this.name = "OutputFormatError";
  }
}

function lines(text: string): string[] {
  return stripAnsi(text).split(/\r?\n/);
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** `openshell 0.0.44` / `openshell-gateway 0.0.4-dev.6+g2bf9969` → the version; null otherwise. */
export function parseVersionOutput(stdout: string, tool: "openshell" | "openshell-gateway"): string | null {
  // `openshell` must not accept `openshell-gateway 0.0.44`: the tool name is followed by whitespace.
  const prefix = new RegExp(`^\\s*${escapeRegExp(tool)}\\s+(\\S+)`);
  for (const line of lines(stdout)) {
    const token = prefix.exec(line)?.[1];
    if (token === undefined) continue;
    const version = extractVersion(token);
    if (version !== null && (token === version || token === `v${version}`)) return version;
  }
  return null;
}

/** `  Key: value` lines of a status/info block; first occurrence wins. */
function keyValues(text: string): Map<string, string> {
  const result = new Map<string, string>();
  for (const line of lines(text)) {
    const match = /^\s*([A-Za-z][A-Za-z ]*?):\s*(.*?)\s*$/.exec(line);
    const key = match?.[1]?.toLowerCase();
    const value = match?.[2];
    if (key === undefined || value === undefined || result.has(key)) continue;
    result.set(key, value);
  }
  return result;
}

function statusState(statusText: string): GatewayStatus["state"] {
  if (/^connected\b/i.test(statusText)) return "connected";
  if (/^disconnected\b/i.test(statusText)) return "disconnected";
  if (/^error\b/i.test(statusText)) return "error";
  if (/no gateway configured/i.test(statusText)) return "no-gateway";
  return "unknown";
}

/**
 * `openshell status [-g NAME]`. Connected prints a `Server Status` block (with an
 * `Authentication:` line from 0.0.91). Unreachable prints the header block on stdout plus a miette
 * connect error on stderr, exit 1 (≤ 0.0.91), or only the error (≥ 0.0.92). No gateway
 * registered is `Status: No gateway configured.` with exit 0.
 */
export function parseStatus(output: CommandOutput): GatewayStatus {
  const fields = keyValues(output.stdout);
  const status: GatewayStatus = { state: "unknown" };
  const statusText = fields.get("status");
  const gatewayName = fields.get("gateway");
  const server = fields.get("server");
  const authentication = fields.get("authentication");
  const versionText = fields.get("version");
  if (statusText !== undefined) status.statusText = statusText;
  if (gatewayName !== undefined && gatewayName !== "") status.gatewayName = gatewayName;
  if (server !== undefined && server !== "") status.server = server;
  if (authentication !== undefined) status.authentication = authentication;

  const stderr = stripAnsi(output.stderr);
  if (output.exitCode !== 0) {
    if (isUnreachableText(stderr) || isUnreachableText(output.stdout)) status.state = "unreachable";
    else if (/No gateway metadata found for/i.test(stderr)) status.state = "no-gateway";
    // A failing command's `Status: Connected` is not trusted; explicit bad states are kept.
    else if (statusText !== undefined && statusState(statusText) !== "connected") {
      status.state = statusState(statusText);
    }
    return status;
  }

  if (statusText === undefined) {
    if (/no gateway configured/i.test(stripAnsi(output.stdout))) status.state = "no-gateway";
    return status;
  }
  status.state = statusState(statusText);
  // A served version is only meaningful from a gateway that answered its health RPC.
  if (status.state === "connected" && versionText !== undefined) {
    const version = extractVersion(versionText);
    if (version !== null) status.version = version;
  }
  return status;
}

/**
 * `openshell gateway info -g NAME`: `Gateway endpoint: URL` (≤ 0.0.84) or `Server: URL` followed
 * by `Status:` and `Version:` (≥ 0.0.85). Members that are not printed are absent (an empty object
 * for unrecognised output).
 */
export function parseGatewayInfo(stdout: string): GatewayInfo {
  const fields = keyValues(stdout);
  const info: GatewayInfo = {};
  const gatewayName = fields.get("gateway");
  const endpoint = fields.get("gateway endpoint") ?? fields.get("server");
  const status = fields.get("status");
  const versionText = fields.get("version");
  if (gatewayName !== undefined && gatewayName !== "") info.gatewayName = gatewayName;
  if (endpoint !== undefined && endpoint !== "") info.endpoint = endpoint;
  if (status !== undefined && status !== "") info.status = status;
  if (versionText !== undefined) {
    const version = extractVersion(versionText);
    if (version !== null) info.version = version;
  }
  return info;
}

const KNOWN_COLUMNS = new Set(["WORKSPACE", "NAME", "NAMESPACE", "CREATED", "PHASE"]);

/**
 * `openshell sandbox list`: a table whose header decides the columns (`NAME CREATED PHASE`, or
 * `NAME NAMESPACE CREATED PHASE` up to 0.0.36, with a leading `WORKSPACE` column in a workspace). Cells are separated by runs of two or more
 * spaces — CREATED itself contains one space. Column widths are not trusted: OpenShell pads
 * coloured cells by their byte length, so alignment breaks but the separator survives.
 */
export function parseSandboxList(stdout: string): SandboxRow[] {
  const rows = lines(stdout)
    .map((line) => line.trim())
    .filter((line) => line !== "");
  const header = rows[0];
  if (header === undefined) {
    throw new OutputFormatError("`openshell sandbox list` printed nothing", "");
  }
  if (/^No sandboxes found\.?$/i.test(header)) return [];

  const columns = header.split(/\s{2,}/);
  const nameIndex = columns.indexOf("NAME");
  const phaseIndex = columns.indexOf("PHASE");
  const createdIndex = columns.indexOf("CREATED");
  const namespaceIndex = columns.indexOf("NAMESPACE");
  const workspaceIndex = columns.indexOf("WORKSPACE");
  const recognised =
    // NAME leads, or follows the WORKSPACE column a CLI in a workspace prints first (≥ 0.0.88).
    (nameIndex === 0 || (nameIndex === 1 && workspaceIndex === 0)) &&
    phaseIndex !== -1 &&
    createdIndex !== -1 &&
    // A column a later release adds (all caps, like the rest) is tolerated: rows are still
    // checked cell for cell, so nothing shifts into NAME or PHASE.
    columns.every((column) => KNOWN_COLUMNS.has(column) || /^[A-Z][A-Z0-9_ ]*[A-Z0-9]$/.test(column)) &&
    new Set(columns).size === columns.length;
  if (!recognised) {
    throw new OutputFormatError(
      `unrecognised \`openshell sandbox list\` header: ${JSON.stringify(header)}`,
      foldExcerpt(stdout),
    );
  }

  return rows.slice(1).map((line) => {
    const cells = line.split(/\s{2,}/);
    if (cells.length !== columns.length) {
      throw new OutputFormatError(
        `\`openshell sandbox list\` row does not match its header: ${JSON.stringify(line)}`,
        foldExcerpt(stdout),
      );
    }
    const name = cells[nameIndex] ?? "";
    const phase = cells[phaseIndex] ?? "";
    const created = cells[createdIndex] ?? "-";
    const row: SandboxRow = { name, created: created === "-" ? null : created, phase };
    const namespace = namespaceIndex === -1 ? undefined : cells[namespaceIndex];
    if (namespace !== undefined) row.namespace = namespace;
    const workspace = workspaceIndex === -1 ? undefined : cells[workspaceIndex];
    if (workspace !== undefined) row.workspace = workspace;
    return row;
  });
}

/** `openshell sandbox get NAME`: the `Name:` and `Phase:` lines of its block. */
export function parseSandboxGet(stdout: string): { name?: string; phase?: string } {
  const fields = keyValues(stdout);
  const result: { name?: string; phase?: string } = {};
  const name = fields.get("name");
  const phase = fields.get("phase");
  if (name !== undefined && name !== "") result.name = name;
  if (phase !== undefined && phase !== "") result.phase = phase;
  return result;
}
