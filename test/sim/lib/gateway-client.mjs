// The simulated CLI's connection to a gateway: a real HTTP request over loopback to the gateway
// process's health endpoint, standing in for OpenShell's gRPC health RPC. Being real is the point:
// a gateway that is not listening refuses the connection, one that died stops answering, and the
// version reported is whatever that running process serves.

import http from "node:http";

const LOOPBACK_HOSTS = new Set(["127.0.0.1", "localhost", "[::1]", "::1"]);

export function isLoopbackHost(host) {
  return LOOPBACK_HOSTS.has(host) || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/**
 * Resolves `{ ok: true, health }` or `{ ok: false, causes }` where `causes` is the miette cause
 * chain OpenShell prints for the failure (`tcp connect error` / `Connection refused (os error 111)`).
 */
export function checkHealth(endpoint, timeoutMs = 3000) {
  const refused = { ok: false, causes: ["tcp connect error", "Connection refused (os error 111)"] };
  let url;
  try {
    url = new URL(endpoint);
  } catch {
    return Promise.resolve({ ok: false, causes: [`invalid gateway endpoint: ${endpoint}`] });
  }
  // The simulator never reaches beyond loopback; anything else is treated as unreachable.
  if (!isLoopbackHost(url.hostname)) return Promise.resolve(refused);
  if (url.protocol !== "http:") {
    return Promise.resolve({ ok: false, causes: ["tls handshake error", "received corrupt message"] });
  }
  return new Promise((resolve) => {
    const req = http.get(
      {
        host: url.hostname.replace(/^\[|\]$/g, ""),
        port: Number(url.port || 80),
        path: "/health",
        agent: false,
        timeout: timeoutMs,
      },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (chunk) => {
          body += chunk;
        });
        res.on("end", () => {
          try {
            resolve({ ok: true, health: JSON.parse(body) });
          } catch {
            resolve({ ok: true, health: { status: "error", version: null } });
          }
        });
      },
    );
    req.on("timeout", () => {
      req.destroy();
      resolve({ ok: false, causes: ["operation timed out"] });
    });
    req.on("error", (err) => {
      if (err.code === "ECONNREFUSED") resolve(refused);
      else if (err.code === "ECONNRESET") resolve({ ok: false, causes: ["connection reset by peer"] });
      else resolve({ ok: false, causes: ["tcp connect error", err.message] });
    });
  });
}
