import semver from "semver";
import { stripAnsi } from "./schema-mismatch.js";

/**
 * Version handling for OpenShell (semver, including dev builds like `0.0.4-dev.6+g2bf9969`) and
 * agents (semver or calendar versions like `2026.7.1`). Strict semver rejects calendar versions
 * with leading zeros and 4-part versions, so the numeric core is compared here and only the
 * prerelease identifiers use semver's rules.
 */

export interface ParsedVersion {
  /** Numeric core with leading zeros removed, e.g. ["2026", "7", "1"] (strings: no precision loss). */
  core: string[];
  /** Prerelease identifiers, e.g. ["dev", "6"]; empty for a release. */
  prerelease: string[];
  /** Build metadata; never part of a comparison. */
  build?: string;
}

const IDENT = "[0-9A-Za-z-]+";
const VERSION_BODY = `\\d+(?:\\.\\d+)+(?:-${IDENT}(?:\\.${IDENT})*)?(?:\\+${IDENT}(?:\\.${IDENT})*)?`;
const VERSION_EXACT = new RegExp(`^v?(${VERSION_BODY})$`, "i");
// Not preceded by a word character or dot, so `x86_64` or `1.2.3.4` tails are not taken for a version.
const VERSION_TOKEN = new RegExp(`(?<![0-9A-Za-z_.])v?(${VERSION_BODY})(?![0-9A-Za-z_])`, "i");

/** Parse a version string (optional leading `v`, 2+ numeric parts, optional prerelease and build). */
export function parseVersion(text: string): ParsedVersion | null {
  const match = VERSION_EXACT.exec(text.trim());
  const body = match?.[1];
  if (body === undefined) return null;
  const plus = body.indexOf("+");
  const withoutBuild = plus === -1 ? body : body.slice(0, plus);
  const build = plus === -1 ? undefined : body.slice(plus + 1);
  const dash = withoutBuild.indexOf("-");
  const coreText = dash === -1 ? withoutBuild : withoutBuild.slice(0, dash);
  const prerelease = dash === -1 ? [] : withoutBuild.slice(dash + 1).split(".");
  const core = coreText.split(".").map((part) => part.replace(/^0+(?=\d)/, ""));
  return build === undefined ? { core, prerelease } : { core, prerelease, build };
}

/** The first version token in a tool's output (`openshell 0.0.44` → `0.0.44`), without a leading `v`. */
export function extractVersion(text: string): string | null {
  const match = VERSION_TOKEN.exec(stripAnsi(text));
  return match?.[1] ?? null;
}

function compareNumericStrings(a: string, b: string): -1 | 0 | 1 {
  if (a.length !== b.length) return a.length < b.length ? -1 : 1;
  if (a === b) return 0;
  return a < b ? -1 : 1;
}

function sign(n: number): -1 | 0 | 1 {
  return n < 0 ? -1 : n > 0 ? 1 : 0;
}

/**
 * Semantic comparison. Build metadata is ignored (two dev builds of the same prerelease from
 * different commits serve the same schema); a prerelease sorts before its release; missing
 * trailing core parts count as 0 (`1.2` == `1.2.0`, `1.2.3.1` > `1.2.3`). null when either side
 * is unparseable.
 */
export function compareVersions(a: string, b: string): -1 | 0 | 1 | null {
  const pa = parseVersion(a);
  const pb = parseVersion(b);
  if (pa === null || pb === null) return null;
  const length = Math.max(pa.core.length, pb.core.length);
  for (let i = 0; i < length; i++) {
    const c = compareNumericStrings(pa.core[i] ?? "0", pb.core[i] ?? "0");
    if (c !== 0) return c;
  }
  if (pa.prerelease.length === 0 || pb.prerelease.length === 0) {
    if (pa.prerelease.length === pb.prerelease.length) return 0;
    return pa.prerelease.length === 0 ? 1 : -1;
  }
  const preLength = Math.max(pa.prerelease.length, pb.prerelease.length);
  for (let i = 0; i < preLength; i++) {
    const x = pa.prerelease[i];
    const y = pb.prerelease[i];
    if (x === undefined) return -1;
    if (y === undefined) return 1;
    const c = semver.compareIdentifiers(x, y);
    if (c !== 0) return sign(c);
  }
  return 0;
}

/** True only when both sides parse and are semantically equal; false for anything unreadable. */
export function versionsEqual(a: string | null | undefined, b: string | null | undefined): boolean {
  if (a == null || b == null) return false;
  return compareVersions(a, b) === 0;
}

/** `version >= minimum`; false when either side is unreadable (fail closed). */
export function isAtLeast(version: string | null | undefined, minimum: string): boolean {
  if (version == null) return false;
  const c = compareVersions(version, minimum);
  return c !== null && c >= 0;
}

/**
 * The OpenShell version a legacy cluster image runs, from its reference:
 * `…/openshell/cluster:<tag>` → the tag as a version; `…/nemoclaw-cluster:<v>-<suffix>` (a
 * NemoClaw-patched image whose suffix names the patch, not a prerelease) → the leading
 * MAJOR.MINOR.PATCH. Anything else — other images, `latest`, digest-only refs — is unknown.
 */
export function clusterImageVersion(imageRef: string): string | null {
  const ref = imageRef.trim();
  const at = ref.indexOf("@");
  const named = at === -1 ? ref : ref.slice(0, at);
  const lastSlash = named.lastIndexOf("/");
  const colon = named.lastIndexOf(":");
  // A colon before the last slash is a registry port (`localhost:5000/…`), not a tag.
  if (colon === -1 || colon < lastSlash) return null;
  const repository = named.slice(0, colon).toLowerCase();
  const tag = named.slice(colon + 1);
  const segments = repository.split("/");
  const last = segments[segments.length - 1];
  const parent = segments[segments.length - 2];
  if (last === "cluster" && parent === "openshell") {
    const match = VERSION_EXACT.exec(tag);
    return match?.[1] ?? null;
  }
  if (last === "nemoclaw-cluster") {
    const match = /^v?(\d+\.\d+\.\d+)(?![0-9])/i.exec(tag);
    const core = match?.[1];
    return core === undefined ? null : core;
  }
  return null;
}
