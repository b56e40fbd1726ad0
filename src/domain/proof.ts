import type { TreeComparison } from "./backup-manifest.js";
import { neutralizeControls } from "./display.js";

/**
 * Prove before destroy (docs/design.md, "Prove before destroy"): every destructive step destroys
 * only state held by a backup re-verified by content just before it, or written by this same
 * run and not yet handed to the agent. This module words the proofs that fail.
 */

/** The first file that makes a comparison fail, with what is wrong with it; null when none. */
export function firstBadFile(c: TreeComparison): { path: string; problem: string } | null {
  const all = [
    ...c.changed.map((p) => ({ path: p, problem: "content differs" })),
    ...c.missing.map((p) => ({ path: p, problem: "missing" })),
    ...c.modeChanged.map((p) => ({ path: p, problem: "mode differs" })),
    ...c.extra.map((p) => ({ path: p, problem: "not in the manifest" })),
  ];
  all.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return all[0] ?? null;
}

/**
 * `backup <path> failed its re-hash: first bad file <file> (content differs); 0 missing, 1
 * changed, …` — the one line for a backup that no longer proves what it holds.
 */
export function rehashFailure(
  backupPath: string,
  check: TreeComparison & { corrupt?: string; vanished?: boolean },
): string {
  if (check.corrupt) return `backup ${backupPath} is corrupt (${check.corrupt})`;
  const first = firstBadFile(check);
  const counts = `${check.missing.length} missing, ${check.changed.length} changed, ${check.modeChanged.length} with another mode, ${check.extra.length} extra files`;
  return first
    ? // The name comes from the sandbox: escaped (docs/design.md, "Hostile names").
      `backup ${backupPath} failed its re-hash: first bad file ${neutralizeControls(first.path)} (${first.problem}); ${counts}`
    : `backup ${backupPath} failed its re-hash (${counts})`;
}
