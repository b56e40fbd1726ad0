#!/usr/bin/env bats
# Prove before destroy (docs/design.md, "Prove before destroy"; issue 21): each of the six ways
# the second round of fault injection found to lose data or to leave an operation nobody can
# finish, replayed through the simulator with the built CLI. Each test keeps every byte (in the
# live sandbox or in a backup that verifies) and ends with every journal closed by a command the
# output named.

load helpers

setup() {
  new_host --cli-version 0.0.106 --gateway-version 0.0.106
  simctl start-gateway >/dev/null
  simctl set sandboxStartDelayMs=200 sandboxStopDelayMs=200 >/dev/null
  JOURNALS="$HOME/.nemoclaw/operations"
}

teardown() {
  [ -n "${holder:-}" ] && kill "$holder" 2>/dev/null || true
  teardown_host
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
  cat "$JOURNALS/$1.json" "$BATS_TEST_TMPDIR/err" >&2 2>/dev/null || true
  return 1
}

wait_for_call() {
  for _ in $(seq 200); do
    grep -q -- "$1" "$HOST/state/calls.log" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

kill_group() {
  kill -KILL -- "-$pid"
  wait "$pid" || true
}

phase_of() {
  openshell sandbox get "$1" | sed 's/\x1b\[[0-9;]*m//g' | sed -n 's/^ *Phase: //p'
}

registry_version() {
  "$NODE" -e 'const e = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).sandboxes[process.argv[2]]; console.log(e ? e.agentVersion : "unregistered")' \
    "$HOME/.nemoclaw/sandboxes.json" "$1"
}

unregister() {
  "$NODE" -e 'const fs = require("fs"); const f = process.argv[1]; const d = JSON.parse(fs.readFileSync(f, "utf8")); delete d.sandboxes[process.argv[2]]; fs.writeFileSync(f, JSON.stringify(d, null, 2))' \
    "$HOME/.nemoclaw/sandboxes.json" "$1"
}

# stale_sandbox NAME [PHASE]: seeded, on the previous agent image (2026.6.0); its state is
# snapshotted to $BATS_TEST_TMPDIR/original.
stale_sandbox() {
  simctl add-sandbox "$1" --phase "${2:-Ready}" --agent openclaw \
    --image ghcr.io/nvidia/nemoclaw/sandbox-openclaw:2026.6.0 --seed >/dev/null
  register "$1" openclaw 2026.6.0
  cp -a "$(state_dir_of "$1")" "$BATS_TEST_TMPDIR/original"
}

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

# The closing condition of every case: nothing open, and every backup left verifies.
assert_all_closed_and_verified() {
  run_split operations list --json
  [ "$status" -eq 0 ]
  assert_valid_json
  [ "$(json_get result.open)" = 0 ]
  [ -z "$(ls "$JOURNALS" 2>/dev/null | grep -v '^history.jsonl$')" ]
  run_split backups verify
  [ "$status" -eq 0 ]
}

# holds_file BACKUP_DIR REL CONTENT: the backup stores REL with exactly CONTENT.
holds_file() {
  [ "$(cat "$1/.openclaw/$2")" = "$3" ]
}

@test "case 1: a journal of another gateway is never finished, replaced or removed from this one; --gateway finishes it" {
  sandbox_with_state alpha
  run_split backup-all
  [ "$status" -eq 0 ]
  TS="$(backups_of alpha)"
  cp -a "$(state_dir_of alpha)" "$BATS_TEST_TMPDIR/original"
  echo "work nobody backed up" >"$(state_dir_of alpha)/unbacked.txt"
  simctl start-gateway --name other --port 0 --no-marker --state-dir "$HOST/other-state" >/dev/null
  simctl set uploadDelayMs=4000 >/dev/null
  start_own_group restore alpha --gateway other --yes
  wait_for_phase alpha restoring
  wait_for_call '"upload"'
  kill_group
  simctl set uploadDelayMs=0 >/dev/null
  grep -q '"gateway": "other"' "$JOURNALS/alpha.json"
  cp "$JOURNALS/alpha.json" "$BATS_TEST_TMPDIR/journal.before"
  : >"$HOST/state/calls.log"

  # The default gateway's restore refuses: exit 1, nothing changed, the journal untouched.
  run_split restore alpha --yes --json
  [ "$status" -eq 1 ]
  assert_valid_json
  [[ "$(json_get error.message)" == *"gateway 'other'"*"nemoclaw restore alpha --backup $TS --yes --gateway other"*"nothing was changed"* ]]
  ! grep -qE '"(rm|upload|delete|create|download)"' "$HOST/state/calls.log" || false
  diff "$BATS_TEST_TMPDIR/journal.before" "$JOURNALS/alpha.json"
  run_split upgrade-sandboxes --yes
  [ "$status" -eq 1 ]
  diff "$BATS_TEST_TMPDIR/journal.before" "$JOURNALS/alpha.json"

  # status names the finishing command with --gateway; so does operations list.
  run_split status --json
  [ "$status" -eq 1 ]
  assert_valid_json
  [[ "$(json_get result.actions)" == *"nemoclaw restore alpha --backup $TS --yes --gateway other"* ]]
  run_split operations list --json
  [ "$status" -eq 1 ]
  assert_valid_json
  [ "$(json_get result.operations.0.state)" = other-gateway ]
  [ "$(json_get result.operations.0.command)" = "nemoclaw restore alpha --backup $TS --yes --gateway other" ]

  # The named command finishes it; the safety backup holds the unbacked work, and verifies.
  run_split restore alpha --backup "$TS" --yes --gateway other --json
  [ "$status" -eq 0 ]
  assert_valid_json
  same_tree "$BATS_TEST_TMPDIR/original" "$(state_dir_of alpha)"
  safety="$(json_get result.safetyBackup.timestamp)"
  holds_file "$HOME/.nemoclaw/rebuild-backups/alpha/$safety" unbacked.txt "work nobody backed up"
  grep -q '"outcome":"resumed-and-completed"' "$JOURNALS/history.jsonl"
  assert_all_closed_and_verified
}

@test "case 2: a backup that fails its re-hash never justifies a delete; the first bad file is named" {
  stale_sandbox beta
  run_split backup-all
  [ "$status" -eq 0 ]
  B1="$(backups_of beta)"
  stored="$HOME/.nemoclaw/rebuild-backups/beta/$B1/.openclaw/workspace/My Notes.md"
  # Bit rot with the mtime kept: one byte flipped, size, mode and mtime unchanged.
  "$NODE" -e '
    const fs = require("fs"); const f = process.argv[1]; const st = fs.statSync(f);
    const b = fs.readFileSync(f); b[0] ^= 1; fs.writeFileSync(f, b); fs.utimesSync(f, st.atime, st.mtime);' "$stored"
  run_split backups verify beta --backup "$B1"
  [ "$status" -eq 1 ]
  # Restoring the rotten backup: refused before anything is touched, the file named in JSON.
  : >"$HOST/state/calls.log"
  run_split restore beta --backup "$B1" --yes --json
  [ "$status" -eq 1 ]
  assert_valid_json
  [[ "$(json_get error.message)" == *"first bad file .openclaw/workspace/My Notes.md (content differs)"* ]]
  ! grep -qE '"(rm|upload|delete|create)"' "$HOST/state/calls.log" || false
  same_tree "$BATS_TEST_TMPDIR/original" "$(state_dir_of beta)"
  # The rebuild: its fresh backup is re-hashed before the delete. Whether it was stored as a
  # link to the rotten file (then refused, the file named, nothing deleted) or as its own copy
  # (then it proves, and the rebuild goes on), every byte is kept.
  : >"$HOST/state/calls.log"
  run_split upgrade-sandboxes --yes --json
  assert_valid_json
  if [ "$status" -eq 1 ]; then
    [[ "$(json_get error.message)" == *"beta: backup "*"failed its re-hash: first bad file .openclaw/workspace/My Notes.md"*"nothing was changed"* ]]
    ! grep -q '"delete"' "$HOST/state/calls.log" || false
    [ "$(registry_version beta)" = 2026.6.0 ]
    same_tree "$BATS_TEST_TMPDIR/original" "$(state_dir_of beta)"
    # The operator removes the rotten backups (the sandbox still holds every byte); the rerun
    # stores a copy of its own, proves it, and rebuilds.
    rm -rf "${HOME:?}/.nemoclaw/rebuild-backups/beta"
    run_split upgrade-sandboxes --yes
  else
    rm -rf "${HOME:?}/.nemoclaw/rebuild-backups/beta/$B1"
  fi
  [ "$status" -eq 0 ]
  [ "$(registry_version beta)" = 2026.7.1 ]
  same_tree "$BATS_TEST_TMPDIR/original" "$(state_dir_of beta)"
  assert_all_closed_and_verified
}

@test "case 3: a rebuild killed while verifying: backup-all backs the live sandbox up; the finish saves changed state first" {
  stale_sandbox beta
  simctl set uploadDelayMs=1500 >/dev/null
  start_own_group upgrade-sandboxes --yes
  wait_for_phase beta restoring
  simctl set uploadDelayMs=0 transferDelayMs=5000 >/dev/null
  wait_for_phase beta verifying
  kill_group
  simctl set transferDelayMs=0 >/dev/null
  # The sandbox is complete and its agent keeps writing.
  simctl write-file beta /sandbox/.openclaw/workspace/after-crash.md "written after the crash" >/dev/null
  cp -a "$(state_dir_of beta)" "$BATS_TEST_TMPDIR/live"

  # Nightly backup-all: post-restore state is user state, backed up like any other.
  run_split backup-all --keep 1 --json
  [ "$status" -eq 0 ]
  assert_valid_json
  [ "$(json_get result.summary.backedUp)" = 1 ]
  nightly="$(json_get result.sandboxes.0.path)"
  same_tree "$BATS_TEST_TMPDIR/live" "$nightly/.openclaw"

  # The finishing command: the state differs from the journal's backup, so it is saved (and
  # proven) first, then the backup is restored; the result names the safety backup and its
  # restore command. No delete: the sandbox is Ready and holds the user's state.
  : >"$HOST/state/calls.log"
  run_split upgrade-sandboxes --yes --json
  [ "$status" -eq 0 ]
  assert_valid_json
  [ "$(json_get result.sandboxes.0.status)" = rebuilt ]
  safety="$(json_get result.sandboxes.0.safetyBackups.0.timestamp)"
  [ -n "$safety" ] && [ "$safety" != undefined ]
  [ "$(json_get result.sandboxes.0.safetyBackups.0.command)" = "nemoclaw restore beta --backup $safety --yes" ]
  ! grep -q '"delete"' "$HOST/state/calls.log" || false
  same_tree "$BATS_TEST_TMPDIR/original" "$(state_dir_of beta)"
  same_tree "$BATS_TEST_TMPDIR/live" "$HOME/.nemoclaw/rebuild-backups/beta/$safety/.openclaw"
  [ "$(registry_version beta)" = 2026.7.1 ]
  assert_all_closed_and_verified
  # The printed command brings the work written after the crash back.
  run_split restore beta --backup "$safety" --yes
  [ "$status" -eq 0 ]
  same_tree "$BATS_TEST_TMPDIR/live" "$(state_dir_of beta)"
  assert_all_closed_and_verified
}

@test "case 4: a Stopped sandbox's rebuild whose registry step failed is finished without probing it" {
  stale_sandbox beta Stopped
  simctl set uploadDelayMs=1500 >/dev/null
  start_own_group upgrade-sandboxes --yes
  wait_for_phase beta restoring
  hold_registry_lock
  rc=0
  wait "$pid" || rc=$?
  [ "$rc" -eq 1 ]
  grep -q "rebuilt; registry not updated" "$BATS_TEST_TMPDIR/out"
  grep -q '"phase": "registering"' "$JOURNALS/beta.json"
  grep -q '"verifiedAgentVersion": "2026.7.1"' "$JOURNALS/beta.json"
  [ "$(phase_of beta)" = Stopped ]
  release_registry_lock
  simctl set uploadDelayMs=0 >/dev/null
  : >"$HOST/state/calls.log"
  run_split upgrade-sandboxes --yes
  [ "$status" -eq 0 ]
  # No exec (no version probe) of the Stopped sandbox, no delete, no start.
  ! grep -qE '"(exec|delete|create|upload|start)"' "$HOST/state/calls.log" || false
  [ "$(registry_version beta)" = 2026.7.1 ]
  [ "$(phase_of beta)" = Stopped ]
  same_tree "$BATS_TEST_TMPDIR/original" "$(state_dir_of beta)"
  assert_all_closed_and_verified
}

@test "case 5a: the rebuild journal of a sandbox the operator destroyed is closed, nothing re-created; the way back works" {
  stale_sandbox beta
  simctl set uploadDelayMs=4000 >/dev/null
  start_own_group upgrade-sandboxes --yes
  wait_for_phase beta restoring
  wait_for_call '"upload"'
  kill_group
  simctl set uploadDelayMs=0 >/dev/null
  TS="$(backups_of beta)"
  # The operator destroys it: gone from OpenShell and from the registry.
  openshell sandbox delete beta >/dev/null 2>&1
  unregister beta
  : >"$HOST/state/calls.log"
  run_split upgrade-sandboxes --yes
  [ "$status" -eq 0 ]
  [[ "$out" == *"destroyed"*"nothing was re-created"* ]]
  grep -qx "nemoclaw restore beta --backup $TS --create --yes" <<<"$out"
  ! grep -qE '"(create|upload|delete)"' "$HOST/state/calls.log" || false
  grep -q '"outcome":"abandoned-auto"' "$JOURNALS/history.jsonl"
  [ "$(backups_of beta)" = "$TS" ]
  assert_all_closed_and_verified
  # The way back printed: the sandbox comes back with its state, registered again.
  run_split restore beta --backup "$TS" --create --yes --json
  [ "$status" -eq 0 ]
  assert_valid_json
  [ "$(json_get result.registered)" = true ]
  same_tree "$BATS_TEST_TMPDIR/original" "$(state_dir_of beta)"
  [ "$(registry_version beta)" = 2026.6.0 ]
  assert_all_closed_and_verified
}

@test "case 5b: a journal from another host (a hostname change) is reported naming operations abandon, and dropped by it" {
  sandbox_with_state alpha
  run_split backup-all
  TS="$(backups_of alpha)"
  echo "work after the backup" >"$(state_dir_of alpha)/after.txt"
  cp -a "$(state_dir_of alpha)" "$BATS_TEST_TMPDIR/before"
  simctl set uploadDelayMs=4000 >/dev/null
  start_own_group restore alpha --yes
  wait_for_phase alpha restoring
  wait_for_call '"upload"'
  kill_group
  simctl set uploadDelayMs=0 >/dev/null
  # The host was renamed since.
  "$NODE" -e 'const fs = require("fs"); const f = process.argv[1]; const j = JSON.parse(fs.readFileSync(f, "utf8")); j.writer.hostname = "old-hostname"; fs.writeFileSync(f, JSON.stringify(j, null, 2))' \
    "$JOURNALS/alpha.json"
  safety="$(backups_of alpha | grep -v "$TS")"
  run_split restore alpha --yes
  [ "$status" -eq 1 ]
  [[ "$err" == *"old-hostname"*"nemoclaw operations abandon alpha --yes"* ]]
  run_split upgrade-sandboxes --yes
  [ "$status" -eq 1 ]
  [[ "$out" == *"nemoclaw operations abandon alpha --yes"* ]]
  run_split operations list --json
  [ "$status" -eq 1 ]
  assert_valid_json
  [ "$(json_get result.operations.0.state)" = other-host ]
  [[ "$(json_get result.operations.0.pins)" == *"$TS"*"$safety"* ]]
  run_split operations abandon alpha
  [ "$status" -eq 2 ]
  [ -e "$JOURNALS/alpha.json" ]
  run_split operations abandon alpha --yes --json
  [ "$status" -eq 0 ]
  assert_valid_json
  [ "$(json_get result.abandoned)" = true ]
  [[ "$(json_get result.holds)" == *"partial state"* ]]
  [[ "$(json_get result.wayBack)" == *"nemoclaw restore alpha --backup $safety --yes"* ]]
  grep -q '"outcome":"abandoned"' "$JOURNALS/history.jsonl"
  assert_all_closed_and_verified
  # Every byte is still there: the pre-restore state comes back from the safety backup.
  run_split restore alpha --backup "$safety" --yes
  [ "$status" -eq 0 ]
  same_tree "$BATS_TEST_TMPDIR/before" "$(state_dir_of alpha)"
  assert_all_closed_and_verified
}

@test "case 6: status says a killed backup-all left a Stopped sandbox running, and names backup-all, which stops it" {
  sandbox_with_state beta Stopped
  cp -a "$(state_dir_of beta)" "$BATS_TEST_TMPDIR/original"
  simctl set transferDelayMs=5000 >/dev/null
  start_own_group backup-all
  for _ in $(seq 200); do [ -e "$JOURNALS/beta.started.json" ] && [ "$(phase_of beta)" = Ready ] && break; sleep 0.1; done
  wait_for_call '"download"'
  kill_group
  simctl set transferDelayMs=0 >/dev/null
  [ "$(phase_of beta)" = Ready ]
  grep -q '"startTick"' "$JOURNALS/beta.started.json"
  grep -q '"bootId"' "$JOURNALS/beta.started.json"
  run_split status --json
  [ "$status" -eq 1 ]
  assert_valid_json
  [ "$(json_get result.sandboxes.0.status)" = interrupted ]
  [ "$(json_get result.sandboxes.0.interrupted.operation)" = started-for-backup ]
  [ "$(json_get result.sandboxes.0.interrupted.command)" = "nemoclaw backup-all" ]
  [ "$(json_get result.counts.interrupted)" = 1 ]
  run_split upgrade-sandboxes --check --json
  [ "$status" -eq 1 ]
  assert_valid_json
  [ "$(json_get result.counts.interrupted)" = 1 ]
  run_split operations list --json
  [ "$status" -eq 1 ]
  [ "$(json_get result.operations.0.kind)" = started-for-backup ]
  run_split backup-all
  [ "$status" -eq 0 ]
  [[ "$err" == *"beta was started for a backup by a run that did not finish; it is stopped again"* ]]
  [ "$(phase_of beta)" = Stopped ]
  run_split status
  [ "$status" -eq 0 ]
  same_tree "$BATS_TEST_TMPDIR/original" "$(state_dir_of beta)"
  assert_all_closed_and_verified
}

@test "a history that cannot be appended is a warning: the restore finishes (exit 0) and its journal is removed" {
  sandbox_with_state alpha
  run_split backup-all
  TS="$(backups_of alpha)"
  mkdir -p "$JOURNALS/history.jsonl"
  run_split restore alpha --backup "$TS" --yes --json
  [ "$status" -eq 0 ]
  assert_valid_json
  [[ "$(json_get warnings)" == *"could not append to"*"history.jsonl"* ]]
  [ ! -e "$JOURNALS/alpha.json" ]
}
