#!/usr/bin/env bats
# The Ansible example (examples/ansible, docs/fleet.md) run for real: ansible-playbook against
# three local inventory hosts, each with its own simulated OpenShell host, HOME and NEMOCLAW_HOME:
# one healthy, one with a drifted gateway, one with a stale sandbox.

load helpers

EXAMPLE="$REPO/examples/ansible"
NAMES=(healthy drifted stale)

setup() {
  FLEET_HOSTS=()
  # The schema test reads files only: no ansible, no hosts.
  [[ "$BATS_TEST_DESCRIPTION" == *"in the published schema" ]] && return
  command -v ansible-playbook >/dev/null ||
    skip "ansible-playbook not installed (.ci/run installs ansible-core from the distribution's packages; apt-get install ansible-core)"
  export NO_COLOR=1 ANSIBLE_NOCOLOR=1 ANSIBLE_FORCE_COLOR=0 ANSIBLE_RETRY_FILES_ENABLED=0
  export ANSIBLE_LOCAL_TEMP="$BATS_TEST_TMPDIR/ansible-local" ANSIBLE_REMOTE_TEMP="$BATS_TEST_TMPDIR/ansible-remote"
  export ANSIBLE_STDOUT_CALLBACK=default ANSIBLE_LOAD_CALLBACK_PLUGINS=0
  # The timers role installs files only: no simulated hosts needed.
  [[ "$BATS_TEST_DESCRIPTION" == "timers role:"* ]] && return
  for name in "${NAMES[@]}"; do
    local dir="$BATS_TEST_TMPDIR/$name"
    FLEET_HOSTS+=("$dir")
    "${SIMCTL[@]}" init "$dir" --port 0 --cli-version 0.0.44 --gateway-version 0.0.44 >/dev/null
    # The drifted host runs a gateway that still serves 0.0.43 (an upgrade whose old process runs on).
    [ "$name" = drifted ] && "${SIMCTL[@]}" set "$dir" gatewayVersion=0.0.43
    "${SIMCTL[@]}" start-gateway "$dir" >/dev/null
    [ "$name" = drifted ] && "${SIMCTL[@]}" set "$dir" gatewayVersion=0.0.44
    local version=2026.7.1
    [ "$name" = stale ] && version=2026.6.0
    "${SIMCTL[@]}" add-sandbox "$dir" alpha --phase Ready --agent openclaw \
      --image "ghcr.io/nvidia/nemoclaw/sandbox-openclaw:$version" --seed >/dev/null
    HOME="$dir/home" register alpha openclaw "$version"
  done
  # JSON is YAML: the inventory, with nemoclaw_cmd as an argv list and each host's environment.
  "$NODE" -e '
    const fs = require("fs");
    const [out, node, run, basePath, ...pairs] = process.argv.slice(1);
    const hosts = {};
    for (let i = 0; i < pairs.length; i += 2) {
      const dir = pairs[i + 1];
      const port = JSON.parse(fs.readFileSync(`${dir}/state/config.json`, "utf8")).port;
      hosts[pairs[i]] = { ansible_connection: "local", ansible_python_interpreter: "auto_silent",
        nemoclaw_env: { HOME: `${dir}/home`, NEMOCLAW_HOME: `${dir}/home/.nemoclaw`,
          PATH: `${dir}/bin:${basePath}`, NEMOCLAW_GATEWAY_PORT: String(port), NO_COLOR: "1" } };
    }
    fs.writeFileSync(out, JSON.stringify({ nemoclaw_hosts: { hosts, vars: { nemoclaw_cmd: [node, run] } } }, null, 2));' \
    "$BATS_TEST_TMPDIR/inventory.json" "$NODE" "$REPO/bin/run.js" "$BASE_PATH" \
    healthy "${FLEET_HOSTS[0]}" drifted "${FLEET_HOSTS[1]}" stale "${FLEET_HOSTS[2]}"
}

teardown() {
  for dir in "${FLEET_HOSTS[@]}"; do
    "${SIMCTL[@]}" stop "$dir" >/dev/null 2>&1 || true
  done
}

# on_host INDEX ARGS…: the built CLI on one inventory host, as the playbook runs it.
on_host() {
  local dir="${FLEET_HOSTS[$1]}"
  HOME="$dir/home" NEMOCLAW_HOME="$dir/home/.nemoclaw" PATH="$dir/bin:$BASE_PATH" \
    NEMOCLAW_GATEWAY_PORT="$(HOST="$dir" host_port)" "$NODE" "$REPO/bin/run.js" "${@:2}"
}

playbook() {
  status=0
  ansible-playbook -i "$BATS_TEST_TMPDIR/inventory.json" "$@" >"$BATS_TEST_TMPDIR/play.log" 2>&1 || status=$?
  play="$(cat "$BATS_TEST_TMPDIR/play.log")"
}

recap() {
  grep -E "^$1 +: " <<<"$play"
}

summary_get() {
  "$NODE" -e '
    let v = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    for (const k of process.argv[2].split(".")) v = v == null ? undefined : v[k];
    console.log(typeof v === "object" ? JSON.stringify(v) : String(v));' "$BATS_TEST_TMPDIR/fleet.json" "$1"
}

@test "fleet check: one summary, and only the drifted host fails" {
  playbook "$EXAMPLE/fleet-check.yml" -e "nemoclaw_summary_file=$BATS_TEST_TMPDIR/fleet.json"
  echo "$play"
  [ "$status" -eq 2 ]
  [[ "$(recap healthy)" == *"failed=0"* ]]
  [[ "$(recap stale)" == *"failed=0"* ]]
  [[ "$(recap drifted)" == *"failed=1"* ]]
  [[ "$play" == *"fatal: [drifted]: FAILED!"*"refused by the gateway preflight"*"nemoclaw onboard --resume"* ]]
  # Printed once, for the whole fleet.
  [ "$(grep -c '3 host(s): 1 need an operator (drifted), 1 with an upgrade pending' <<<"$play")" -eq 1 ]
  [ "$(grep -c 'TASK \[Print the fleet summary\]' <<<"$play")" -eq 1 ]
  [[ "$play" == *"healthy: compatible, 1 backed up"*"-- ok"* ]]
  [[ "$play" == *"stale: compatible, 1 backed up (0 failed, 0 skipped); 1 stale"*"upgrade pending"* ]]

  [ "$(summary_get must_act)" = '["drifted"]' ]
  [ "$(summary_get upgrade_pending)" = '["stale"]' ]
  [ "$(summary_get ok)" = '["healthy","stale"]' ]
  [ "$(summary_get hosts.healthy.verdict)" = compatible ]
  [ "$(summary_get hosts.healthy.backups.backedUp)" = 1 ]
  [ "$(summary_get hosts.healthy.sandboxes.current)" = 1 ]
  [ "$(summary_get hosts.healthy.exit_codes)" = '{"backup":0,"check":0,"preflight":0,"status":0}' ]
  [ "$(summary_get hosts.drifted.verdict)" = drift ]
  [ "$(summary_get hosts.drifted.must_act)" = true ]
  [ "$(summary_get hosts.drifted.backups.backedUp)" = 0 ]
  [ "$(summary_get hosts.drifted.exit_codes)" = '{"backup":3,"check":3,"preflight":3,"status":3}' ]
  [ "$(summary_get hosts.drifted.actions)" = '["nemoclaw onboard --resume"]' ]
  [ "$(summary_get hosts.stale.verdict)" = compatible ]
  [ "$(summary_get hosts.stale.must_act)" = false ]
  [ "$(summary_get hosts.stale.backups.backedUp)" = 1 ]
  [ "$(summary_get hosts.stale.sandboxes.stale)" = 1 ]
  [ "$(summary_get hosts.stale.sandboxes.interrupted)" = 0 ]
  [ "$(summary_get hosts.stale.exit_codes)" = '{"backup":0,"check":1,"preflight":0,"status":1}' ]
  # The backups are real, on the right hosts: none behind a refused preflight.
  [ -n "$(HOME="${FLEET_HOSTS[0]}/home" backups_of alpha)" ]
  [ -n "$(HOME="${FLEET_HOSTS[2]}/home" backups_of alpha)" ]
  [ -z "$(HOME="${FLEET_HOSTS[1]}/home" backups_of alpha)" ]
}

@test "fleet check: every field the filter plugin reads is in the published schema" {
  "$NODE" -e '
    const d = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    const has = (def, path) => path.reduce((s, k) => s?.properties?.[k], d.$defs[def]);
    const paths = [
      ["backupAllResult", "summary", "backedUp"], ["backupAllResult", "summary", "failed"], ["backupAllResult", "summary", "skipped"],
      ["upgradeResult", "summary", "rebuilt"], ["upgradeResult", "summary", "restored"],
      ["statusResult", "verdict"], ["statusResult", "actions"],
      ...["total", "current", "stale", "unknown", "missing", "interrupted", "neverBackedUp", "oldBackup"].map((k) => ["statusResult", "counts", k]),
      ...["current", "stale", "unknown", "missing", "interrupted"].map((k) => ["upgradeCheckResult", "counts", k]),
      ["preflight", "verdict"]];
    const missing = paths.filter((p) => !has(p[0], p.slice(1)));
    for (const k of ["exitCode", "preflight", "result", "error"]) if (!d.properties[k]) missing.push([k]);
    if (!d.properties.error.properties.message) missing.push(["error", "message"]);
    if (missing.length) { console.error(JSON.stringify(missing)); process.exit(1); }' "$REPO/schema/nemoclaw-output.schema.json"
}

@test "fleet upgrade: serial rollout stops at the drifted host; after onboard --resume it completes" {
  before="$("${SIMCTL[@]}" tree "${FLEET_HOSTS[2]}" alpha /sandbox/.openclaw)"
  playbook "$EXAMPLE/fleet-upgrade.yml"
  echo "$play"
  [ "$status" -eq 2 ]
  [[ "$(recap healthy)" == *"failed=0"* ]]
  [[ "$(recap drifted)" == *"failed=1"* ]]
  [[ "$play" == *"Rollout stopped at drifted"* ]]
  # The host after it was never touched: not in the recap, its sandbox still stale.
  [ -z "$(recap stale)" ]
  grep -q 'sandbox-openclaw:2026.6.0' "${FLEET_HOSTS[2]}/state/sandboxes/alpha.json"
  run on_host 2 upgrade-sandboxes --check --json
  [ "$status" -eq 1 ]

  run on_host 1 onboard --resume --json
  [ "$status" -eq 0 ]
  playbook "$EXAMPLE/fleet-upgrade.yml"
  echo "$play"
  [ "$status" -eq 0 ]
  [[ "$(recap healthy)" == *"changed=0"*"failed=0"* ]]
  [[ "$(recap drifted)" == *"changed=0"*"failed=0"* ]]
  [[ "$(recap stale)" == *"changed=1"*"failed=0"* ]]
  [[ "$play" == *"stale: {'rebuilt': 1"* ]]
  grep -q 'sandbox-openclaw:2026.7.1' "${FLEET_HOSTS[2]}/state/sandboxes/alpha.json"
  run on_host 2 upgrade-sandboxes --check --json
  [ "$status" -eq 0 ]
  # Rebuilt with its state.
  [ "$before" = "$("${SIMCTL[@]}" tree "${FLEET_HOSTS[2]}" alpha /sandbox/.openclaw)" ]
}

@test "timers role: check mode installs nothing and reports every unit, drop-in and setting it would install" {
  units="$BATS_TEST_TMPDIR/units"
  mkdir -p "$units"
  "$NODE" -e '
    const fs = require("fs");
    const [out, dir] = process.argv.slice(1);
    fs.writeFileSync(out, JSON.stringify({ nemoclaw_hosts: { hosts: { h1: {
      ansible_connection: "local", ansible_python_interpreter: "auto_silent", nemoclaw_become: false,
      nemoclaw_unit_dir: `${dir}/units`, nemoclaw_metrics_dir: `${dir}/textfile`, nemoclaw_config_dir: `${dir}/etc`,
      nemoclaw_group: "root", nemoclaw_keep: 5, nemoclaw_bin: "/opt/nemoclaw/bin/nemoclaw",
      nemoclaw_restic_env: { RESTIC_REPOSITORY: "sftp:backup@vault:/srv/restic", RESTIC_PASSWORD_FILE: "/etc/nemoclaw/restic.pass" },
    } } } }));' "$BATS_TEST_TMPDIR/inventory.json" "$BATS_TEST_TMPDIR"
  # PID 1 is not systemd here: the timers cannot be enabled, so the role is told not to try.
  playbook "$EXAMPLE/fleet-timers.yml" --check --diff -e nemoclaw_manage_services=false
  echo "$play"
  [ "$status" -eq 0 ]
  [[ "$(recap h1)" == *"changed=7"*"failed=0"* ]]
  [[ "$play" == *"skipping: [h1]"* ]]
  # Every unit of examples/systemd, and the drop-ins with this host's settings.
  for unit in nemoclaw-backup.service nemoclaw-backup.timer nemoclaw-verify.service nemoclaw-verify.timer; do
    [[ "$play" == *"changed: [h1] => (item=$unit)"* ]]
  done
  [[ "$play" == *"+ExecStart=/opt/nemoclaw/bin/nemoclaw backup-all --keep 5 --push --metrics-file $BATS_TEST_TMPDIR/textfile/nemoclaw.prom"* ]]
  [[ "$play" == *"+User=nemoclaw"* ]]
  [[ "$play" == *"+RESTIC_REPOSITORY=sftp:backup@vault:/srv/restic"* ]]
  # Check mode wrote nothing.
  [ -z "$(ls -A "$units")" ]
  [ ! -e "$BATS_TEST_TMPDIR/etc" ]
}
