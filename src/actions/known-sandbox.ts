import fs from "node:fs";
import path from "node:path";
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
