import fs from "node:fs";
import path from "node:path";
import { hashTree } from "../adapters/backup-store.js";
import { OutputFormatError, parseSandboxGet, parseSandboxList } from "../adapters/openshell-output.js";
import type { Context } from "../context.js";
import { type BackupManifest, compareTrees, type TreeComparison } from "../domain/backup-manifest.js";
import { EnvironmentError } from "../domain/errors.js";
import type { SandboxRow } from "../domain/preflight-types.js";
import { foldExcerpt } from "../domain/schema-mismatch.js";
import { checkStateQuery, type PreflightReport, type ReactiveContext } from "./preflight.js";

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
  return { exists: true, phase: parseSandboxGet(result.stdout).phase ?? "Unknown" };
}

/** Polls `sandbox get` until Ready, bounded by NEMOCLAW_SANDBOX_READY_TIMEOUT_MS. */
export async function waitForReady(ctx: Context, reactive: Reactive, name: string): Promise<void> {
  const deadline = Date.now() + ctx.settings.sandboxReadyTimeoutMs;
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
    if (Date.now() + delay > deadline) {
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
  const deadline = Date.now() + ctx.settings.sandboxReadyTimeoutMs;
  for (let delay = 200; ; delay = Math.min(delay * 2, 2000)) {
    const presence = await sandboxPresence(reactive, name);
    if (!presence.exists) return;
    if (ctx.abort.signal.aborted)
      throw new SandboxStepError("wait-deleted", `interrupted by ${ctx.abort.signal.reason}`);
    if (Date.now() + delay > deadline) {
      throw new SandboxStepError(
        "wait-deleted",
        `sandbox ${name} was still ${presence.phase} after ${ctx.settings.sandboxReadyTimeoutMs} ms`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, delay));
  }
}

/** `sandbox create --name … --from <image> --detach`, then wait for Ready. */
export async function createSandbox(
  ctx: Context,
  reactive: Reactive,
  name: string,
  image: string,
  track?: (pid: number) => void,
): Promise<void> {
  const { report } = reactive;
  const result = await report.openshell.sandboxCreate(report.gatewayName, name, image, track);
  checkStateQuery(result, { ...reactive, query: `sandbox create ${name}` });
  if (result.exitCode !== 0) {
    throw new SandboxStepError("create", `sandbox create failed: ${excerpt(result.stderr || result.stdout)}`);
  }
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
export async function restoreStateDirs(
  ctx: Context,
  reactive: Reactive,
  name: string,
  backup: { path: string; manifest: BackupManifest },
  onMutated?: () => Reactive,
  track?: (pid: number) => void,
): Promise<Reactive> {
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
  for (const dir of backup.manifest.backedUpDirs) {
    const local = path.join(backup.path, path.posix.basename(dir));
    await mustSucceed(current, "upload", `sandbox upload ${name} ${dir}`, () =>
      report.openshell.sandboxUpload(
        report.gatewayName,
        name,
        local,
        path.posix.dirname(dir),
        ctx.settings.transferTimeoutMs,
        track,
      ),
    );
  }
  return current;
}

export function restoreScratchRoot(ctx: Context): string {
  return path.join(ctx.settings.paths.stateRoot, "restore-verify");
}

/** Scratch left by a killed restore. Call only while holding the maintenance lock. */
export function cleanRestoreScratch(ctx: Context): void {
  fs.rmSync(restoreScratchRoot(ctx), { recursive: true, force: true });
}

/**
 * Proves a restore: downloads every backed-up dir again into a scratch directory under the
 * state root and compares hashes with the manifest. The scratch directory is always removed.
 */
export async function verifyRestoredState(
  ctx: Context,
  reactive: Reactive,
  name: string,
  manifest: BackupManifest,
): Promise<TreeComparison & { ok: boolean }> {
  const { report } = reactive;
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
    const actual = await hashTree(scratch);
    const comparison = compareTrees(manifest.files, actual);
    return {
      ...comparison,
      ok: comparison.missing.length + comparison.changed.length + comparison.extra.length === 0,
    };
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}

/** `sandbox list` through the reactive check: mismatch → exit 3, unreachable → exit 4. */
export async function listSandboxes(
  report: PreflightReport,
  policy: { action: string; rerunCommand: string; strict: boolean },
) {
  const result = await report.openshell.sandboxList(report.gatewayName);
  checkStateQuery(result, { ...policy, report, query: "sandbox list" });
  if (result.exitCode !== 0) {
    throw new EnvironmentError(
      "openshell_failed",
      `\`openshell sandbox list -g ${report.gatewayName}\` failed (exit ${result.exitCode}): ${(result.stderr || result.stdout).trim().slice(0, 200)}`,
    );
  }
  try {
    return new Map<string, SandboxRow>(parseSandboxList(result.stdout).map((row) => [row.name, row]));
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
}
