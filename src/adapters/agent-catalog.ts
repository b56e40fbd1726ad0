import fs from "node:fs";
import path from "node:path";
import { isSandboxStateDir } from "../domain/backup-manifest.js";
import { EnvironmentError } from "../domain/errors.js";

export interface AgentSpec {
  expectedVersion: string;
  /** Full image reference sandboxes of this agent are created from. */
  image: string;
  versionCommand: string[];
  /** Absolute, normalized paths inside the sandbox; basenames are unique per agent. */
  stateDirs: string[];
}

export type AgentCatalog = Record<string, AgentSpec>;

function invalid(file: string, why: string): EnvironmentError {
  return new EnvironmentError("catalog_invalid", `agent catalog ${file} is invalid: ${why}`);
}

function isStringArray(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((x) => typeof x === "string" && x.length > 0);
}

/**
 * Reads and validates the agent catalog. State dirs must be absolute, normalized and not `/`:
 * they are passed to `rm -rf` inside the sandbox on restore, and their basenames name the
 * directories of a backup.
 */
export function readAgentCatalog(file: string): AgentCatalog {
  let document: unknown;
  try {
    document = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw invalid(file, code ?? (error as Error).message);
  }
  const agents = (document as { agents?: unknown } | null)?.agents;
  if (typeof agents !== "object" || agents === null || Array.isArray(agents)) {
    throw invalid(file, '"agents" is not an object');
  }
  const catalog: AgentCatalog = {};
  for (const [name, raw] of Object.entries(agents as Record<string, unknown>)) {
    const spec = raw as Partial<AgentSpec> | null;
    const where = `agents.${name}`;
    if (!spec || typeof spec.expectedVersion !== "string")
      throw invalid(file, `${where}.expectedVersion is missing`);
    if (typeof spec.image !== "string" || !spec.image) throw invalid(file, `${where}.image is missing`);
    if (!isStringArray(spec.versionCommand) || spec.versionCommand.length === 0) {
      throw invalid(file, `${where}.versionCommand must be a non-empty array of strings`);
    }
    if (!isStringArray(spec.stateDirs) || spec.stateDirs.length === 0) {
      throw invalid(file, `${where}.stateDirs must be a non-empty array of paths`);
    }
    const basenames = new Set<string>();
    for (const dir of spec.stateDirs) {
      // The same rule parseManifest applies: a dir it would refuse (e.g. one holding a NUL) would
      // make every backup of this agent read back as corrupt.
      if (!isSandboxStateDir(dir) || path.posix.normalize(dir) !== dir) {
        throw invalid(
          file,
          `${where}.stateDirs entry ${JSON.stringify(dir)} must be an absolute, normalized path`,
        );
      }
      const base = path.posix.basename(dir);
      if (basenames.has(base)) throw invalid(file, `${where}.stateDirs basenames must be unique (${base})`);
      basenames.add(base);
    }
    catalog[name] = {
      expectedVersion: spec.expectedVersion,
      image: spec.image,
      versionCommand: spec.versionCommand,
      stateDirs: spec.stateDirs,
    };
  }
  return catalog;
}
