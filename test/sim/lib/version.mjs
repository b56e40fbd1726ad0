// Version parsing for the simulator: which output form a configured CLI version prints, and which
// version a cluster image serves. Semver-like, with build metadata ignored (`0.0.4-dev.6+g2bf9969`).

const VERSION_RE = /^v?(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$/;

export function parseVersion(text) {
  const m = VERSION_RE.exec(String(text ?? "").trim());
  if (!m) return null;
  return { core: [Number(m[1]), Number(m[2]), Number(m[3])], pre: m[4] ? m[4].split(".") : [] };
}

/** Semver precedence: numeric core, then a prerelease sorts before the release. */
export function compareVersions(a, b) {
  const va = parseVersion(a);
  const vb = parseVersion(b);
  if (!va || !vb) throw new Error(`not a version: ${va ? b : a}`);
  for (let i = 0; i < 3; i++) {
    if (va.core[i] !== vb.core[i]) return va.core[i] < vb.core[i] ? -1 : 1;
  }
  if (va.pre.length === 0 || vb.pre.length === 0) return vb.pre.length - va.pre.length;
  for (let i = 0; i < Math.max(va.pre.length, vb.pre.length); i++) {
    const x = va.pre[i];
    const y = vb.pre[i];
    if (x === undefined) return -1;
    if (y === undefined) return 1;
    if (x === y) continue;
    const nx = /^\d+$/.test(x);
    const ny = /^\d+$/.test(y);
    if (nx && ny) return Number(x) < Number(y) ? -1 : 1;
    if (nx !== ny) return nx ? -1 : 1;
    return x < y ? -1 : 1;
  }
  return 0;
}

/**
 * Does a CLI of version `version` print the form introduced in `since`? An unparseable configured
 * version is treated as the newest build, so every modern form is printed.
 */
export function atLeast(version, since) {
  if (!parseVersion(version)) return true;
  return compareVersions(version, since) >= 0;
}

/**
 * Version a cluster image serves: `…/openshell/cluster:<tag>` → the tag; a NemoClaw-patched
 * `…/nemoclaw-cluster:<v>-<suffix>` → the leading MAJOR.MINOR.PATCH (the suffix is a build
 * flavour, not a prerelease). Anything else → null.
 */
export function versionFromImage(ref) {
  const withoutDigest = String(ref).split("@")[0];
  const slash = withoutDigest.lastIndexOf("/");
  const colon = withoutDigest.lastIndexOf(":");
  if (colon <= slash) return null;
  const repo = withoutDigest.slice(0, colon);
  const tag = withoutDigest.slice(colon + 1);
  if (repo.endsWith("/nemoclaw-cluster")) {
    const m = /^v?(\d+\.\d+\.\d+)(?:-|$)/.exec(tag);
    return m ? m[1] : null;
  }
  if (repo === "openshell/cluster" || repo.endsWith("/openshell/cluster")) {
    return parseVersion(tag) ? tag.replace(/^v/, "") : null;
  }
  return null;
}
