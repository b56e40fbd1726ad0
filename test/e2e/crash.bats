#!/usr/bin/env bats
# Crash safety: a rebuild or a restore killed with SIGKILL (its whole process group, as the OOM
# killer, a reboot or a CI timeout would) at each step, then the next commands an operator or
# a cron job would run. Nothing may be lost, nothing may be reported as fine while it is not.

load helpers

setup() {
  new_host --cli-version 0.0.44 --gateway-version 0.0.44
  simctl start-gateway >/dev/null
  JOURNALS="$HOME/.nemoclaw/operations"
}

teardown() {
  [ -n "${holder:-}" ] && kill "$holder" 2>/dev/null || true
  teardown_host
}

# stale_sandbox NAME: Ready, seeded, on the previous agent image (2026.6.0); its state is
# snapshotted to $BATS_TEST_TMPDIR/original.
stale_sandbox() {
  simctl add-sandbox "$1" --phase Ready --agent openclaw \
    --image ghcr.io/nvidia/nemoclaw/sandbox-openclaw:2026.6.0 --seed >/dev/null
  register "$1" openclaw 2026.6.0
  cp -a "$(state_dir_of "$1")" "$BATS_TEST_TMPDIR/original"
}

# Starts nemoclaw ARGS… as the leader of its own process group (setsid execs it): $pid = pgid.
start_own_group() {
  setsid "$NODE" "$REPO/bin/run.js" "$@" >"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/err" </dev/null &
  pid=$!
}

# Waits up to 20 s until the journal of $1 names phase $2.
wait_for_phase() {
  for _ in $(seq 200); do
    grep -q "\"phase\": \"$2\"" "$JOURNALS/$1.json" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "journal of $1 never reached phase $2" >&2
  cat "$JOURNALS/$1.json" >&2 2>/dev/null || true
  return 1
}

# Waits up to 20 s for a line matching $1 in the simulator's call log.
wait_for_call() {
  for _ in $(seq 200); do
    grep -q -- "$1" "$HOST/state/calls.log" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

# SIGKILL to the whole process group, then reap it.
kill_group() {
  kill -KILL -- "-$pid"
  wait "$pid" || true
}

# NemoClaw's own registry lock, held by a live process ($holder, stopped in teardown).
hold_registry_lock() {
  sleep 120 &
  holder=$!
  mkdir "$HOME/.nemoclaw/sandboxes.json.lock"
  echo "$holder" >"$HOME/.nemoclaw/sandboxes.json.lock/owner"
}

release_registry_lock() {
  kill "$holder"
  holder=
  rm -rf "$HOME/.nemoclaw/sandboxes.json.lock"
}

# Starts a rebuild whose upload waits 1.5 s and returns once it is restoring state.
rebuild_until_restoring() {
  simctl set uploadDelayMs=1500
  start_own_group upgrade-sandboxes --yes
  wait_for_phase beta restoring
}

backup_count() {
  ls "$HOME/.nemoclaw/rebuild-backups/$1" 2>/dev/null | grep -vc '^\.' || true
}

registry_version() {
  "$NODE" -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).sandboxes[process.argv[2]].agentVersion)' \
    "$HOME/.nemoclaw/sandboxes.json" "$1"
}

# What every killed rebuild must come to: the next check says interrupted (never current), a
# cron backup with --keep 1 neither backs up the partial state nor prunes the only good
# backup, and one upgrade-sandboxes --yes brings back exactly the original state.
assert_recovers_rebuild() {
  run_split upgrade-sandboxes --check
  [ "$status" -eq 1 ]
  [[ "$out" == *"beta"*"interrupted"* ]]
  [[ "$out" == *"nemoclaw upgrade-sandboxes --yes beta"* ]]
  [[ "$out" != *"All sandboxes are up to date."* ]]
  run_split backups list --json
  [[ "$out" == *'"pinned": true'* ]]
  backups_before="$(backups_of beta)"
  run_split backup-all --keep 1
  [ "$status" -eq 0 ]
  [[ "$out$err" == *"beta"*"not backed up"* ]]
  [ "$(backups_of beta)" = "$backups_before" ]
  run_split upgrade-sandboxes --yes
  [ "$status" -eq 0 ]
  [[ "$out" == *"beta"* ]]
  same_tree "$BATS_TEST_TMPDIR/original" "$(state_dir_of beta)"
  [ "$(registry_version beta)" = "2026.7.1" ]
  [ ! -e "$JOURNALS/beta.json" ]
  grep -q '"outcome":"resumed-and-completed"' "$JOURNALS/history.jsonl"
  run_split upgrade-sandboxes --check
  [ "$status" -eq 0 ]
}

@test "rebuild killed while backing up (before the delete): no journal, the next run rebuilds from scratch" {
  stale_sandbox beta
  simctl set transferDelayMs=3000
  start_own_group upgrade-sandboxes --yes
  wait_for_staging beta
  kill_group
  simctl set transferDelayMs=0
  [ ! -e "$JOURNALS/beta.json" ]
  run_split upgrade-sandboxes --check
  [ "$status" -eq 1 ]
  [[ "$out" == *"beta"*"stale"* ]]
  same_tree "$BATS_TEST_TMPDIR/original" "$(state_dir_of beta)"
  run_split upgrade-sandboxes --yes
  [ "$status" -eq 0 ]
  same_tree "$BATS_TEST_TMPDIR/original" "$(state_dir_of beta)"
  [ "$(registry_version beta)" = "2026.7.1" ]
}

@test "rebuild killed during the delete: the orphaned delete is stopped or finished, and the next run completes" {
  stale_sandbox beta
  simctl set deleteDelayMs=2000
  start_own_group upgrade-sandboxes --yes
  wait_for_phase beta deleting
  wait_for_call '"delete"'
  kill_group
  simctl set deleteDelayMs=0
  [ -e "$JOURNALS/beta.json" ]
  run_split upgrade-sandboxes --yes
  [ "$status" -eq 0 ]
  same_tree "$BATS_TEST_TMPDIR/original" "$(state_dir_of beta)"
  [ "$(registry_version beta)" = "2026.7.1" ]
  [ ! -e "$JOURNALS/beta.json" ]
}

@test "rebuild killed after the delete, during the create: check names the backup; the next run creates and restores" {
  stale_sandbox beta
  simctl set createDelayMs=3000
  start_own_group upgrade-sandboxes --yes
  wait_for_phase beta creating
  wait_for_call '"create"'
  kill_group
  simctl set createDelayMs=0
  run_split upgrade-sandboxes --check
  [ "$status" -eq 1 ]
  ts="$(backups_of beta)"
  [[ "$out" == *"beta"*"interrupted"*"creating the sandbox"*"backup $ts"* ]]
  [[ "$out" != *"not deleted"* ]]
  assert_recovers_rebuild
}

@test "rebuild killed while restoring state (state dir already removed): never reported current, never pruned" {
  stale_sandbox beta
  simctl set uploadDelayMs=4000
  start_own_group upgrade-sandboxes --yes
  wait_for_phase beta restoring
  wait_for_call '"upload"'
  kill_group
  simctl set uploadDelayMs=0
  # The sandbox is up on the new image with no state at all: exactly the state that must not
  # be trusted, backed up or called current.
  [ ! -e "$(state_dir_of beta)" ]
  assert_recovers_rebuild
}

@test "rebuild killed before the registry update: the next run only updates the registry (no second delete)" {
  stale_sandbox beta
  rebuild_until_restoring
  # NemoClaw's own registry lock, taken by a live process meanwhile: the registry step waits.
  hold_registry_lock
  wait_for_phase beta registering
  kill_group
  release_registry_lock
  run_split upgrade-sandboxes --check --json
  [ "$status" -eq 1 ]
  assert_valid_json
  [[ "$(json_get result.sandboxes)" == *'"status":"interrupted"'*"updating the registry"* ]]
  [ "$(json_get result.counts.interrupted)" = 1 ]
  : >"$HOST/state/calls.log"
  run_split upgrade-sandboxes --yes
  [ "$status" -eq 0 ]
  ! grep -qE '"(delete|create|upload)"' "$HOST/state/calls.log"
  same_tree "$BATS_TEST_TMPDIR/original" "$(state_dir_of beta)"
  [ "$(registry_version beta)" = "2026.7.1" ]
  [ ! -e "$JOURNALS/beta.json" ]
}

@test "a registry lock held at the registry update: rebuilt; registry not updated, exit 1, no second delete" {
  stale_sandbox beta
  rebuild_until_restoring
  hold_registry_lock
  rc=0
  wait "$pid" || rc=$?
  [ "$rc" -eq 1 ]
  grep -q "rebuilt; registry not updated" "$BATS_TEST_TMPDIR/out"
  grep -q "nemoclaw upgrade-sandboxes --yes beta" "$BATS_TEST_TMPDIR/out"
  [ "$(registry_version beta)" = "2026.6.0" ]
  release_registry_lock
  : >"$HOST/state/calls.log"
  run_split upgrade-sandboxes --yes beta
  [ "$status" -eq 0 ]
  ! grep -qE '"(delete|create|upload)"' "$HOST/state/calls.log"
  [ "$(registry_version beta)" = "2026.7.1" ]
}

@test "a registry lock held when a rebuild would start: exit 4 before anything destructive" {
  stale_sandbox beta
  hold_registry_lock
  run_split upgrade-sandboxes --yes
  [ "$status" -eq 4 ]
  [[ "$err" == *"sandboxes.json.lock"* ]]
  ! grep -qE '"(delete|create|upload|download)"' "$HOST/state/calls.log"
  [ ! -e "$JOURNALS/beta.json" ]
}

# restore: alpha's backup is the "original"; the live state is then changed ("before").
restorable_sandbox() {
  sandbox_with_state alpha
  run_split backup-all
  [ "$status" -eq 0 ]
  TS="$(backups_of alpha)"
  cp -a "$(state_dir_of alpha)" "$BATS_TEST_TMPDIR/original"
  echo "work done after the backup" >"$(state_dir_of alpha)/after-backup.txt"
  cp -a "$(state_dir_of alpha)" "$BATS_TEST_TMPDIR/before"
}

@test "restore killed during its safety backup: nothing changed, no journal, the rerun restores" {
  restorable_sandbox
  simctl set transferDelayMs=3000
  start_own_group restore alpha --yes
  wait_for_staging alpha
  kill_group
  simctl set transferDelayMs=0
  [ ! -e "$JOURNALS/alpha.json" ]
  same_tree "$BATS_TEST_TMPDIR/before" "$(state_dir_of alpha)"
  run_split restore alpha --backup "$TS" --yes
  [ "$status" -eq 0 ]
  same_tree "$BATS_TEST_TMPDIR/original" "$(state_dir_of alpha)"
}

@test "restore killed while uploading: check says interrupted; restore (no --backup) finishes it exactly" {
  restorable_sandbox
  simctl set uploadDelayMs=4000
  start_own_group restore alpha --yes
  wait_for_phase alpha restoring
  wait_for_call '"upload"'
  kill_group
  simctl set uploadDelayMs=0
  [ ! -e "$(state_dir_of alpha)" ]
  run_split upgrade-sandboxes --check
  [ "$status" -eq 1 ]
  [[ "$out" == *"alpha"*"interrupted"*"nemoclaw restore alpha --backup $TS --yes"* ]]
  run_split backup-all --keep 1
  [ "$status" -eq 0 ]
  [ "$(backup_count alpha)" -eq 2 ] # the restore's backup and the safety backup, both pinned
  run_split restore alpha --yes --json
  [ "$status" -eq 0 ]
  assert_valid_json
  [ "$(json_get result.backup.timestamp)" = "$TS" ]
  [[ "$(json_get result.resumed)" == *'"operation":"restore"'* ]]
  same_tree "$BATS_TEST_TMPDIR/original" "$(state_dir_of alpha)"
  [ ! -e "$JOURNALS/alpha.json" ]
}

@test "restore killed while verifying: finished by the rerun; the safety backup brings the pre-restore state back" {
  restorable_sandbox
  simctl set uploadDelayMs=1500
  start_own_group restore alpha --yes
  wait_for_phase alpha restoring
  simctl set uploadDelayMs=0 transferDelayMs=5000
  wait_for_phase alpha verifying
  kill_group
  simctl set transferDelayMs=0
  safety="$(backups_of alpha | grep -v "$TS")"
  [ -n "$safety" ]
  run_split restore alpha --backup "$safety" --yes
  [ "$status" -eq 0 ]
  same_tree "$BATS_TEST_TMPDIR/before" "$(state_dir_of alpha)"
  [ ! -e "$JOURNALS/alpha.json" ]
  grep -q '"outcome":"replaced"' "$JOURNALS/history.jsonl"
}

@test "a restore whose upload fails after the rm: exit 1 (never 4), safety backup and both commands; each works" {
  restorable_sandbox
  simctl set uploadFailAfterBytes=100
  run_split restore alpha --yes --json
  [ "$status" -eq 1 ]
  assert_valid_json
  safety="$(json_get result.safetyBackup.timestamp)"
  [ -d "$HOME/.nemoclaw/rebuild-backups/alpha/$safety" ]
  [[ "$(json_get result.recovery)" == *"nemoclaw restore alpha --backup $safety --yes"*"nemoclaw restore alpha --backup $TS --yes"* ]]
  run_split restore alpha --yes
  [ "$status" -eq 1 ]
  [[ "$err" == *"Safety backup of the state before this restore: $HOME/.nemoclaw/rebuild-backups/alpha/$safety"* ]]
  grep -qx "  nemoclaw restore alpha --backup $safety --yes" <<<"$err"
  grep -qx "  nemoclaw restore alpha --backup $TS --yes" <<<"$err"
  simctl set uploadFailAfterBytes=null
  run_split restore alpha --backup "$TS" --yes
  [ "$status" -eq 0 ]
  same_tree "$BATS_TEST_TMPDIR/original" "$(state_dir_of alpha)"
  run_split restore alpha --backup "$safety" --yes
  [ "$status" -eq 0 ]
  same_tree "$BATS_TEST_TMPDIR/before" "$(state_dir_of alpha)"
}

@test "a restore whose gateway goes away after the rm: exit 1, not 4, with the recovery commands" {
  restorable_sandbox
  # list + get + the safety download + get + rm get through; the upload finds no gateway
  simctl set gatewayGoneAfterCalls=5
  run_split restore alpha --yes
  [ "$status" -eq 1 ]
  [[ "$err" == *"To bring back the state from before this restore, run:"* ]]
  [[ "$err" == *"To retry the restore, run:"* ]]
}

@test "SIGINT during a restore's upload: exit 130, journal kept, both commands printed; the rerun finishes" {
  restorable_sandbox
  simctl set uploadDelayMs=4000
  start_own_group restore alpha --yes
  wait_for_phase alpha restoring
  wait_for_call '"upload"'
  kill -INT "$pid"
  rc=0
  wait "$pid" || rc=$?
  [ "$rc" -eq 130 ]
  grep -q "To retry the restore, run:" "$BATS_TEST_TMPDIR/err"
  [ -e "$JOURNALS/alpha.json" ]
  simctl set uploadDelayMs=0
  run_split restore alpha --yes
  [ "$status" -eq 0 ]
  same_tree "$BATS_TEST_TMPDIR/original" "$(state_dir_of alpha)"
}

@test "restore holds the lock while its prompt waits: a cron backup-all meanwhile gets exit 4" {
  restorable_sandbox
  cmd="env NO_COLOR=1 HOME=$HOME PATH=$PATH NEMOCLAW_GATEWAY_PORT=$NEMOCLAW_GATEWAY_PORT $NODE $REPO/bin/run.js restore alpha"
  # A person at a terminal who answers only after the cron run has come and gone.
  (
    for _ in $(seq 600); do grep -q "y/N" "$BATS_TEST_TMPDIR/pty" 2>/dev/null && break; sleep 0.1; done
    env NO_COLOR=1 "$NODE" "$REPO/bin/run.js" backup-all --keep 1 >"$BATS_TEST_TMPDIR/cron.out" 2>&1
    echo "$?" >"$BATS_TEST_TMPDIR/cron.rc"
    printf 'y\r'
  ) | script -qefc "$cmd" "$BATS_TEST_TMPDIR/pty" >/dev/null || { cat "$BATS_TEST_TMPDIR/pty"; false; }
  [ "$(cat "$BATS_TEST_TMPDIR/cron.rc")" -eq 4 ]
  grep -q "maintenance.lock" "$BATS_TEST_TMPDIR/cron.out"
  grep -q "Restored sandbox alpha from backup $TS" "$BATS_TEST_TMPDIR/pty"
  same_tree "$BATS_TEST_TMPDIR/original" "$(state_dir_of alpha)"
}

@test "backup-all --keep 1 never removes the newest backup with files when newer ones are empty" {
  sandbox_with_state alpha
  run_split backup-all
  full="$(backups_of alpha)"
  rm -rf "$(state_dir_of alpha)"
  run_split backup-all --keep 1
  [ "$status" -eq 0 ]
  run_split backup-all --keep 1
  [ "$status" -eq 0 ]
  backups_of alpha | grep -qx "$full"
  run_split restore alpha --yes --json
  [ "$status" -eq 0 ]
  [ "$(json_get result.backup.timestamp)" = "$full" ]
  [[ "$(json_get warnings)" == *"hold no files"* ]]
}
