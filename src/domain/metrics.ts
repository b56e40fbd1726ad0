/**
 * The node_exporter textfile of `--metrics-file` (docs/design.md, "Metrics"): pure formatting of
 * one run's figures plus the series of other commands carried over from the previous file.
 */

export const VERDICTS = ["compatible", "drift", "unknown", "schema_mismatch"] as const;
export const SANDBOX_STATUSES = [
  "current",
  "stale",
  "unknown",
  "missing",
  "interrupted",
  "in-progress",
] as const;

/** The host as `status` sees it. */
export interface HostPicture {
  verdict: string;
  /** One per registered sandbox with a valid name. */
  sandboxes: { name: string; status: string; lastBackupSeconds: number | null }[];
  unfinishedOperations: number;
}

export interface MetricsRun {
  /** The command id (`backup-all`, `backups push`, …). */
  command: string;
  /** When the run ended, in Unix seconds. */
  atSeconds: number;
  /** Exit code 0. */
  success: boolean;
  /** null: could not be computed this run; the previous file's host series are kept. */
  host: HostPicture | null;
  /** Newest off-host copy per sandbox (Unix seconds of its backup); null: the repository was not read. */
  offhost: Map<string, number> | null;
}

interface Family {
  name: string;
  help: string;
}

const F = {
  lastRun: {
    name: "nemoclaw_last_run_timestamp_seconds",
    help: "When a nemoclaw command last ran (end of the run).",
  },
  lastSuccess: {
    name: "nemoclaw_last_success_timestamp_seconds",
    help: "When a nemoclaw command last ended with exit code 0.",
  },
  backup: {
    name: "nemoclaw_backup_last_timestamp_seconds",
    help: "Time of the newest complete local backup per sandbox (0: none).",
  },
  offhost: {
    name: "nemoclaw_backup_offhost_last_timestamp_seconds",
    help: "Time of the backup behind the newest off-host (restic) copy per sandbox.",
  },
  verdict: {
    name: "nemoclaw_preflight_verdict",
    help: "The gateway schema preflight verdict: 1 for the current verdict, 0 for the others.",
  },
  sandboxes: { name: "nemoclaw_sandboxes", help: "Registered sandboxes per status." },
  unfinished: {
    name: "nemoclaw_unfinished_operations",
    help: "Unfinished rebuilds and restores (operations journals).",
  },
} satisfies Record<string, Family>;

const FAMILY_ORDER: Family[] = [
  F.lastRun,
  F.lastSuccess,
  F.backup,
  F.offhost,
  F.verdict,
  F.sandboxes,
  F.unfinished,
];

/** One sample line as read back: family, labels, value text. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: string;
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

function unescapeLabel(value: string): string {
  return value.replace(/\\(["\\n])/g, (_, c: string) => (c === "n" ? "\n" : c));
}

/** Samples of a textfile (comments and foreign lines ignored). */
export function parseMetrics(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split("\n")) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)\s*$/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    const labelText = m[2] ?? "";
    for (const lm of labelText.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[lm[1] as string] = unescapeLabel(lm[2] as string);
    }
    out.push({ name: m[1] as string, labels, value: m[3] as string });
  }
  return out;
}

function sampleLine(s: Sample): string {
  const keys = Object.keys(s.labels);
  const labels = keys.length
    ? `{${keys.map((k) => `${k}="${escapeLabel(s.labels[k] as string)}"`).join(",")}}`
    : "";
  return `${s.name}${labels} ${s.value}`;
}

function seconds(n: number): string {
  return String(Math.round(n * 1000) / 1000);
}

/**
 * The whole file for this run: `# HELP` and `# TYPE` for every family; this run's series; the
 * previous file's series of other commands (and of whatever this run did not compute) kept.
 */
export function formatMetrics(run: MetricsRun, previous: string | null): string {
  const old = previous ? parseMetrics(previous) : [];
  const byFamily = new Map<string, Sample[]>(FAMILY_ORDER.map((f) => [f.name, []]));
  const add = (s: Sample) => byFamily.get(s.name)?.push(s);
  const carry = (name: string, keep: (s: Sample) => boolean = () => true) => {
    for (const s of old) if (s.name === name && keep(s)) add(s);
  };

  // Run timestamps: other commands' series carried over; this command's replaced.
  carry(F.lastRun.name, (s) => s.labels.command !== run.command);
  add({ name: F.lastRun.name, labels: { command: run.command }, value: seconds(run.atSeconds) });
  carry(F.lastSuccess.name, (s) => s.labels.command !== run.command || !run.success);
  if (run.success)
    add({ name: F.lastSuccess.name, labels: { command: run.command }, value: seconds(run.atSeconds) });

  if (run.host) {
    for (const s of run.host.sandboxes) {
      add({ name: F.backup.name, labels: { sandbox: s.name }, value: seconds(s.lastBackupSeconds ?? 0) });
    }
    for (const v of VERDICTS) {
      add({ name: F.verdict.name, labels: { verdict: v }, value: v === run.host.verdict ? "1" : "0" });
    }
    for (const status of SANDBOX_STATUSES) {
      const n = run.host.sandboxes.filter((s) => s.status === status).length;
      add({ name: F.sandboxes.name, labels: { status }, value: String(n) });
    }
    add({ name: F.unfinished.name, labels: {}, value: String(run.host.unfinishedOperations) });
  } else {
    for (const f of [F.backup, F.verdict, F.sandboxes, F.unfinished]) carry(f.name);
  }

  if (run.offhost) {
    const names = [...run.offhost.keys()].sort();
    for (const name of names) {
      add({
        name: F.offhost.name,
        labels: { sandbox: name },
        value: seconds(run.offhost.get(name) as number),
      });
    }
  } else {
    carry(F.offhost.name);
  }

  const lines: string[] = [];
  for (const family of FAMILY_ORDER) {
    lines.push(`# HELP ${family.name} ${family.help}`, `# TYPE ${family.name} gauge`);
    const samples = byFamily.get(family.name) ?? [];
    samples.sort((a, b) => sampleLine(a).localeCompare(sampleLine(b)));
    for (const s of samples) lines.push(sampleLine(s));
  }
  return `${lines.join("\n")}\n`;
}
