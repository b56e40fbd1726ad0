import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { Slots } from "../../src/actions/bounded-pool.js";
import { HashError, HashPool } from "../../src/adapters/hash-pool.js";

const sha = (data: Buffer) => createHash("sha256").update(data).digest("hex");
const MiB = 1024 * 1024;

describe("HashPool", () => {
  const dirs: string[] = [];
  const pools: HashPool[] = [];
  afterEach(async () => {
    await Promise.all(pools.splice(0).map((p) => p.close()));
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  function setup(size?: number): { dir: string; pool: HashPool } {
    const dir = mkdtempSync(path.join(tmpdir(), "hash-pool-"));
    dirs.push(dir);
    const pool = new HashPool(size);
    pools.push(pool);
    return { dir, pool };
  }

  it("hashes files of every size around the chunk boundary, many more than workers, in any order", async () => {
    const { dir, pool } = setup(2);
    const sizes = [0, 1, MiB - 1, MiB, MiB + 1, 3 * MiB + 17, 20 * MiB + 5, ...Array(40).fill(100)];
    const files = sizes.map((size, i) => {
      const data = randomBytes(size);
      const file = path.join(dir, `f${i}`);
      writeFileSync(file, data);
      return { file, size, sha256: sha(data) };
    });
    let reported = 0;
    const digests = await Promise.all(
      files.map((f, i) => pool.hash(f.file, { sync: i % 2 === 0, onBytes: (n) => (reported += n) })),
    );
    expect(digests).toEqual(files.map(({ size, sha256 }) => ({ size, sha256, mode: expect.any(Number) })));
    // Every byte is reported once, large files in several steps.
    expect(reported).toBe(sizes.reduce((a, b) => a + b, 0));
  });

  it("rejects a missing file and a symlink (never followed) with HashError, and keeps working", async () => {
    const { dir, pool } = setup(1);
    writeFileSync(path.join(dir, "real"), "real");
    symlinkSync(path.join(dir, "real"), path.join(dir, "link"));
    const missing = pool.hash(path.join(dir, "missing"));
    const link = pool.hash(path.join(dir, "link"));
    await expect(missing).rejects.toBeInstanceOf(HashError);
    await expect(missing).rejects.toMatchObject({ code: "ENOENT" });
    await expect(link).rejects.toMatchObject({ code: "ELOOP" });
    await expect(pool.hash(path.join(dir, "real"))).resolves.toEqual({
      size: 4,
      sha256: sha(Buffer.from("real")),
      mode: expect.any(Number),
    });
  });

  it("close() rejects what is still queued and refuses new work", async () => {
    const { dir, pool } = setup(1);
    const file = path.join(dir, "big");
    writeFileSync(file, randomBytes(8 * MiB));
    const jobs = Array.from({ length: 6 }, () => pool.hash(file));
    const settled = Promise.allSettled(jobs);
    await pool.close();
    const results = await settled;
    expect(results.some((r) => r.status === "rejected")).toBe(true);
    await expect(pool.hash(file)).rejects.toThrow("hash pool is closed");
  });
});

describe("Slots", () => {
  it("never lets more than N holders in, hands slots over in arrival order, and ignores a double release", async () => {
    const slots = new Slots(2);
    let inside = 0;
    let most = 0;
    const order: number[] = [];
    const tick = () => new Promise((resolve) => setTimeout(resolve, 5));
    await Promise.all(
      Array.from({ length: 7 }, async (_, i) => {
        const release = await slots.acquire();
        order.push(i);
        inside++;
        most = Math.max(most, inside);
        await tick();
        inside--;
        release();
        release();
      }),
    );
    expect(most).toBe(2);
    expect(order).toEqual([0, 1, 2, 3, 4, 5, 6]);
  });
});
