import type { ClusterContainer } from "../domain/preflight-types.js";
import { foldExcerpt } from "../domain/schema-mismatch.js";
import { OutputFormatError } from "./openshell-output.js";

/**
 * Parsers for `docker inspect --type container openshell-cluster-<gw>` (the legacy cluster
 * gateway, OpenShell ≤ 0.0.36), in its JSON-array form and in the `--format` form below.
 */

/**
 * Template for `docker inspect --type container --format <this> <name>`: one line
 * `image|running|ports-json`. `|` cannot occur in an image reference, and the ports JSON (keys
 * like `30051/tcp`, IPs, port numbers) cannot contain it either, so splitting is unambiguous.
 */
export const dockerInspectFormat = "{{.Config.Image}}|{{.State.Running}}|{{json .NetworkSettings.Ports}}";

export type DockerErrorKind = "no-such-container" | "daemon-unavailable" | "other";

/**
 * Host ports of `NetworkSettings.Ports`, e.g. `{"30051/tcp":[{"HostIp":"0.0.0.0","HostPort":"8080"},
 * {"HostIp":"::","HostPort":"8080"}]}` → [8080]. Docker lists a binding once per address family,
 * hence the dedupe; unpublished ports map to null.
 */
export function parseDockerPorts(jsonText: string): number[] {
  const text = jsonText.trim();
  // Go templates print `<no value>` for a missing field; a stopped container has `{}` or null.
  if (text === "" || text === "null" || text === "<no value>") return [];
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new OutputFormatError("docker port map is not valid JSON", foldExcerpt(text));
  }
  return portsFromValue(value, text);
}

function portsFromValue(value: unknown, source: string): number[] {
  if (value === null || value === undefined) return [];
  if (typeof value !== "object" || Array.isArray(value)) {
    throw new OutputFormatError("docker port map is not an object", foldExcerpt(source));
  }
  const ports = new Set<number>();
  for (const bindings of Object.values(value as Record<string, unknown>)) {
    if (bindings === null) continue;
    if (!Array.isArray(bindings)) {
      throw new OutputFormatError("docker port bindings are not a list", foldExcerpt(source));
    }
    for (const binding of bindings) {
      const hostPort = (binding as { HostPort?: unknown } | null)?.HostPort;
      const port = typeof hostPort === "number" ? hostPort : Number(hostPort);
      if (typeof hostPort === "string" && hostPort.trim() === "") continue;
      if (Number.isInteger(port) && port > 0 && port <= 65535) ports.add(port);
    }
  }
  return [...ports].sort((a, b) => a - b);
}

interface InspectEntry {
  Name?: unknown;
  Config?: { Image?: unknown } | null;
  State?: { Running?: unknown } | null;
  NetworkSettings?: { Ports?: unknown } | null;
}

/**
 * The JSON array `docker inspect` prints. `[]` (what docker prints for a missing container,
 * alongside `Error: No such object` on stderr) → null. Anything unparseable throws: "no
 * container" must be a positive finding, not what garbage happens to look like.
 */
export function parseDockerInspect(stdout: string, name: string): ClusterContainer | null {
  const text = stdout.trim();
  if (text === "") return null;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new OutputFormatError("`docker inspect` output is not valid JSON", foldExcerpt(text));
  }
  if (!Array.isArray(value)) {
    throw new OutputFormatError("`docker inspect` output is not a JSON array", foldExcerpt(text));
  }
  if (value.length === 0) return null;
  const entries = value as InspectEntry[];
  const entry =
    entries.find(
      (candidate) => typeof candidate?.Name === "string" && candidate.Name.replace(/^\//, "") === name,
    ) ?? (entries.length === 1 ? entries[0] : undefined);
  if (entry === undefined || entry === null || typeof entry !== "object") {
    throw new OutputFormatError(`\`docker inspect\` output has no entry for ${name}`, foldExcerpt(text));
  }
  const image = entry.Config?.Image;
  const running = entry.State?.Running;
  if (typeof image !== "string" || typeof running !== "boolean") {
    throw new OutputFormatError(
      "`docker inspect` entry lacks Config.Image or State.Running",
      foldExcerpt(text),
    );
  }
  return { name, image, running, hostPorts: portsFromValue(entry.NetworkSettings?.Ports ?? null, text) };
}

/** Output of `docker inspect --format dockerInspectFormat <name>`; empty output → null. */
export function parseDockerFormatOutput(stdout: string, name: string): ClusterContainer | null {
  const line = stdout
    .split(/\r?\n/)
    .map((candidate) => candidate.trim())
    .find((candidate) => candidate !== "");
  if (line === undefined) return null;
  const first = line.indexOf("|");
  const second = first === -1 ? -1 : line.indexOf("|", first + 1);
  if (first === -1 || second === -1) {
    throw new OutputFormatError(
      "`docker inspect --format` output is not image|running|ports",
      foldExcerpt(line),
    );
  }
  const image = line.slice(0, first);
  const runningText = line.slice(first + 1, second);
  const portsText = line.slice(second + 1);
  if (image === "" || (runningText !== "true" && runningText !== "false")) {
    throw new OutputFormatError(
      "`docker inspect --format` output is not image|running|ports",
      foldExcerpt(line),
    );
  }
  return { name, image, running: runningText === "true", hostPorts: parseDockerPorts(portsText) };
}

export function classifyDockerError(stderr: string): DockerErrorKind {
  if (/No such (?:object|container)/i.test(stderr)) return "no-such-container";
  if (
    /Cannot connect to the Docker daemon|Is the docker daemon running|error during connect|permission denied while trying to connect to the Docker daemon/i.test(
      stderr,
    )
  ) {
    return "daemon-unavailable";
  }
  return "other";
}
