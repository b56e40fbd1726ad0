import { describe, expect, it, vi } from "vitest";
import { backupProgressListener } from "../../src/output/backup-view.js";
import type { LiveView } from "../../src/output/live-view.js";

function fakeView() {
  const updates: string[] = [];
  const view = {
    plan: () => undefined,
    update: (_name: string, _state: string, text: string) => updates.push(text),
  } as unknown as LiveView;
  return { view, updates };
}

describe("backupProgressListener", () => {
  it("downloads show bytes and a rate (OpenShell reports no total): no bar, no ETA", () => {
    vi.useFakeTimers({ toFake: ["performance"] });
    try {
      const { view, updates } = fakeView();
      const listen = backupProgressListener(view);
      listen({ type: "progress", name: "beta", progress: { phase: "downloading", bytes: 0 } });
      vi.advanceTimersByTime(2000);
      listen({ type: "progress", name: "beta", progress: { phase: "downloading", bytes: 4 * 1024 * 1024 } });
      expect(updates.at(-1)).toBe("downloading 4.0 MiB at 2.0 MiB/s");
      listen({ type: "progress", name: "beta", progress: { phase: "hashing", bytes: 1024 } });
      expect(updates.at(-1)).toBe("hashing 1.0 KiB");
      expect(updates.join("\n")).not.toMatch(/ETA|%/);
    } finally {
      vi.useRealTimers();
    }
  });

  it("a Stopped sandbox shows its start and its stop as milestones", () => {
    const { view, updates } = fakeView();
    const listen = backupProgressListener(view);
    listen({ type: "progress", name: "beta", progress: { phase: "starting", bytes: 0 } });
    listen({ type: "progress", name: "beta", progress: { phase: "stopping", bytes: 0 } });
    expect(updates).toEqual(["starting (was Stopped)", "stopping again"]);
  });
});
