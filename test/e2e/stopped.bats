#!/usr/bin/env bats
# Stopped sandboxes (docs/design.md, OpenShell >= 0.0.105): backed up by starting them and stopping them
# again, never left running; the built CLI against the simulator.

load helpers

setup() {
  new_host --cli-version 0.0.106 --gateway-version 0.0.106
  simctl start-gateway >/dev/null
  simctl set sandboxStartDelayMs=200 sandboxStopDelayMs=200 >/dev/null
}

teardown() {
  teardown_host
}

phase_of() {
  openshell sandbox get "$1" | sed 's/\x1b\[[0-9;]*m//g' | sed -n 's/^ *Phase: //p'
}

started_json() {
  echo "$HOME/.nemoclaw/operations/$1.started.json"
}

# calls NAME SUB: how many `openshell … sandbox SUB NAME` calls the simulator logged.
calls() {
  grep -c "\"sandbox\",\"$2\",\"$1\"" "$HOST/state/calls.log" || true
}

@test "a Stopped sandbox is started, backed up byte-for-byte and left Stopped; --require-all passes" {
  sandbox_with_state alpha
  sandbox_with_state beta Stopped
  run_split backup-all --require-all
  [ "$status" -eq 0 ]
  [[ "$out" == *"Backup summary: 2 backed up, 0 failed, 0 skipped"* ]]
  [[ "$out" == *"beta: backed up"*"was Stopped"* ]]
  [ "$(phase_of beta)" = Stopped ]
  [ "$(phase_of alpha)" = Ready ]
  ts="$(backups_of beta)"
  same_tree "$(state_dir_of beta)" "$HOME/.nemoclaw/rebuild-backups/beta/$ts/.openclaw"
  [ "$(calls beta start)" -eq 1 ]
  [ "$(calls beta stop)" -eq 1 ]
  [ "$(calls alpha start)" -eq 0 ]
  [ "$(calls alpha stop)" -eq 0 ]
  [ ! -e "$(started_json beta)" ]
  [ "$(stat -c %a "$HOME/.nemoclaw/operations")" = 700 ]
  run_split backup-all --json
  [ "$status" -eq 0 ]
  assert_valid_json
  [ "$(json_get result.sandboxes.1.startedForBackup)" = true ]
  [ "$(json_get result.sandboxes.0.startedForBackup)" = undefined ]
}

@test "--skip-stopped keeps the old behaviour: skipped with a reason, never started; --require-all fails" {
  sandbox_with_state alpha
  sandbox_with_state beta Stopped
  run_split backup-all --skip-stopped
  [ "$status" -eq 0 ]
  [[ "$out" == *"beta: skipped: phase Stopped, not Ready"* ]]
  [[ "$out" == *"1 backed up, 0 failed, 1 skipped"* ]]
  run_split backup-all --skip-stopped --require-all --json
  [ "$status" -eq 1 ]
  assert_valid_json
  [ "$(calls beta start)" -eq 0 ]
  [ -z "$(backups_of beta)" ]
  [ "$(phase_of beta)" = Stopped ]
}

@test "an OpenShell older than 0.0.105 skips a Stopped sandbox naming its version and never calls start" {
  # A 0.0.104 CLI against a 0.0.104 gateway (compatible) on a host that holds a Stopped sandbox.
  teardown_host
  new_host --cli-version 0.0.106 --gateway-version 0.0.104
  simctl start-gateway >/dev/null
  sandbox_with_state alpha
  sandbox_with_state beta Stopped
  mkdir -p "$HOST/old"
  simctl install-openshell-bin "$HOST/old/openshell" --version 0.0.104 >/dev/null
  export NEMOCLAW_OPENSHELL_BIN="$HOST/old/openshell"
  run_split backup-all
  [ "$status" -eq 0 ]
  [[ "$out" == *"beta: skipped: stopped; this OpenShell (0.0.104) cannot start it"* ]]
  [[ "$out" == *"1 backed up, 0 failed, 1 skipped"* ]]
  ! grep -q '"start"' "$HOST/state/calls.log" || false
  ! grep -q '"stop"' "$HOST/state/calls.log" || false
  [ ! -e "$(started_json beta)" ]
  run_split backup-all --require-all
  [ "$status" -eq 1 ]
}

@test "a start that never becomes Ready is cut at its bound: outcome unknown, never stopped while Starting" {
  sandbox_with_state alpha
  sandbox_with_state beta Stopped
  simctl set startNeverReady=true >/dev/null
  SECONDS=0
  NEMOCLAW_SANDBOX_READY_TIMEOUT_MS=1500 run_split backup-all
  [ "$status" -eq 1 ]
  [ "$SECONDS" -lt 20 ]
  # `sandbox start` blocks until Ready, bounded by OPENSHELL_LIFECYCLE_TIMEOUT = ceil(1500 ms) = 2 s.
  [[ "$out" == *'beta: failed: could not start it: `openshell sandbox start beta` did not finish within 2s (exit 1: Error: timed out after 2s waiting for sandbox to reach Ready); the sandbox may have changed (now: Starting); look before retrying'* ]]
  # The gateway stops only a Ready sandbox: after the bounded wait the exact command is printed.
  [[ "$out" == *"still Starting after 1500 ms; run it once the sandbox is Ready); run: openshell -g nemoclaw sandbox stop beta"* ]]
  [[ "$out" != *"nothing was changed"* ]] || false
  [[ "$out" == *"1 backed up, 1 failed, 0 skipped"* ]]
  [ "$(phase_of beta)" = Starting ]
  [ "$(calls beta stop)" -eq 0 ]
  [ -z "$(backups_of beta)" ]
  [ -f "$(started_json beta)" ]
}

@test "a stop that fails fails that sandbox with the exact command; the next run stops it" {
  sandbox_with_state beta Stopped
  simctl set stopFail=true >/dev/null
  run_split backup-all
  [ "$status" -eq 1 ]
  [[ "$out" == *"beta: failed: backed up, but stopping it again failed ("*"failed to stop sandbox beta"*"); run: openshell -g nemoclaw sandbox stop beta"* ]]
  [[ "$out" == *"0 backed up, 1 failed, 0 skipped"* ]]
  # The backup itself is complete; the sandbox still runs, and the record says nemoclaw started it.
  [ -n "$(backups_of beta)" ]
  [ "$(phase_of beta)" = Ready ]
  [ -f "$(started_json beta)" ]
  [ "$(stat -c %a "$(started_json beta)")" = 600 ]
  simctl set stopFail=false >/dev/null
  run_split backup-all
  [ "$status" -eq 0 ]
  [[ "$err" == *"Sandbox beta was started for a backup by a run that did not finish; it is stopped again."* ]]
  [ "$(phase_of beta)" = Stopped ]
  [ ! -e "$(started_json beta)" ]
}

@test "a stop that fails after a failed backup keeps both reasons" {
  sandbox_with_state beta Stopped
  simctl set stopFail=true downloadFailAfterBytes=2000 >/dev/null
  run_split backup-all --json
  [ "$status" -eq 1 ]
  assert_valid_json
  reason="$(json_get result.sandboxes.0.reason)"
  [[ "$reason" == *"downloading /sandbox/.openclaw"* ]]
  [[ "$reason" == *"run: openshell -g nemoclaw sandbox stop beta"* ]]
  [ "$(json_get result.sandboxes.0.startedForBackup)" = true ]
}

@test "Stopping and Starting are waited out (bounded) before deciding" {
  sandbox_with_state beta
  sandbox_with_state gamma Starting
  simctl set sandboxStopDelayMs=1500 >/dev/null
  # `sandbox stop` blocks until Stopped (as the real CLI does): catch it while Stopping.
  (openshell sandbox stop beta >/dev/null 2>&1 &)
  sleep 0.5
  [ "$(phase_of beta)" = Stopping ]
  NEMOCLAW_SANDBOX_READY_TIMEOUT_MS=2500 run_split backup-all
  [ "$status" -eq 0 ]
  # beta settled on Stopped, then was started for its backup and stopped again.
  [[ "$out" == *"beta: backed up"*"was Stopped"* ]]
  [ "$(phase_of beta)" = Stopped ]
  # gamma never left Starting (no deadline): skipped after the bounded wait, never started.
  [[ "$out" == *"gamma: skipped: phase Starting, not Ready"* ]]
  [ "$(calls gamma start)" -eq 0 ]
}

@test "SIGINT while a sandbox was started for its backup leaves it Stopped again" {
  sandbox_with_state beta Stopped
  simctl set transferDelayMs=5000 >/dev/null
  backup_in_background
  for _ in $(seq 100); do
    [ "$(phase_of beta)" = Ready ] && grep -q '"download","beta"' "$HOST/state/calls.log" && break
    sleep 0.1
  done
  [ "$(phase_of beta)" = Ready ]
  signal_and_wait INT
  [ "$rc" -eq 130 ]
  [ "$(phase_of beta)" = Stopped ]
  [ ! -e "$(started_json beta)" ]
  [ -z "$(backups_of beta)" ]
  grep -q "Backup summary: 0 backed up, 1 failed, 0 skipped" "$BATS_TEST_TMPDIR/out"
}

@test "a SIGKILLed run leaves started.json; the next locked run stops the sandbox again" {
  sandbox_with_state beta Stopped
  simctl set transferDelayMs=3000 >/dev/null
  backup_in_background
  for _ in $(seq 100); do
    [ "$(phase_of beta)" = Ready ] && [ -f "$(started_json beta)" ] && break
    sleep 0.1
  done
  kill -KILL "$pid"
  wait "$pid" || true
  [ "$(phase_of beta)" = Ready ]
  [ -f "$(started_json beta)" ]
  "$NODE" -e 'const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    if (r.sandbox !== "beta" || r.purpose !== "backup" || r.gateway !== "nemoclaw") process.exit(1);' "$(started_json beta)"
  # Let the orphaned download finish before the next run.
  sleep 3.5
  simctl set transferDelayMs=0 >/dev/null
  run_split backup-all
  [ "$status" -eq 0 ]
  [[ "$err" == *"Sandbox beta was started for a backup by a run that did not finish; it is stopped again."* ]]
  [[ "$out" == *"beta: backed up"* ]]
  [ "$(phase_of beta)" = Stopped ]
  [ ! -e "$(started_json beta)" ]
}

# stale_stopped NAME: Stopped, seeded, running the previous agent image (2026.6.0), registered so.
stale_stopped() {
  simctl add-sandbox "$1" --phase Stopped --agent openclaw \
    --image ghcr.io/nvidia/nemoclaw/sandbox-openclaw:2026.6.0 --seed >/dev/null
  register "$1" openclaw 2026.6.0
}

@test "upgrade: a stale Stopped sandbox is shown by --check, rebuilt with its state, and left Stopped" {
  sandbox_with_state alpha
  stale_stopped beta
  snapshot="$BATS_TEST_TMPDIR/beta"
  cp -a "$(state_dir_of beta)" "$snapshot"
  run_split upgrade-sandboxes --check
  [ "$status" -eq 1 ]
  printf '%s\n' "$out" | grep -E '^beta +Stopped +2026\.6\.0 → 2026\.7\.1 +stale'
  run_split upgrade-sandboxes --yes
  [ "$status" -eq 0 ]
  [[ "$out" == *"beta: rebuilt"*"left Stopped"* ]]
  [[ "$out" == *"Upgrade summary: 1 rebuilt, 0 failed, 0 skipped, 1 up to date"* ]]
  [ "$(phase_of beta)" = Stopped ]
  [ "$(phase_of alpha)" = Ready ]
  same_tree "$snapshot" "$(state_dir_of beta)"
  grep '"create"' "$HOST/state/calls.log" | grep -q 'sandbox-openclaw:2026.7.1'
  [ "$(calls beta start)" -eq 1 ]
  [ "$(calls beta stop)" -eq 1 ]
  [ ! -e "$(started_json beta)" ]
  "$NODE" -e '
    const d = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    if (d.sandboxes.beta.agentVersion !== "2026.7.1") process.exit(1);' "$HOME/.nemoclaw/sandboxes.json"
  run_split upgrade-sandboxes --check --json
  [ "$status" -eq 0 ]
  assert_valid_json
}

@test "upgrade: a stale Stopped sandbox whose start never becomes Ready fails before any delete, outcome unknown" {
  stale_stopped beta
  simctl set startNeverReady=true >/dev/null
  NEMOCLAW_SANDBOX_READY_TIMEOUT_MS=1000 run_split upgrade-sandboxes --yes --json
  [ "$status" -eq 1 ]
  assert_valid_json
  reason="$(json_get result.sandboxes.0.reason)"
  [[ "$reason" == *'stale but Stopped; could not start it: `openshell sandbox start beta` did not finish within 1s'*"the sandbox may have changed (now: Starting); look before retrying"* ]]
  [[ "$reason" == *"run: openshell -g nemoclaw sandbox stop beta"* ]]
  [[ "$reason" != *"nothing was changed"* ]] || false
  [ "$(json_get result.sandboxes.0.code)" = lifecycle_outcome_unknown ]
  [ "$(json_get error.code)" = lifecycle_outcome_unknown ]
  [ "$(phase_of beta)" = Starting ]
  ! grep -q '"delete"' "$HOST/state/calls.log" || false
  [ -z "$(backups_of beta)" ]
}

@test "restore into a Stopped sandbox starts it, restores and verifies, and leaves it Stopped" {
  sandbox_with_state beta Stopped
  run_split backup-all
  [ "$status" -eq 0 ]
  ts="$(backups_of beta)"
  snapshot="$BATS_TEST_TMPDIR/snapshot"
  cp -a "$(state_dir_of beta)" "$snapshot"
  echo changed >"$(state_dir_of beta)/extra-file.txt"
  run_split restore beta --backup "$ts" --yes
  [ "$status" -eq 0 ]
  [[ "$out" == *"Restored sandbox beta from backup $ts"* ]]
  same_tree "$snapshot" "$(state_dir_of beta)"
  [ "$(phase_of beta)" = Stopped ]
  [ "$(calls beta start)" -eq 2 ]
  [ "$(calls beta stop)" -eq 2 ]
  [ ! -e "$(started_json beta)" ]
}

@test "restore into a Stopped sandbox on an OpenShell without start: refused, nothing changed" {
  teardown_host
  new_host --cli-version 0.0.106 --gateway-version 0.0.104
  simctl start-gateway >/dev/null
  sandbox_with_state beta
  mkdir -p "$HOST/old"
  simctl install-openshell-bin "$HOST/old/openshell" --version 0.0.104 >/dev/null
  export NEMOCLAW_OPENSHELL_BIN="$HOST/old/openshell"
  run_split backup-all
  [ "$status" -eq 0 ]
  simctl add-sandbox beta --phase Stopped --agent openclaw --image ghcr.io/nvidia/nemoclaw/sandbox-openclaw:2026.7.1 >/dev/null
  run_split restore beta --yes
  [ "$status" -eq 1 ]
  [[ "$err" == *"sandbox beta is Stopped and stopped; this OpenShell (0.0.104) cannot start it; nothing was changed"* ]]
  ! grep -q '"start"' "$HOST/state/calls.log" || false
  [ "$(phase_of beta)" = Stopped ]
}

@test "workspaces: OPENSHELL_WORKSPACE reaches every openshell call, any other OPENSHELL_* does not; the WORKSPACE column parses" {
  sandbox_with_state alpha
  sandbox_with_state beta Stopped
  OPENSHELL_WORKSPACE=team-a OPENSHELL_GATEWAY=elsewhere OPENSHELL_GATEWAY_ENDPOINT=http://127.0.0.1:9 \
    run_split backup-all --require-all
  [ "$status" -eq 0 ]
  [[ "$out" == *"Backup summary: 2 backed up, 0 failed, 0 skipped"* ]]
  [ "$(phase_of beta)" = Stopped ]
  # Every openshell call nemoclaw made carried the workspace (so `sandbox list` printed WORKSPACE).
  total="$(grep -c '"tool":"openshell"' "$HOST/state/calls.log")"
  with="$(grep '"tool":"openshell"' "$HOST/state/calls.log" | grep -c '"workspace":"team-a"')"
  [ "$total" -gt 5 ]
  # phase_of (above) ran without a workspace; all of nemoclaw's calls had it.
  [ "$with" -eq $((total - 1)) ]
  grep '"sandbox","list"' "$HOST/state/calls.log" | grep -q '"workspace":"team-a"'
}
