import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import type { IOStreams } from "../../src/context.js";
import { progressForm, StepList } from "../../src/output/progress.js";
import { styleFor } from "../../src/output/style.js";

function sink(): { out: Writable; text: () => string } {
  let text = "";
  const out = new Writable({
    write(chunk, _enc, done) {
      text += String(chunk);
      done();
    },
  });
  return { out, text: () => text };
}

describe("progressForm", () => {
  it("json wins; else tty with colour, plain without", () => {
    expect(progressForm({ color: true } as IOStreams, true)).toBe("json");
    expect(progressForm({ color: true } as IOStreams, false)).toBe("tty");
    expect(progressForm({ color: false } as IOStreams, false)).toBe("plain");
  });
});

describe("StepList", () => {
  it("plain: each step once, a repeated step not again, no escape codes", () => {
    const s = sink();
    const steps = new StepList(s.out, "plain", styleFor(false));
    steps.step("verifying backup X");
    steps.step("verifying backup X");
    steps.step("restoring state");
    steps.done();
    expect(s.text()).toBe("… verifying backup X\n… restoring state\n");
  });

  it("tty: a spinner line, rewritten as ✓ when the next step begins; ✗ on failure", () => {
    const s = sink();
    const steps = new StepList(s.out, "tty", styleFor(false));
    steps.step("one");
    steps.step("two");
    steps.done(false);
    const text = s.text();
    expect(text).toContain("\r\x1b[2K✓ one\n");
    expect(text).toContain("\r\x1b[2K✗ two\n");
    expect(text.match(/one\n/g)?.length).toBe(1);
  });

  it("tty: a step handed over to an upload bar is not drawn again", () => {
    const s = sink();
    const steps = new StepList(s.out, "tty", styleFor(false));
    steps.step("restoring state");
    steps.handOver();
    steps.step("verifying the restored state");
    steps.done();
    expect(s.text()).not.toContain("✓ restoring state");
    expect(s.text()).toContain("✓ verifying the restored state\n");
  });

  it("json: nothing at all", () => {
    const s = sink();
    const steps = new StepList(s.out, "json", styleFor(false));
    steps.step("x");
    steps.done();
    expect(s.text()).toBe("");
  });
});
