/**
 * The EXIT CODES block every command's --help ends with: exactly the codes that command can
 * return (docs/design.md, "Exit codes"), each in that command's words.
 */
export type ExitCodeLines = ReadonlyArray<readonly [number, string]>;

const INTERRUPTED: ExitCodeLines = [
  [130, "interrupted by SIGINT (after cleanup and the summary)"],
  [143, "interrupted by SIGTERM (after cleanup and the summary)"],
];

const USAGE = "usage error: bad flag or argument, unknown sandbox";
const USAGE_CONFIRM = `${USAGE}, or no --yes without a terminal`;
const REFUSED =
  "refused by the gateway preflight (drift, schema mismatch; unknown with --strict); nothing changed";
const LOCK = "maintenance lock held by another command";

/** Per command id, the codes of SPEC §21 ("Precisely") and their meaning for that command. */
export const COMMAND_EXIT_CODES: Record<string, ExitCodeLines> = {
  status: [
    [0, "safe to upgrade: preflight compatible, every sandbox current and backed up"],
    [1, "something needs action (the commands to run are printed)"],
    [2, USAGE],
    [3, REFUSED],
    [4, "gateway unreachable or not registered, openshell missing, restic repository unusable"],
  ],
  "gateway preflight": [
    [0, "compatible, or unknown (with a warning) without --strict"],
    [2, USAGE],
    [3, REFUSED],
    [4, "openshell not found"],
  ],
  "backup-all": [
    [0, "every sandbox backed up (skips allowed without --require-all)"],
    [1, "a sandbox failed (or was skipped, with --require-all), or --push failed"],
    [2, USAGE],
    [3, REFUSED],
    [4, `gateway unreachable, openshell missing, registry unreadable, ${LOCK}, restic repository unusable`],
    ...INTERRUPTED,
  ],
  "backups list": [
    [0, "listed (also when there are none)"],
    [2, USAGE],
    [4, "backups root or restic repository unreadable"],
  ],
  "backups verify": [
    [0, "every backup checked is intact"],
    [1, "a backup is missing files, changed or corrupt"],
    [2, USAGE],
    [4, "backups root or restic repository unreadable"],
  ],
  "backups prune": [
    [0, "pruned (or, with --dry-run, reported)"],
    [1, "a backup could not be removed (the others were)"],
    [2, USAGE],
    [4, LOCK],
  ],
  "backups push": [
    [0, "every backup is in the repository"],
    [1, "a backup failed to push (the others were pushed)"],
    [2, `${USAGE}, or no repository configured`],
    [4, `restic repository unusable (password, unreachable, locked), ${LOCK}`],
    ...INTERRUPTED,
  ],
  restore: [
    [0, "restored and verified"],
    [1, "failed or declined (after a change: the way back is printed)"],
    [2, USAGE_CONFIRM],
    [3, REFUSED],
    [4, `no usable backup, gateway unreachable, openshell missing, ${LOCK}`],
    ...INTERRUPTED,
  ],
  "upgrade-sandboxes": [
    [0, "nothing left to do (with --check: every sandbox current)"],
    [1, "a rebuild failed (with --check: a sandbox is stale, unknown, missing or interrupted)"],
    [2, USAGE_CONFIRM],
    [3, REFUSED],
    [4, `gateway unreachable, openshell missing, registry unreadable, ${LOCK}`],
    [130, "interrupted by SIGINT (not with --check: it writes nothing)"],
    [143, "interrupted by SIGTERM (not with --check)"],
  ],
  onboard: [
    [0, "the gateway is healthy (started, restarted or already so)"],
    [1, "the gateway did not become healthy (stopped again; its log is shown)"],
    [2, USAGE],
    [3, "the gateway binary beside openshell is of another version (reinstall OpenShell first)"],
    [4, `openshell or openshell-gateway missing, an unhealthy gateway without --resume, ${LOCK}`],
    ...INTERRUPTED,
  ],
  "operations list": [
    [0, "nothing unfinished"],
    [1, "unfinished operations (each with the command that finishes it)"],
    [2, USAGE],
    [4, "operations directory unreadable"],
  ],
  "operations abandon": [
    [0, "dropped"],
    [1, "declined: nothing changed"],
    [2, USAGE_CONFIRM],
    [4, `the journal's writer is still running, ${LOCK}`],
  ],
};

export function exitCodesHelp(commandId: string): string {
  const lines = COMMAND_EXIT_CODES[commandId];
  if (!lines) throw new Error(`no exit codes documented for ${commandId}`);
  return ["EXIT CODES", ...lines.map(([code, text]) => `  ${String(code).padEnd(4)}${text}`)].join("\n");
}
