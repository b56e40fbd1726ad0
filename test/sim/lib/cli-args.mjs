// A tiny argument parser shared by the sim executables and simctl.

/**
 * Split `args` into positionals and flags. `spec` maps each accepted flag (`--name`, `-n`) to
 * `{ key, value: boolean }`. Everything after `--` is returned untouched as `trailing`.
 * Returns `{ positionals, flags, trailing, error }`; `error` names the first unknown flag or a
 * flag missing its value.
 */
export function parseArgs(args, spec) {
  const positionals = [];
  const flags = {};
  let trailing = null;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--") {
      trailing = args.slice(i + 1);
      break;
    }
    if (!arg.startsWith("-") || arg === "-") {
      positionals.push(arg);
      continue;
    }
    const eq = arg.startsWith("--") ? arg.indexOf("=") : -1;
    const name = eq > 0 ? arg.slice(0, eq) : arg;
    const def = spec[name];
    if (!def) return { positionals, flags, trailing, error: `unexpected argument '${name}' found` };
    if (!def.value) {
      flags[def.key] = true;
      continue;
    }
    const value = eq > 0 ? arg.slice(eq + 1) : args[++i];
    if (value === undefined)
      return { positionals, flags, trailing, error: `a value is required for '${name}'` };
    flags[def.key] = value;
  }
  return { positionals, flags, trailing, error: null };
}
