import fs from "node:fs";
import path from "node:path";
import { hasControlChars } from "../domain/names.js";
import type { BinarySource } from "../domain/preflight-types.js";
import {
  DEFAULT_PROC_ROOT,
  isValidPid,
  printablePath,
  processIsBinary,
  readProcessState,
} from "./process-identity.js";
import {
  basenameAsFound,
  GATEWAY_BINARY_NAME,
  isGatewayBinaryPath,
  type RuntimeMarker,
  readRuntimeMarker,
} from "./runtime-marker.js";

/**
 * Where the `openshell` CLI and the `openshell-gateway` binary are (docs/design.md, "Binary resolution and identity").
 *
 * Every path returned here may be executed by the caller, so the rules are strict:
 * - only absolute paths; relative and empty PATH entries are skipped (they would resolve against
 *   whatever directory nemoclaw happens to run in);
 * - a gateway path is only ever returned when its basename *as found* (before symlink resolution)
 *   is exactly `openshell-gateway` — an override naming `/usr/bin/sleep` or a symlink called
 *   something else is refused, not "resolved";
 * - a candidate counts when it is an executable regular file, following symlinks for the check but
 *   returning the path as found (that is the path a user recognises and the one a launched gateway
 *   shows as argv0);
 * - a path from the runtime marker is only returned after the marker trust rules and the process
 *   identity checks pass.
 */

export const OPENSHELL_BINARY_NAME = "openshell";
export const STANDARD_BIN_DIRS: readonly string[] = ["/usr/local/bin", "/usr/bin"];

/** "Is this an executable regular file?" — injectable for tests, defaults to `isExecutableFile`. */
export type ExecutableCheck = (p: string) => boolean;

/** Executable regular file, symlinks followed. */
export function isExecutableFile(p: string): boolean {
  try {
    if (!fs.statSync(p).isFile()) return false;
    fs.accessSync(p, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function homeBinDir(home: string | undefined): string | null {
  return home !== undefined && path.isAbsolute(home) ? path.join(home, ".local/bin") : null;
}

export interface OpenshellLookup {
  /** NEMOCLAW_OPENSHELL_BIN. */
  override?: string | undefined;
  /** The PATH variable. */
  pathEnv?: string | undefined;
  home: string;
  /** Defaults to `/usr/local/bin`, `/usr/bin`; injectable for tests. */
  standardDirs?: readonly string[];
  exists?: ExecutableCheck;
}

export type OpenshellResolution =
  | {
      ok: true;
      path: string;
      source: "env" | "path" | "standard-path";
      /** Candidates passed over on the way, e.g. a non-executable override. */
      notes: string[];
    }
  | { ok: false; reason: string };

/** `NEMOCLAW_OPENSHELL_BIN` → each `PATH` entry → `~/.local/bin` → `/usr/local/bin` → `/usr/bin`. */
export function resolveOpenshellBinary(lookup: OpenshellLookup): OpenshellResolution {
  const exists = lookup.exists ?? isExecutableFile;
  const notes: string[] = [];
  const override = lookup.override;
  if (override !== undefined && override !== "") {
    if (!path.isAbsolute(override) || hasControlChars(override)) {
      return {
        ok: false,
        reason: `NEMOCLAW_OPENSHELL_BIN must be an absolute path, got ${JSON.stringify(override)}`,
      };
    }
    if (exists(override)) return { ok: true, path: override, source: "env", notes };
    notes.push(`NEMOCLAW_OPENSHELL_BIN ${override} is not an executable file`);
  }
  for (const entry of (lookup.pathEnv ?? "").split(":")) {
    if (entry === "" || !path.isAbsolute(entry)) continue;
    const candidate = path.join(entry, OPENSHELL_BINARY_NAME);
    if (exists(candidate)) return { ok: true, path: candidate, source: "path", notes };
  }
  const dirs = [homeBinDir(lookup.home), ...(lookup.standardDirs ?? STANDARD_BIN_DIRS)];
  for (const dir of dirs) {
    if (dir === null || !path.isAbsolute(dir)) continue;
    const candidate = path.join(dir, OPENSHELL_BINARY_NAME);
    if (exists(candidate)) return { ok: true, path: candidate, source: "standard-path", notes };
  }
  return {
    ok: false,
    reason: `openshell not found (searched ${override ? "NEMOCLAW_OPENSHELL_BIN, " : ""}PATH, ~/.local/bin, ${(
      lookup.standardDirs ?? STANDARD_BIN_DIRS
    ).join(
      ", ",
    )}): install OpenShell or set NEMOCLAW_OPENSHELL_BIN to its path; to try nemoclaw without OpenShell, run \`npm run demo\` in a checkout`,
  };
}

export interface GatewayBinaryCandidate {
  path: string;
  source: BinarySource;
}

export interface GatewayLookup {
  /** NEMOCLAW_OPENSHELL_GATEWAY_BIN. */
  override?: string | undefined;
  /** The `openshell` path as found (from `resolveOpenshellBinary`), or null when there is none. */
  openshellPath?: string | null | undefined;
  home: string;
  /** Defaults to `/usr/local/bin`, `/usr/bin`; injectable for tests. */
  standardDirs?: readonly string[];
  exists?: ExecutableCheck;
}

/** Why the override cannot be used at all, or null when it is acceptable (or unset). */
function gatewayOverrideProblem(override: string | undefined): string | null {
  if (override === undefined || override === "") return null;
  if (!path.isAbsolute(override) || hasControlChars(override)) {
    return `NEMOCLAW_OPENSHELL_GATEWAY_BIN must be an absolute path, got ${JSON.stringify(override)}`;
  }
  if (basenameAsFound(override) !== GATEWAY_BINARY_NAME) {
    return `NEMOCLAW_OPENSHELL_GATEWAY_BIN must name a file called ${GATEWAY_BINARY_NAME}, got ${JSON.stringify(override)}`;
  }
  return null;
}

/**
 * The fallback order (docs/design.md, "Host layout and environment"): env override → `openshell-gateway` beside `openshell` as found →
 * beside the realpath of `openshell` → `~/.local/bin` → `/usr/local/bin` → `/usr/bin`; first
 * occurrence of each path kept. An unusable override (relative, or another basename) is left out —
 * `resolveFallbackGatewayBinary` reports it. Nothing here touches the candidates themselves except
 * the realpath of `openshell`.
 */
export function fallbackGatewayBinaryCandidates(lookup: GatewayLookup): GatewayBinaryCandidate[] {
  const out: GatewayBinaryCandidate[] = [];
  const seen = new Set<string>();
  const add = (p: string, source: BinarySource): void => {
    if (!isGatewayBinaryPath(p)) return;
    const key = path.normalize(p);
    if (seen.has(key)) return;
    seen.add(key);
    out.push({ path: p, source });
  };

  const override = lookup.override;
  if (override !== undefined && override !== "" && gatewayOverrideProblem(override) === null)
    add(override, "env");

  const openshell = lookup.openshellPath;
  if (typeof openshell === "string" && path.isAbsolute(openshell)) {
    add(path.join(path.dirname(openshell), GATEWAY_BINARY_NAME), "sibling");
    let real: string | null = null;
    try {
      real = fs.realpathSync(openshell);
    } catch {
      real = null;
    }
    if (real !== null) add(path.join(path.dirname(real), GATEWAY_BINARY_NAME), "sibling");
  }

  for (const dir of [homeBinDir(lookup.home), ...(lookup.standardDirs ?? STANDARD_BIN_DIRS)]) {
    if (dir === null || !path.isAbsolute(dir)) continue;
    add(path.join(dir, GATEWAY_BINARY_NAME), "standard-path");
  }
  return out;
}

export type GatewayResolution =
  | { ok: true; path: string; source: BinarySource; notes: string[] }
  | { ok: false; reason: string };

/**
 * The gateway binary `onboard --resume` would launch: the first fallback candidate that is an
 * executable file. An override that is set but relative or not named `openshell-gateway` is an
 * error (fail closed: silently launching something else would contradict the operator); one that
 * is merely missing falls through to the next candidate, with a note.
 */
export function resolveFallbackGatewayBinary(lookup: GatewayLookup): GatewayResolution {
  const problem = gatewayOverrideProblem(lookup.override);
  if (problem !== null) return { ok: false, reason: problem };
  const exists = lookup.exists ?? isExecutableFile;
  const notes: string[] = [];
  const candidates = fallbackGatewayBinaryCandidates(lookup);
  for (const candidate of candidates) {
    // Re-asserted at the point of return: whatever built the list, no other basename leaves here.
    if (basenameAsFound(candidate.path) !== GATEWAY_BINARY_NAME) continue;
    if (exists(candidate.path)) return { ok: true, path: candidate.path, source: candidate.source, notes };
    if (candidate.source === "env")
      notes.push(`NEMOCLAW_OPENSHELL_GATEWAY_BIN ${candidate.path} is not an executable file`);
  }
  return {
    ok: false,
    reason: `${GATEWAY_BINARY_NAME} not found (searched ${candidates.map((c) => c.path).join(", ") || "nothing"})`,
  };
}

export interface MarkerGatewayLookup {
  markerPath: string;
  procRoot?: string;
  /** The uid the marker must be owned by and the gateway must run as; defaults to `process.getuid()`. */
  uid?: number;
  exists?: ExecutableCheck;
}

export type MarkerGatewayResolution =
  | {
      ok: true;
      /** `marker.gatewayBin`, as recorded. */
      path: string;
      pid: number;
      via: "exe" | "argv0";
      /** Re-check with `isSameProcessInstance(pid, startTime)` before signalling the process. */
      startTime: number;
      marker: RuntimeMarker;
    }
  | {
      ok: false;
      reason: string;
      markerStatus: "absent" | "untrusted" | "invalid" | "ok";
      /** Present when the marker itself was fine but the process did not check out. */
      marker?: RuntimeMarker;
    };

/**
 * The gateway binary named by the runtime marker (docs/design.md, "Binary resolution and identity"), only if the marker is
 * trustworthy, its pid is a live non-zombie process, and that process *is* the marker's binary.
 */
export function resolveMarkerGatewayBinary(lookup: MarkerGatewayLookup): MarkerGatewayResolution {
  const procRoot = lookup.procRoot ?? DEFAULT_PROC_ROOT;
  const exists = lookup.exists ?? isExecutableFile;
  const read = readRuntimeMarker(lookup.markerPath, lookup.uid === undefined ? {} : { uid: lookup.uid });
  if (read.status === "absent") return { ok: false, markerStatus: "absent", reason: "no runtime marker" };
  if (read.status !== "ok") return { ok: false, markerStatus: read.status, reason: read.reason };

  const marker = read.marker;
  const fail = (reason: string): MarkerGatewayResolution => ({
    ok: false,
    markerStatus: "ok",
    reason,
    marker,
  });
  const { pid, gatewayBin } = marker;
  if (!isGatewayBinaryPath(gatewayBin)) return fail(`marker gatewayBin is not named ${GATEWAY_BINARY_NAME}`);
  if (!isValidPid(pid)) return fail(`marker pid ${pid} cannot be a gateway`);

  const state = readProcessState(pid, procRoot);
  if (state === "dead") return fail(`marker pid ${pid} is not running`);
  if (state === "zombie") return fail(`marker pid ${pid} is a zombie`);

  const identity = processIsBinary(
    pid,
    gatewayBin,
    procRoot,
    lookup.uid === undefined ? {} : { uid: lookup.uid },
  );
  if (!identity.match) {
    switch (identity.code) {
      case "dead":
        return fail(`marker pid ${pid} is not running`);
      case "zombie":
        return fail(`marker pid ${pid} is a zombie`);
      case "mismatch":
        return fail(
          `pid ${pid} is ${identity.exe !== undefined ? printablePath(identity.exe) : "another program"}, not the marker's gateway binary`,
        );
      default:
        return fail(identity.reason);
    }
  }
  if (!exists(gatewayBin)) return fail(`marker gatewayBin ${gatewayBin} is not an executable file`);
  return { ok: true, path: gatewayBin, pid, via: identity.via, startTime: identity.startTime, marker };
}
