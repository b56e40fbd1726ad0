#!/usr/bin/env bats
# Crash safety: a rebuild, a restore or a prune killed with SIGKILL (its whole process group, as
# the OOM killer, a reboot or a CI timeout would) at each step, then the next commands an
# operator or a cron job would run. Nothing may be lost, nothing may be reported as fine while
# it is not.

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
  ! grep -qE '"(delete|create|upload)"' "$HOST/state/calls.log" || false
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
  ! grep -qE '"(delete|create|upload)"' "$HOST/state/calls.log" || false
  [ "$(registry_version beta)" = "2026.7.1" ]
}

@test "a registry lock held when a rebuild would start: exit 4 before anything destructive" {
  stale_sandbox beta
  hold_registry_lock
  run_split upgrade-sandboxes --yes
  [ "$status" -eq 4 ]
  # A live owner without process-start cannot be judged: respected, with the exact rm -r to run.
  [[ "$err" == *"is held by pid $holder, which left no usable process-start"* ]]
  [[ "$err" == *"rm -r $HOME/.nemoclaw/sandboxes.json.lock"* ]]
  [ -d "$HOME/.nemoclaw/sandboxes.json.lock" ]
  ! grep -qE '"(delete|create|upload|download)"' "$HOST/state/calls.log" || false
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

# Retention killed mid-removal. A pruned backup is renamed to `.<timestamp>.partial`, fsynced,
# then deleted: a SIGKILL in the delete must leave staging that is never listed and that the
# next locked command removes, and nothing else touched.

# Files in the backup to be pruned: the size is what makes the kill window reliable. Measured on
# a loaded 2-core machine (ext4), deleting the synced copy of 5,000 files takes about 1 s after
# the staging name is first seen (70–100 polls of 10 ms); unsynced, 0.2–0.7 s. Building such a
# backup takes 10–15 s there, hence once per run of this file.
BIG_FILES=5000

# big_backup_template: a complete backup of a sandbox `alpha` whose state holds $BIG_FILES
# small files, written by a real backup-all on a host of its own, once per run of this file, to
# $BATS_FILE_TMPDIR/big-backup/<timestamp>/. A backup is self-contained (its manifest names
# sandbox paths only), so a copy is a valid backup of `alpha` on any host.
big_backup_template() {
  local template="$BATS_FILE_TMPDIR/big-backup"
  [ -d "$template" ] && return 0
  rm -rf "$template.tmp"
  (
    trap teardown_host EXIT
    new_host --cli-version 0.0.44 --gateway-version 0.0.44
    simctl start-gateway >/dev/null
    sandbox_with_state alpha
    "$NODE" -e '
      const fs = require("fs"), path = require("path");
      const [dir, count] = [process.argv[1], Number(process.argv[2])];
      for (let i = 0; i < count; i++) {
        const sub = path.join(dir, String(Math.floor(i / 200)).padStart(3, "0"));
        if (i % 200 === 0) fs.mkdirSync(sub, { recursive: true });
        fs.writeFileSync(path.join(sub, `note-${i}.txt`), `note ${i}\n`);
      }' "$(state_dir_of alpha)/bulk" "$BIG_FILES"
    # The download as a plain copy (the simulator's benchmark knob): the backup is the same.
    simctl set fastTransfer=true >/dev/null
    nemoclaw backup-all >/dev/null
    mv "$HOME/.nemoclaw/rebuild-backups/alpha" "$template.tmp"
  )
  mv "$template.tmp" "$template"
}

# with_big_old_backup: a seeded, registered sandbox alpha whose only backup is a copy of the
# big template. Sets $B (alpha's backups directory) and $OLD (that backup's timestamp).
with_big_old_backup() {
  big_backup_template
  sandbox_with_state alpha
  B="$HOME/.nemoclaw/rebuild-backups/alpha"
  (umask 077 && mkdir -p "$B")
  cp -a "$BATS_FILE_TMPDIR/big-backup/." "$B/"
  # A backup's files are durable (fsynced by backup-all); a fresh copy's are only in the page
  # cache, and deleting those is several times cheaper. Sync the copy to what a backup is.
  sync -f "$B"
  OLD="$(backups_of alpha)"
  [ -f "$B/$OLD/rebuild-manifest.json" ]
}

# kill_when_dir DIR: polls every 10 ms (for at most 120 s) until DIR exists, then SIGKILLs the
# process group of $pid. Fails if the process ended (or the time ran out) first.
kill_when_dir() {
  local deadline=$((SECONDS + 120))
  until [ -d "$1" ]; do
    if ! kill -0 "$pid" 2>/dev/null || [ "$SECONDS" -ge "$deadline" ]; then
      kill -KILL -- "-$pid" 2>/dev/null || true
      wait "$pid" || true
      echo "$1 was never seen while the command ran (missed: raise BIG_FILES)" >&2
      cat "$BATS_TEST_TMPDIR/out" "$BATS_TEST_TMPDIR/err" >&2
      return 1
    fi
    sleep 0.01
  done
  kill_group
}

# Timestamps of alpha's backups, sorted, one a line, from `backups list --json` ($1 = "list") or
# `backups verify --json` ($1 = "verify"), each followed by what the command says of it.
listed_as() {
  printf '%s' "$out" | "$NODE" -e '
    const doc = JSON.parse(require("fs").readFileSync(0, "utf8"));
    const say = process.argv[1] === "verify" ? (b) => (b.ok ? "ok" : "FAILED") : (b) => (b.complete ? "complete" : "CORRUPT");
    console.log(doc.result.backups.filter((b) => b.sandbox === "alpha").map((b) => `${b.timestamp} ${say(b)}`).sort().join("\n"));' "$1"
}

# What a killed prune may leave: every timestamp directory of alpha on disk is listed, complete,
# and verifies; the doomed backup $OLD is not among them; no staging is ever listed.
assert_only_complete_backups_listed() {
  local dirs
  dirs="$(backups_of alpha)"
  [ -n "$dirs" ]
  [[ "$dirs" != *"$OLD"* ]]
  run_split backups list
  [ "$status" -eq 0 ]
  [[ "$out" != *"$OLD"* ]]
  [[ "$out" != *"partial"* ]]
  [[ "$out" != *"CORRUPT"* ]]
  run_split backups list --json
  [ "$status" -eq 0 ]
  assert_valid_json
  [ "$(listed_as list)" = "$(sed 's/$/ complete/' <<<"$dirs")" ]
  run_split backups verify alpha --json
  [ "$status" -eq 0 ]
  [ "$(listed_as verify)" = "$(sed 's/$/ ok/' <<<"$dirs")" ]
}

@test "backups prune SIGKILLed while deleting a backup: never listed, the kept one byte-identical, the next prune cleans up" {
  with_big_old_backup
  run_split backup-all --json
  [ "$status" -eq 0 ]
  KEPT="$(backups_of alpha | tail -1)"
  [ "$KEPT" != "$OLD" ]
  # The kept backup shares files with the doomed one (hard links to its unchanged files).
  [ "$(json_get result.sandboxes.0.linkedFiles)" -gt 0 ]
  cp -a "$B/$KEPT" "$BATS_TEST_TMPDIR/kept"
  start_own_group backups prune alpha --keep 1
  kill_when_dir "$B/.$OLD.partial"
  # Killed inside the removal: the backup is staging now, and the dead run's lock is left.
  [ -d "$B/.$OLD.partial" ]
  [ ! -e "$B/$OLD" ]
  [ -e "$HOME/.nemoclaw/locks/maintenance.lock" ]
  assert_only_complete_backups_listed
  [ "$(backups_of alpha)" = "$KEPT" ]
  diff -r --no-dereference "$BATS_TEST_TMPDIR/kept" "$B/$KEPT"
  # The next locked command reclaims the dead run's lock and removes the leftover.
  run_split backups prune alpha --keep 1 --json
  [ "$status" -eq 0 ]
  assert_valid_json
  [ "$(json_get result.removed)" = 0 ]
  [ "$(ls -A "$B")" = "$KEPT" ]
  [ ! -e "$HOME/.nemoclaw/locks/maintenance.lock" ]
  assert_only_complete_backups_listed
  diff -r --no-dereference "$BATS_TEST_TMPDIR/kept" "$B/$KEPT"
}

@test "backup-all --keep 1 SIGKILLed while pruning: its new backup complete, the old one never listed, the next run cleans up" {
  with_big_old_backup
  run_split backup-all
  [ "$status" -eq 0 ]
  MID="$(backups_of alpha | tail -1)"
  cp -a "$(state_dir_of alpha)" "$BATS_TEST_TMPDIR/original"
  start_own_group backup-all --keep 1
  kill_when_dir "$B/.$OLD.partial"
  [ -d "$B/.$OLD.partial" ]
  [ ! -e "$B/$OLD" ]
  assert_only_complete_backups_listed
  # The killed run's own backup was sealed before its retention began: it is the newest, whole.
  NEW="$(backups_of alpha | tail -1)"
  [ "$NEW" != "$MID" ]
  same_tree "$BATS_TEST_TMPDIR/original" "$B/$NEW/.openclaw"
  same_tree "$BATS_TEST_TMPDIR/original" "$(state_dir_of alpha)"
  # MID, also given up, is either gone entirely or still a complete backup, never staging.
  [ ! -e "$B/.$MID.partial" ]
  run_split backup-all --keep 1 --json
  [ "$status" -eq 0 ]
  assert_valid_json
  [[ "$(json_get result.cleanedStaging)" == *"$B/.$OLD.partial"* ]]
  LAST="$(backups_of alpha)"
  [ "$LAST" != "$NEW" ]
  [ "$(ls -A "$B")" = "$LAST" ]
  assert_only_complete_backups_listed
  same_tree "$BATS_TEST_TMPDIR/original" "$B/$LAST/.openclaw"
}
