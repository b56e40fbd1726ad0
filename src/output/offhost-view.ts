import type {
  OffhostStatus,
  PulledBackup,
  PushResult,
  RemoteListResult,
  RemoteVerifyResult,
} from "../actions/offhost.js";
import { formatAge } from "../domain/duration.js";
import type { Style } from "./style.js";
import { renderTable } from "./table.js";

/** Human output of the restic commands (docs/design.md, "Beyond one disk"). */

export function renderPush(r: PushResult, style: Style): string[] {
  const lines: string[] = [];
  for (const b of r.backups) {
    if (b.status === "present") continue;
    if (b.status === "pushed") {
      lines.push(
        `${b.sandbox} ${b.timestamp}: ${style.green("pushed")} (snapshot ${(b.snapshotId ?? "").slice(0, 8)}, ${b.bytesAdded ?? 0} bytes new)`,
      );
    } else lines.push(`${b.sandbox} ${b.timestamp}: ${style.red("FAILED")} ${b.reason ?? ""}`);
  }
  lines.push(
    `${r.pushed} pushed, ${r.present} already in the repository, ${r.failed} failed (repository ${r.repository}, host ${r.host})`,
  );
  return lines;
}

export function renderRemoteList(r: RemoteListResult, tty: boolean): string[] {
  if (r.snapshots.length === 0) return [`No nemoclaw snapshots in ${r.repository}.`];
  if (!tty) return r.snapshots.map((s) => `${s.sandbox} ${s.backup} host=${s.host} snapshot=${s.shortId}`);
  return [
    `Repository: ${r.repository}`,
    ...renderTable([
      ["SANDBOX", "BACKUP", "HOST", "SNAPSHOT"],
      ...r.snapshots.map((s) => [s.sandbox, s.backup, s.host, s.shortId]),
    ]),
  ];
}

export function renderRemoteVerify(r: RemoteVerifyResult, style: Style): string[] {
  const lines = [
    r.check.ok
      ? `restic check (read data: ${r.check.readData}): ${style.green("ok")}`
      : `restic check (read data: ${r.check.readData}): ${style.red("ERRORS")} ${r.check.message ?? ""}`,
  ];
  for (const s of r.snapshots) {
    const detail = s.ok
      ? `${s.checkedFiles} files match the manifest`
      : (s.reason ??
        `${s.missing.length} missing, ${s.changed.length} changed, ${s.modeChanged.length} mode changed, ${s.extra.length} extra`);
    lines.push(
      `${s.sandbox} ${s.backup} (snapshot ${s.snapshotId}, host ${s.host}): ${s.ok ? style.green("OK") : style.red("FAILED")} ${detail}`,
    );
  }
  lines.push(`${r.verified} snapshots verified, ${r.failed} failed`);
  return lines;
}

export function renderPulled(p: PulledBackup): string {
  return p.pulled
    ? `Pulled ${p.sandbox} ${p.timestamp} (snapshot ${p.snapshotId}, host ${p.host}, ${p.files} files) into ${p.path}; it matches its manifest.`
    : `Backup ${p.sandbox} ${p.timestamp} is already on this host (${p.path}); nothing pulled.`;
}

export function renderOffhostStatus(o: OffhostStatus, style: Style): string[] {
  const lines = [`Off-host copies (${o.repository}):`];
  for (const s of o.sandboxes) {
    const copy = s.lastCopy
      ? `${s.lastCopy.backup} (${formatAge(s.lastCopy.ageSeconds)} ago, snapshot ${s.lastCopy.snapshotId}, host ${s.lastCopy.host})`
      : "never";
    lines.push(
      `  ${s.name}: ${s.stale ? style.yellow(copy) : copy}${s.stale ? style.yellow(` — older than ${formatAge(o.maxAgeSeconds)} or none: run nemoclaw backups push`) : ""}`,
    );
  }
  return lines;
}
