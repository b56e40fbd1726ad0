import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { DEFAULT_PROC_ROOT, parseProcStat } from "./process-identity.js";

/**
 * Is a loopback TCP port free for the gateway, and if not, who holds it? (docs/design.md, "onboard", step 2.)
 * Freedom is tested the only reliable way — by binding it (and closing again at once); the holder
 * is looked up best-effort from /proc/net/tcp{,6} and /proc/<pid>/fd, which only shows sockets of
 * processes we may inspect (our own user's).
 */

export type PortCheck = { free: true } | { free: false; code: string };

/** Try to listen on `host:port` exclusively; `EADDRINUSE` (or any bind error) means not free. */
export function checkPortFree(port: number, host = "127.0.0.1"): Promise<PortCheck> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.unref();
    server.once("error", (error: NodeJS.ErrnoException) => {
      resolve({ free: false, code: error.code ?? "error" });
    });
    server.listen({ port, host, exclusive: true }, () => {
      server.close(() => resolve({ free: true }));
    });
  });
}

export interface PortHolder {
  pid: number;
  /** The process name from /proc/<pid>/stat, control characters removed. */
  name: string;
  /** Its parent, when /proc/<pid>/stat could be read (a wrapper's child may hold the socket). */
  ppid: number | null;
}

const TCP_LISTEN = "0A";

/** Socket inodes listening on `port` in a /proc/net/tcp(6) table. Exported for tests. */
export function listeningInodes(table: string, port: number): Set<string> {
  const inodes = new Set<string>();
  for (const line of table.split("\n").slice(1)) {
    const fields = line.trim().split(/\s+/);
    const local = fields[1];
    const state = fields[3];
    const inode = fields[9];
    if (local === undefined || state !== TCP_LISTEN || inode === undefined || inode === "0") continue;
    const portHex = local.slice(local.lastIndexOf(":") + 1);
    if (Number.parseInt(portHex, 16) === port) inodes.add(inode);
  }
  return inodes;
}

function readText(file: string): string {
  try {
    return fs.readFileSync(file, "utf8");
  } catch {
    return "";
  }
}

/**
 * The process holding a listening socket on `port`, or null when it cannot be found cheaply
 * (another user's process, another network namespace). Bounded: stops after `maxProcesses`.
 */
export function findPortHolder(
  port: number,
  procRoot: string = DEFAULT_PROC_ROOT,
  maxProcesses = 20_000,
): PortHolder | null {
  const inodes = new Set([
    ...listeningInodes(readText(path.join(procRoot, "net/tcp")), port),
    ...listeningInodes(readText(path.join(procRoot, "net/tcp6")), port),
  ]);
  if (inodes.size === 0) return null;
  const wanted = new Set([...inodes].map((inode) => `socket:[${inode}]`));
  let entries: string[];
  try {
    entries = fs.readdirSync(procRoot);
  } catch {
    return null;
  }
  let seen = 0;
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    if (++seen > maxProcesses) break;
    const fdDir = path.join(procRoot, entry, "fd");
    let fds: string[];
    try {
      fds = fs.readdirSync(fdDir);
    } catch {
      continue;
    }
    for (const fd of fds) {
      let target: string;
      try {
        target = fs.readlinkSync(path.join(fdDir, fd));
      } catch {
        continue;
      }
      if (!wanted.has(target)) continue;
      const stat = parseProcStat(readText(path.join(procRoot, entry, "stat")));
      // biome-ignore lint/suspicious/noControlCharactersInRegex: a process name must not forge output
      const name = (stat?.comm ?? "unknown").replace(/[\u0000-\u001f\u007f]/g, "?");
      return { pid: Number(entry), name, ppid: stat?.ppid ?? null };
    }
  }
  return null;
}
