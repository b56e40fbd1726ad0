// `sandbox list` paging and the reactive phase check (docs/design.md, "Sandbox commands"): the real
// CLI returns at most `--limit` rows (100 by default, ≤ 1000 a page); nemoclaw pages with
// `--limit 1000 --offset K`, de-duplicates by name and confirms a registered sandbox no page showed
// with `sandbox get` before anyone may call it missing.
import { describe, expect, it } from "vitest";
import { LIST_PAGE_SIZE, listSandboxes } from "../../src/actions/sandbox-state.js";
import type { ProcessRunner, RunResult } from "../../src/adapters/process-runner.js";
import { PreflightRefusal } from "../../src/domain/errors.js";
import { fakeReport } from "./support/stub-runner.js";

const HEADER = "NAME  CREATED              PHASE";
const row = (name: string, phase = "Ready") => `${name}  2026-12-04 17:23:11  ${phase}`;

class PagedOpenShell implements ProcessRunner {
  readonly calls: string[] = [];
  constructor(
    private readonly pages: Map<number, string[]>,
    private readonly gets: Record<string, RunResult["stdout"] | null> = {},
  ) {}
  async run(file: string, args: readonly string[]): Promise<RunResult> {
    this.calls.push(args.join(" "));
    const result = (exitCode: number, stdout: string, stderr = ""): RunResult => ({
      file,
      args,
      exitCode,
      signal: null,
      stdout,
      stderr,
      timedOut: false,
      aborted: false,
      startError: null,
      truncated: false,
      durationMs: 1,
    });
    if (args[1] === "list") {
      const offset = Number(args[args.indexOf("--offset") + 1]);
      const rows = this.pages.get(offset) ?? [];
      return result(0, rows.length ? `${HEADER}\n${rows.join("\n")}\n` : "No sandboxes found.\n");
    }
    const name = args.at(-1) as string;
    const got = this.gets[name];
    if (got === undefined) throw new Error(`unexpected call: ${args.join(" ")}`);
    return got === null
      ? result(
          1,
          "",
          `Error:   × code: 'Some requested entity was not found', message: "sandbox not found"\n`,
        )
      : result(0, got);
  }
}

const policy = { action: "checking sandbox upgrade state", rerunCommand: "nemoclaw status", strict: false };

describe("listSandboxes", () => {
  it("pages with --limit 1000 --offset K until a short page, de-duplicating by name", async () => {
    const first = Array.from({ length: LIST_PAGE_SIZE }, (_, i) => row(`sb-${i}`));
    const runner = new PagedOpenShell(
      new Map([
        [0, first],
        [1000, [row("sb-999"), row("late")]],
      ]),
    );
    const listed = await listSandboxes(fakeReport(runner), policy);
    expect(runner.calls).toEqual([
      "sandbox list -g nemoclaw --limit 1000 --offset 0",
      "sandbox list -g nemoclaw --limit 1000 --offset 1000",
    ]);
    expect(listed.size).toBe(1001);
    expect(listed.get("late")?.phase).toBe("Ready");
  });

  it("an exactly full last page is followed by `No sandboxes found.` (an empty page)", async () => {
    const first = Array.from({ length: LIST_PAGE_SIZE }, (_, i) => row(`sb-${i}`));
    const runner = new PagedOpenShell(new Map([[0, first]]));
    expect((await listSandboxes(fakeReport(runner), policy)).size).toBe(1000);
    expect(runner.calls).toHaveLength(2);
  });

  it("confirms a registered sandbox no page listed with `sandbox get` before calling it missing", async () => {
    const runner = new PagedOpenShell(new Map([[0, [row("alpha")]]]), {
      beta: "Sandbox:\n\n  Name: beta\n  Phase: Ready\n",
      gone: null,
    });
    const listed = await listSandboxes(fakeReport(runner), policy, ["alpha", "beta", "gone", "Bad Name"]);
    expect(listed.get("beta")).toEqual({ name: "beta", created: null, phase: "Ready" });
    expect(listed.has("gone")).toBe(false);
    // alpha was listed, the invalid name is never used in a command line.
    expect(runner.calls.slice(1)).toEqual(["-g nemoclaw sandbox get beta", "-g nemoclaw sandbox get gone"]);
  });

  it.each([["Unspecified"], ["Hibernating"]])(
    "refuses a listing with phase %s as a schema mismatch (the real 0.0.52/0.0.53 drift is silent)",
    async (phase) => {
      const runner = new PagedOpenShell(new Map([[0, [row("alpha", phase)]]]));
      const error = await listSandboxes(fakeReport(runner), policy).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(PreflightRefusal);
      expect((error as PreflightRefusal).exitCode).toBe(3);
      expect((error as PreflightRefusal).preflight.verdict).toBe("schema_mismatch");
      expect((error as PreflightRefusal).message).toContain(`unknown phase '${phase}'`);
    },
  );

  it("refuses a `sandbox get` phase outside the known set too", async () => {
    const runner = new PagedOpenShell(new Map([[0, []]]), {
      beta: "Sandbox:\n\n  Name: beta\n  Phase: Unspecified\n",
    });
    const error = await listSandboxes(fakeReport(runner), policy, ["beta"]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PreflightRefusal);
    expect((error as PreflightRefusal).preflight.issue).toMatchObject({ kind: "protobuf_mismatch" });
  });
});
