// A host for action-level workflow tests: temp dirs, an executable `openshell` and
// `openshell-gateway` (never run: the stub answers for them), the preflight probes, a registry,
// and sandboxes whose state dirs live on disk behind `sandbox download` / `upload` / `exec rm`.
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import os, { tmpdir } from "node:os";
import path from "node:path";
import { createStaging } from "../../../src/adapters/backup-store.js";
import { journalFile } from "../../../src/adapters/operations-journal.js";
import type { Context } from "../../../src/context.js";
import { type BackupManifest, MANIFEST_FILE, manifestText } from "../../../src/domain/backup-manifest.js";
import type { JournalPhase } from "../../../src/domain/operation-journal.js";
import {
  type FakeContextOverrides,
  fail,
  fakeContext,
  NO_SUCH_PID,
  ok,
  type StubAnswer,
  StubRunner,
} from "./stub-runner.js";

export const GATEWAY = "nemoclaw";
export const IMAGE = "ghcr.io/nvidia/nemoclaw/sandbox-openclaw:2026.7.1";
export const UNREACHABLE =
  "Error:   × client error (Connect)\n  ├─▶ tcp connect error\n  ╰─▶ Connection refused (os error 111)\n";
export const MISMATCH =
  "Error:   × status: 'Internal error', self: \"failed to decode Protobuf message: Sandbox.metadata: ListSandboxesResponse.sandboxes: invalid wire type: LengthDelimited (expected Varint)\"\n";

export interface Host {
  root: string;
  bin: string;
  stub: StubRunner;
  ctx: Context;
  /** Sandboxes behind the stub, by name. */
  sandboxes: Map<string, SimBox>;
  cleanup(): void;
}

export interface SimBox {
  name: string;
  phase: string | null;
  /** `/sandbox/...` lives under this directory. */
  fsRoot: string;
  agentVersion: string;
}

/** A temp host whose `openshell` and `openshell-gateway` are executable files (the stub answers). */
export function makeHost(overrides: FakeContextOverrides = {}): Host {
  const root = mkdtempSync(path.join(tmpdir(), "nemoclaw-wf-"));
  const bin = path.join(root, "bin");
  mkdirSync(bin, { recursive: true });
  for (const name of ["openshell", "openshell-gateway"]) {
    writeFileSync(path.join(bin, name), "#!/bin/sh\nexit 99\n");
    chmodSync(path.join(bin, name), 0o755);
  }
  const stub = new StubRunner();
  const { ctx } = fakeContext(root, stub, {
    ...overrides,
    settings: {
      openshellBinOverride: path.join(bin, "openshell"),
      gatewayBinOverride: path.join(bin, "openshell-gateway"),
      ...overrides.settings,
    },
  });
  return {
    root,
    bin,
    stub,
    ctx,
    sandboxes: new Map(),
    cleanup: () => rmSync(root, { recursive: true, force: true }),
  };
}

export interface PreflightVersions {
  cli?: string;
  served?: string;
  gatewayBinary?: string;
  /** `status` and `gateway info` answer "connection refused" (the gateway is down). */
  unreachable?: boolean;
}

/** The five preflight probes, answering a compatible (0.0.44 everywhere) host by default. */
export function registerPreflight(host: Host, versions: PreflightVersions = {}): void {
  const cli = versions.cli ?? "0.0.44";
  const served = versions.served ?? "0.0.44";
  const gw = versions.gatewayBinary ?? "0.0.44";
  const { stub, bin } = host;
  stub.register(
    (args, file) => file === path.join(bin, "openshell") && args.length === 1 && args[0] === "--version",
    ok(`openshell ${cli}\n`),
  );
  const down = versions.unreachable ? fail(UNREACHABLE) : null;
  stub.register(
    ["status", "-g", GATEWAY],
    down ??
      ok(
        `Server Status\n\n  Gateway: ${GATEWAY}\n  Server: http://127.0.0.1:8080\n  Status: Connected\n  Version: ${served}\n`,
      ),
  );
  stub.register(
    ["gateway", "info", "-g", GATEWAY],
    down ?? ok(`Gateway Info\n\n  Gateway: ${GATEWAY}\n  Server: http://127.0.0.1:8080\n`),
  );
  stub.register(
    (args, file) => file === "docker" && args[0] === "inspect",
    fail(`Error: No such object: openshell-cluster-${GATEWAY}\n`),
  );
  stub.register(
    (args, file) => file === path.join(bin, "openshell-gateway") && args[0] === "--version",
    ok(`openshell-gateway ${gw}\n`),
  );
}

/** Was this call one of the preflight's probes? */
export function isPreflightCall(c: { file: string; args: readonly string[] }): boolean {
  const a = c.args.join(" ");
  return (
    c.args[0] === "--version" ||
    c.file === "docker" ||
    a === `status -g ${GATEWAY}` ||
    a === `gateway info -g ${GATEWAY}`
  );
}

/** The non-preflight calls, as `args.join(" ")`. */
export function workCalls(stub: StubRunner): string[] {
  return stub.calls.filter((c) => !isPreflightCall(c)).map((c) => c.args.join(" "));
}

export function writeRegistry(host: Host, entries: Record<string, Record<string, unknown>>): void {
  const file = host.ctx.settings.paths.registryFile;
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, `${JSON.stringify({ sandboxes: entries }, null, 2)}\n`);
}

export function entry(name: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { name, agent: "openclaw", agentVersion: "2026.7.1", gatewayName: GATEWAY, ...extra };
}

/** Adds a sandbox with `files` (relative to /sandbox) in its state dirs. */
export function addSandbox(
  host: Host,
  name: string,
  files: Record<string, string> = { ".openclaw/config.json": `{"name":"${name}"}\n` },
  phase: string | null = "Ready",
): SimBox {
  const fsRoot = path.join(host.root, "boxes", name);
  mkdirSync(path.join(fsRoot, "sandbox"), { recursive: true });
  for (const [rel, content] of Object.entries(files)) {
    const abs = path.join(fsRoot, "sandbox", rel);
    mkdirSync(path.dirname(abs), { recursive: true });
    writeFileSync(abs, content);
  }
  const box: SimBox = { name, phase, fsRoot, agentVersion: "2026.7.1" };
  host.sandboxes.set(name, box);
  return box;
}

/** The simulated sandboxes answer whatever is asked: a test that asks nothing of them is fine. */
const WORLD = { optional: true } as const;

/**
 * `sandbox list` (from the SimBoxes, in insertion order), and per-sandbox get/download/upload/
 * rm/version/delete/create handlers that act on the SimBox. `override(args)` answers first
 * when it returns an answer.
 */
export function registerSandboxes(
  host: Host,
  override?: (args: readonly string[]) => StubAnswer | undefined,
): void {
  const { stub, sandboxes } = host;
  const box = (name: string | undefined): SimBox | undefined => (name ? sandboxes.get(name) : undefined);
  const notFound = (name: string) => fail(`Error:   × sandbox not found: ${name}\n`);
  stub.register(
    (args) => args[0] === "sandbox" && args[1] === "list",
    (args) => {
      const o = override?.(args);
      if (o) return o;
      const rows = [...sandboxes.values()].filter((b) => b.phase !== null);
      if (rows.length === 0) return ok("No sandboxes found.\n");
      return ok(
        `NAME      CREATED      PHASE\n${rows.map((b) => `${b.name}    -    ${b.phase}`).join("\n")}\n`,
      );
    },
    WORLD,
  );
  stub.register(
    (args) => args[0] === "-g" && args[2] === "sandbox",
    (args) => {
      const o = override?.(args);
      if (o) return o;
      const verb = args[3];
      if (verb === "create") {
        const name = args[5] as string;
        let b = box(name);
        if (!b) b = addSandbox(host, name, {}, "Ready");
        mkdirSync(path.join(b.fsRoot, "sandbox"), { recursive: true });
        b.phase = "Ready";
        b.agentVersion = (args[7] as string).split(":").at(-1) as string;
        return ok(`Created sandbox: ${name}\n`);
      }
      const name = verb === "exec" ? (args[5] as string) : (args[4] as string);
      const b = box(name);
      if (!b || b.phase === null) return notFound(name);
      switch (verb) {
        case "get":
          return ok(`Sandbox:\n\n  Name: ${name}\n  Phase: ${b.phase}\n`);
        case "start":
          b.phase = "Ready";
          return ok(`✓ Started sandbox ${name}\n`);
        case "stop":
          b.phase = "Stopped";
          return ok(`✓ Stopped sandbox ${name}\n`);
        case "delete":
          b.phase = null;
          rmSync(b.fsRoot, { recursive: true, force: true });
          return ok(`✓ Deleted sandbox ${name}\n`);
        case "download": {
          const [dir, dest] = [args[5] as string, args[6] as string];
          const local = path.join(b.fsRoot, dir);
          if (!existsSync(local))
            return fail(
              `Downloading sandbox:${dir} -> ${dest}\nrealpath: ${dir}: No such file or directory\nError:   × failed to resolve sandbox source path '${dir}'\n  ╰─▶ ssh probe exited with status exit status: 1\n`,
            );
          cpSync(local, dest, { recursive: true });
          return ok();
        }
        case "upload": {
          const [local, dest] = [args[5] as string, args[6] as string];
          cpSync(local, path.join(b.fsRoot, dest, path.basename(local)), { recursive: true });
          return ok();
        }
        case "exec": {
          const cmd = args.slice(args.indexOf("--") + 1);
          if (cmd[0] === "rm" && cmd[1] === "-rf") {
            rmSync(path.join(b.fsRoot, cmd[2] as string), { recursive: true, force: true });
            return ok();
          }
          if (cmd[1] === "--version") return ok(`openclaw ${b.agentVersion}\n`);
          return fail(`unexpected exec ${cmd.join(" ")}`);
        }
        default:
          return fail(`unexpected verb ${verb}`);
      }
    },
    WORLD,
  );
}

/** A sealed backup of `name` at `ts` (one file). */
export function sealedBackup(h: Host, name: string, ts: string): void {
  const staging = createStaging(h.ctx.settings.paths.backupsRoot, name, ts);
  mkdirSync(path.join(staging, ".openclaw"), { recursive: true });
  writeFileSync(path.join(staging, ".openclaw/x"), "x");
  const manifest: BackupManifest = {
    version: 1,
    sandboxName: name,
    timestamp: ts,
    agentType: "openclaw",
    agentVersion: "2026.7.1",
    stateDirs: ["/sandbox/.openclaw"],
    backedUpDirs: ["/sandbox/.openclaw"],
    absentDirs: [],
    files: [
      {
        path: ".openclaw/x",
        size: 1,
        sha256: "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881",
      },
    ],
    complete: true,
  };
  // Sealed synchronously (a test fixture, nothing to make durable): manifest, then the rename.
  writeFileSync(path.join(staging, MANIFEST_FILE), manifestText(manifest), { mode: 0o600 });
  renameSync(staging, path.join(path.dirname(staging), ts));
}

/** A journal of `name` whose writer is gone (an interrupted operation). */
export function interruptedJournal(
  h: Host,
  name: string,
  phase: JournalPhase,
  backup: string,
  extra: Record<string, unknown> = {},
): string {
  const file = journalFile(h.ctx.settings.paths.stateRoot, name);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(
    file,
    JSON.stringify({
      version: 1,
      operation: "rebuild",
      sandbox: name,
      gateway: GATEWAY,
      backup,
      safetyBackup: null,
      image: "ghcr.io/nvidia/nemoclaw/sandbox-openclaw:2026.7.1",
      finalPhase: "Ready",
      phase,
      startedAt: "2026-11-29T11:00:00.000Z",
      updatedAt: "2026-11-29T11:00:00.000Z",
      writer: { pid: NO_SUCH_PID, bootId: null, startTick: 1, hostname: os.hostname() },
      child: null,
      command: `nemoclaw upgrade-sandboxes ${name}`,
      ...extra,
    }),
  );
  return file;
}
