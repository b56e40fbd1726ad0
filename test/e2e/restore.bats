#!/usr/bin/env bats
# restore: round trips through the built CLI and the simulator.

load helpers

setup() {
  new_host --cli-version 0.0.44 --gateway-version 0.0.44
  simctl start-gateway >/dev/null
  sandbox_with_state alpha
}

teardown() {
  teardown_host
}

@test "restore round trip: changed, deleted, extra and git-ignored files come back exactly, with a safety backup" {
  run_split backup-all
  [ "$status" -eq 0 ]
  ts="$(backups_of alpha)"
  snapshot="$BATS_TEST_TMPDIR/snapshot"
  cp -a "$(state_dir_of alpha)" "$snapshot"
  live="$(state_dir_of alpha)"
  # change, delete, add — including a git-ignored file
  first="$(find "$live" -type f -name '*.json' | head -1)"
  echo changed >"$first"
  ignored="$(find "$live" -type f -name '*.log' | head -1)"
  [ -n "$ignored" ]
  rm "$ignored"
  echo new >"$live/extra-file.txt"
  run_split restore alpha --yes
  [ "$status" -eq 0 ]
  [[ "$out" == *"Restored sandbox alpha from backup $ts"* ]]
  [[ "$out" == *"Safety backup of the previous state: $HOME/.nemoclaw/rebuild-backups/alpha/"* ]]
  same_tree "$snapshot" "$(state_dir_of alpha)"
  # the upload kept git-ignored files because restore passes --no-git-ignore
  grep '"upload"' "$HOST/state/calls.log" | grep -q -- '--no-git-ignore'
  # the safety backup holds the modified state
  safety="$(backups_of alpha | grep -v "$ts")"
  [ -f "$HOME/.nemoclaw/rebuild-backups/alpha/$safety/.openclaw/extra-file.txt" ]
}

@test "restore --create brings back a sandbox that no longer exists" {
  run_split backup-all
  [ "$status" -eq 0 ]
  snapshot="$BATS_TEST_TMPDIR/snapshot"
  cp -a "$(state_dir_of alpha)" "$snapshot"
  "$(dirname "$(command -v openshell)")/openshell" -g nemoclaw sandbox delete alpha >/dev/null
  run_split restore alpha --yes
  [ "$status" -eq 1 ]
  [[ "$err" == *"--create"* ]]
  run_split restore alpha --create --yes --json
  [ "$status" -eq 0 ]
  assert_valid_json
  [ "$(json_get result.created)" = true ]
  [ "$(json_get result.safetyBackup)" = null ]
  same_tree "$snapshot" "$(state_dir_of alpha)"
}

@test "a corrupt backup is refused before anything changes" {
  run_split backup-all
  ts="$(backups_of alpha)"
  f="$(find "$HOME/.nemoclaw/rebuild-backups/alpha/$ts/.openclaw" -type f | head -1)"
  printf 'Z' | dd of="$f" bs=1 seek=0 conv=notrunc 2>/dev/null
  : >"$HOST/state/calls.log"
  run_split restore alpha --yes
  [ "$status" -eq 1 ]
  [[ "$err" == *"failed its re-hash: first bad file .openclaw/${f##*/.openclaw/}"* ]]
  ! grep -qE '"(upload|exec|delete|create)"' "$HOST/state/calls.log" || false
}

@test "non-interactive restore without --yes exits 2 before anything is read" {
  run_split backup-all
  : >"$HOST/state/calls.log"
  run_split restore alpha </dev/null
  [ "$status" -eq 2 ]
  [[ "$err" == *"--yes"* ]]
  [ ! -s "$HOST/state/calls.log" ]
  run_split restore alpha --json </dev/null
  [ "$status" -eq 2 ]
  assert_valid_json
}

@test "drift and schema mismatch refuse restore with exit 3 and no change" {
  run_split backup-all
  simctl set schemaMismatch=tonic12
  run_split restore alpha --yes --json
  [ "$status" -eq 3 ]
  assert_valid_json
  [[ "$(json_get error.diagnostic)" == *"mismatch was detected while restoring sandbox 'alpha'"* ]]
  simctl set schemaMismatch=null
  simctl stop
  simctl set gatewayVersion=0.0.43
  simctl start-gateway >/dev/null
  run_split restore alpha --yes
  [ "$status" -eq 3 ]
  [[ "$err" == *"preflight failed before restoring sandbox 'alpha'"* ]]
}

@test "restore of a missing backup timestamp is a usage error" {
  run_split restore alpha --backup 2020-01-01T00-00-00-000Z --yes
  [ "$status" -eq 2 ]
  run_split restore 'Bad_Name' --yes
  [ "$status" -eq 2 ]
}
