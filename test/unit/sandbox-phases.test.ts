import { describe, expect, it } from "vitest";
import {
  cannotStartReason,
  canStartStop,
  isTransientPhase,
  STOP_START_SINCE,
  stopCommand,
} from "../../src/domain/sandbox-phases.js";

describe("sandbox phases (docs/design.md)", () => {
  it("start/stop exist from OpenShell 0.0.105, judged semantically (build metadata ignored)", () => {
    expect(STOP_START_SINCE).toBe("0.0.105");
    expect(canStartStop("0.0.105")).toBe(true);
    expect(canStartStop("0.0.106")).toBe(true);
    expect(canStartStop("0.1.0")).toBe(true);
    expect(canStartStop("0.0.104")).toBe(false);
    expect(canStartStop("0.0.105-dev.3+g2bf9969")).toBe(false);
    expect(canStartStop("0.0.105+g2bf9969")).toBe(true);
    expect(canStartStop(null)).toBe(false);
    expect(canStartStop("garbage")).toBe(false);
  });

  it("Stopping, Starting and Provisioning are transient; Stopped, Ready and Error are not", () => {
    for (const p of ["Stopping", "Starting", "Provisioning"]) expect(isTransientPhase(p)).toBe(true);
    for (const p of ["Stopped", "Ready", "Error", "Deleting", "Unknown"])
      expect(isTransientPhase(p)).toBe(false);
  });

  it("names the installed version in the skip reason and the exact stop command", () => {
    expect(cannotStartReason("0.0.104")).toBe("stopped; this OpenShell (0.0.104) cannot start it");
    expect(cannotStartReason(null)).toBe("stopped; this OpenShell (unknown version) cannot start it");
    expect(stopCommand("nemoclaw", "beta")).toBe("openshell -g nemoclaw sandbox stop beta");
  });
});
