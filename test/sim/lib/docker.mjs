// Simulated `docker`, just enough for the legacy cluster gateway probe (docs/design.md, "OpenShell output forms handled"):
//   docker inspect [--type container] [--format TEMPLATE] NAME...
// docker does not colour this output.

import { startInvocation } from "./fast-paths.mjs";
import { readJson, sleep } from "./host-state.mjs";
import { isLive } from "./pid-registry.mjs";

const { paths, argv, config, saveReplay } = startInvocation("docker");
await sleep(config.delayMs);

const err = (text) => process.stderr.write(text);

/**
 * The `docker inspect` object of a recorded container. A "running" container whose gateway
 * process has died is reported as exited, as Docker would once its main process is gone; a stopped
 * container publishes no ports (NetworkSettings.Ports is empty, PortBindings stays configured).
 */
function inspectObject(name, c) {
  const running = Boolean(c.running) && (c.pid ? isLive(c.pid, c.pidStartTime) : true);
  return {
    Id: c.id,
    Created: c.created,
    Path: "/usr/local/bin/cluster-entrypoint.sh",
    Args: [],
    State: {
      Status: running ? "running" : "exited",
      Running: running,
      Paused: false,
      Restarting: false,
      OOMKilled: false,
      Dead: false,
      Pid: running ? (c.pid ?? 0) : 0,
      ExitCode: running ? 0 : 137,
      Error: "",
      StartedAt: c.created,
      FinishedAt: running ? "0001-01-01T00:00:00Z" : c.created,
    },
    Image: `sha256:${c.id}`,
    Name: `/${name}`,
    RestartCount: 0,
    Driver: "overlay2",
    Platform: "linux",
    HostConfig: { PortBindings: c.ports, RestartPolicy: { Name: "unless-stopped", MaximumRetryCount: 0 } },
    Config: {
      Hostname: c.id.slice(0, 12),
      Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
      Image: c.image,
      Labels: { "ai.openshell.gateway": name.replace(/^openshell-cluster-/, "") },
    },
    NetworkSettings: { Ports: running ? c.ports : {} },
  };
}

/** Resolve `.A.B` against the object, Go-template style. */
function lookup(object, dotted) {
  let value = object;
  for (const key of dotted.split(".").filter(Boolean)) {
    if (value === null || typeof value !== "object" || !(key in value)) {
      throw new Error(`map has no entry for key "${key}"`);
    }
    value = value[key];
  }
  return value;
}

/** Supports `{{.Path}}` and `{{json .Path}}` actions, any number of them, with literal text around. */
function renderTemplate(template, object) {
  return template.replace(/\{\{\s*(json\s+)?(\.[A-Za-z0-9_.]*)\s*\}\}/g, (_, json, dotted) => {
    const value = lookup(object, dotted);
    if (json) return JSON.stringify(value);
    if (value === null) return "<no value>";
    if (typeof value === "object") return JSON.stringify(value);
    return String(value);
  });
}

function inspect(args) {
  let format = null;
  let type = null;
  const names = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--format" || arg === "-f") format = args[++i];
    else if (arg.startsWith("--format=")) format = arg.slice("--format=".length);
    else if (arg === "--type") type = args[++i];
    else if (arg.startsWith("--type=")) type = arg.slice("--type=".length);
    else if (arg.startsWith("-")) {
      err(`unknown flag: ${arg}\nSee 'docker inspect --help'.\n`);
      return 125;
    } else names.push(arg);
  }
  if (names.length === 0) {
    err(`"docker inspect" requires at least 1 argument.\nSee 'docker inspect --help'.\n`);
    return 1;
  }
  const containers =
    type === null || type === "container" ? (readJson(paths.docker, {}).containers ?? {}) : {};
  const found = [];
  let status = 0;
  for (const name of names) {
    const c = containers[name];
    if (c) found.push(inspectObject(name, c));
    else {
      err(`Error: No such object: ${name}\n`);
      status = 1;
    }
  }
  if (format === null) {
    process.stdout.write(`${JSON.stringify(found, null, 4)}\n`);
    return status;
  }
  try {
    for (const object of found) process.stdout.write(`${renderTemplate(format, object)}\n`);
  } catch (e) {
    err(`template parsing error: template: :1: executing "" at <${format}>: ${e.message}\n`);
    return 1;
  }
  return status;
}

function main() {
  if (config.dockerDaemon === false) {
    // Docker names the socket it tried; DOCKER_HOST is how users point it elsewhere.
    const where = process.env.DOCKER_HOST || "unix:///var/run/docker.sock";
    err(`Cannot connect to the Docker daemon at ${where}. Is the docker daemon running?\n`);
    return 1;
  }
  const [command, ...args] = argv;
  if (command === "inspect") return inspect(args);
  if (command === "container" && args[0] === "inspect")
    return inspect(["--type", "container", ...args.slice(1)]);
  err(`docker: '${command ?? ""}' is not a docker command.\nSee 'docker --help'\n`);
  return 1;
}

process.exitCode = main();
saveReplay?.(process.exitCode);
