"""Ansible filters that turn nemoclaw's --json output into a per-host report and a fleet summary.

nemoclaw prints exactly one JSON document on stdout for every command run with --json (also on
failure), and its exit codes mean the same in every command (README, "Exit codes"):

  0  success / compatible / nothing to do
  1  ran, but something failed, or --check / status found actionable work
  2  usage error
  3  refused by the gateway preflight (drift, schema mismatch); nothing was changed
  4  environment not ready (openshell missing, gateway unreachable, registry unreadable, lock held)

The playbooks run every command with `failed_when: false` and hand the registered results to
`nemoclaw_host_report`, which decides what an operator must act on. Only these fields of the
published schema (schema/nemoclaw-output.schema.json) are read:

  exitCode, preflight.verdict, error.code, error.message
  backup-all:        result.summary.backedUp / failed / skipped
  upgrade-sandboxes: result.counts.* (--check), result.summary.rebuilt / restored / failed / skipped
  status:            result.verdict, result.counts.*, result.actions
"""

import json

COUNT_KEYS = ("total", "current", "stale", "unknown", "missing", "interrupted", "neverBackedUp", "oldBackup")
EXIT_MEANING = {
    0: "ok",
    1: "needs action",
    2: "usage error",
    3: "refused by the gateway preflight",
    4: "environment not ready",
    130: "interrupted (SIGINT)",
    143: "interrupted (SIGTERM)",
}


def _document(registered):
    """The JSON document of one registered `command` result, or None (with why) if there is none."""
    if not isinstance(registered, dict):
        return None, "not run"
    if registered.get("skipped"):
        return None, "skipped"
    stdout = registered.get("stdout") or ""
    try:
        doc = json.loads(stdout)
    except ValueError:
        msg = registered.get("msg") or (registered.get("stderr") or "").strip()[-300:]
        return None, "no JSON on stdout (rc %s): %s" % (registered.get("rc"), msg or "no output")
    if not isinstance(doc, dict) or "exitCode" not in doc:
        return None, "unexpected JSON on stdout"
    return doc, None


def _result(doc):
    result = (doc or {}).get("result")
    return result if isinstance(result, dict) else {}


def _error(doc):
    error = (doc or {}).get("error") or {}
    return error.get("message") or error.get("code") or ""


def nemoclaw_command(registered):
    """Exit code, meaning and document of one command: {exit, meaning, error, doc}."""
    doc, problem = _document(registered)
    if doc is None:
        return {"exit": None, "meaning": problem, "error": "", "doc": None}
    # The process's exit code and the document's exitCode are the same by contract; the process's
    # wins if they ever differ (e.g. a run killed after it printed).
    code = registered.get("rc") if isinstance(registered.get("rc"), int) else doc.get("exitCode")
    return {"exit": code, "meaning": EXIT_MEANING.get(code, "exit %s" % code), "error": _error(doc), "doc": doc}


def nemoclaw_argv(cmd, *args):
    """The argv of a nemoclaw command: nemoclaw_cmd (a program, an argv list, or such a list
    written as a JSON string, as INI inventories pass it) followed by args. Never split on spaces:
    nothing here goes through a shell."""
    if cmd is None or cmd == "":
        cmd = "nemoclaw"
    if isinstance(cmd, str) and cmd.lstrip().startswith("["):
        cmd = json.loads(cmd)
    base = [cmd] if isinstance(cmd, str) else list(cmd)
    if not base or not all(isinstance(part, str) and part for part in base):
        raise ValueError("nemoclaw_cmd must be a program or a non-empty list of strings, got %r" % (cmd,))
    return base + [str(a) for a in args]


def nemoclaw_changed(registered):
    """Whether a backup-all or upgrade-sandboxes run changed the host (for changed_when)."""
    summary = _result(_document(registered)[0]).get("summary") or {}
    return any(isinstance(summary.get(k), int) and summary[k] > 0 for k in ("backedUp", "rebuilt", "restored"))


def nemoclaw_host_report(runs):
    """Per-host report from a dict of registered results keyed preflight/backup/check/status.

    must_act is true where an operator has to do something before the fleet can move on: a
    preflight refusal (exit 3), an environment that is not ready (exit 4), a usage error or a
    command without a JSON document, a failed or skipped backup under --require-all, or an
    interrupted operation. Stale sandboxes alone are not: upgrading them is the upgrade
    playbook's job, so they are reported as upgrade_pending.
    """
    cmds = {name: nemoclaw_command(runs.get(name)) for name in ("preflight", "backup", "check", "status")}
    status_result = _result(cmds["status"]["doc"])
    check_result = _result(cmds["check"]["doc"])
    backup_result = _result(cmds["backup"]["doc"])

    verdict = status_result.get("verdict")
    for name in ("preflight", "status", "check", "backup"):
        if verdict:
            break
        verdict = ((cmds[name]["doc"] or {}).get("preflight") or {}).get("verdict")
    verdict = verdict or "unavailable"

    counts = dict.fromkeys(COUNT_KEYS, 0)
    source = status_result.get("counts") or check_result.get("counts") or {}
    for key in COUNT_KEYS:
        value = source.get(key)
        counts[key] = value if isinstance(value, int) else 0

    summary = backup_result.get("summary") or {}
    backups = {key: summary.get(key, 0) for key in ("backedUp", "failed", "skipped")}

    # One reason per distinct problem: a refusal makes every command exit 3 with the same message.
    problems = {}
    for name, label in (
        ("preflight", "gateway preflight"),
        ("backup", "backup-all --require-all"),
        ("check", "upgrade-sandboxes --check"),
        ("status", "status"),
    ):
        code = cmds[name]["exit"]
        if code in (0, 1) or cmds[name]["meaning"] == "skipped":  # skipped: --check mode
            continue
        key = (cmds[name]["meaning"], cmds[name]["error"])
        problems.setdefault(key, []).append(label)
    reasons = [
        "%s%s (%s)" % (meaning, ": " + error if error else "", ", ".join(labels))
        for (meaning, error), labels in problems.items()
    ]
    if cmds["backup"]["exit"] == 1:
        reasons.append(
            "backup-all --require-all: %d failed, %d skipped" % (backups["failed"], backups["skipped"])
        )
    if counts["interrupted"]:
        reasons.append("%d interrupted operation(s)" % counts["interrupted"])

    return {
        "verdict": verdict,
        "must_act": bool(reasons),
        "reasons": reasons,
        "upgrade_pending": counts["stale"] > 0,
        "backups": backups,
        "sandboxes": counts,
        "exit_codes": {name: cmds[name]["exit"] for name in cmds},
        "actions": [a for a in status_result.get("actions") or [] if isinstance(a, str)],
    }


def nemoclaw_fleet_summary(hostvars, hosts, key="nemoclaw_report"):
    """One document for the whole fleet: per-host reports plus the hosts that need an operator."""
    report = {}
    for host in hosts:
        entry = (hostvars.get(host) or {}).get(key)
        if not isinstance(entry, dict):
            entry = {"verdict": "unavailable", "must_act": True, "reasons": ["no report (host unreachable?)"],
                     "upgrade_pending": False, "backups": {}, "sandboxes": {}, "exit_codes": {}, "actions": []}
        report[host] = entry
    return {
        "hosts": report,
        "must_act": [h for h in hosts if report[h]["must_act"]],
        "upgrade_pending": [h for h in hosts if report[h]["upgrade_pending"]],
        "ok": [h for h in hosts if not report[h]["must_act"]],
    }


def nemoclaw_summary_lines(summary):
    """Human lines, one per host, for the play's output."""
    lines = []
    for host, r in summary["hosts"].items():
        s = r.get("sandboxes") or {}
        b = r.get("backups") or {}
        line = "%s: %s, %s backed up (%s failed, %s skipped); %s stale, %s unknown, %s missing, %s interrupted" % (
            host, r["verdict"], b.get("backedUp", 0), b.get("failed", 0), b.get("skipped", 0),
            s.get("stale", 0), s.get("unknown", 0), s.get("missing", 0), s.get("interrupted", 0))
        if r["must_act"]:
            line += " -- ACT: " + "; ".join(r["reasons"])
        elif r["upgrade_pending"]:
            line += " -- upgrade pending (fleet-upgrade.yml)"
        else:
            line += " -- ok"
        if r.get("actions"):
            line += " [run: " + " && ".join(r["actions"]) + "]"
        lines.append(line)
    lines.append("%d host(s): %d need an operator (%s), %d with an upgrade pending" % (
        len(summary["hosts"]), len(summary["must_act"]), ", ".join(summary["must_act"]) or "none",
        len(summary["upgrade_pending"])))
    return lines


class FilterModule(object):
    def filters(self):
        return {
            "nemoclaw_argv": nemoclaw_argv,
            "nemoclaw_command": nemoclaw_command,
            "nemoclaw_changed": nemoclaw_changed,
            "nemoclaw_host_report": nemoclaw_host_report,
            "nemoclaw_fleet_summary": nemoclaw_fleet_summary,
            "nemoclaw_summary_lines": nemoclaw_summary_lines,
        }
