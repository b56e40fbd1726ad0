import fs from "node:fs";
import path from "node:path";
import { scanTree, uploadSource } from "../adapters/backup-store.js";
import { ManifestReader, manifestFiles } from "../adapters/manifest-stream.js";
import type { CreateForm } from "../adapters/openshell-cli.js";
import { OutputFormatError, parseSandboxGet, parseSandboxList } from "../adapters/openshell-output.js";
import { lifecycleSeconds, type RunResult } from "../adapters/process-runner.js";
import type { Context } from "../context.js";
import {
  bytesPerStateDir,
  differenceCount,
  entryBytes,
  MANIFEST_FILE,
  type ManifestFile,
  type ManifestHeader,
  stateDirIndex,
  type TreeComparison,
  TreeMerge,
} from "../domain/backup-manifest.js";
import { EnvironmentError } from "../domain/errors.js";
import { isValidSandboxName } from "../domain/names.js";
import type { SandboxRow } from "../domain/preflight-types.js";
import { CREATE_DETACH_SINCE } from "../domain/sandbox-phases.js";
import { foldExcerpt } from "../domain/schema-mismatch.js";
import { isAtLeast } from "../domain/versions.js";
import { checkPhase, checkStateQuery, type PreflightReport, type ReactiveContext } from "./preflight.js";
import { UploadMeter, type UploadProgress } from "./upload-progress.js";

/** A step that changes a sandbox failed (create, rm, upload, readiness, verification). */
export class SandboxStepError extends Error {
  constructor(
    readonly step: string,
    message: string,
  ) {
    super(message);
    this.name = "SandboxStepError";
  }
}

export type SandboxPresence = { exists: true; phase: string } | { exists: false };

type Reactive = Omit<ReactiveContext, "query">;

function excerpt(text: string): string {
  return foldExcerpt(text, 200);
}

/**
 * `sandbox get` through the reactive check. "Absent" is concluded only from OpenShell's own
 * `sandbox not found` answer — never from a failed or mismatched query (those throw).
 */
export async function sandboxPresence(reactive: Reactive, name: string): Promise<SandboxPresence> {
  const { report } = reactive;
  const result = await report.openshell.sandboxGet(report.gatewayName, name);
  const failure = checkStateQuery(result, { ...reactive, query: `sandbox get ${name}` });
  if (failure?.kind === "not_found") return { exists: false };
  if (failure || result.exitCode !== 0) {
    throw new EnvironmentError(
      "openshell_failed",
      `\`openshell sandbox get ${name}\` failed: ${failure?.excerpt ?? ""}`,
    );
  }
  const phase = parseSandboxGet(result.stdout).phase ?? "Unknown";
  checkPhase(phase, { ...reactive, query: `sandbox get ${name}` }, result.stdout);
  return { exists: true, phase };
}

/** Polls `sandbox get` until Ready, bounded by NEMOCLAW_SANDBOX_READY_TIMEOUT_MS. */
export async function waitForReady(ctx: Context, reactive: Reactive, name: string): Promise<void> {
  const deadline = ctx.clock() + ctx.settings.sandboxReadyTimeoutMs;
  let last = "unknown";
  for (let delay = 200; ; delay = Math.min(delay * 2, 2000)) {
    const presence = await sandboxPresence(reactive, name);
    if (presence.exists && presence.phase === "Ready") return;
    last = presence.exists ? presence.phase : "absent";
    if (presence.exists && presence.phase === "Error") {
      throw new SandboxStepError("wait-ready", `sandbox ${name} entered phase Error`);
    }
    if (ctx.abort.signal.aborted)
      throw new SandboxStepError("wait-ready", `interrupted by ${ctx.abort.signal.reason}`);
    if (ctx.clock() + delay > deadline) {
      throw new SandboxStepError(
        "wait-ready",
        `sandbox ${name} was not Ready within ${ctx.settings.sandboxReadyTimeoutMs} ms (last phase: ${last})`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, delay));
  }
}

/** Polls `sandbox get` until the sandbox is gone (a delete still under way), bounded like Ready. */
export async function waitForGone(ctx: Context, reactive: Reactive, name: string): Promise<void> {
  const deadline = ctx.clock() + ctx.settings.sandboxReadyTimeoutMs;
  for (let delay = 200; ; delay = Math.min(delay * 2, 2000)) {
    const presence = await sandboxPresence(reactive, name);
    if (!presence.exists) return;
    if (ctx.abort.signal.aborted)
      throw new SandboxStepError("wait-deleted", `interrupted by ${ctx.abort.signal.reason}`);
    if (ctx.clock() + delay > deadline) {
      throw new SandboxStepError(
        "wait-deleted",
        `sandbox ${name} was still ${presence.phase} after ${ctx.settings.sandboxReadyTimeoutMs} ms`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, delay));
  }
}

/**
 * A create, start or stop that was cut (killed at its bound) or failed: it may well have changed
 * the sandbox (the real CLI creates first, then waits for Ready). Never "nothing was changed".
 */
export class LifecycleOutcomeUnknown extends SandboxStepError {
  readonly code = "lifecycle_outcome_unknown";
  constructor(step: LifecycleStep, message: string) {
    super(step, message);
    this.name = "LifecycleOutcomeUnknown";
  }
}

export type LifecycleStep = "create" | "start" | "stop";

/** The phase `sandbox get` reports now, for a message; "unknown" when it cannot be read, "absent" when gone. */
export async function phaseForMessage(reactive: Reactive, name: string): Promise<string> {
  try {
    const presence = await sandboxPresence(reactive, name);
    return presence.exists ? presence.phase : "absent";
  } catch {
    return "unknown";
  }
}

/**
 * The message of a cut or failed lifecycle call (docs/design.md, "Lifecycle calls"):
 * ``openshell sandbox <step> <name>` did not finish within <N>s; the sandbox may have changed
 * (now: <phase>); look before retrying`, with the CLI's own error for a call that exited non-zero.
 */
export function lifecycleMessage(
  step: LifecycleStep,
  name: string,
  seconds: number,
  now: string,
  detail?: string,
): string {
  return `\`openshell sandbox ${step} ${name}\` did not finish within ${seconds}s${
    detail ? ` (${detail})` : ""
  }; the sandbox may have changed (now: ${now}); look before retrying`;
}

/** What went wrong with a lifecycle call's process, in a few words (null: it exited 0). */
export function lifecycleDetail(result: RunResult): string | null {
  if (result.exitCode === 0) return null;
  if (result.timedOut) return "killed at the bound";
  if (result.aborted) return "interrupted";
  if (result.startError) return `could not run openshell: ${result.startError}`;
  return `exit ${result.exitCode ?? result.signal}: ${excerpt(result.stderr || result.stdout)}`;
}

/** The installed OpenShell decides the create form; unreadable → null (refuse before any delete). */
export function createFormFor(installedVersion: string | null): CreateForm | null {
  if (installedVersion === null) return null;
  return isAtLeast(installedVersion, CREATE_DETACH_SINCE) ? "detach" : "true-command";
}

/**
 * `sandbox create` in the form the installed OpenShell takes, then `sandbox get` until Ready:
 * success is a Ready sandbox within the ready timeout, not the exit code alone. A create that
 * was cut or failed (a mismatch aside) is LifecycleOutcomeUnknown.
 */
export async function createSandbox(
  ctx: Context,
  reactive: Reactive,
  name: string,
  image: string,
  track?: (pid: number) => void,
): Promise<void> {
  const { report } = reactive;
  const form = createFormFor(report.preflight.installedVersion);
  if (form === null) {
    throw new SandboxStepError(
      "create",
      "the installed OpenShell version could not be read, so the form of `sandbox create` is unknown; nothing was created",
    );
  }
  const result = await report.openshell.sandboxCreate(report.gatewayName, name, image, form, track);
  const detail = lifecycleDetail(result);
  if (detail !== null) {
    if (!result.timedOut && !result.aborted && !result.startError) {
      // A decode error or an unknown gateway is still a refusal / exit 4, not a lifecycle failure.
      checkStateQuery(result, { ...reactive, query: `sandbox create ${name}` });
    }
    const now = await phaseForMessage(reactive, name);
    throw new LifecycleOutcomeUnknown(
      "create",
      lifecycleMessage("create", name, lifecycleSeconds(ctx.settings.sandboxReadyTimeoutMs), now, detail),
    );
  }
  checkStateQuery(result, { ...reactive, query: `sandbox create ${name}` });
  await waitForReady(ctx, reactive, name);
}

async function mustSucceed(
  reactive: Reactive,
  step: string,
  query: string,
  run: () => ReturnType<Context["runner"]["run"]>,
) {
  const result = await run();
  checkStateQuery(result, { ...reactive, query });
  if (result.exitCode !== 0) {
    throw new SandboxStepError(
      step,
      `${query} failed${result.timedOut ? " (timed out)" : ""}: ${excerpt(result.stderr || result.stdout) || `exit ${result.exitCode}`}`,
    );
  }
}

/**
 * Replaces each state dir inside the sandbox with the backup's copy: `rm -rf <dir>`, then
 * `upload <backup>/<basename> <parent> --no-git-ignore`. Dirs absent at backup time are
 * removed. `onMutated` is called before the first destructive step, so the caller can switch
 * its reactive diagnostics to the "sandbox was modified" wording.
 */
export interface RestoreStateOptions {
  onMutated?: () => Reactive;
  /** Gets the pid of every OpenShell child (the journal records it). */
  track?: (pid: number) => void;
  /** Upload progress against the manifest's bytes (docs/design.md, "Upload progress"). */
  onUpload?: (progress: UploadProgress) => void;
}

export async function restoreStateDirs(
  ctx: Context,
  reactive: Reactive,
  name: string,
  backup: { path: string; manifest: ManifestHeader },
  options: RestoreStateOptions = {},
): Promise<Reactive> {
  const { onMutated, track, onUpload } = options;
  const { report } = reactive;
  let current = reactive;
  const mutated = () => {
    current = onMutated?.() ?? current;
  };
  for (const dir of [...backup.manifest.backedUpDirs, ...backup.manifest.absentDirs]) {
    mutated();
    await mustSucceed(current, "rm", `sandbox exec ${name} -- rm -rf ${dir}`, () =>
      report.openshell.sandboxExec(
        report.gatewayName,
        name,
        ["rm", "-rf", dir],
        ctx.settings.probeTimeoutMs,
        track,
      ),
    );
  }
  // Streamed from the manifest: one pass, constant memory.
  const perDir = bytesPerStateDir(backup.manifest.backedUpDirs, manifestFiles(backup.path));
  const meter = onUpload
    ? new UploadMeter(
        ctx,
        [...perDir.values()].reduce((a, b) => a + b, 0),
        onUpload,
      )
    : undefined;
  for (const dir of backup.manifest.backedUpDirs) {
    let local: string;
    try {
      local = uploadSource(backup.path, dir);
    } catch (error) {
      throw new SandboxStepError("upload", (error as Error).message);
    }
    const metered = meter?.begin(perDir.get(dir) ?? 0);
    let succeeded = false;
    try {
      await mustSucceed(current, "upload", `sandbox upload ${name} ${dir}`, () =>
        report.openshell.sandboxUpload(
          report.gatewayName,
          name,
          local,
          path.posix.dirname(dir),
          ctx.settings.transferTimeoutMs,
          (pid) => {
            track?.(pid);
            metered?.track(pid);
          },
        ),
      );
      succeeded = true;
    } finally {
      metered?.end(succeeded);
    }
  }
  return current;
}

export function restoreScratchRoot(ctx: Context): string {
  return path.join(ctx.settings.paths.stateRoot, "restore-verify");
}

const UTF8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** An entry's path as an argument: its exact bytes as text, or null when they are not UTF-8. */
function argvText(f: ManifestFile): string | null {
  try {
    return UTF8.decode(entryBytes(f));
  } catch {
    return null;
  }
}

/** Bytes of chmod operands per `sandbox exec`, far below any ARG_MAX. */
const CHMOD_ARGV_BYTES = 64 * 1024;

/**
 * The `chmod` commands that give restored files back their recorded modes: one per mode (files
 * grouped by mode), split only if the operand list would get very long. Paths are absolute
 * sandbox paths built from the manifest's own state dirs; a name that is not valid UTF-8
 * cannot be passed as an argument and is left out (it stays reported as a mode mismatch).
 */
export function chmodCommands(
  manifest: Pick<ManifestHeader, "backedUpDirs">,
  repairs: Map<string, ManifestFile[]>,
): string[][] {
  const stateDirOf = stateDirIndex(manifest.backedUpDirs);
  const commands: string[][] = [];
  for (const [mode, files] of repairs) {
    let argv = ["chmod", mode];
    let bytes = 0;
    for (const f of files) {
      const rel = argvText(f);
      if (rel === null) continue;
      const dir = stateDirOf(rel);
      if (!dir) continue;
      const target = `${dir}/${rel.slice(rel.indexOf("/") + 1)}`;
      if (bytes + target.length > CHMOD_ARGV_BYTES && argv.length > 2) {
        commands.push(argv);
        argv = ["chmod", mode];
        bytes = 0;
      }
      argv.push(target);
      bytes += target.length + 1;
    }
    if (argv.length > 2) commands.push(argv);
  }
  return commands;
}

/** Permission bits a sandbox user's umask 022 (OpenShell's default) removes on upload. */
const UMASK_022_BITS = 0o022;

/**
 * After an upload without a verifying re-download (the rebuild of upgrade-sandboxes): sets back
 * the recorded mode of every file whose group/other write bits the sandbox user's umask 022
 * removed, with one `chmod` per mode. Returns how many files it asked to change.
 */
export async function reapplyUmaskedModes(
  ctx: Context,
  reactive: Reactive,
  name: string,
  backup: { path: string; manifest: ManifestHeader },
): Promise<number> {
  const { report } = reactive;
  const { manifest } = backup;
  const byMode = new Map<string, ManifestFile[]>();
  for (const f of manifestFiles(backup.path)) {
    if (f.mode === undefined || f.symlink !== undefined) continue;
    if ((Number.parseInt(f.mode, 8) & UMASK_022_BITS) === 0) continue;
    const group = byMode.get(f.mode);
    if (group) group.push(f);
    else byMode.set(f.mode, [f]);
  }
  let changed = 0;
  for (const argv of chmodCommands(manifest, byMode)) {
    await mustSucceed(
      reactive,
      "restore-modes",
      `sandbox exec ${name} -- chmod ${argv[1]} (${argv.length - 2} files)`,
      () => report.openshell.sandboxExec(report.gatewayName, name, argv, ctx.settings.probeTimeoutMs),
    );
    changed += argv.length - 2;
  }
  return changed;
}

/**
 * Proves a restore: downloads every backed-up dir again into a scratch directory under the
 * state root and compares hashes and modes with the manifest. An upload applies the sandbox
 * user's umask, so modes that differ while the content matches are repaired with `chmod`
 * (never through a shell) and the state is downloaded and compared once more. The scratch
 * directory is always removed.
 */
export async function verifyRestoredState(
  ctx: Context,
  reactive: Reactive,
  name: string,
  backup: { path: string; manifest: ManifestHeader },
): Promise<TreeComparison & { ok: boolean; repairedModes: number }> {
  const { report } = reactive;
  const { manifest } = backup;
  let comparison = await downloadAndCompare(ctx, reactive, name, backup);
  let repairedModes = 0;
  if (comparison.repairs.size > 0) {
    for (const argv of chmodCommands(manifest, comparison.repairs)) {
      await mustSucceed(
        reactive,
        "verify",
        `sandbox exec ${name} -- chmod ${argv[1]} (${argv.length - 2} files)`,
        () => report.openshell.sandboxExec(report.gatewayName, name, argv, ctx.settings.probeTimeoutMs),
      );
      repairedModes += argv.length - 2;
    }
    comparison = await downloadAndCompare(ctx, reactive, name, backup);
  }
  const { repairs: _, ...rest } = comparison;
  return { ...rest, ok: differenceCount(rest) === 0, repairedModes };
}

async function downloadAndCompare(
  ctx: Context,
  reactive: Reactive,
  name: string,
  backup: { path: string; manifest: ManifestHeader },
): Promise<TreeComparison & { repairs: Map<string, ManifestFile[]> }> {
  const { report } = reactive;
  const { manifest } = backup;
  const scratchRoot = restoreScratchRoot(ctx);
  fs.mkdirSync(scratchRoot, { recursive: true, mode: 0o700 });
  const scratch = fs.mkdtempSync(path.join(scratchRoot, `${name}-`));
  try {
    for (const dir of manifest.backedUpDirs) {
      await mustSucceed(reactive, "verify", `sandbox download ${name} ${dir}`, () =>
        report.openshell.sandboxDownload(
          report.gatewayName,
          name,
          dir,
          path.join(scratch, path.posix.basename(dir)),
          ctx.settings.transferTimeoutMs,
        ),
      );
    }
    // The manifest entry by entry against a sorted walk of the download (a merge join): memory
    // holds the differences only. Special files in the sandbox are not part of a backup: never a
    // difference.
    const reader = new ManifestReader(path.join(backup.path, MANIFEST_FILE));
    try {
      const merge = new TreeMerge(() => reader.nextKeyed(), true);
      await scanTree(scratch, { skipped: [] }, (f, key) => merge.actual(f, key));
      return { ...merge.finish(), repairs: merge.repairs };
    } finally {
      reader.close();
    }
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}

/** Rows a `sandbox list` page asks for: the most the gateway serves in one page. */
export const LIST_PAGE_SIZE = 1000;

/**
 * Every sandbox of the gateway, through the reactive check: mismatch → exit 3, unreachable →
 * exit 4. `sandbox list` returns at most `--limit` rows (default 100), so it is paged with
 * `--limit 1000 --offset K` until a page is short; `No sandboxes found.` is an empty page; rows
 * are de-duplicated by name (a sandbox created between two pages may shift into the next one).
 * A phase outside the known set refuses (schema mismatch). Each name in `confirm` (registered
 * sandboxes) that no page listed is looked up with `sandbox get` before anyone may call it missing.
 */
export async function listSandboxes(
  report: PreflightReport,
  policy: { action: string; rerunCommand: string; strict: boolean },
  confirm: readonly string[] = [],
) {
  const reactive = { ...policy, report };
  const listed = new Map<string, SandboxRow>();
  for (let offset = 0; ; offset += LIST_PAGE_SIZE) {
    const result = await report.openshell.sandboxList(report.gatewayName, { limit: LIST_PAGE_SIZE, offset });
    checkStateQuery(result, { ...reactive, query: "sandbox list" });
    if (result.exitCode !== 0) {
      throw new EnvironmentError(
        "openshell_failed",
        `\`openshell sandbox list -g ${report.gatewayName}\` failed (exit ${result.exitCode}): ${foldExcerpt(result.stderr || result.stdout, 200)}`,
      );
    }
    let rows: SandboxRow[];
    try {
      rows = parseSandboxList(result.stdout);
    } catch (error) {
      if (error instanceof OutputFormatError) {
        // Never guess sandbox state from output we do not understand.
        throw new EnvironmentError(
          "openshell_output_unrecognised",
          `unrecognised \`openshell sandbox list\` output: ${error.message}`,
        );
      }
      throw error;
    }
    for (const row of rows) {
      checkPhase(row.phase, { ...reactive, query: "sandbox list" }, result.stdout);
      if (!listed.has(row.name)) listed.set(row.name, row);
    }
    if (rows.length < LIST_PAGE_SIZE) break;
  }
  for (const name of confirm) {
    if (listed.has(name) || !isValidSandboxName(name)) continue;
    const presence = await sandboxPresence(reactive, name);
    if (presence.exists) listed.set(name, { name, created: null, phase: presence.phase });
  }
  return listed;
}
