#!/usr/bin/env bats
# status: the host at a glance — the built CLI against the simulator.

load helpers

setup() {
  new_host --cli-version 0.0.44 --gateway-version 0.0.44
  simctl start-gateway >/dev/null
}

teardown() {
  teardown_host
}

state_hash() {
  (find "$HOME/.nemoclaw" -exec stat -c '%n %s %Y' {} + 2>/dev/null; find "$HOME/.nemoclaw" -type f -exec sha256sum {} + 2>/dev/null) | sort | sha256sum
}

@test "healthy host, every sandbox backed up: exit 0, all green, read-only" {
  sandbox_with_state alpha
  sandbox_with_state beta
  run_split backup-all
  [ "$status" -eq 0 ]
  before="$(state_hash)"
  : >"$HOST/state/calls.log"
  run_split status
  [ "$status" -eq 0 ]
  [[ "$out" == *"Gateway preflight: compatible"* ]]
  [[ "$out" == *"alpha"*"Ready"*"2026.7.1 → 2026.7.1"*"current"* ]]
  [[ "$out" == *"Nothing needs action"* ]]
  [ "$before" = "$(state_hash)" ]
  ! grep -qE '"(delete|create|upload|download|select|add)"' "$HOST/state/calls.log" || false
  run_split status --json
  [ "$status" -eq 0 ]
  assert_valid_json
  [ "$(json_get result.counts.current)" = 2 ]
  [ "$(json_get result.counts.neverBackedUp)" = 0 ]
  [[ "$(json_get result.sandboxes)" == *'"lastBackup":{"timestamp":"'* ]]
}

@test "a never-backed-up sandbox and one with an old backup: exit 1 with the command to run" {
  sandbox_with_state alpha
  run_split backup-all
  sandbox_with_state beta
  sleep 2
  run_split status --max-age 1s
  [ "$status" -eq 1 ]
  [[ "$out" == *"beta"*"never"* ]]
  [[ "$out" == *"alpha"*"ago) old"* ]]
  [[ "$out" == *"1 never backed up, 1 with a backup older than 1s"* ]]
  [[ "$out" == *"  nemoclaw backup-all"* ]]
  run_split status --max-age 1h --json
  [ "$status" -eq 1 ]
  assert_valid_json
  [ "$(json_get result.counts.neverBackedUp)" = 1 ]
  [ "$(json_get result.counts.oldBackup)" = 0 ]
}

@test "a drifted host: exit 3, the verdict and rows from the registry, no sandbox query" {
  sandbox_with_state alpha
  register stale openclaw 2026.6.0
  simctl stop
  simctl set gatewayVersion=0.0.43
  simctl start-gateway >/dev/null
  simctl set gatewayVersion=0.0.44
  : >"$HOST/state/calls.log"
  run_split status
  [ "$status" -eq 3 ]
  [[ "$out" == *"Gateway preflight: drift"* ]]
  [[ "$out" == *"alpha"*"?"*"current"* ]]
  [[ "$out" == *"stale"*"?"*"2026.6.0 → 2026.7.1"*"stale"* ]]
  [[ "$out" == *"nemoclaw onboard --resume"* ]]
  ! grep -q '"sandbox"' "$HOST/state/calls.log" || false
  run_split status --json
  [ "$status" -eq 3 ]
  assert_valid_json
  [ "$(json_get result.source)" = registry ]
}

@test "an unreachable gateway: exit 4, rows from the registry and the backups" {
  sandbox_with_state alpha
  run_split backup-all
  simctl set unreachable=true
  run_split status --json
  [ "$status" -eq 4 ]
  assert_valid_json
  [ "$(json_get result.source)" = registry ]
  [[ "$(json_get result.sandboxes)" == *'"phase":"?"'* ]]
  [[ "$(json_get result.sandboxes)" == *'"lastBackup":{"timestamp"'* ]]
  run_split status
  [ "$status" -eq 4 ]
  [[ "$out" == *"Gateway unreachable"* ]]
}

@test "an interrupted rebuild: exit 1, the row says interrupted with the command that finishes it" {
  sandbox_with_state alpha
  run_split backup-all
  ts="$(backups_of alpha)"
  mkdir -p "$HOME/.nemoclaw/operations"
  "$NODE" -e '
    const [file, ts] = process.argv.slice(1);
    require("fs").writeFileSync(file, JSON.stringify({ version: 1, operation: "rebuild", sandbox: "alpha",
      gateway: "nemoclaw", backup: ts, safetyBackup: null, image: "ghcr.io/nvidia/nemoclaw/sandbox-openclaw:2026.7.1",
      finalPhase: "Ready", phase: "restoring", startedAt: "2026-11-29T10:00:00.000Z", updatedAt: "2026-11-29T10:00:01.000Z",
      writer: { pid: 4194000, bootId: null, startTick: 1, hostname: require("os").hostname() }, child: null,
      command: "nemoclaw upgrade-sandboxes --yes" }), { mode: 0o600 });' "$HOME/.nemoclaw/operations/alpha.json" "$ts"
  run_split status
  [ "$status" -eq 1 ]
  [[ "$out" == *"alpha"*"interrupted"*"rebuild interrupted while restoring state"* ]]
  [[ "$out" == *"pinned: $ts"* ]]
  [[ "$out" == *"  nemoclaw upgrade-sandboxes --yes alpha"* ]]
  run_split status --json
  assert_valid_json
  [[ "$(json_get result.sandboxes)" == *'"interrupted":{"operation":"rebuild","phase":"restoring","command":"nemoclaw upgrade-sandboxes --yes alpha"}'* ]]
}

@test "--max-age must be a duration: exit 2" {
  run_split status --max-age soon --json
  [ "$status" -eq 2 ]
  assert_valid_json
}
