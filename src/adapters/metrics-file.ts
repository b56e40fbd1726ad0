import fs from "node:fs";
import path from "node:path";
import { UsageError } from "../domain/errors.js";
import { writeFileAtomic } from "./atomic-file.js";

/**
 * The node_exporter textfile of `--metrics-file` (docs/design.md, "Metrics"): where it may be,
 * reading the previous run's file, and the atomic write (temp in the same directory, fsync,
 * rename, mode 0644 so the exporter's user can read it).
 */

/**
 * The metrics file to write, checked before any work: a `.prom` file (the only files the
 * textfile collector reads) in an existing directory, outside the state root. Usage error (exit 2)
 * otherwise.
 */
export function resolveMetricsFile(value: string, stateRoot: string, cwd: string = process.cwd()): string {
  const file = path.resolve(cwd, value);
  if (!file.endsWith(".prom") || path.basename(file) === ".prom") {
    throw new UsageError(
      `--metrics-file ${JSON.stringify(value)} must name a *.prom file (node_exporter's textfile collector reads only those)`,
      "invalid_metrics_file",
    );
  }
  const dir = path.dirname(file);
  let stat: fs.Stats;
  try {
    stat = fs.statSync(dir);
  } catch {
    throw new UsageError(`--metrics-file: directory ${dir} does not exist`, "invalid_metrics_file");
  }
  if (!stat.isDirectory())
    throw new UsageError(`--metrics-file: ${dir} is not a directory`, "invalid_metrics_file");
  const root = path.resolve(stateRoot);
  if (file === root || file.startsWith(`${root}${path.sep}`)) {
    throw new UsageError(
      `--metrics-file ${file} is inside the state root ${root}; put it in the textfile collector's directory`,
      "invalid_metrics_file",
    );
  }
  return file;
}

/** The previous file's text, or null when there is none (or it cannot be read). */
export function readMetricsFile(file: string): string | null {
  try {
    return fs.readFileSync(file, "utf8");
  } catch {
    return null;
  }
}

/** Writes the whole file atomically with mode 0644. */
export function writeMetricsFile(file: string, text: string): void {
  writeFileAtomic(file, text, 0o644);
}
