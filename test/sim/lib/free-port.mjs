// Free loopback ports for simulated gateways and the test servers beside them, safe when test
// files run in parallel (bats --jobs): a port is chosen outside the kernel's ephemeral range, so
// neither a `listen(0)` nor an outgoing connection of another test is handed it between the
// choice and the bind, and it is reserved by an exclusively created file naming its owner (a
// simulated host directory), so two tests never choose the same one. `releasePorts` drops a
// host's reservations (simctl stop); a reservation whose owner directory is gone is reclaimed.
import { randomInt } from "node:crypto";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";

/** Below Linux's default ephemeral range (32768–60999), above the well-known services. */
const FIRST = 20000;
const LAST = 32767;
/** A reservation without its owner directory is stale only after this long (a host being created). */
const STALE_MS = 60_000;

function reservationsDir() {
  const dir = path.join(os.tmpdir(), "nemoclaw-sim-ports");
  fs.mkdirSync(dir, { recursive: true, mode: 0o1777 });
  return dir;
}

function bindable(port) {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once("error", () => resolve(false));
    server.listen({ port, host: "127.0.0.1", exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** Drops a reservation whose owner directory no longer exists (a test that was killed). */
function dropIfStale(file) {
  try {
    const owner = fs.readFileSync(file, "utf8");
    if (fs.existsSync(owner) || Date.now() - fs.statSync(file).mtimeMs < STALE_MS) return;
    fs.rmSync(file, { force: true });
  } catch {
    // gone meanwhile, or unreadable: leave it
  }
}

/** Reserves a free 127.0.0.1 port for `owner` (an absolute directory path) and returns it. */
export async function reservePort(owner) {
  const dir = reservationsDir();
  for (let attempt = 0; attempt < 500; attempt++) {
    const port = randomInt(FIRST, LAST + 1);
    const file = path.join(dir, String(port));
    try {
      fs.writeFileSync(file, owner, { flag: "wx" });
    } catch (error) {
      if (error.code !== "EEXIST") throw error;
      dropIfStale(file);
      continue;
    }
    if (await bindable(port)) return port;
    // Something outside the reservations holds it: leave it to them.
    fs.rmSync(file, { force: true });
  }
  throw new Error(`no free 127.0.0.1 port in ${FIRST}-${LAST}`);
}

/** Releases every port reserved for `owner`. */
export function releasePorts(owner) {
  const dir = reservationsDir();
  for (const name of fs.readdirSync(dir)) {
    const file = path.join(dir, name);
    try {
      if (fs.readFileSync(file, "utf8") === owner) fs.rmSync(file, { force: true });
    } catch {
      // released by someone else meanwhile
    }
  }
}
