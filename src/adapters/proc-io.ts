import fs from "node:fs";
import path from "node:path";
import { isPlausiblePid } from "./process-identity.js";

/**
 * Bytes a process has read, from /proc (docs/design.md, "Upload progress").
 *
 * `rchar` of `/proc/<pid>/io` counts every byte the process got from read()-like calls (files,
 * pipes, sockets, sendfile). An upload has to read every byte of what it sends, so the sum over
 * the upload's process and its descendants tracks how far it got through the backup: an
 * estimate that runs ahead of the network when OpenShell buffers, which is why callers cap it
 * per state directory and count a directory exactly only once its upload has returned.
 */

/** Processes followed down the tree at most: a runaway fork bomb must not make a sample slow. */
const MAX_PROCESSES = 64;

function readRchar(procRoot: string, pid: number): number | null {
  let text: string;
  try {
    text = fs.readFileSync(path.join(procRoot, String(pid), "io"), "utf8");
  } catch {
    return null;
  }
  const match = /^rchar:\s*(\d+)$/m.exec(text);
  if (!match) return null;
  const value = Number(match[1]);
  return Number.isSafeInteger(value) ? value : null;
}

/** The pids `/proc/<pid>/task/<tid>/children` name, over every thread of the process. */
function childrenOf(procRoot: string, pid: number): number[] {
  const taskDir = path.join(procRoot, String(pid), "task");
  let tids: string[];
  try {
    tids = fs.readdirSync(taskDir);
  } catch {
    return [];
  }
  const children: number[] = [];
  for (const tid of tids) {
    let text: string;
    try {
      text = fs.readFileSync(path.join(taskDir, tid, "children"), "utf8");
    } catch {
      continue;
    }
    for (const word of text.split(/\s+/)) {
      const child = Number(word);
      if (word !== "" && isPlausiblePid(child)) children.push(child);
    }
  }
  return children;
}

/**
 * The bytes read so far by `pid` and its descendants, or null when `/proc/<pid>/io` cannot be
 * read (not Linux, another user's process, already gone): then there is no estimate at all.
 */
export function bytesReadByTree(pid: number, procRoot: string): number | null {
  if (!isPlausiblePid(pid)) return null;
  const own = readRchar(procRoot, pid);
  if (own === null) return null;
  let total = own;
  const seen = new Set([pid]);
  const queue = childrenOf(procRoot, pid);
  while (queue.length > 0 && seen.size < MAX_PROCESSES) {
    const child = queue.shift() as number;
    if (seen.has(child)) continue;
    seen.add(child);
    total += readRchar(procRoot, child) ?? 0;
    queue.push(...childrenOf(procRoot, child));
  }
  return total;
}
