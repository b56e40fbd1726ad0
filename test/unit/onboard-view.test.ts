import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import type { OnboardReport } from "../../src/actions/onboard.js";
import { OnboardProgressView, renderOnboardOutcome } from "../../src/output/onboard-view.js";
import { styleFor } from "../../src/output/style.js";

const plain = styleFor(false);
const base = { gatewayName: "nemoclaw", version: "0.0.44", endpoint: "http://127.0.0.1:8080" };

describe("renderOnboardOutcome", () => {
  it("prints the exact healthy line on stdout after a restart", () => {
    const report: OnboardReport = {
      result: {
        action: "restarted",
        ...base,
        pid: 4242,
        stopped: { pid: 4100, signal: "SIGTERM" },
        readyMs: 1300,
      },
      warnings: [],
    };
    const { stdout, stderr } = renderOnboardOutcome(report, plain);
    expect(stdout).toEqual([
      "Stopped the previous gateway (pid 4100, SIGTERM).",
      "✓ NemoClaw gateway is healthy (OpenShell 0.0.44, pid 4242)",
    ]);
    expect(stderr).toEqual([]);
  });

  it("says already healthy without claiming a restart", () => {
    const { stdout } = renderOnboardOutcome(
      { result: { action: "already-healthy", ...base, pid: 7 }, warnings: ["Replacing x."] },
      plain,
    );
    expect(stdout).toEqual([
      "✓ NemoClaw gateway is already healthy (OpenShell 0.0.44, pid 7); nothing was restarted.",
    ]);
  });

  it("puts a failure, the cleanup and the log tail on stderr and nothing on stdout", () => {
    const report: OnboardReport = {
      result: {
        action: "failed",
        ...base,
        pid: 9,
        logFile: "/s/openshell-gateway.log",
        logTail: ["INFO listening", "ERROR database migration failed"],
      },
      warnings: ["Discarded a stale runtime marker (pid 5 is /usr/bin/sleep)."],
      failure: {
        code: "gateway_exited",
        message: "gateway 'nemoclaw' (pid 9) exited with code 1 before it was confirmed ready",
      },
      cleanup: "stopped",
    };
    const { stdout, stderr } = renderOnboardOutcome(report, plain);
    expect(stdout).toEqual([]);
    expect(stderr).toEqual([
      "Warning: Discarded a stale runtime marker (pid 5 is /usr/bin/sleep).",
      "Error: gateway 'nemoclaw' (pid 9) exited with code 1 before it was confirmed ready.",
      "The gateway was stopped; its runtime marker and pid file were removed.",
      "Last 2 lines of /s/openshell-gateway.log:",
      "  INFO listening",
      "  ERROR database migration failed",
    ]);
    expect(stderr.join("\n")).not.toContain("is healthy");
  });
});

describe("renderOnboardOutcome when nothing could be launched", () => {
  it("claims neither a cleanup nor a log", () => {
    const { stderr } = renderOnboardOutcome(
      {
        result: { action: "failed", ...base, logFile: "/s/openshell-gateway.log", logTail: [] },
        warnings: [],
        failure: { code: "gateway_launch_failed", message: "could not start /x/openshell-gateway: EACCES" },
      },
      plain,
    );
    expect(stderr).toEqual(["Error: could not start /x/openshell-gateway: EACCES."]);
  });
});

function capture(): { stream: PassThrough; text: () => string } {
  const stream = new PassThrough();
  const chunks: string[] = [];
  stream.on("data", (c: Buffer) => chunks.push(c.toString("utf8")));
  return { stream, text: () => chunks.join("") };
}

describe("OnboardProgressView", () => {
  it("prints one plain line per new message when stderr is not a TTY", () => {
    const out = capture();
    const view = new OnboardProgressView(out.stream, false, plain);
    view.update({ kind: "step", message: "Checking" });
    view.update({ kind: "waiting", message: "Waiting for gateway", elapsedMs: 0, timeoutMs: 60_000 });
    view.update({ kind: "waiting", message: "Waiting for gateway", elapsedMs: 250, timeoutMs: 60_000 });
    view.update({ kind: "waiting", message: "Confirming", elapsedMs: 500, timeoutMs: 60_000 });
    view.stop();
    expect(out.text()).toBe("Checking\nWaiting for gateway\nConfirming\n");
  });

  it("redraws one spinner line on a TTY and clears it when stopped", () => {
    const out = capture();
    const view = new OnboardProgressView(out.stream, true, plain);
    view.update({ kind: "waiting", message: "Waiting for gateway", elapsedMs: 2000, timeoutMs: 60_000 });
    view.stop();
    const text = out.text();
    expect(text).toContain("\r\x1b[2K");
    expect(text).toContain("Waiting for gateway (2s of 60s)");
    expect(text.endsWith("\r\x1b[2K")).toBe(true);
    expect(text).not.toContain("\n");
  });

  it("never lets a redrawn line wrap: long messages are cut to the terminal width", () => {
    const out = capture();
    const view = new OnboardProgressView(out.stream, true, plain, 40);
    view.update({ kind: "step", message: `Starting /${"x".repeat(100)}/openshell-gateway` });
    view.stop();
    const line = out.text().split("\r\x1b[2K")[1] ?? "";
    expect(Array.from(line).length).toBeLessThan(40);
    expect(line.endsWith("…")).toBe(true);
  });
});
