import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { bytesReadByTree } from "../../src/adapters/proc-io.js";

const temps: string[] = [];
afterEach(() => {
  for (const dir of temps.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "nemoclaw-procio-"));
  temps.push(dir);
  return dir;
}

/** A fake /proc: per pid its `io` text and per thread its `children` line. */
function fakeProc(
  processes: Record<number, { rchar?: number; io?: string; children?: Record<number, number[]> }>,
) {
  const root = tempDir();
  for (const [pid, p] of Object.entries(processes)) {
    const dir = path.join(root, pid);
    fs.mkdirSync(path.join(dir, "task"), { recursive: true });
    if (p.io !== undefined || p.rchar !== undefined)
      fs.writeFileSync(path.join(dir, "io"), p.io ?? `rchar: ${p.rchar}\nwchar: 7\nsyscr: 1\n`);
    for (const [tid, kids] of Object.entries(p.children ?? { [pid]: [] })) {
      fs.mkdirSync(path.join(dir, "task", tid), { recursive: true });
      fs.writeFileSync(path.join(dir, "task", tid, "children"), kids.map((k) => `${k} `).join(""));
    }
  }
  return root;
}

describe("bytesReadByTree", () => {
  it("sums rchar over the process and its descendants, through every thread's children", () => {
    const root = fakeProc({
      100: { rchar: 1000, children: { 100: [101], 102: [103] } },
      101: { rchar: 20, children: { 101: [104] } },
      103: { rchar: 300 },
      104: { rchar: 4 },
    });
    expect(bytesReadByTree(100, root)).toBe(1324);
    expect(bytesReadByTree(101, root)).toBe(24);
  });

  it("null when the process's own io cannot be read; a child that vanished counts nothing", () => {
    const root = fakeProc({
      100: { rchar: 1000, children: { 100: [105] } },
      200: { io: "wchar: 5\n" },
      300: { io: "rchar: 99999999999999999999\n" },
    });
    expect(bytesReadByTree(100, root)).toBe(1000);
    expect(bytesReadByTree(999, root)).toBeNull();
    expect(bytesReadByTree(200, root)).toBeNull();
    expect(bytesReadByTree(300, root)).toBeNull();
    expect(bytesReadByTree(1, root)).toBeNull();
    expect(bytesReadByTree(-5, root)).toBeNull();
  });

  it("a cycle in a corrupt tree ends", () => {
    const root = fakeProc({
      100: { rchar: 1, children: { 100: [101] } },
      101: { rchar: 2, children: { 101: [100, 101] } },
    });
    expect(bytesReadByTree(100, root)).toBe(3);
  });

  it.runIf(process.platform === "linux")(
    "on Linux, grows while a real child reads a file, and covers what it read",
    async () => {
      const file = path.join(tempDir(), "payload");
      fs.writeFileSync(file, Buffer.alloc(4 * 1024 * 1024, 1));
      // Reads 1 MiB every 150 ms, then waits to be killed.
      const child = spawn(
        process.execPath,
        [
          "-e",
          `const fs=require("fs");const fd=fs.openSync(process.argv[1],"r");const b=Buffer.alloc(1<<20);
           let n=0;const t=setInterval(()=>{n+=fs.readSync(fd,b,0,b.length,null);if(n>=4<<20){clearInterval(t);process.stdout.write("done\\n");setInterval(()=>{},1000)}},150);`,
          file,
        ],
        { stdio: ["ignore", "pipe", "ignore"] },
      );
      try {
        const samples: number[] = [];
        const done = new Promise((resolve) => child.stdout.once("data", resolve));
        const sampler = setInterval(
          () => samples.push(bytesReadByTree(child.pid as number, "/proc") ?? -1),
          50,
        );
        await done;
        clearInterval(sampler);
        const final = bytesReadByTree(child.pid as number, "/proc") as number;
        expect(final).toBeGreaterThanOrEqual(4 * 1024 * 1024);
        expect(samples.every((n) => n >= 0)).toBe(true);
        // Sampled mid-read: some values strictly between the start and the end.
        expect(samples.some((n) => n > 1024 * 1024 && n < final)).toBe(true);
      } finally {
        child.kill("SIGKILL");
      }
    },
  );
});
