/** docs/design.md, "Host layout and environment": the only sandbox names nemoclaw will put into a path or a command line. */
const SANDBOX_NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/**
 * Gateway names end up in `-g NAME` arguments and the `openshell-cluster-<name>` container
 * name; OpenShell accepts DNS-label-like names. Anything else is refused before it is used.
 */
const GATEWAY_NAME = /^[A-Za-z0-9]([A-Za-z0-9._-]{0,62})$/;

export function isValidSandboxName(name: unknown): name is string {
  return typeof name === "string" && SANDBOX_NAME.test(name);
}

export function isValidGatewayName(name: unknown): name is string {
  return typeof name === "string" && GATEWAY_NAME.test(name);
}

/**
 * True when `s` holds a C0 control character or DEL: such a string (a path, a name) could forge
 * lines or terminal escapes in diagnostics, so callers refuse or escape it.
 */
export function hasControlChars(s: string): boolean {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting control characters is the point
  return /[\u0000-\u001f\u007f]/.test(s);
}
