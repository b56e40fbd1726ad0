import { createHash } from "node:crypto";
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { type DriveResult, driveOperation } from "../../src/actions/operation-driver.js";
import type { PreflightReport } from "../../src/actions/preflight.js";
import { type AgentSpec, readAgentCatalog } from "../../src/adapters/agent-catalog.js";
import { createStaging, sealBackup } from "../../src/adapters/backup-store.js";
import { JournalHandle, operationsDir, readJournal } from "../../src/adapters/operations-journal.js";
import type { Context } from "../../src/context.js";
import type { BackupManifest, ManifestHeader } from "../../src/domain/backup-manifest.js";
import { PreflightRefusal } from "../../src/domain/errors.js";
import type { JournalPhase, OperationJournal, OperationKind } from "../../src/domain/operation-journal.js";
import {
  fail,
  fakeContext,
  NO_SUCH_PID,
  ok,
  REPO_ROOT,
  runResult,
  type StubAnswer,
  StubRunner,
} from "./support/stub-runner.js";

// The driver passes no lock timeout to updateRegistryEntry (only `procRoot`), so a held lock
// would cost the default 12 s. Shorten the wait here; record what the driver passed.
const lockOptionsSeen = vi.hoisted(() => [] as unknown[]);
vi.mock("../../src/adapters/registry-lock.js", async (importOriginal) => {
  const mod = await importOriginal<typeof import("../../src/adapters/registry-lock.js")>();
  return {
    ...mod,
    withRegistryLock: <T>(
      lockDir: string,
      options: import("../../src/adapters/registry-lock.js").RegistryLockOptions,
      fn: () => T,
    ) => {
      lockOptionsSeen.push({ ...options });
      return mod.withRegistryLock(lockDir, { timeoutMs: 300, retryMs: 20, ...options }, fn);
    },
  };
});

const SANDBOX = "alpha";
const TS = "2026-11-28T10-00-00-000Z";
const SAFETY_TS = "2026-11-29T09-00-00-000Z";
const A = "/sandbox/.openclaw";
const B = "/sandbox/.config/openclaw";
const GW = ["-g", "nemoclaw", "sandbox"] as const;
const EXEC = [...GW, "exec", "-n", SANDBOX, "--no-tty", "--"] as const;

const UNREACHABLE =
  "Error:   × client error (Connect)\n  ├─▶ tcp connect error\n  ╰─▶ Connection refused (os error 111)\n";
const MISMATCH =
  "Error:   × status: 'Internal error', self: \"failed to decode Protobuf message: Sandbox.metadata: ListSandboxesResponse.sandboxes: invalid wire type: LengthDelimited (expected Varint)\"\n";
const NOT_FOUND = `Error:   × sandbox not found: ${SANDBOX}\n`;
const UPLOAD_FAILED = "Error:   × upload failed: disk quota exceeded\n";

const BACKUP_FILES: Record<string, string> = {
  ".openclaw/config.json": '{"model":"x"}\n',
  ".openclaw/workspace/notes.md": "remember the milk\n",
  ".openclaw/workspace/deep/empty": "",
};

/** Short names for the OpenShell calls, from the recorded argv. */
function label(args: readonly string[]): string {
  const verb = args[3];
  if (args[0] !== "-g" || args[1] !== "nemoclaw" || args[2] !== "sandbox") return `? ${args.join(" ")}`;
  switch (verb) {
    case "get":
    case "delete":
    case "create":
      return verb;
    case "exec": {
      const cmd = args.slice(args.indexOf("--") + 1);
      if (cmd[0] === "rm" && cmd[1] === "-rf") return `rm ${cmd[2]}`;
      if (cmd.join(" ") === "openclaw --version") return "version";
      return `exec ${cmd.join(" ")}`;
    }
    case "upload":
      return `upload ${args[6]}/${path.basename(args[5] as string)}`;
    case "download":
      return `download ${args[5]}`;
    default:
      return `? ${args.join(" ")}`;
  }
}

const DELETE = ["delete", "get"]; // the delete, then waitForGone's first look
const CREATE = ["create", "get"]; // the create, then waitForReady's first look
const RESTORE = ["get", `rm ${A}`, `rm ${B}`, `upload ${A}`];
const VERIFY = ["get", `download ${A}`];

/**
 * A simulated sandbox behind the stub runner: `sandbox get` reports its phase (or `sandbox not
 * found`), delete/create change it, and its state dirs live in a real directory so an upload
 * followed by a download returns the bytes that were uploaded (the verification hashes them).
 */
class SimSandbox {
  phase: string | null = "Ready";
  /** Phases `sandbox get` reports first, one per call, before `phase`. */
  readonly getPhases: string[] = [];
  /** Every call from now on answers "connection refused". */
  unreachable = false;
  /** What each call saw in the journal file when it was issued. */
  readonly seen: { call: string; phase: JournalPhase | null; child: number | null }[] = [];

  constructor(
    readonly fsRoot: string,
    private readonly stateRoot: string,
  ) {
    mkdirSync(fsRoot, { recursive: true });
  }

  local(dir: string): string {
    return path.join(this.fsRoot, dir);
  }

  /** Puts `files` (paths relative to /sandbox) into the sandbox. */
  put(files: Record<string, string>): void {
    for (const [rel, content] of Object.entries(files)) {
      const abs = path.join(this.fsRoot, "sandbox", rel);
      mkdirSync(path.dirname(abs), { recursive: true });
      writeFileSync(abs, content);
    }
  }

  /** Relative paths of every file under /sandbox, sorted. */
  files(): string[] {
    const root = this.local("/sandbox");
    if (!existsSync(root)) return [];
    return (readdirSync(root, { recursive: true, withFileTypes: true }) as import("node:fs").Dirent[])
      .filter((e) => e.isFile())
      .map((e) => path.relative(root, path.join(e.parentPath, e.name)))
      .sort();
  }

  private note(args: readonly string[]): void {
    const found = readJournal(this.stateRoot, SANDBOX);
    const journal = found?.ok ? found.journal : null;
    this.seen.push({ call: label(args), phase: journal?.phase ?? null, child: journal?.child?.pid ?? null });
  }

  private guard(args: readonly string[], answer: () => StubAnswer): StubAnswer {
    this.note(args);
    return this.unreachable ? fail(UNREACHABLE) : answer();
  }

  install(stub: StubRunner, options: { skip?: string[] } = {}): void {
    const skip = new Set(options.skip ?? []);
    const add = (name: string, matcher: (string | RegExp)[], fn: (args: readonly string[]) => StubAnswer) => {
      // A simulated sandbox (both create forms, every verb): a step a test never reaches is fine.
      if (!skip.has(name))
        stub.register(matcher, (args) => this.guard(args, () => fn(args)), { optional: true });
    };
    add("get", [...GW, "get", SANDBOX], () => {
      const phase = this.getPhases.shift() ?? this.phase;
      return phase === null ? fail(NOT_FOUND) : ok(`Sandbox:\n\n  Name: ${SANDBOX}\n  Phase: ${phase}\n`);
    });
    add("delete", [...GW, "delete", SANDBOX], () => {
      this.phase = null;
      rmSync(this.fsRoot, { recursive: true, force: true });
      return ok(`✓ Deleted sandbox ${SANDBOX}\n`);
    });
    const created = () => {
      this.phase = "Ready";
      mkdirSync(this.fsRoot, { recursive: true });
      return ok(`\nCreated sandbox: ${SANDBOX}\n\n  [0.0s] Requesting compute...\n`);
    };
    // The two measured forms: `--no-tty -- true` before OpenShell 0.0.111, `--detach` from it.
    add("create", [...GW, "create", "--name", SANDBOX, "--from", IMAGE, "--no-tty", "--", "true"], created);
    add("create", [...GW, "create", "--name", SANDBOX, "--from", IMAGE, "--detach"], created);
    add("rm", [...EXEC, "rm", "-rf", /^\/sandbox\/./], (args) => {
      rmSync(this.local(args.at(-1) as string), { recursive: true, force: true });
      return ok();
    });
    add("version", [...EXEC, "openclaw", "--version"], () => ok("openclaw 2026.7.1\n"));
    add("upload", [...GW, "upload", SANDBOX, /^\//, /^\/sandbox$/, "--no-git-ignore"], (args) => {
      const [local, dest] = [args[5] as string, args[6] as string];
      cpSync(local, path.join(this.local(dest), path.basename(local)), { recursive: true });
      return ok();
    });
    add("download", [...GW, "download", SANDBOX, /^\/sandbox\//, /^\//], (args) => {
      const [dir, dest] = [args[5] as string, args[6] as string];
      if (!existsSync(this.local(dir)))
        return fail(
          `Downloading sandbox:${dir} -> ${dest}\nrealpath: ${dir}: No such file or directory\nError:   × failed to resolve sandbox source path '${dir}'\n  ╰─▶ ssh probe exited with status exit status: 1\n`,
        );
      cpSync(this.local(dir), dest, { recursive: true });
      return ok();
    });
  }
}

const catalogAgent = (): AgentSpec => {
  const agent = readAgentCatalog(path.join(REPO_ROOT, "catalog/agents.json")).openclaw;
  if (!agent) throw new Error("catalog has no openclaw");
  return agent;
};
const IMAGE = catalogAgent().image;

interface Env {
  root: string;
  ctx: Context;
  report: PreflightReport;
  stub: StubRunner;
  sim: SimSandbox;
  backup: { timestamp: string; path: string; manifest: ManifestHeader };
  agent: AgentSpec;
  registryFile: string;
  stateRoot: string;
}

const roots: string[] = [];
const stubs: StubRunner[] = [];
afterEach(() => {
  // A call nobody registered fails the test that made it, even if the driver swallowed it.
  for (const stub of stubs.splice(0)) stub.assertAllUsed();
  for (const r of roots.splice(0)) rmSync(r, { recursive: true, force: true });
});

const REGISTRY = {
  defaultSandbox: SANDBOX,
  sandboxes: {
    alpha: { name: SANDBOX, agent: "openclaw", agentVersion: "2026.6.0", imageTag: "old", gpu: true },
    beta: { name: "beta", agent: "hermes" },
  },
};

async function setup(
  options: { spawnPid?: number; before?: (stub: StubRunner) => void; skip?: string[] } = {},
): Promise<Env> {
  const root = mkdtempSync(path.join(tmpdir(), "driver-"));
  roots.push(root);
  const stub = new StubRunner(options.spawnPid ?? NO_SUCH_PID);
  stubs.push(stub);
  const { ctx, report } = fakeContext(root, stub);
  const { stateRoot, registryFile, backupsRoot } = ctx.settings.paths;
  mkdirSync(stateRoot, { recursive: true });
  writeFileSync(registryFile, `${JSON.stringify(REGISTRY, null, 2)}\n`);

  const staging = createStaging(backupsRoot, SANDBOX, TS);
  for (const [rel, content] of Object.entries(BACKUP_FILES)) {
    mkdirSync(path.dirname(path.join(staging, rel)), { recursive: true });
    writeFileSync(path.join(staging, rel), content);
  }
  const manifest: BackupManifest = {
    version: 1,
    sandboxName: SANDBOX,
    timestamp: TS,
    agentType: "openclaw",
    agentVersion: "2026.6.0",
    stateDirs: [A, B],
    backedUpDirs: [A],
    absentDirs: [B],
    // Hashed here, independently of hashTree (which the verification uses on the download).
    files: Object.entries(BACKUP_FILES)
      .map(([rel, content]) => ({
        path: rel,
        size: Buffer.byteLength(content),
        sha256: createHash("sha256").update(content).digest("hex"),
      }))
      .sort((a, b) => (a.path < b.path ? -1 : 1)),
    complete: true,
  };
  const backupPath = await sealBackup(staging, manifest);

  const sim = new SimSandbox(path.join(root, "sandbox-fs"), stateRoot);
  options.before?.(stub);
  sim.install(stub, { skip: options.skip });
  return {
    root,
    ctx,
    report,
    stub,
    sim,
    backup: {
      timestamp: TS,
      path: backupPath,
      manifest: headerOf(manifest),
    },
    agent: catalogAgent(),
    registryFile,
    stateRoot,
  };
}

interface DriveOptions {
  operation: OperationKind;
  phase: JournalPhase;
  resumed: boolean;
}

async function drive(env: Env, o: DriveOptions): Promise<{ result: DriveResult; steps: string[] }> {
  const { ctx, report } = env;
  const handle = JournalHandle.open(
    env.stateRoot,
    {
      version: 1,
      operation: o.operation,
      sandbox: SANDBOX,
      gateway: "nemoclaw",
      backup: TS,
      safetyBackup: o.operation === "restore" ? SAFETY_TS : null,
      image: IMAGE,
      finalPhase: "Ready",
      phase: o.phase,
      startedAt: ctx.now().toISOString(),
      command: o.operation === "rebuild" ? "nemoclaw upgrade-sandboxes --yes" : `nemoclaw restore ${SANDBOX}`,
    },
    { now: ctx.now, procRoot: ctx.procRoot },
  );
  const steps: string[] = [];
  const result = await driveOperation(ctx, {
    report,
    handle,
    backup: env.backup,
    agent: env.agent,
    reactive: {
      action: `${o.operation === "rebuild" ? "rebuilding" : "restoring"} sandbox '${SANDBOX}'`,
      rerunCommand: "nemoclaw upgrade-sandboxes --yes",
      strict: false,
      report,
      modified: {
        sandbox: SANDBOX,
        backupPath: env.backup.path,
        restoreCommand: `nemoclaw restore ${SANDBOX} --backup ${TS} --yes`,
      },
    },
    resumed: o.resumed,
    emit: (step) => steps.push(step),
  });
  return { result, steps };
}

const calls = (env: Env) => env.stub.calls.map((c) => label(c.args));
const journalPhase = (env: Env) => {
  const found = readJournal(env.stateRoot, SANDBOX);
  if (found === null) return null;
  if (!found.ok) throw new Error(`journal unreadable: ${found.reason}`);
  return found.journal.phase;
};
function history(env: Env): (OperationJournal & { outcome: string; finishedAt: string })[] {
  const file = path.join(operationsDir(env.stateRoot), "history.jsonl");
  if (!existsSync(file)) return [];
  return readFileSync(file, "utf8")
    .trimEnd()
    .split("\n")
    .map((line) => JSON.parse(line));
}
const registryText = (env: Env) => readFileSync(env.registryFile, "utf8");
const registryEntry = (env: Env) =>
  (JSON.parse(registryText(env)) as typeof REGISTRY).sandboxes.alpha as Record<string, unknown>;
const ORIGINAL_REGISTRY = `${JSON.stringify(REGISTRY, null, 2)}\n`;
const BACKED_UP = Object.keys(BACKUP_FILES).sort();

function expectRegistryUpdated(env: Env): void {
  expect(registryEntry(env)).toEqual({
    ...REGISTRY.sandboxes.alpha,
    agentVersion: "2026.7.1",
    nemoclawVersion: "0.9.0-test",
    imageTag: IMAGE,
  });
  expect(JSON.parse(registryText(env)).sandboxes.beta).toEqual(REGISTRY.sandboxes.beta);
}

/** A rebuild updates the registry; a restore leaves it byte for byte as it was. */
function expectRegistryAfter(env: Env, operation: OperationKind): void {
  if (operation === "rebuild") expectRegistryUpdated(env);
  else expect(registryText(env)).toBe(ORIGINAL_REGISTRY);
}
const probeOf = (operation: OperationKind) => (operation === "rebuild" ? ["version"] : []);
const versionOf = (operation: OperationKind) => (operation === "rebuild" ? "2026.7.1" : null);

function expectClosed(env: Env, outcome: string): void {
  expect(journalPhase(env)).toBeNull();
  const lines = history(env);
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatchObject({ sandbox: SANDBOX, backup: TS, outcome, finishedAt: expect.any(String) });
}

function expectKept(env: Env, phase: JournalPhase): void {
  expect(journalPhase(env)).toBe(phase);
  expect(history(env)).toEqual([]);
}

describe("driveOperation: a fresh operation from `deleting`", () => {
  it("rebuild: delete, create, restore (rm -rf + upload), verify by download, version, registry, close", async () => {
    const env = await setup();
    const { result, steps } = await drive(env, { operation: "rebuild", phase: "deleting", resumed: false });
    expect(result).toEqual({
      status: "done",
      attempts: 1,
      agentVersion: "2026.7.1",
      repairedModes: 0,
      safetyBackups: [],
      warnings: [],
    });
    expect(calls(env)).toEqual(["get", ...DELETE, "get", ...CREATE, ...RESTORE, ...VERIFY, "version"]);
    // Each step was issued while the journal on disk named it (written before the step).
    expect(env.sim.seen.map((s) => `${s.call}@${s.phase}`)).toEqual([
      "get@deleting",
      "delete@deleting",
      "get@deleting",
      "get@creating",
      "create@creating",
      "get@creating",
      "get@restoring",
      `rm ${A}@restoring`,
      `rm ${B}@restoring`,
      `upload ${A}@restoring`,
      "get@verifying",
      `download ${A}@verifying`,
      "version@verifying",
    ]);
    expect(steps).toEqual([
      "deleting",
      `creating from ${IMAGE}`,
      "restoring state",
      "verifying the restored state",
      "verifying agent version",
      "updating the registry",
    ]);
    expect(env.sim.files()).toEqual(BACKED_UP);
    expect(existsSync(env.sim.local(B))).toBe(false);
    expectRegistryUpdated(env);
    expectClosed(env, "completed");
    expect(history(env)[0]?.phase).toBe("registering");
    // The verification scratch directory is always removed.
    expect(readdirSync(path.join(env.stateRoot, "restore-verify"))).toEqual([]);
  });

  it("issues exactly the documented OpenShell argv", async () => {
    const env = await setup();
    await drive(env, { operation: "rebuild", phase: "deleting", resumed: false });
    const argv = env.stub.calls.map((c) => [c.file, ...c.args]);
    const upload = env.stub.calls.find((c) => c.args[3] === "upload");
    const download = env.stub.calls.find((c) => c.args[3] === "download");
    expect(argv).toContainEqual(["openshell", "-g", "nemoclaw", "sandbox", "delete", SANDBOX]);
    expect(argv).toContainEqual([
      "openshell",
      "-g",
      "nemoclaw",
      "sandbox",
      "create",
      "--name",
      SANDBOX,
      "--from",
      IMAGE,
      // The report's installed OpenShell is 0.0.44: no --detach before 0.0.111.
      "--no-tty",
      "--",
      "true",
    ]);
    expect(argv.some((a) => a.includes("--detach"))).toBe(false);
    expect(argv).toContainEqual(["openshell", ...EXEC, "rm", "-rf", A]);
    expect(upload?.args).toEqual([
      ...GW,
      "upload",
      SANDBOX,
      path.join(env.backup.path, ".openclaw"),
      "/sandbox",
      "--no-git-ignore",
    ]);
    expect(download?.args.slice(0, 6)).toEqual([...GW, "download", SANDBOX, A]);
    const dest = download?.args[6] as string;
    expect(path.dirname(path.dirname(dest))).toBe(path.join(env.stateRoot, "restore-verify"));
    expect(path.basename(dest)).toBe(".openclaw");
    expect(path.basename(path.dirname(dest))).toMatch(/^alpha-/);
    expect(argv).toContainEqual(["openshell", ...EXEC, "openclaw", "--version"]);
    expect(upload?.options.timeoutMs).toBe(env.ctx.settings.transferTimeoutMs);
  });

  it("restore: the same steps without the version probe and without touching the registry", async () => {
    const env = await setup();
    const { result } = await drive(env, { operation: "restore", phase: "deleting", resumed: false });
    expect(result).toEqual({
      status: "done",
      attempts: 1,
      agentVersion: null,
      repairedModes: 0,
      safetyBackups: [],
      warnings: [],
    });
    expect(calls(env)).toEqual(["get", ...DELETE, "get", ...CREATE, ...RESTORE, ...VERIFY]);
    expect(env.sim.files()).toEqual(BACKED_UP);
    expect(registryText(env)).toBe(ORIGINAL_REGISTRY);
    expectClosed(env, "completed");
    expect(history(env)[0]).toMatchObject({
      operation: "restore",
      safetyBackup: SAFETY_TS,
      phase: "verifying",
    });
  });

  it("records the OpenShell child of each mutating step in the journal while it runs", async () => {
    const env = await setup({ spawnPid: process.pid });
    await drive(env, { operation: "rebuild", phase: "deleting", resumed: false });
    const child = Object.fromEntries(env.sim.seen.map((s) => [s.call, s.child]));
    expect(child).toMatchObject({
      delete: process.pid,
      create: process.pid,
      [`rm ${A}`]: process.pid,
      [`upload ${A}`]: process.pid,
    });
    // An advance clears the previous step's child: the first look of the next phase sees none.
    expect(env.sim.seen.find((s) => s.call === "get" && s.phase === "restoring")?.child).toBeNull();
  });
});

describe("driveOperation: resuming from each phase", () => {
  it.each<OperationKind>(["rebuild", "restore"])(
    "%s at `deleting` with the old sandbox still Ready: abandoned, nothing deleted",
    async (operation) => {
      const env = await setup();
      env.sim.put({ ".openclaw/live.txt": "user state" });
      const { result } = await drive(env, { operation, phase: "deleting", resumed: true });
      expect(result).toEqual({ status: "abandoned", why: "the sandbox was never deleted" });
      expect(calls(env)).toEqual(["get"]);
      expect(env.sim.phase).toBe("Ready");
      expect(env.sim.files()).toEqual([".openclaw/live.txt"]);
      expect(registryText(env)).toBe(ORIGINAL_REGISTRY);
      expectClosed(env, "abandoned-no-delete");
      // The backup is kept.
      expect(existsSync(env.backup.path)).toBe(true);
    },
  );

  it("rebuild at `deleting` with the sandbox still Deleting: waits until it is gone, then creates", async () => {
    const env = await setup();
    env.sim.phase = null;
    env.sim.getPhases.push("Deleting");
    const { result } = await drive(env, { operation: "rebuild", phase: "deleting", resumed: true });
    expect(result.status).toBe("done");
    expect(calls(env)).toEqual(["get", "get", "get", ...CREATE, ...RESTORE, ...VERIFY, "version"]);
    expect(calls(env)).not.toContain("delete");
    expectClosed(env, "resumed-and-completed");
  });

  it.each<OperationKind>(["rebuild", "restore"])(
    "%s at `creating` with the sandbox absent: creates it",
    async (operation) => {
      const env = await setup();
      env.sim.phase = null;
      const { result } = await drive(env, { operation, phase: "creating", resumed: true });
      expect(result).toEqual({
        status: "done",
        attempts: 1,
        agentVersion: versionOf(operation),
        repairedModes: 0,
        safetyBackups: [],
        warnings: [],
      });
      expect(calls(env)).toEqual(["get", ...CREATE, ...RESTORE, ...VERIFY, ...probeOf(operation)]);
      expect(env.sim.files()).toEqual(BACKED_UP);
      expectRegistryAfter(env, operation);
      expectClosed(env, "resumed-and-completed");
    },
  );

  it.each<OperationKind>(["rebuild", "restore"])(
    "%s at `creating` with the sandbox already Ready (an orphaned create made it): no create",
    async (operation) => {
      const env = await setup();
      const { result } = await drive(env, { operation, phase: "creating", resumed: true });
      expect(result.status).toBe("done");
      expect(calls(env)).toEqual(["get", ...RESTORE, ...VERIFY, ...probeOf(operation)]);
      expect(calls(env)).not.toContain("create");
      expectRegistryAfter(env, operation);
      expectClosed(env, "resumed-and-completed");
    },
  );

  it("rebuild at `creating` with the sandbox Provisioning: waits for Ready, no second create", async () => {
    const env = await setup();
    env.sim.getPhases.push("Provisioning", "Provisioning");
    const { result } = await drive(env, { operation: "rebuild", phase: "creating", resumed: true });
    expect(result.status).toBe("done");
    expect(calls(env)).toEqual(["get", "get", "get", ...RESTORE, ...VERIFY, "version"]);
  });

  it.each<OperationKind>(["rebuild", "restore"])(
    "%s at `creating` with the sandbox in Error: deletes and creates it again",
    async (operation) => {
      const env = await setup();
      env.sim.phase = "Error";
      const { result } = await drive(env, { operation, phase: "creating", resumed: true });
      expect(result.status).toBe("done");
      expect(calls(env)).toEqual(["get", ...DELETE, ...CREATE, ...RESTORE, ...VERIFY, ...probeOf(operation)]);
      expectRegistryAfter(env, operation);
      expectClosed(env, "resumed-and-completed");
    },
  );

  it("restore at `restoring` with the sandbox in Error: the user's own sandbox is never deleted", async () => {
    const env = await setup();
    env.sim.phase = "Error";
    const { result } = await drive(env, { operation: "restore", phase: "restoring", resumed: true });
    expect(result.status).toBe("failed");
    expect(result.status === "failed" && result.why).toMatch(/phase Error; repair or delete it/);
    expect(calls(env)).toEqual(["get"]);
    expectKept(env, "restoring");
  });

  it.each<OperationKind>(["rebuild", "restore"])(
    "%s at `restoring`: rm -rf and upload again over the partial state",
    async (operation) => {
      const env = await setup();
      env.sim.put({
        ".openclaw/config.json": "half-writ",
        ".openclaw/partial.tmp": "x",
        ".config/openclaw/y": "y",
      });
      const { result } = await drive(env, { operation, phase: "restoring", resumed: true });
      expect(result.status).toBe("done");
      expect(calls(env)).toEqual([...RESTORE, ...VERIFY, ...(operation === "rebuild" ? ["version"] : [])]);
      expect(env.sim.files()).toEqual(BACKED_UP);
      expect(readFileSync(env.sim.local(`${A}/config.json`), "utf8")).toBe(
        BACKUP_FILES[".openclaw/config.json"],
      );
      expect(registryText(env) === ORIGINAL_REGISTRY).toBe(operation === "restore");
      expectClosed(env, "resumed-and-completed");
    },
  );

  it.each<OperationKind>(["rebuild", "restore"])(
    "%s at `verifying`: only the verification download (and a rebuild's version probe)",
    async (operation) => {
      const env = await setup();
      env.sim.put(BACKUP_FILES);
      const { result } = await drive(env, { operation, phase: "verifying", resumed: true });
      expect(result).toEqual({
        status: "done",
        attempts: 1,
        agentVersion: versionOf(operation),
        repairedModes: 0,
        safetyBackups: [],
        warnings: [],
      });
      expect(calls(env)).toEqual([...VERIFY, ...probeOf(operation)]);
      expectRegistryAfter(env, operation);
      expectClosed(env, "resumed-and-completed");
    },
  );

  it.each<OperationKind>(["rebuild", "restore"])(
    "%s resumed at `verifying` whose live state changed: a proven safety backup of it first, then rm + upload again (never a delete)",
    async (operation) => {
      const env = await setup();
      // The agent wrote after the killed run's upload returned: that is the user's state now.
      env.sim.put({
        ...BACKUP_FILES,
        ".openclaw/config.json": "changed by the agent\n",
        ".openclaw/new.md": "new",
      });
      const { result, steps } = await drive(env, { operation, phase: "verifying", resumed: true });
      expect(result.status).toBe("done");
      const saved = result.status === "done" ? result.safetyBackups : [];
      expect(saved).toHaveLength(1);
      const safety = saved[0] as { timestamp: string; path: string; command: string };
      expect(safety.command).toBe(`nemoclaw restore ${SANDBOX} --backup ${safety.timestamp} --yes`);
      // The safety backup holds exactly the live state it replaced.
      expect(readFileSync(path.join(safety.path, ".openclaw/config.json"), "utf8")).toBe(
        "changed by the agent\n",
      );
      expect(readFileSync(path.join(safety.path, ".openclaw/new.md"), "utf8")).toBe("new");
      expect(calls(env)).toEqual([
        ...VERIFY,
        `download ${A}`, // the safety backup (the catalog's state dirs)
        `rm ${A}`,
        `rm ${B}`,
        `upload ${A}`,
        `download ${A}`,
        ...probeOf(operation),
      ]);
      expect(calls(env)).not.toContain("delete");
      expect(steps).toContain("the live state differs from the backup: taking a safety backup of it first");
      expect(env.sim.files()).toEqual(BACKED_UP);
      expectClosed(env, "resumed-and-completed");
      const closed = history(env)[0] as OperationJournal;
      const held = operation === "restore" ? closed.extraSafetyBackups : [closed.safetyBackup];
      expect(held).toEqual([safety.timestamp]);
    },
  );

  it("rebuild resumed at `verifying` whose safety backup cannot be taken: failed, nothing removed, no retry", async () => {
    const env = await setup({ skip: ["download"] });
    env.sim.put({ ...BACKUP_FILES, ".openclaw/config.json": "changed by the agent\n" });
    let downloads = 0;
    env.stub.register([...GW, "download", SANDBOX, /^\/sandbox\//, /^\//], (args) => {
      downloads++;
      // The verification download works; the safety backup's download breaks.
      if (downloads > 1) return fail("Error:   × connection reset by peer\n");
      cpSync(env.sim.local(args[5] as string), args[6] as string, { recursive: true });
      return ok();
    });
    const { result } = await drive(env, { operation: "rebuild", phase: "verifying", resumed: true });
    expect(result.status).toBe("failed");
    expect(result.status === "failed" ? result.why : "").toContain("safety backup of the live state failed");
    expect(calls(env).filter((c) => c === "delete" || c.startsWith("rm") || c.startsWith("upload"))).toEqual(
      [],
    );
    expect(readFileSync(path.join(env.sim.local(A), "config.json"), "utf8")).toBe("changed by the agent\n");
    expectKept(env, "verifying");
  });

  it("a fresh rebuild whose restored state differs: the one retry replaces the sandbox it made (no user state yet)", async () => {
    const env = await setup({ skip: ["upload"] });
    let uploads = 0;
    env.stub.register([...GW, "upload", SANDBOX, /^\//, /^\/sandbox$/, "--no-git-ignore"], (args) => {
      uploads++;
      const [local, dest] = [args[5] as string, args[6] as string];
      cpSync(local, path.join(env.sim.local(dest), path.basename(local)), { recursive: true });
      if (uploads === 1) env.sim.put({ ".openclaw/extra": "a broken first upload" });
      return ok();
    });
    const { result, steps } = await drive(env, { operation: "rebuild", phase: "deleting", resumed: false });
    expect(result).toMatchObject({ status: "done", attempts: 2, safetyBackups: [] });
    expect(steps).toContain("retrying");
    expect(env.sim.files()).toEqual(BACKED_UP);
    expectClosed(env, "completed");
  });

  it("rebuild at `registering` with the version verified at `verifying`: no OpenShell call at all (a Stopped sandbox needs no probe)", async () => {
    const env = await setup();
    env.sim.phase = "Stopped";
    const { ctx } = env;
    const handle = JournalHandle.open(
      env.stateRoot,
      {
        version: 1,
        operation: "rebuild",
        sandbox: SANDBOX,
        gateway: "nemoclaw",
        backup: TS,
        safetyBackup: null,
        image: IMAGE,
        finalPhase: "Stopped",
        phase: "registering",
        startedAt: ctx.now().toISOString(),
        command: "nemoclaw upgrade-sandboxes --yes",
        verifiedAgentVersion: "2026.7.1",
      },
      { now: ctx.now, procRoot: ctx.procRoot },
    );
    const result = await driveOperation(ctx, {
      report: env.report,
      handle,
      backup: env.backup,
      agent: env.agent,
      reactive: {
        action: "rebuilding sandbox 'alpha'",
        rerunCommand: "x",
        strict: false,
        report: env.report,
      },
      resumed: true,
      emit: () => {},
    });
    expect(result).toMatchObject({ status: "done", agentVersion: "2026.7.1" });
    // Only the final look that it is Stopped (its finalPhase): no exec of a Stopped sandbox.
    expect(calls(env)).not.toContain("version");
    expectRegistryUpdated(env);
    expectClosed(env, "resumed-and-completed");
  });

  it("a fresh rebuild stores the verified agent version in the journal before `registering`", async () => {
    const env = await setup();
    const lockDir = `${env.registryFile}.lock`;
    mkdirSync(lockDir);
    writeFileSync(path.join(lockDir, "owner"), `${process.ppid}\n`);
    const { result } = await drive(env, { operation: "rebuild", phase: "deleting", resumed: false });
    expect(result.status).toBe("registry-failed");
    const found = readJournal(env.stateRoot, SANDBOX);
    expect(found?.ok && found.journal).toMatchObject({
      phase: "registering",
      verifiedAgentVersion: "2026.7.1",
    });
    rmSync(lockDir, { recursive: true });
  });

  it("rebuild at `registering`: no delete, create or upload, only the version probe and the registry", async () => {
    const env = await setup();
    const { result } = await drive(env, { operation: "rebuild", phase: "registering", resumed: true });
    expect(result.status).toBe("done");
    expect(calls(env)).toEqual(["version"]);
    expectRegistryUpdated(env);
    expectClosed(env, "resumed-and-completed");
  });

  it("restore at `restoring` with the sandbox Stopped on an OpenShell that cannot start it: failed, nothing changed, journal kept", async () => {
    const env = await setup();
    env.sim.phase = "Stopped";
    const { result } = await drive(env, { operation: "restore", phase: "restoring", resumed: true });
    expect(result).toEqual({
      status: "failed",
      why: "stopped; this OpenShell (0.0.44) cannot start it",
      attempts: 1,
    });
    expect(calls(env)).toEqual(["get"]);
    expectKept(env, "restoring");
  });
});

describe("driveOperation: failures", () => {
  it("a fresh rebuild whose sandbox is already gone issues no delete", async () => {
    const env = await setup();
    env.sim.phase = null;
    const { result } = await drive(env, { operation: "rebuild", phase: "deleting", resumed: false });
    expect(result.status).toBe("done");
    expect(calls(env)).toEqual(["get", "get", ...CREATE, ...RESTORE, ...VERIFY, "version"]);
    expectClosed(env, "completed");
  });

  it("a delete that fails with the sandbox untouched: abandoned, nothing else issued, journal dropped", async () => {
    const env = await setup({
      before: (stub) => stub.register([...GW, "delete", SANDBOX], fail("Error:   × permission denied\n")),
    });
    env.sim.put({ ".openclaw/live.txt": "user state" });
    const { result } = await drive(env, { operation: "rebuild", phase: "deleting", resumed: false });
    expect(result).toEqual({ status: "abandoned", why: "sandbox delete failed: Error: permission denied" });
    expect(calls(env)).toEqual(["get", "delete", "get"]);
    expect(env.sim.files()).toEqual([".openclaw/live.txt"]);
    expectClosed(env, "abandoned-no-delete");
  });

  it("a delete that reports failure but is under way (Deleting): waits until gone and goes on", async () => {
    const env = await setup({
      before: (stub) =>
        stub.once([...GW, "delete", SANDBOX], () => {
          env.sim.phase = null;
          env.sim.getPhases.push("Deleting");
          return fail("Error:   × request timed out waiting for deletion\n");
        }),
    });
    const { result } = await drive(env, { operation: "rebuild", phase: "deleting", resumed: false });
    expect(result.status).toBe("done");
    expect(calls(env)).toEqual([
      "get",
      "delete",
      "get",
      "get",
      "get",
      ...CREATE,
      ...RESTORE,
      ...VERIFY,
      "version",
    ]);
  });

  it("a held registry lock: registry-failed, the journal stays at `registering`; the next run only registers", async () => {
    const env = await setup();
    const lockDir = `${env.registryFile}.lock`;
    mkdirSync(lockDir);
    writeFileSync(path.join(lockDir, "owner"), `${process.ppid}\n`);
    lockOptionsSeen.length = 0;
    const { result } = await drive(env, { operation: "rebuild", phase: "deleting", resumed: false });
    expect(result).toEqual({
      status: "registry-failed",
      // A live owner without process-start cannot be judged: respected, with the exact rm -r.
      why:
        `the sandbox registry lock ${lockDir} is held by pid ${process.ppid}, which left no usable process-start, ` +
        "so nemoclaw cannot tell whether that pid is still the process that took the lock; once you have checked " +
        `that no nemoclaw or NemoClaw command is changing the registry, remove it: rm -r ${lockDir}`,
    });
    // The driver passes only procRoot (no lock timeout: the 12 s default, shortened by the mock).
    expect(lockOptionsSeen).toEqual([expect.objectContaining({ procRoot: "/proc" })]);
    expect(calls(env)).toEqual(["get", ...DELETE, "get", ...CREATE, ...RESTORE, ...VERIFY, "version"]);
    expectKept(env, "registering");
    expect(registryText(env)).toBe(ORIGINAL_REGISTRY);
    expect(readFileSync(path.join(lockDir, "owner"), "utf8")).toBe(`${process.ppid}\n`);

    rmSync(lockDir, { recursive: true });
    const before = env.stub.calls.length;
    const again = await drive(env, { operation: "rebuild", phase: "registering", resumed: true });
    expect(again.result.status).toBe("done");
    expect(env.stub.calls.slice(before).map((c) => label(c.args))).toEqual(["version"]);
    expectRegistryUpdated(env);
    expect(history(env).map((h) => h.outcome)).toEqual(["resumed-and-completed"]);
    expect(journalPhase(env)).toBeNull();
  });

  it("a registry entry that vanished: registry-failed, journal kept", async () => {
    const env = await setup();
    writeFileSync(env.registryFile, JSON.stringify({ sandboxes: {} }));
    const { result } = await drive(env, { operation: "rebuild", phase: "registering", resumed: true });
    expect(result.status).toBe("registry-failed");
    expect(result.status === "registry-failed" && result.why).toMatch(/"alpha" is no longer registered/);
    expectKept(env, "registering");
  });

  it("an upload failing on a rebuild: one retry (a second delete + create), then failed with the journal kept", async () => {
    const env = await setup({
      before: (stub) =>
        stub.register([...GW, "upload", SANDBOX, /./, "/sandbox", "--no-git-ignore"], fail(UPLOAD_FAILED)),
    });
    const { result, steps } = await drive(env, { operation: "rebuild", phase: "deleting", resumed: false });
    expect(result).toEqual({
      status: "failed",
      why: `sandbox upload ${SANDBOX} ${A} failed: Error: upload failed: disk quota exceeded`,
      attempts: 2,
    });
    expect(calls(env)).toEqual([
      "get",
      ...DELETE,
      "get",
      ...CREATE,
      ...RESTORE,
      "get",
      ...DELETE,
      ...CREATE,
      ...RESTORE,
    ]);
    expect(calls(env).filter((c) => c === "create")).toHaveLength(2);
    expect(steps.filter((s) => s === "retrying")).toHaveLength(1);
    expectKept(env, "restoring");
    expect(registryText(env)).toBe(ORIGINAL_REGISTRY);
  });

  it("an upload failing on a restore: no retry, failed, journal kept at `restoring`", async () => {
    const env = await setup({
      before: (stub) =>
        stub.register([...GW, "upload", SANDBOX, /./, "/sandbox", "--no-git-ignore"], fail(UPLOAD_FAILED)),
    });
    const { result, steps } = await drive(env, { operation: "restore", phase: "restoring", resumed: false });
    expect(result).toMatchObject({ status: "failed", attempts: 1 });
    expect(calls(env)).toEqual(RESTORE);
    expect(steps).not.toContain("retrying");
    expectKept(env, "restoring");
  });

  it("a schema mismatch on the create throws PreflightRefusal (exit 3) and keeps the journal", async () => {
    const env = await setup({
      before: (stub) => stub.register((args) => args[3] === "create", fail(MISMATCH), { first: true }),
    });
    const refusal = await drive(env, { operation: "rebuild", phase: "deleting", resumed: false }).then(
      () => expect.unreachable("expected a PreflightRefusal"),
      (error: unknown) => error,
    );
    expect(refusal).toBeInstanceOf(PreflightRefusal);
    const r = refusal as PreflightRefusal;
    expect(r.code).toBe("schema_mismatch");
    expect(r.exitCode).toBe(3);
    expect(r.message).toContain(`sandbox create ${SANDBOX}`);
    expect(r.diagnostic.join("\n")).toContain(`Sandbox ${SANDBOX} was modified`);
    expect(calls(env)).toEqual(["get", ...DELETE, "get", "create"]);
    expectKept(env, "creating");
  });

  it("the gateway going away right after the delete: failed (not thrown), journal kept; the next run finishes", async () => {
    const env = await setup({
      before: (stub) =>
        stub.once(
          [...GW, "delete", SANDBOX],
          () => {
            env.sim.phase = null;
            env.sim.unreachable = true;
            return ok(`✓ Deleted sandbox ${SANDBOX}\n`);
          },
          { first: true },
        ),
    });
    const { result } = await drive(env, { operation: "rebuild", phase: "deleting", resumed: false });
    expect(result.status).toBe("failed");
    expect(result.status === "failed" && result.why).toMatch(/^OpenShell gateway 'nemoclaw' is unreachable/);
    expect(result).toMatchObject({ attempts: 1 });
    expect(calls(env)).toEqual(["get", "delete", "get"]);
    expectKept(env, "deleting");

    // The gateway is back: the journal (still `deleting`) finds no sandbox and creates it.
    env.sim.unreachable = false;
    const before = env.stub.calls.length;
    const again = await drive(env, { operation: "rebuild", phase: "deleting", resumed: true });
    expect(again.result.status).toBe("done");
    expect(env.stub.calls.slice(before).map((c) => label(c.args))).toEqual([
      "get",
      "get",
      ...CREATE,
      ...RESTORE,
      ...VERIFY,
      "version",
    ]);
    expect(history(env).map((h) => h.outcome)).toEqual(["resumed-and-completed"]);
  });

  it("the gateway going away during the create: failed after the retry's first look, journal kept", async () => {
    const env = await setup({
      before: (stub) =>
        stub.register(
          (args) => args[3] === "create",
          () => {
            env.sim.unreachable = true;
            return fail(UNREACHABLE);
          },
          { first: true },
        ),
    });
    const { result } = await drive(env, { operation: "rebuild", phase: "deleting", resumed: false });
    expect(result).toMatchObject({ status: "failed", attempts: 2 });
    expect(calls(env)).toEqual(["get", ...DELETE, "get", "create", "get"]);
    expectKept(env, "creating");
  });

  it("an interrupt during the delete: no new step starts, failed `interrupted by SIGTERM`, journal kept", async () => {
    const env = await setup({
      before: (stub) =>
        stub.once(
          [...GW, "delete", SANDBOX],
          () => {
            env.sim.phase = null;
            env.ctx.abort.abort("SIGTERM");
            return ok();
          },
          { first: true },
        ),
    });
    const { result } = await drive(env, { operation: "rebuild", phase: "deleting", resumed: false });
    expect(result).toEqual({ status: "failed", why: "interrupted by SIGTERM", attempts: 1 });
    expect(calls(env)).toEqual(["get", "delete", "get"]);
    expectKept(env, "creating");
  });

  it("a call nobody registered rejects the run, naming the argv, and is recorded", async () => {
    const env = await setup({ skip: ["version"] });
    env.sim.put(BACKUP_FILES);
    const error = await drive(env, { operation: "rebuild", phase: "verifying", resumed: true }).then(
      () => expect.unreachable("expected a rejection"),
      (e: unknown) => e as Error,
    );
    expect(error.message).toBe(
      `stub-runner: no stub registered for: openshell ${[...EXEC, "openclaw", "--version"].join(" ")}`,
    );
    expect(env.stub.unmatched.map((c) => label(c.args))).toEqual(["version"]);
    expect(() => env.stub.assertAllUsed({ allowUnused: true })).toThrow(
      /unregistered call: openshell .* --version/,
    );
    expectKept(env, "verifying");
    env.stub.unmatched.length = 0; // handled here: keep afterEach's check for the other tests
  });
});

describe("StubRunner", () => {
  const opts = { env: {}, timeoutMs: 1000 };

  it("matches strings exactly and RegExps by test, and the argv length must agree", async () => {
    const stub = new StubRunner().register(["sandbox", /^get$/, /^a/], ok("A"));
    expect((await stub.run("openshell", ["sandbox", "get", "alpha"], opts)).stdout).toBe("A");
    await expect(stub.run("openshell", ["sandbox", "get", "alpha", "x"], opts)).rejects.toThrow(
      "stub-runner: no stub registered for: openshell sandbox get alpha x",
    );
    await expect(stub.run("openshell", ["sandbox", "got", "alpha"], opts)).rejects.toThrow(/no stub/);
    expect(stub.calls).toHaveLength(3);
    expect(stub.unmatched).toHaveLength(2);
    expect(() => stub.assertAllUsed()).toThrow(/unregistered call: openshell sandbox get alpha x/);
  });

  it("tries registrations in order, skips used-up ones, and `first` goes in front", async () => {
    const stub = new StubRunner()
      .register(() => true, ok("general"))
      .register(["x"], ok("never"))
      .once(["x"], ok("override"), { first: true });
    const out = [];
    for (let i = 0; i < 3; i++) out.push((await stub.run("bin", ["x"], opts)).stdout);
    expect(out).toEqual(["override", "general", "general"]);
    expect(stub.unused()).toEqual(["x"]);
    expect(() => stub.assertAllUsed()).toThrow(/registered but never called: x/);
    expect(() => stub.assertAllUsed({ allowUnused: true })).not.toThrow();
  });

  it("fails on an unused registration by default; only one marked `optional` may go unused", async () => {
    const stub = new StubRunner()
      .register(["sandbox", "get", "alpha"], ok("A"))
      .register(["sandbox", "list"], ok(), { optional: true });
    expect(() => stub.assertAllUsed()).toThrow(/registered but never called: sandbox get alpha$/);
    await stub.run("openshell", ["sandbox", "get", "alpha"], opts);
    expect(stub.unused()).toEqual([]);
    expect(() => stub.assertAllUsed()).not.toThrow();
  });

  it("calls handlers with argv and options, and onSpawn with the stub's pid unless told otherwise", async () => {
    const spawned: number[] = [];
    const stub = new StubRunner(1234)
      .register(["a"], async (args, options) => ok(`${args.join(",")}:${options.timeoutMs}`))
      .register(["b"], fail("nope", 2), { pid: 99 })
      .register(["c"], ok(), { pid: null });
    const onSpawn = (pid: number) => spawned.push(pid);
    const a = await stub.run("bin", ["a"], { ...opts, onSpawn });
    const b = await stub.run("bin", ["b"], { ...opts, onSpawn });
    await stub.run("bin", ["c"], { ...opts, onSpawn });
    expect(a).toEqual(runResult("bin", ["a"], { stdout: "a:1000" }));
    expect(b).toMatchObject({ exitCode: 2, stderr: "nope", stdout: "", timedOut: false, startError: null });
    expect(spawned).toEqual([1234, 99]);
    expect(stub.commands()).toEqual(["a", "b", "c"]);
  });
});

/** The header a listing reads for `manifest` (its files counted, not held). */
function headerOf(manifest: BackupManifest): ManifestHeader {
  const { files, ...header } = manifest;
  return { ...header, fileCount: files.length, fileBytes: files.reduce((n, f) => n + f.size, 0) };
}
