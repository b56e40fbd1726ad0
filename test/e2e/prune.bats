#!/usr/bin/env bats
# backups prune: retention for cron, with the pins of the operations journal.

load helpers

setup() {
  new_host --cli-version 0.0.44 --gateway-version 0.0.44
  simctl start-gateway >/dev/null
  sandbox_with_state alpha
  for _ in 1 2 3; do run_split backup-all; [ "$status" -eq 0 ]; done
}

teardown() {
  # Undo what made removals fail, even when the test failed (else the temp host cannot be removed).
  for m in "${mounted[@]}"; do umount "$m" 2>/dev/null || true; done
  [ "${#immutable[@]}" -eq 0 ] || chattr -R -i "$HOST" 2>/dev/null || true
  teardown_host
}

mounted=()
immutable=()

# Makes the removal of a path fail: a bind mount on itself (EBUSY) or chattr +i (EPERM).
busy() {
  mount --bind "$1" "$1"
  mounted+=("$1")
}
frozen() {
  chattr +i "$1"
  immutable+=("$(dirname "$1")")
}

# Removal failures need root (mount, chattr) and a filesystem with the immutable flag.
require_root_fs() {
  [ "$(id -u)" = 0 ] || skip "needs root for mount --bind and chattr +i"
  local probe="$HOST/probe"
  mkdir "$probe"
  chattr +i "$probe" 2>/dev/null || skip "the filesystem has no immutable flag"
  chattr -i "$probe"
  rmdir "$probe"
}

@test "--dry-run removes nothing and takes no lock; the real run removes the oldest and reports bytes freed" {
  before="$(backups_of alpha)"
  run_split backups prune --keep 1 --dry-run --json
  [ "$status" -eq 0 ]
  assert_valid_json
  [ "$(json_get result.removed)" = 2 ]
  [ "$(json_get result.dryRun)" = true ]
  [ "$(backups_of alpha)" = "$before" ]
  [ ! -e "$HOME/.nemoclaw/locks/maintenance.lock" ]
  newest="$(backups_of alpha | tail -1)"
  run_split backups prune --keep 1
  [ "$status" -eq 0 ]
  [[ "$out" == *"removed"* ]]
  [[ "$out" == *"Prune summary (keep 1): 2 backup(s) removed"* ]]
  [ "$(backups_of alpha)" = "$newest" ]
  run_split backups verify alpha
  [ "$status" -eq 0 ]
}

@test "never removes a pinned backup nor a corrupt directory" {
  oldest="$(backups_of alpha | head -1)"
  mkdir -p "$HOME/.nemoclaw/operations"
  "$NODE" -e '
    const [file, ts] = process.argv.slice(1);
    require("fs").writeFileSync(file, JSON.stringify({ version: 1, operation: "restore", sandbox: "alpha",
      gateway: "nemoclaw", backup: ts, safetyBackup: null, image: null, finalPhase: "Ready", phase: "restoring",
      startedAt: "2026-11-29T10:00:00.000Z", updatedAt: "2026-11-29T10:00:01.000Z",
      writer: { pid: 4194000, bootId: null, startTick: 1, hostname: require("os").hostname() }, child: null,
      command: "nemoclaw restore alpha" }), { mode: 0o600 });' "$HOME/.nemoclaw/operations/alpha.json" "$oldest"
  mkdir "$HOME/.nemoclaw/rebuild-backups/alpha/2020-01-01T00-00-00-000Z"
  run_split backups prune --keep 1 --json
  [ "$status" -eq 0 ]
  assert_valid_json
  backups_of alpha | grep -qx "$oldest"
  [ -d "$HOME/.nemoclaw/rebuild-backups/alpha/2020-01-01T00-00-00-000Z" ]
  [[ "$(json_get result.sandboxes)" == *'"corrupt":["2020-01-01T00-00-00-000Z"]'* ]]
  [ "$(json_get result.removed)" = 1 ]
  run_split backups list
  [[ "$out" == *"$oldest"*"pinned"* ]]
  [[ "$out" == *"on disk"* ]]
}

@test "held maintenance lock: exit 4" {
  mkdir -p "$HOME/.nemoclaw/locks"
  printf '{"pid":%s,"command":"backup-all","hostname":"%s","startedAt":"2026-11-29T10:00:00.000Z"}\n' "$$" "$(hostname)" >"$HOME/.nemoclaw/locks/maintenance.lock"
  run_split backups prune --keep 1
  [ "$status" -eq 4 ]
  [ "$(backups_of alpha | wc -l)" -eq 3 ]
}

@test "a backup that cannot be removed (mount point, immutable): named, the others still pruned, exit 1 prune_incomplete" {
  require_root_fs
  run_split backup-all
  [ "$status" -eq 0 ]
  mapfile -t all < <(backups_of alpha)
  [ "${#all[@]}" -eq 4 ]
  dir="$HOME/.nemoclaw/rebuild-backups/alpha"
  frozen "$dir/${all[0]}"   # rename → EPERM
  busy "$dir/${all[1]}"     # rename → EBUSY
  run_split backups prune --keep 1 --json
  [ "$status" -eq 1 ]
  assert_valid_json
  [ "$(json_get error.code)" = prune_incomplete ]
  [[ "$(json_get error.message)" == "could not remove 2 backup(s): "*"$dir/${all[0]}"* ]]
  [[ "$(json_get error.message)" == *"$dir/${all[1]}"* ]]
  [ "$(json_get result.failed)" = 2 ]
  [ "$(json_get result.removed)" = 1 ]
  [[ "$(json_get result.sandboxes)" == *'{"timestamp":"'"${all[0]}"'","path":"'"$dir/${all[0]}"'","error":"cannot remove backup '"$dir/${all[0]}"': operation not permitted'* ]]
  [[ "$(json_get result.sandboxes)" == *"EBUSY"* ]]
  # The removable one went; the unremovable ones and the newest are still there, complete.
  [ "$(backups_of alpha)" = "$(printf '%s\n' "${all[0]}" "${all[1]}" "${all[3]}")" ]
  # Human form: one error line per backup on stderr naming its path, the summary on stdout.
  run_split backups prune --keep 1
  [ "$status" -eq 1 ]
  [[ "$err" == *"Error: cannot remove backup $dir/${all[0]}: operation not permitted"* ]]
  [[ "$err" == *"Error: cannot remove backup $dir/${all[1]}: busy (a mount point, or in use) (EBUSY)"* ]]
  [[ "$err" == *"2 backup(s) could not be removed; the others were pruned"* ]]
  [[ "$out" == *"${all[0]}: NOT removed"* ]]
  [[ "$out" != *"Error"* ]] || false
  # Once the cause is gone, the prune finishes.
  umount "$dir/${all[1]}"
  chattr -i "$dir/${all[0]}"
  run_split backups prune --keep 1
  [ "$status" -eq 0 ]
  [ "$(backups_of alpha)" = "${all[3]}" ]
}

@test "a backup whose contents cannot all be deleted: named where it is left, later commands still run" {
  require_root_fs
  oldest="$(backups_of alpha | head -1)"
  dir="$HOME/.nemoclaw/rebuild-backups/alpha"
  # Backed-up files are hard-linked between backups: freeze a file only this backup holds.
  echo stray >"$dir/$oldest/stray"
  frozen "$dir/$oldest/stray"   # the rename succeeds; deleting the file fails (EPERM)
  run_split backups prune --keep 1 --json
  [ "$status" -eq 1 ]
  assert_valid_json
  [ "$(json_get error.code)" = prune_incomplete ]
  [ "$(json_get result.removed)" = 1 ]
  [[ "$(json_get result.sandboxes)" == *"was moved aside but could not be fully removed"*"$dir/.$oldest.partial"* ]]
  # Its leftover is staging: no longer listed as a backup, and never fatal to a locked command.
  [ "$(backups_of alpha | wc -l)" -eq 1 ]
  run_split backup-all
  [ "$status" -eq 0 ]
  run_split backups prune --keep 1
  [ "$status" -eq 0 ]
  [ -d "$dir/.$oldest.partial" ]
}

@test "backup-all --keep: a backup that cannot be removed fails that sandbox (named), the rest is pruned, exit 1" {
  require_root_fs
  mapfile -t all < <(backups_of alpha)
  dir="$HOME/.nemoclaw/rebuild-backups/alpha"
  busy "$dir/${all[0]}"
  run_split backup-all --keep 1 --json
  [ "$status" -eq 1 ]
  assert_valid_json
  [[ "$(json_get result.sandboxes)" == *'"status":"failed"'*"backed up, but cannot remove backup $dir/${all[0]}: busy"* ]]
  [ "$(backups_of alpha | wc -l)" -eq 2 ]
  backups_of alpha | grep -qx "${all[0]}"
  ! backups_of alpha | grep -qx "${all[1]}" || false
}
