// Realistic agent state for simulated sandboxes (`simctl seed-sandbox`, `add-sandbox --seed`):
// everything a backup must carry byte-for-byte — names with spaces and non-ASCII characters,
// binary data, modes, nested and empty directories, a symlink, and git-ignored files (plus the
// .gitignore files that ignore them), which `sandbox upload` without `--no-git-ignore` drops.

import { randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";

/** The state directory an agent keeps under /sandbox (the catalog's `stateDirs`). */
export function defaultStateDir(agent) {
  return `/sandbox/.${agent || "openclaw"}`;
}

function write(dir, rel, content, mode = 0o644) {
  const file = path.join(dir, rel);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, content, { mode });
  fs.chmodSync(file, mode);
}

/**
 * A big file of `mib` MiB, written in 1 MiB chunks of random data (each chunk stamped with its
 * index, so no two are identical): fast, and never more than one chunk in memory.
 */
export function writeBigFile(file, mib) {
  const chunk = randomBytes(1024 * 1024);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const fd = fs.openSync(file, "w", 0o644);
  try {
    for (let i = 0; i < mib; i++) {
      chunk.writeUInt32LE(i, 0);
      fs.writeSync(fd, chunk);
    }
  } finally {
    fs.closeSync(fd);
  }
}

const configFor = (agent) =>
  agent === "hermes"
    ? [
        "config.yaml",
        "model:\n  provider: nvidia\n  name: nemotron-super\nmemory:\n  enabled: true\n  path: memories/\n",
      ]
    : [
        `${agent || "openclaw"}.json`,
        `${JSON.stringify(
          {
            gateway: { port: 18789, bind: "loopback" },
            agents: {
              defaults: { model: "nvidia/nemotron-super", workspace: "/sandbox/.openclaw/workspace" },
            },
            channels: { telegram: { enabled: false } },
          },
          null,
          2,
        )}\n`,
      ];

/**
 * Fill `dir` (a host path, normally the resolved state dir of a sandbox) with realistic state.
 * `bigMiB` adds `media/big.bin`; `smallFiles` adds that many 1–4 KiB files under `small/NN/`.
 * Returns the relative paths of the files a `.gitignore` ignores (as upload would skip them).
 */
export function seedStateTree(dir, { agent = "openclaw", bigMiB = 0, smallFiles = 0 } = {}) {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  fs.chmodSync(dir, 0o700);
  const [configName, configText] = configFor(agent);
  write(dir, configName, configText, 0o600);
  write(dir, ".gitignore", "# runtime files, never committed\n*.log\ncache/\n\ntmp-*\n!keep.log\n");
  write(dir, "gateway.log", "2026-07-01T10:00:00Z INFO gateway started\n");
  write(dir, "logs/agent.log", "2026-07-01T10:00:01Z INFO agent ready\n");
  write(dir, "logs/keep.log", "negated: kept even by a git-ignore-aware upload\n");
  write(dir, "cache/models.json", '{"nemotron-super":{"etag":"abc123"}}\n');
  write(dir, "cache/blobs/0001.bin", randomBytes(2048));
  write(dir, "tmp-session.json", '{"pending":true}\n');
  write(dir, "workspace/My Notes.md", "# Notes\n\nThings the agent must not forget.\n");
  write(dir, "workspace/résumé – ünïcode ✓.txt", "naïve café, 日本語, emoji 🦀\n");
  write(dir, "workspace/project/README.md", "# project\n");
  write(dir, "workspace/project/src/main.py", 'print("hello from the sandbox")\n');
  write(dir, "workspace/project/.gitignore", "build/\n");
  write(dir, "workspace/project/build/out.o", randomBytes(512));
  write(dir, "workspace/run.sh", "#!/bin/sh\necho run\n", 0o755);
  fs.rmSync(path.join(dir, "workspace/notes-link"), { force: true });
  fs.symlinkSync("My Notes.md", path.join(dir, "workspace/notes-link"));
  write(dir, "agents/main/sessions/2026-07-01.jsonl", '{"role":"user","content":"hi"}\n');
  write(dir, "credentials/token", `${randomBytes(24).toString("hex")}\n`, 0o600);
  write(dir, "media/photo.bin", randomBytes(4096 + 123));
  fs.mkdirSync(path.join(dir, "empty-dir"), { recursive: true });
  if (bigMiB > 0) writeBigFile(path.join(dir, "media/big.bin"), bigMiB);
  for (let i = 0; i < smallFiles; i++) {
    const sub = String(Math.floor(i / 50)).padStart(2, "0");
    const size = 1024 + ((i * 977) % 2048);
    write(dir, `small/${sub}/file-${String(i).padStart(4, "0")}.txt`, randomBytes(size).toString("base64"));
  }
  return [
    "cache/blobs/0001.bin",
    "cache/models.json",
    "gateway.log",
    "logs/agent.log",
    "tmp-session.json",
    "workspace/project/build/out.o",
  ];
}
