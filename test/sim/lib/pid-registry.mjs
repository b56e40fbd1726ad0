// Processes the simulator started, so `simctl stop` can clean up after any test, even a failed one.
//
// Each line of `state/pids` is `<pid> <starttime> <label>`. The start time (field 22 of
// /proc/<pid>/stat) guards against PID reuse: a recorded PID whose start time differs belongs to an
// unrelated process that must never be signalled. Processes are only ever signalled by PID or by a
// process group they lead — never by name.

import fs from "node:fs";

/** State, process group and start time from /proc/<pid>/stat, or null if there is no such process. */
export function procStat(pid) {
  let stat;
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return null;
  }
  // The command name (field 2) may contain spaces and parentheses: split after the LAST ")".
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return { state: fields[0], pgid: Number(fields[2]), startTime: fields[19] };
}

/** Alive and not a zombie (`kill(pid, 0)` would also succeed on a zombie). */
export function isLive(pid, startTime) {
  const stat = procStat(pid);
  if (!stat || stat.state === "Z" || stat.state === "X") return false;
  return startTime === undefined || stat.startTime === startTime;
}

export function recordPid(paths, pid, label) {
  const stat = procStat(pid);
  if (!stat) return;
  fs.appendFileSync(paths.pids, `${pid} ${stat.startTime} ${label}\n`);
}

/** Recorded entries, deduplicated by pid + start time. */
export function readPidEntries(paths) {
  let text = "";
  try {
    text = fs.readFileSync(paths.pids, "utf8");
  } catch (err) {
    if (err.code !== "ENOENT") throw err;
  }
  const seen = new Map();
  for (const line of text.split("\n")) {
    const [pid, startTime, ...label] = line.trim().split(" ");
    if (!pid || !/^\d+$/.test(pid)) continue;
    const key = `${pid} ${startTime}`;
    if (!seen.has(key)) seen.set(key, { pid: Number(pid), startTime, label: label.join(" ") });
  }
  return [...seen.values()];
}

export function liveEntries(paths) {
  return readPidEntries(paths).filter((e) => isLive(e.pid, e.startTime));
}

function signal(entry, sig) {
  const stat = procStat(entry.pid);
  if (!stat || stat.startTime !== entry.startTime) return;
  try {
    // A recorded process that leads its own group (detached gateway, hung `--version` probe) takes
    // its group with it: that is where hang grandchildren live. Otherwise only the process itself.
    process.kill(stat.pgid === entry.pid ? -entry.pid : entry.pid, sig);
  } catch {
    // already gone
  }
}

/** SIGTERM every live recorded process, wait up to `graceMs`, SIGKILL the rest. Idempotent. */
export async function stopAll(paths, graceMs = 2000) {
  const entries = liveEntries(paths);
  for (const e of entries) signal(e, "SIGTERM");
  const deadline = Date.now() + graceMs;
  while (entries.some((e) => isLive(e.pid, e.startTime)) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  for (const e of entries) if (isLive(e.pid, e.startTime)) signal(e, "SIGKILL");
  const killDeadline = Date.now() + 1000;
  while (entries.some((e) => isLive(e.pid, e.startTime)) && Date.now() < killDeadline) {
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  const survivors = liveEntries(paths);
  const tmp = `${paths.pids}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, survivors.map((e) => `${e.pid} ${e.startTime} ${e.label}\n`).join(""));
  fs.renameSync(tmp, paths.pids);
  return survivors;
}
