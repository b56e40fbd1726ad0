import fs from "node:fs";
import path from "node:path";
import { hasControlChars } from "../domain/names.js";
import { fsyncDir, writeFileAtomic as writeAtomic } from "./atomic-file.js";
import { errnoCode } from "./errno.js";
import { isPlausiblePid } from "./process-identity.js";

/**
 * The host-process gateway's runtime marker (`<state dir>/runtime.json`, docs/design.md, "OpenShell output forms handled") and pid file.
 *
 * The marker names a binary that the preflight may execute (`<gatewayBin> --version`), so it is
 * only believed when nobody but the current user could have written it (docs/design.md, "Binary resolution and identity"):
 * - the marker is a regular file, not a symlink, owned by the current uid, not group/world-writable;
 * - its directory (the last path component, checked with lstat) is a real directory, not a symlink,
 *   owned by the current uid or root, and not group/world-writable — otherwise another user could
 *   replace the file or the symlink between our checks and our read.
 * Ancestors of the directory are not checked (the user's home layout is theirs to choose).
 * The file is opened with O_NOFOLLOW and the checks run on the open descriptor, so what is checked
 * is what is read. Even a trusted marker only yields a path after the identity checks of
 * `gateway-binary.ts`; trust here is necessary, not sufficient.
 */

export const RUNTIME_MARKER_FILE = "runtime.json";
export const GATEWAY_PID_FILE = "openshell-gateway.pid";
export const GATEWAY_BINARY_NAME = "openshell-gateway";
/** A real marker is a few hundred bytes; anything larger is not one of ours. */
export const MARKER_SIZE_LIMIT = 64 * 1024;

export interface RuntimeMarker {
  version: 1;
  pid: number;
  driver?: string;
  platform?: string;
  arch?: string;
  endpoint: string;
  desiredEnvHash?: string;
  /** Absolute path, basename `openshell-gateway`. */
  gatewayBin: string;
  /** The `openshell` CLI version at launch time — never the gateway's version. */
  openshellVersion: string;
  dockerHost?: string | null;
  createdAt: string;
}

export type MarkerReadResult =
  | { status: "absent" }
  | { status: "untrusted"; reason: string }
  | { status: "invalid"; reason: string }
  | { status: "ok"; marker: RuntimeMarker };

export interface ReadMarkerOptions {
  /** The uid the marker must be owned by; defaults to `process.getuid()`. */
  uid?: number;
}

export type MarkerValidation = { ok: true; marker: RuntimeMarker } | { ok: false; reason: string };

/** An offending value, rendered for a one-line reason and bounded in length. */
function show(value: unknown): string {
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/** Basename as found, without `path.basename`'s forgiveness of a trailing slash. */
export function basenameAsFound(p: string): string {
  return p.slice(p.lastIndexOf("/") + 1);
}

/** An absolute, single-line path whose basename is exactly `openshell-gateway`. */
export function isGatewayBinaryPath(p: unknown): p is string {
  return (
    typeof p === "string" &&
    p.length <= 4096 &&
    p.startsWith("/") &&
    !hasControlChars(p) &&
    basenameAsFound(p) === GATEWAY_BINARY_NAME
  );
}

function isShortText(v: unknown): v is string {
  return typeof v === "string" && v.length > 0 && v.length <= 1024 && !hasControlChars(v);
}

function isHttpUrl(v: unknown): v is string {
  if (!isShortText(v)) return false;
  try {
    const url = new URL(v);
    return url.protocol === "http:" || url.protocol === "https:";
  } catch {
    return false;
  }
}

/** Strict structural validation of a parsed marker; unknown extra fields are ignored. */
export function validateRuntimeMarker(value: unknown): MarkerValidation {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return { ok: false, reason: "marker is not a JSON object" };
  }
  const v = value as Record<string, unknown>;
  const bad = (field: string, want: string): MarkerValidation => ({
    ok: false,
    reason: `marker field "${field}" ${field in v ? `must be ${want}, got ${show(v[field])}` : "is missing"}`,
  });

  if (v.version !== 1) return bad("version", "1");
  // typeof first: "4242" and "4242; rm -rf /" are strings, never coerced into a pid.
  if (!isPlausiblePid(v.pid)) return bad("pid", "an integer pid between 2 and 4194304");
  if (!isGatewayBinaryPath(v.gatewayBin)) {
    return bad("gatewayBin", "an absolute path to a file named openshell-gateway");
  }
  if (!isHttpUrl(v.endpoint)) return bad("endpoint", "an http(s) URL");
  if (!isShortText(v.openshellVersion)) return bad("openshellVersion", "a non-empty string");
  if (!isShortText(v.createdAt)) return bad("createdAt", "a non-empty string");

  const marker: RuntimeMarker = {
    version: 1,
    pid: v.pid,
    endpoint: v.endpoint,
    gatewayBin: v.gatewayBin,
    openshellVersion: v.openshellVersion,
    createdAt: v.createdAt,
  };
  for (const field of ["driver", "platform", "arch", "desiredEnvHash"] as const) {
    const fv = v[field];
    if (fv === undefined) continue;
    if (typeof fv !== "string" || fv.length > 1024 || hasControlChars(fv)) return bad(field, "a string");
    marker[field] = fv;
  }
  if (v.dockerHost !== undefined) {
    const dh = v.dockerHost;
    if (dh !== null && !(typeof dh === "string" && dh.length <= 1024 && !hasControlChars(dh))) {
      return bad("dockerHost", "a string or null");
    }
    marker.dockerHost = dh;
  }
  return { ok: true, marker };
}

/** What `lstat`/`fstat` said about a path, reduced to what the trust rules look at. */
export interface TrustFacts {
  type: "file" | "directory" | "symlink" | "other";
  uid: number;
  mode: number;
}

export function trustFactsOf(st: fs.Stats): TrustFacts {
  const type = st.isSymbolicLink()
    ? "symlink"
    : st.isFile()
      ? "file"
      : st.isDirectory()
        ? "directory"
        : "other";
  return { type, uid: st.uid, mode: st.mode };
}

/** Why a marker file with these facts must not be trusted by `uid`, or null when it may be. */
export function markerFileDistrust(facts: TrustFacts, uid: number): string | null {
  if (facts.type === "symlink") return "marker is a symlink";
  if (facts.type !== "file") return "marker is not a regular file";
  if (facts.uid !== uid) return `marker is owned by uid ${facts.uid}, not ${uid}`;
  if (facts.mode & 0o002) return "marker is world-writable";
  if (facts.mode & 0o020) return "marker is group-writable";
  return null;
}

/**
 * Why the marker's directory must not be trusted by `uid`, or null when it may be. Root may own
 * it: root can rewrite anything anyway, so root ownership adds no attacker.
 */
export function markerDirDistrust(facts: TrustFacts, uid: number): string | null {
  if (facts.type === "symlink") return "marker directory is a symlink";
  if (facts.type !== "directory") return "marker directory is not a directory";
  if (facts.uid !== uid && facts.uid !== 0)
    return `marker directory is owned by uid ${facts.uid}, not ${uid}`;
  if (facts.mode & 0o002) return "marker directory is world-writable";
  if (facts.mode & 0o020) return "marker directory is group-writable";
  return null;
}

function currentUid(): number | undefined {
  return typeof process.getuid === "function" ? process.getuid() : undefined;
}

function foldedMessage(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  // V8 quotes a snippet of the input; it must not smuggle escape sequences or newlines into output.
  // biome-ignore lint/suspicious/noControlCharactersInRegex: stripping control characters is the point
  const folded = text.replace(/[\u0000-\u001f\u007f\s]+/g, " ").trim();
  return folded.length > 120 ? `${folded.slice(0, 117)}...` : folded;
}

/**
 * Reads and validates the runtime marker. Never throws: every failure is a status with a one-line
 * reason suitable for preflight evidence.
 */
export function readRuntimeMarker(markerPath: string, options: ReadMarkerOptions = {}): MarkerReadResult {
  const uid = options.uid ?? currentUid();
  if (uid === undefined) return { status: "untrusted", reason: "cannot determine the current user" };

  const dir = path.dirname(markerPath);
  let dirStat: fs.Stats;
  try {
    dirStat = fs.lstatSync(dir);
  } catch (error) {
    const code = errnoCode(error);
    if (code === "ENOENT" || code === "ENOTDIR") return { status: "absent" };
    return { status: "untrusted", reason: `cannot inspect marker directory: ${code}` };
  }
  const dirProblem = markerDirDistrust(trustFactsOf(dirStat), uid);
  if (dirProblem !== null) return { status: "untrusted", reason: dirProblem };

  let fd: number;
  try {
    // O_NONBLOCK: a FIFO planted at the marker path must not hang the preflight on open.
    fd = fs.openSync(markerPath, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
  } catch (error) {
    const code = errnoCode(error);
    if (code === "ENOENT") return { status: "absent" };
    if (code === "ELOOP") return { status: "untrusted", reason: "marker is a symlink" };
    return { status: "untrusted", reason: `cannot open marker: ${code}` };
  }

  let raw: Buffer;
  try {
    const fileProblem = markerFileDistrust(trustFactsOf(fs.fstatSync(fd)), uid);
    if (fileProblem !== null) return { status: "untrusted", reason: fileProblem };
    const buf = Buffer.alloc(MARKER_SIZE_LIMIT + 1);
    let total = 0;
    while (total < buf.length) {
      const n = fs.readSync(fd, buf, total, buf.length - total, null);
      if (n === 0) break;
      total += n;
    }
    if (total > MARKER_SIZE_LIMIT) {
      return { status: "invalid", reason: `marker is larger than ${MARKER_SIZE_LIMIT} bytes` };
    }
    raw = buf.subarray(0, total);
  } catch (error) {
    return { status: "untrusted", reason: `cannot read marker: ${errnoCode(error)}` };
  } finally {
    fs.closeSync(fd);
  }

  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(raw);
  } catch {
    return { status: "invalid", reason: "marker is not valid UTF-8" };
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    return { status: "invalid", reason: `marker is not valid JSON: ${foldedMessage(error)}` };
  }
  const validation = validateRuntimeMarker(parsed);
  if (!validation.ok) return { status: "invalid", reason: validation.reason };
  return { status: "ok", marker: validation.marker };
}

/**
 * Creates `dir` with mode 0700 (tightening an existing one). Refuses a symlink or a directory owned
 * by someone else: `readRuntimeMarker` would distrust anything written there anyway. Exported so
 * `onboard` can check the gateway state directory before it launches anything into it.
 */
export function ensurePrivateDir(dir: string): void {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const st = fs.lstatSync(dir);
  if (st.isSymbolicLink()) throw new Error(`gateway state directory ${dir} is a symlink`);
  if (!st.isDirectory()) throw new Error(`gateway state directory ${dir} is not a directory`);
  const uid = currentUid();
  if (uid !== undefined && st.uid !== uid) {
    throw new Error(`gateway state directory ${dir} is owned by uid ${st.uid}, not ${uid}`);
  }
  if ((st.mode & 0o777) !== 0o700) fs.chmodSync(dir, 0o700);
}

/** Replaces `dir/name` atomically and durably, in a private (0700) directory. */
function writeFileAtomic(dir: string, name: string, content: string): void {
  ensurePrivateDir(dir);
  writeAtomic(path.join(dir, name), content, 0o600);
}

/** Writes `<dir>/runtime.json` atomically (file 0600, dir 0700). Throws on an invalid marker or I/O error. */
export function writeRuntimeMarker(dir: string, marker: RuntimeMarker): void {
  const validation = validateRuntimeMarker(marker);
  if (!validation.ok) throw new TypeError(`refusing to write runtime marker: ${validation.reason}`);
  const m = validation.marker;
  // Key order as documented in docs/design.md, "OpenShell output forms handled", so markers written by either implementation diff cleanly.
  const ordered: Record<string, unknown> = { version: m.version, pid: m.pid };
  if (m.driver !== undefined) ordered.driver = m.driver;
  if (m.platform !== undefined) ordered.platform = m.platform;
  if (m.arch !== undefined) ordered.arch = m.arch;
  ordered.endpoint = m.endpoint;
  if (m.desiredEnvHash !== undefined) ordered.desiredEnvHash = m.desiredEnvHash;
  ordered.gatewayBin = m.gatewayBin;
  ordered.openshellVersion = m.openshellVersion;
  if (m.dockerHost !== undefined) ordered.dockerHost = m.dockerHost;
  ordered.createdAt = m.createdAt;
  writeFileAtomic(dir, RUNTIME_MARKER_FILE, `${JSON.stringify(ordered, null, 2)}\n`);
}

/** Writes `<dir>/openshell-gateway.pid` (`<pid>\n`) atomically. Throws on an implausible pid or I/O error. */
export function writeGatewayPidFile(dir: string, pid: number): void {
  if (!isPlausiblePid(pid))
    throw new TypeError(`refusing to write gateway pid file: invalid pid ${show(pid)}`);
  writeFileAtomic(dir, GATEWAY_PID_FILE, `${pid}\n`);
}

/**
 * Removes the marker and the pid file (missing files are fine). Called when the gateway they
 * describe is stopped, so no marker is left pointing at a dead or recycled pid.
 */
export function removeRuntimeMarker(dir: string): void {
  let removed = false;
  for (const name of [RUNTIME_MARKER_FILE, GATEWAY_PID_FILE]) {
    try {
      fs.unlinkSync(path.join(dir, name));
      removed = true;
    } catch (error) {
      if (errnoCode(error) !== "ENOENT" && errnoCode(error) !== "ENOTDIR") throw error;
    }
  }
  if (removed) fsyncDir(dir);
}
