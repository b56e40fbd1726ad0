// The few programs a simulated sandbox can run through `openshell sandbox exec … -- CMD…`:
// true, false, echo, pwd, test/[, cat, ls, mkdir, rm, chmod (octal), and the agent CLI's `--version`. Paths are
// sandbox paths (relative ones are relative to the workdir /sandbox), confined to the sandbox
// root by sandbox-fs; a path with `..` is refused. Anything else exits 127, like a missing binary.

import fsp from "node:fs/promises";
import { sandboxAgent } from "./host-state.mjs";
import { lstatOrNull, resolveInSandbox, SandboxPathError } from "./sandbox-fs.mjs";

/** Agent CLIs the simulator knows; a sandbox only has its own agent's CLI installed. */
const AGENT_CLIS = ["openclaw", "hermes"];

/** Split `-rf`, `-r -f`, `--force` into a set of flag letters/words; the rest are operands. */
function splitFlags(args) {
  const flags = new Set();
  const operands = [];
  let flagsDone = false;
  for (const arg of args) {
    if (!flagsDone && arg === "--") flagsDone = true;
    else if (!flagsDone && arg.startsWith("--") && arg.length > 2) flags.add(arg.slice(2));
    else if (!flagsDone && arg.startsWith("-") && arg.length > 1) for (const c of arg.slice(1)) flags.add(c);
    else operands.push(arg);
  }
  return { flags, operands };
}

/**
 * Run `argv` in the sandbox whose filesystem is `root`. `out`/`err` write text; `pipeFile`
 * streams a host file to stdout. Resolves the exit code.
 */
export async function runSandboxCommand({ root, sandbox, argv, out, err, pipeFile }) {
  const [program, ...args] = argv;
  const name = program.split("/").pop();
  const resolve = (p, options) => resolveInSandbox(root, p, options);

  /** Run `fn` on one path operand, turning a refused path into a shell-like error. */
  async function onPath(p, fn) {
    try {
      return await fn();
    } catch (e) {
      if (e instanceof SandboxPathError) {
        err(`${name}: ${e.message}\n`);
        return 1;
      }
      if (e.code === "ENOENT" || e.code === "ENOTDIR") {
        err(`${name}: ${p}: No such file or directory\n`);
        return 1;
      }
      if (e.code === "EACCES" || e.code === "EPERM") {
        err(`${name}: ${p}: Permission denied\n`);
        return 1;
      }
      throw e;
    }
  }

  switch (name) {
    case "true":
      return 0;
    case "false":
      return 1;
    case "echo": {
      const noNewline = args[0] === "-n";
      out(`${(noNewline ? args.slice(1) : args).join(" ")}${noNewline ? "" : "\n"}`);
      return 0;
    }
    case "pwd":
      out("/sandbox\n");
      return 0;
    case "test":
    case "[": {
      const operands = name === "[" && args.at(-1) === "]" ? args.slice(0, -1) : args;
      if (operands.length !== 2 || !/^-[defsL]$/.test(operands[0])) {
        err(`${name}: unsupported expression (the simulator knows -d -e -f -s -L PATH)\n`);
        return 2;
      }
      const [op, p] = operands;
      try {
        const stat =
          op === "-L" ? await lstatOrNull(resolve(p, { followLast: false })) : await statOrNull(resolve(p));
        if (!stat) return 1;
        if (op === "-d") return stat.isDirectory() ? 0 : 1;
        if (op === "-f") return stat.isFile() ? 0 : 1;
        if (op === "-s") return stat.size > 0 ? 0 : 1;
        if (op === "-L") return stat.isSymbolicLink() ? 0 : 1;
        return 0;
      } catch (e) {
        if (e instanceof SandboxPathError) return 1;
        throw e;
      }
    }
    case "cat": {
      let code = 0;
      for (const p of args) {
        const result = await onPath(p, async () => {
          const file = resolve(p);
          if ((await fsp.stat(file)).isDirectory()) {
            err(`cat: ${p}: Is a directory\n`);
            return 1;
          }
          await pipeFile(file);
          return 0;
        });
        code ||= result;
      }
      return code;
    }
    case "ls": {
      const { flags, operands } = splitFlags(args);
      const all = flags.has("a") || flags.has("A");
      let code = 0;
      const targets = operands.length ? operands : ["/sandbox"];
      for (const p of targets) {
        const result = await onPath(p, async () => {
          const target = resolve(p);
          const stat = await fsp.stat(target);
          if (targets.length > 1) out(`${p}:\n`);
          if (!stat.isDirectory()) {
            out(`${p}\n`);
            return 0;
          }
          const names = (await fsp.readdir(target)).filter((n) => all || !n.startsWith(".")).sort();
          if (flags.has("a")) names.unshift(".", "..");
          for (const n of names) out(`${n}\n`);
          return 0;
        });
        if (result !== 0) code = 2;
      }
      return code;
    }
    case "mkdir": {
      const { flags, operands } = splitFlags(args);
      let code = 0;
      for (const p of operands) {
        code ||= await onPath(p, async () => {
          await fsp.mkdir(resolve(p), { recursive: flags.has("p") || flags.has("parents") });
          return 0;
        });
      }
      return code;
    }
    case "rm": {
      const { flags, operands } = splitFlags(args);
      const recursive = flags.has("r") || flags.has("R") || flags.has("recursive");
      const force = flags.has("f") || flags.has("force");
      let code = 0;
      for (const p of operands) {
        code ||= await onPath(p, async () => {
          // rm removes a symlink itself, never what it points to.
          const target = resolve(p, { followLast: false });
          if (target === root) {
            err(
              `rm: it is dangerous to operate recursively on '/'\nrm: use --no-preserve-root to override this failsafe\n`,
            );
            return 1;
          }
          const stat = await lstatOrNull(target);
          if (!stat) {
            if (force) return 0;
            err(`rm: cannot remove '${p}': No such file or directory\n`);
            return 1;
          }
          if (stat.isDirectory() && !recursive) {
            err(`rm: cannot remove '${p}': Is a directory\n`);
            return 1;
          }
          await fsp.rm(target, { recursive, force: true });
          return 0;
        });
      }
      return code;
    }
    case "chmod": {
      // Octal modes only (what nemoclaw sends); chmod follows a final symlink, like chmod(1).
      const [mode, ...files] = args;
      if (!/^[0-7]{1,4}$/.test(mode ?? "") || files.length === 0) {
        err(`chmod: invalid mode or missing operand: ${mode ?? ""}\n`);
        return 1;
      }
      let code = 0;
      for (const p of files) {
        code ||= await onPath(p, async () => {
          await fsp.chmod(resolve(p), Number.parseInt(mode, 8));
          return 0;
        });
      }
      return code;
    }
    default:
      return agentCli(name, args, sandbox, out, err);
  }
}

async function statOrNull(file) {
  try {
    return await fsp.stat(file);
  } catch (e) {
    if (e.code === "ENOENT" || e.code === "ENOTDIR" || e.code === "ELOOP") return null;
    throw e;
  }
}

/** `<agent> --version` → `<agent> <version>`; a CLI the sandbox does not have → exit 127. */
function agentCli(name, args, sandbox, out, err) {
  const { agent, version } = sandboxAgent(sandbox);
  const installed = version !== null && (agent === null ? AGENT_CLIS.includes(name) : agent === name);
  if (!installed) {
    err(`exec: "${name}": executable file not found in $PATH\n`);
    return 127;
  }
  if (args.length === 1 && ["--version", "-V", "version"].includes(args[0])) {
    out(`${name} ${version}\n`);
    return 0;
  }
  err(`${name}: unknown arguments: ${args.join(" ") || "(none)"} (the simulator knows only --version)\n`);
  return 1;
}
