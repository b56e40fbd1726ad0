import fs from "node:fs";
import path from "node:path";
import { readRegistry } from "../adapters/registry.js";
import { operationsDir, STARTED_SUFFIX } from "../adapters/started-record.js";
import type { Context } from "../context.js";
import { UsageError } from "../domain/errors.js";
import { requireSandboxName } from "./backups.js";
import { knownLocally } from "./offhost.js";

/**
 * A sandbox name no local source knows — not in the registry, no backup directory, no
 * operations journal or started record — is a usage error (exit 2, `unknown_sandbox`), checked
 * right after the flags are parsed and before any lock or probe (docs/design.md, "Usage
 * errors"). A known sandbox without a usable backup is the action's business (exit 4).
 */
export function requireKnownSandbox(ctx: Context, name: string): string {
  requireSandboxName(name);
  if (knownLocally(ctx, name)) return name;
  const started = path.join(operationsDir(ctx.settings.paths.stateRoot), `${name}${STARTED_SUFFIX}`);
  if (fs.existsSync(started)) return name;
  throw new UsageError(
    `unknown sandbox ${name}: not registered, no backups in ${ctx.settings.paths.backupsRoot}, no unfinished operation`,
    "unknown_sandbox",
  );
}

/**
 * `items` (in the order given) regrouped so sandboxes come in registry order, those the registry
 * does not list after them: every table of sandboxes shows its rows in one order.
 */
export function inRegistryOrder<T>(ctx: Context, items: readonly T[], sandboxOf: (item: T) => string): T[] {
  let names: string[];
  try {
    names = readRegistry(ctx.settings.paths.registryFile).names;
  } catch {
    return [...items];
  }
  const rank = new Map(names.map((n, i) => [n, i]));
  return items
    .map((item, i) => ({ item, i, r: rank.get(sandboxOf(item)) ?? names.length }))
    .sort((a, b) => a.r - b.r || a.i - b.i)
    .map((x) => x.item);
}
