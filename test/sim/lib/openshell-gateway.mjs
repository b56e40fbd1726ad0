// Simulated `openshell-gateway` (docs/design.md, "OpenShell output forms handled"). Two modes:
//   --version   print the binary's version (knobs: gatewayVersionDelayMs, gatewayVersionHang)
//   no args     the long-lived gateway, configured only by OPENSHELL_* environment variables.
// The gateway is a genuine process listening on loopback, so /proc/<pid> (argv0 = the wrapper
// path, thanks to `exec -a "$0"`), liveness and port conflicts are all real.

import { spawn } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import { clapError, green, red } from "./ansi-style.mjs";
import { startInvocation } from "./fast-paths.mjs";
import { isLoopbackHost } from "./gateway-client.mjs";
import { invalidateFastPaths, sleep } from "./host-state.mjs";
import { recordPid } from "./pid-registry.mjs";

const { paths, argv, config, saveReplay } = startInvocation("openshell-gateway");
// Wrappers made by `simctl install-gateway-bin` bake their own version in; the default
// `<hostdir>/bin/openshell-gateway` follows the `gatewayVersion` knob.
const binaryVersion = process.env.NEMOCLAW_SIM_GATEWAY_VERSION || config.gatewayVersion;
// Whoever launched it (simctl, or nemoclaw's onboard), a long-lived gateway is recorded for
// `simctl stop` before anything else can go wrong.
if (argv.length === 0) {
  recordPid(paths, process.pid, "gateway");
  // A gateway coming up changes what `status` answers.
  invalidateFastPaths(paths);
  process.on("exit", () => invalidateFastPaths(paths));
}
await sleep(config.delayMs);

const hangForever = () => setInterval(() => {}, 1 << 30);

async function printVersion() {
  if (config.gatewayVersionHang) {
    // A wedged binary whose grandchild keeps our stdout/stderr open: a caller that waits for EOF
    // instead of killing the whole process group hangs with us.
    const sleeper = fs.existsSync("/bin/sleep") ? "/bin/sleep" : "/usr/bin/sleep";
    const child = spawn(sleeper, ["3600"], { stdio: ["ignore", "inherit", "inherit"] });
    recordPid(paths, process.pid, "gateway-version-hang");
    if (child.pid) recordPid(paths, child.pid, "gateway-version-hang-grandchild");
    hangForever();
    return;
  }
  await sleep(config.gatewayVersionDelayMs);
  process.stdout.write(`openshell-gateway ${binaryVersion}\n`);
}

/** tracing-subscriber style line; it colours the level even into a log file. */
function log(level, message) {
  const colour = level === "ERROR" ? red : green;
  process.stdout.write(
    `${new Date().toISOString()} ${colour(level.padStart(5))} openshell_server: ${message}\n`,
  );
}

function die(message) {
  log("ERROR", message);
  process.exit(1);
}

/** Touch the sqlite file like the real gateway's migrations would — but never outside the host. */
function touchDatabase(dbUrl) {
  if (!dbUrl?.startsWith("sqlite:")) return;
  const file = path.resolve(dbUrl.slice("sqlite:".length));
  if (!file.startsWith(`${paths.host}${path.sep}`) || !fs.existsSync(path.dirname(file))) return;
  fs.closeSync(fs.openSync(file, "a", 0o600));
}

async function serve() {
  const env = process.env;
  // Read once at start: changing the knobs (or the binary's version) later models an in-place
  // upgrade while this old process keeps serving its old version.
  const servedVersion = env.NEMOCLAW_SIM_SERVED_VERSION || config.servedVersion || binaryVersion;
  const bind = env.OPENSHELL_BIND_ADDRESS;
  const port = Number(env.OPENSHELL_SERVER_PORT);
  log("INFO", `Starting OpenShell gateway version=${binaryVersion} drivers=${env.OPENSHELL_DRIVERS ?? "-"}`);
  if (!bind || !isLoopbackHost(bind)) {
    die(
      `refusing to bind ${bind ?? "(OPENSHELL_BIND_ADDRESS unset)"}: the simulator only listens on loopback`,
    );
  }
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    die(`invalid OPENSHELL_SERVER_PORT: ${env.OPENSHELL_SERVER_PORT ?? "(unset)"}`);
  }
  touchDatabase(env.OPENSHELL_DB_URL);
  if (config.gatewayStartDelayMs > 0) {
    log("INFO", `running database migrations (${env.OPENSHELL_DB_URL ?? "no database"})`);
    await sleep(config.gatewayStartDelayMs);
  }

  const server = http.createServer((req, res) => {
    if (req.method === "GET" && req.url === "/health") {
      res.writeHead(200, { "content-type": "application/json", connection: "close" });
      res.end(JSON.stringify({ status: "healthy", version: servedVersion, pid: process.pid }));
      return;
    }
    res.writeHead(404, { connection: "close" });
    res.end();
  });
  server.on("error", (e) => {
    const reason = e.code === "EADDRINUSE" ? "Address already in use (os error 98)" : e.message;
    die(`failed to bind ${bind}:${port}: ${reason}`);
  });
  const shutdown = () => {
    log("INFO", "received SIGTERM, shutting down");
    server.close(() => process.exit(0));
    server.closeAllConnections();
  };
  process.on("SIGTERM", shutdown);
  process.on("SIGINT", shutdown);

  const host = bind.replace(/^\[|\]$/g, "");
  server.listen(port, host === "localhost" ? "127.0.0.1" : host, () => {
    const tls = env.OPENSHELL_DISABLE_TLS === "true" ? "disabled" : "enabled";
    log("INFO", `Server listening on http://${bind}:${port} (tls ${tls}, serving version ${servedVersion})`);
    if (config.gatewayExitAfterMs !== null) {
      // Answers health during startup, then a late migration step fails: the case where a naive
      // "is it healthy once?" readiness check reports a dead gateway as healthy.
      setTimeout(
        () =>
          die(
            "database migration failed: error returned from database: (code: 1) no such table: sandboxes_v2",
          ),
        config.gatewayExitAfterMs,
      );
    }
  });
}

if (argv.length === 0) {
  await serve();
} else if (argv[0] === "--version" || argv[0] === "-V") {
  await printVersion();
  saveReplay?.(0);
} else if (argv[0] === "--help" || argv[0] === "-h") {
  process.stdout.write(
    "OpenShell gateway (nemoclaw simulator). Configured by OPENSHELL_* environment variables.\n",
  );
} else {
  process.stderr.write(clapError(`unexpected argument '${argv[0]}' found`, "openshell-gateway [OPTIONS]"));
  process.exitCode = 2;
}
