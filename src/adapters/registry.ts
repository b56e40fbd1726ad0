import fs from "node:fs";
import path from "node:path";
import { EnvironmentError } from "../domain/errors.js";
import { writeFileAtomic } from "./atomic-file.js";
import { type RegistryLockOptions, withRegistryLock } from "./registry-lock.js";

const REGISTRY_SIZE_LIMIT = 16 * 1024 * 1024;

/** One `sandboxes.json` entry. Real registries carry many more fields; all are kept on write. */
export interface RegistryEntry {
  name?: unknown;
  agent?: unknown;
  agentVersion?: unknown;
  nemoclawVersion?: unknown;
  imageTag?: unknown;
  gatewayName?: unknown;
  createdAt?: unknown;
  [field: string]: unknown;
}

export interface Registry {
  file: string;
  /** Registry keys in file order (the sandbox names as registered, not yet validated). */
  names: string[];
  entries: Record<string, RegistryEntry>;
}

function unreadable(file: string, why: string): EnvironmentError {
  return new EnvironmentError("registry_unreadable", `sandbox registry ${file} is unreadable: ${why}`);
}

function parseRegistry(
  file: string,
  text: string,
): { document: Record<string, unknown>; registry: Registry } {
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (error) {
    throw unreadable(file, (error as Error).message);
  }
  if (typeof document !== "object" || document === null || Array.isArray(document)) {
    throw unreadable(file, "top level is not a JSON object");
  }
  const doc = document as Record<string, unknown>;
  const sandboxes = doc.sandboxes ?? {};
  if (typeof sandboxes !== "object" || sandboxes === null || Array.isArray(sandboxes)) {
    throw unreadable(file, '"sandboxes" is not an object');
  }
  const entries: Record<string, RegistryEntry> = {};
  for (const [key, value] of Object.entries(sandboxes as Record<string, unknown>)) {
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      throw unreadable(file, `entry ${JSON.stringify(key)} is not an object`);
    }
    entries[key] = value as RegistryEntry;
  }
  return { document: doc, registry: { file, names: Object.keys(entries), entries } };
}

function readText(file: string): string | null {
  try {
    const st = fs.statSync(file);
    if (!st.isFile()) throw unreadable(file, "not a regular file");
    if (st.size > REGISTRY_SIZE_LIMIT) throw unreadable(file, `larger than ${REGISTRY_SIZE_LIMIT} bytes`);
    return fs.readFileSync(file, "utf8");
  } catch (error) {
    if (error instanceof EnvironmentError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return null;
    throw unreadable(file, code ?? (error as Error).message);
  }
}

/** Reads `sandboxes.json`; a missing file is an empty registry, anything unparseable is exit 4. */
export function readRegistry(file: string): Registry {
  const text = readText(file);
  if (text === null) return { file, names: [], entries: {} };
  return parseRegistry(file, text).registry;
}

/**
 * Where a registry write lands: the file itself, or — when `sandboxes.json` is a symlink — its
 * target, so the link stays a link (the temp file is created beside the target and renamed
 * over it).
 */
function writeTarget(file: string): string {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(file);
  } catch {
    return file;
  }
  if (!st.isSymbolicLink()) return file;
  try {
    return fs.realpathSync(file);
  } catch (error) {
    throw unreadable(
      file,
      `its symlink target cannot be resolved (${(error as NodeJS.ErrnoException).code})`,
    );
  }
}

/**
 * Applies `patch` to one entry and writes the registry atomically (temp, fsync, rename, 0600),
 * read-modify-write under NemoClaw's own registry lock (`sandboxes.json.lock/`), so the
 * upstream tool and nemoclaw never overwrite each other's entries. Every other field and every
 * unknown top-level key is kept as it was. Never writes when the file fails to parse.
 */
export async function updateRegistryEntry(
  file: string,
  name: string,
  patch: Record<string, unknown>,
  lockOptions: RegistryLockOptions = {},
): Promise<RegistryEntry> {
  return withRegistryLock(`${file}.lock`, lockOptions, () => {
    const text = readText(file);
    if (text === null) throw unreadable(file, "it disappeared");
    const { document } = parseRegistry(file, text);
    const sandboxes = (document.sandboxes ?? {}) as Record<string, RegistryEntry>;
    const current = sandboxes[name];
    if (!current) throw unreadable(file, `entry ${JSON.stringify(name)} is no longer registered`);
    const updated = { ...current, ...patch };
    sandboxes[name] = updated;
    document.sandboxes = sandboxes;
    const target = writeTarget(file);
    try {
      writeFileAtomic(target, `${JSON.stringify(document, null, 2)}\n`, 0o600);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? "error";
      throw new RegistryWriteError(`cannot write ${target} in ${path.dirname(target)}: ${code}`);
    }
    return updated;
  });
}

/**
 * Registers a sandbox that is not in the registry yet (a `restore --create` of a sandbox the
 * registry no longer lists), with the same lock, atomic write and kept fields as
 * `updateRegistryEntry`. An entry already there is left exactly as it is (idempotent: a resumed
 * restore may run this twice). A missing registry file is created. Returns whether it added.
 */
export async function addRegistryEntry(
  file: string,
  name: string,
  entry: RegistryEntry,
  lockOptions: RegistryLockOptions = {},
): Promise<boolean> {
  return withRegistryLock(`${file}.lock`, lockOptions, () => {
    const text = readText(file);
    const { document } =
      text === null ? { document: {} as Record<string, unknown> } : parseRegistry(file, text);
    const sandboxes = (document.sandboxes ?? {}) as Record<string, RegistryEntry>;
    if (sandboxes[name]) return false;
    sandboxes[name] = entry;
    document.sandboxes = sandboxes;
    const target = writeTarget(file);
    try {
      fs.mkdirSync(path.dirname(target), { recursive: true, mode: 0o700 });
      writeFileAtomic(target, `${JSON.stringify(document, null, 2)}\n`, 0o600);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? "error";
      throw new RegistryWriteError(`cannot write ${target} in ${path.dirname(target)}: ${code}`);
    }
    return true;
  });
}

/** The registry could not be written (full disk, read-only filesystem, lock held). */
export class RegistryWriteError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RegistryWriteError";
  }
}
