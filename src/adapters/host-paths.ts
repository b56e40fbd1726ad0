import path from "node:path";

/**
 * Where things live on a NemoClaw host (docs/design.md, "Host layout and environment"), resolved once per command from the
 * environment. Every path here is absolute.
 */
export interface HostPaths {
  home: string;
  stateRoot: string;
  registryFile: string;
  backupsRoot: string;
  locksDir: string;
  maintenanceLock: string;
  gatewayStateDir: string;
  runtimeMarker: string;
  gatewayPidFile: string;
  gatewayLog: string;
  catalogFile: string;
}

export interface HostSettings {
  paths: HostPaths;
  gatewayName: string;
  gatewayPort: number;
  probeTimeoutMs: number;
  transferTimeoutMs: number;
  sandboxReadyTimeoutMs: number;
  gatewayStartTimeoutMs: number;
  strictPreflight: boolean;
  requireAllBackups: boolean;
  /** NEMOCLAW_OPENSHELL_BIN, as given. */
  openshellBinOverride?: string;
  /** NEMOCLAW_OPENSHELL_GATEWAY_BIN, as given. */
  gatewayBinOverride?: string;
}

export class SettingError extends Error {
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(message);
    this.name = "SettingError";
  }
}

const DEFAULT_PORT = 8080;

function positiveInt(env: NodeJS.ProcessEnv, name: string, fallback: number, max = 2 ** 31 - 1): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  if (!/^\d+$/.test(raw) || Number(raw) < 1 || Number(raw) > max) {
    throw new SettingError(name, `${name} must be a positive integer, got ${JSON.stringify(raw)}`);
  }
  return Number(raw);
}

function flag(env: NodeJS.ProcessEnv, name: string): boolean {
  const raw = env[name];
  return raw === "1" || raw === "true" || raw === "yes";
}

function absoluteOrThrow(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const raw = env[name];
  if (raw === undefined || raw === "") return undefined;
  if (!path.isAbsolute(raw))
    throw new SettingError(name, `${name} must be an absolute path, got ${JSON.stringify(raw)}`);
  return path.normalize(raw);
}

/** Bundled catalog: `<package root>/catalog/agents.json`; `packageRoot` is passed by the caller. */
export function resolveHostSettings(
  env: NodeJS.ProcessEnv,
  homeDir: string,
  packageRoot: string,
  gatewayFlag?: string,
): HostSettings {
  const home = path.resolve(homeDir);
  const stateRoot = absoluteOrThrow(env, "NEMOCLAW_HOME") ?? path.join(home, ".nemoclaw");
  const gatewayPort = positiveInt(env, "NEMOCLAW_GATEWAY_PORT", DEFAULT_PORT, 65535);
  const gatewayStateDir =
    absoluteOrThrow(env, "NEMOCLAW_OPENSHELL_GATEWAY_STATE_DIR") ??
    path.join(
      home,
      ".local/state/nemoclaw",
      gatewayPort === DEFAULT_PORT ? "openshell-docker-gateway" : `openshell-docker-gateway-${gatewayPort}`,
    );
  const gatewayName = gatewayFlag ?? defaultGatewayName(env);
  const catalogFile =
    absoluteOrThrow(env, "NEMOCLAW_AGENT_CATALOG") ?? path.join(packageRoot, "catalog/agents.json");
  const locksDir = path.join(stateRoot, "locks");
  return {
    paths: {
      home,
      stateRoot,
      registryFile: path.join(stateRoot, "sandboxes.json"),
      backupsRoot: path.join(stateRoot, "rebuild-backups"),
      locksDir,
      maintenanceLock: path.join(locksDir, "maintenance.lock"),
      gatewayStateDir,
      runtimeMarker: path.join(gatewayStateDir, "runtime.json"),
      gatewayPidFile: path.join(gatewayStateDir, "openshell-gateway.pid"),
      gatewayLog: path.join(gatewayStateDir, "openshell-gateway.log"),
      catalogFile,
    },
    gatewayName,
    gatewayPort,
    probeTimeoutMs: positiveInt(env, "NEMOCLAW_PROBE_TIMEOUT_MS", 15_000),
    transferTimeoutMs: positiveInt(env, "NEMOCLAW_TRANSFER_TIMEOUT_MS", 30 * 60_000),
    sandboxReadyTimeoutMs: positiveInt(env, "NEMOCLAW_SANDBOX_READY_TIMEOUT_MS", 5 * 60_000),
    gatewayStartTimeoutMs: positiveInt(env, "NEMOCLAW_GATEWAY_START_TIMEOUT_MS", 60_000),
    strictPreflight: flag(env, "NEMOCLAW_STRICT_PREFLIGHT"),
    requireAllBackups: flag(env, "NEMOCLAW_REQUIRE_ALL_SANDBOX_BACKUPS"),
    openshellBinOverride: env.NEMOCLAW_OPENSHELL_BIN || undefined,
    gatewayBinOverride: env.NEMOCLAW_OPENSHELL_GATEWAY_BIN || undefined,
  };
}

/** The gateway name without --gateway: `NEMOCLAW_GATEWAY`, else `nemoclaw`. */
export function defaultGatewayName(env: NodeJS.ProcessEnv): string {
  return env.NEMOCLAW_GATEWAY || "nemoclaw";
}
