import { Writable } from "node:stream";
import { afterEach, describe, expect, it, vi } from "vitest";
import {
  eraseLines,
  formatBytes,
  formatDuration,
  formatTransfer,
  LiveView,
  UploadLine,
  uploadDetail,
} from "../../src/output/live-view.js";
import { styleFor } from "../../src/output/style.js";

const ESC = "\x1b";
const SPINNER = "[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏]";
/** A regex from a pattern where `ESC` stands for the escape character. */
const withEsc = (pattern: string) => new RegExp(pattern.replaceAll("ESC", ESC));

/** A Writable that records every write, in order. */
function sink(): { out: Writable; writes: string[]; text: () => string } {
  const writes: string[] = [];
  const out = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      writes.push(chunk.toString("utf8"));
      callback();
    },
  });
  return { out, writes, text: () => writes.join("") };
}

describe("formatBytes", () => {
  it.each([
    [0, "0 B"],
    [1, "1 B"],
    [1023, "1023 B"],
    [1024, "1.0 KiB"],
    [1536, "1.5 KiB"],
    [10 * 1024 - 1, "10.0 KiB"],
    [1024 * 1024 - 1, "1.0 MiB"],
    [1024 * 1024, "1.0 MiB"],
    [20 * 1024 * 1024, "20.0 MiB"],
    [1.25 * 1024 ** 3, "1.3 GiB"],
    [1024 ** 3 - 1, "1.0 GiB"],
    [5 * 1024 ** 4, "5.0 TiB"],
    [2048 * 1024 ** 4, "2048.0 TiB"],
  ])("%d → %s", (n, expected) => {
    expect(formatBytes(n)).toBe(expected);
  });
});

describe("formatDuration", () => {
  it.each([
    [0, "0.0s"],
    [40, "0.0s"],
    [1500, "1.5s"],
    [12_340, "12.3s"],
    [59_000, "59.0s"],
    [59_940, "59.9s"],
    [59_999, "1m0s"],
    [60_000, "1m0s"],
    [61_500, "1m2s"],
    [119_000, "1m59s"],
    [119_999, "2m0s"],
    [125_000, "2m5s"],
    [3_600_000, "60m0s"],
  ])("%d ms → %s", (ms, expected) => {
    expect(formatDuration(ms)).toBe(expected);
  });
});

describe("LiveView", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  describe("not live", () => {
    it("prints one plain line per state change, without escape codes", () => {
      const { out, writes, text } = sink();
      const view = new LiveView(out, false, styleFor(false));
      view.plan(["alpha", "be"]);
      expect(writes).toEqual([]);

      view.update("alpha", "running", "starting");
      view.update("alpha", "running", "downloading 1.0 KiB");
      view.update("alpha", "running", "hashing 2.0 KiB");
      view.update("be", "running", "starting");
      view.update("alpha", "ok", "backed up 3 files");
      view.update("be", "failed", "download failed");
      view.finish();

      expect(writes).toEqual([
        "… alpha  starting\n",
        "… be     starting\n",
        "✓ alpha  backed up 3 files\n",
        "✗ be     download failed\n",
      ]);
      expect(text()).not.toContain(ESC);
    });

    it("prints a skipped row and a row that was never planned", () => {
      const { out, writes } = sink();
      const view = new LiveView(out, false, styleFor(false));
      view.plan(["alpha"]);
      view.update("alpha", "skipped", "not Ready");
      view.update("late", "running", "starting");
      view.update("late", "running", "still going");
      view.update("late", "ok", "done");
      expect(writes).toEqual(["- alpha  not Ready\n", "… late   starting\n", "✓ late   done\n"]);
    });

    it("prints a line without walking every row: output stays linear in the number of rows", () => {
      const { out, writes } = sink();
      const view = new LiveView(out, false, styleFor(false));
      const names = Array.from({ length: 2000 }, (_, i) => `sandbox-${i}`);
      view.plan(names);
      const keys = vi.spyOn(Map.prototype, "keys");
      const values = vi.spyOn(Map.prototype, "values");
      try {
        for (const name of names) view.update(name, "skipped", "not listed");
        expect(keys).not.toHaveBeenCalled();
        expect(values).not.toHaveBeenCalled();
      } finally {
        keys.mockRestore();
        values.mockRestore();
      }
      expect(writes).toHaveLength(2000);
      // Names are still padded to the longest one planned.
      expect(writes[0]).toBe("- sandbox-0     not listed\n");
    });

    it("pads to a longer name seen after plan()", () => {
      const { out, writes } = sink();
      const view = new LiveView(out, false, styleFor(false));
      view.plan(["a"]);
      view.update("a", "ok", "x");
      view.update("much-longer", "ok", "y");
      view.update("a", "failed", "z");
      expect(writes).toEqual(["✓ a     x\n", "✓ much-longer  y\n", "✗ a            z\n"]);
    });

    it("never redraws on a timer", () => {
      vi.useFakeTimers();
      const { out, writes } = sink();
      const view = new LiveView(out, false, styleFor(true));
      view.plan(["alpha"]);
      view.update("alpha", "running", "starting");
      vi.advanceTimersByTime(5000);
      view.finish();
      expect(writes).toEqual(["… alpha  starting\n"]);
    });

    it("uses colour only for the state mark when the style is coloured", () => {
      const { out, writes } = sink();
      const view = new LiveView(out, false, styleFor(true));
      view.update("alpha", "ok", "done");
      expect(writes).toEqual([`${ESC}[32m✓${ESC}[39m alpha  done\n`]);
    });
  });

  describe("live", () => {
    it("draws every row at once, redraws in place on the timer, and leaves the final rows", () => {
      vi.useFakeTimers();
      let clock = 1000;
      const { out, writes, text } = sink();
      const view = new LiveView(out, true, styleFor(false), () => clock);

      view.plan(["alpha", "beta"]);
      expect(writes).toEqual([`\r${ESC}[2K· alpha  waiting\n\r${ESC}[2K· beta   waiting\n`]);

      // Updates are not written directly; the timer draws them.
      view.update("alpha", "running", "downloading");
      expect(writes).toHaveLength(1);
      clock += 1500;
      vi.advanceTimersByTime(100);
      expect(writes).toHaveLength(2);
      const second = writes[1] as string;
      expect(second.startsWith(`${ESC}[2A`)).toBe(true);
      expect(second).toMatch(withEsc(`\rESC\\[2K${SPINNER} alpha {2}downloading {2}1\\.5s\n`));
      expect(second).toContain(`\r${ESC}[2K· beta   waiting\n`);

      view.update("alpha", "ok", "backed up");
      view.update("beta", "skipped", "not Ready");
      view.finish();
      const last = writes.at(-1) as string;
      expect(last).toBe(`${ESC}[2A\r${ESC}[2K✓ alpha  backed up\n\r${ESC}[2K- beta   not Ready\n`);

      // Nothing more after finish().
      const count = writes.length;
      vi.advanceTimersByTime(1000);
      expect(writes).toHaveLength(count);
      expect(text()).toContain(ESC);
    });

    it("grows the region for rows added after plan()", () => {
      const { out, writes } = sink();
      const view = new LiveView(out, true, styleFor(false));
      view.plan(["a"]);
      view.update("late", "ok", "done");
      view.finish();
      expect(writes.at(-1)).toBe(`${ESC}[1A\r${ESC}[2K· a     waiting\n\r${ESC}[2K✓ late  done\n`);
    });

    it("never draws more lines than the terminal has: running rows plus one counting line", () => {
      const { out, writes } = sink();
      const view = new LiveView(out, true, styleFor(false), () => 0, 5);
      view.plan(Array.from({ length: 50 }, (_, i) => `s${i}`));
      view.update("s0", "ok", "done");
      view.update("s1", "failed", "boom");
      view.update("s2", "running", "downloading");
      view.update("s3", "running", "hashing");
      view.finish();
      const frame = writes.at(-1) ?? "";
      const lines = frame.split("\n").filter((l) => l.length > 0);
      expect(lines).toHaveLength(3);
      expect(frame).toContain("s2");
      expect(frame).toContain("s3");
      expect(frame).not.toContain("s49");
      expect(frame).toContain("1 done, 1 failed, 0 skipped, 46 waiting, 2 running");
      // No frame, the first included, exceeded the limit.
      expect(Math.max(...writes.map((w) => w.split("\n").length - 1))).toBeLessThanOrEqual(5);
    });

    it("colours marks and elapsed time when the style is coloured", () => {
      vi.useFakeTimers();
      let clock = 0;
      const { out, writes } = sink();
      const view = new LiveView(out, true, styleFor(true), () => clock);
      view.plan(["alpha"]);
      view.update("alpha", "running", "x");
      clock = 2000;
      vi.advanceTimersByTime(100);
      expect(writes.at(-1)).toContain(`${ESC}[2m  2.0s${ESC}[22m`);
      expect(writes.at(-1)).toMatch(withEsc(`ESC\\[33m${SPINNER}ESC\\[39m alpha`));
      view.update("alpha", "failed", "boom");
      view.finish();
      expect(writes.at(-1)).toContain(`${ESC}[31m✗${ESC}[39m alpha  boom`);
    });

    it("finish() without plan() still leaves the rows", () => {
      const { out, writes } = sink();
      const view = new LiveView(out, true, styleFor(false));
      view.update("solo", "ok", "done");
      expect(writes).toEqual([]);
      view.finish();
      expect(writes).toEqual([`\r${ESC}[2K✓ solo  done\n`]);
    });
  });

  describe("transient (the result follows on the same terminal)", () => {
    it("finish({ clear }) erases exactly the lines drawn, with one known sequence", () => {
      const { out, writes } = sink();
      const view = new LiveView(out, true, styleFor(false));
      view.plan(["alpha", "beta"]);
      view.update("alpha", "ok", "backed up");
      view.finish({ clear: true });
      expect(writes.at(-1)).toBe(`${ESC}[2A\r${ESC}[J`);
      expect(eraseLines(2)).toBe(`${ESC}[2A\r${ESC}[J`);
      // The final rows are not drawn again before the erase.
      expect(writes.join("")).not.toContain("backed up");
    });

    it("finish({ clear }) with nothing drawn writes nothing", () => {
      const { out, writes } = sink();
      const view = new LiveView(out, true, styleFor(false));
      view.update("solo", "ok", "done");
      view.finish({ clear: true });
      expect(writes).toEqual([]);
      expect(eraseLines(0)).toBe("");
    });

    it("finish({ clear }) without a live view keeps the plain lines (nothing to erase)", () => {
      const { out, text } = sink();
      const view = new LiveView(out, false, styleFor(false));
      view.plan(["alpha"]);
      view.update("alpha", "ok", "backed up");
      view.finish({ clear: true });
      expect(text()).toBe("✓ alpha  backed up\n");
    });

    it("print() puts text above the live region and draws the region again below it", () => {
      vi.useFakeTimers();
      try {
        const { out, writes } = sink();
        const view = new LiveView(out, true, styleFor(false));
        view.plan(["alpha"]);
        view.print(["warning: one", "two"]);
        expect(writes[1]).toBe(`${ESC}[1A\r${ESC}[Jwarning: one\ntwo\n`);
        // The region comes back below the text, without moving up over it.
        expect(writes[2]).toBe(`\r${ESC}[2K· alpha  waiting\n`);
        view.finish({ clear: true });
        expect(writes.at(-1)).toBe(`${ESC}[1A\r${ESC}[J`);
      } finally {
        vi.useRealTimers();
      }
    });

    it("print() after finish() leaves the final frame and writes below it", () => {
      const { out, writes } = sink();
      const view = new LiveView(out, true, styleFor(false));
      view.plan(["alpha"]);
      view.finish();
      view.print(["late"]);
      expect(writes.at(-1)).toBe("late\n");
    });

    it("print() without a terminal is plain lines", () => {
      const { out, text } = sink();
      const view = new LiveView(out, false, styleFor(false));
      view.print([]);
      view.print(["a", "b"]);
      expect(text()).toBe("a\nb\n");
    });
  });
});

describe("formatTransfer", () => {
  it("without a total: bytes and, after half a second, the rate", () => {
    expect(formatTransfer(1024, 100)).toBe("1.0 KiB");
    expect(formatTransfer(4 * 1024 * 1024, 2000)).toBe("4.0 MiB at 2.0 MiB/s");
  });

  it("with a total: a bar, the percentage, bytes of total, rate and ETA", () => {
    expect(formatTransfer(25 * 1024 * 1024, 5000, 100 * 1024 * 1024, 10)).toBe(
      "[###-------] 25% 25.0 MiB / 100.0 MiB at 5.0 MiB/s, ETA 15.0s",
    );
    // Too early for a rate: no ETA yet.
    expect(formatTransfer(0, 0, 1024, 4)).toBe("[----] 0% 0 B / 1.0 KiB");
    // Done: a full bar, no ETA; more than the total never overflows the bar.
    expect(formatTransfer(2048, 1000, 1024, 4)).toBe("[####] 100% 2.0 KiB / 1.0 KiB at 2.0 KiB/s");
  });
});

describe("uploadDetail and UploadLine", () => {
  const MiB = 1024 * 1024;

  it("an upload's detail has the bar, the percentage, rate and ETA against the manifest's bytes", () => {
    const text = uploadDetail({ bytes: 4 * MiB, total: 10 * MiB, elapsedMs: 2000 });
    expect(text).toBe("restoring state [########------------] 40% 4.0 MiB / 10.0 MiB at 2.0 MiB/s, ETA 3.0s");
  });

  it("a finished upload stays as one completed line; nothing when there was no progress", () => {
    const s = sink();
    const line = new UploadLine(s.out, styleFor(false), "alpha");
    line.end();
    expect(s.text()).toBe("");
    line.update({ bytes: 0, total: 10 * MiB, elapsedMs: 0 });
    line.update({ bytes: 10 * MiB, total: 10 * MiB, elapsedMs: 4000 });
    line.end();
    const screen = s.text();
    expect(screen).toMatch(/✓ alpha {2}state uploaded: 10\.0 MiB in 4\.0s\n$/);
    // Erase sequences only come from redraws, and the last frame is the completed line.
    expect(screen.lastIndexOf("restoring state")).toBeLessThan(screen.lastIndexOf("state uploaded"));
    line.end();
    expect(s.text()).toBe(screen);
  });

  it("an unfinished upload (a failure or interrupt) is erased: no stale bar above the failure lines", () => {
    const s = sink();
    const line = new UploadLine(s.out, styleFor(false), "alpha");
    vi.useFakeTimers();
    line.update({ bytes: 3 * MiB, total: 10 * MiB, elapsedMs: 1000 });
    vi.advanceTimersByTime(150);
    line.end();
    vi.useRealTimers();
    expect(s.text()).toContain("restoring state [######");
    expect(s.text().endsWith(eraseLines(1))).toBe(true);
  });
});
