#!/usr/bin/env bats
# Incremental backups: unchanged files are stored as hard links to the previous backup's
# (docs/design.md, "backup-all"), and every backup stays self-contained.

load helpers

setup() {
  new_host --cli-version 0.0.44 --gateway-version 0.0.44
  simctl start-gateway >/dev/null
  sandbox_with_state alpha
}

teardown() {
  teardown_host
}

backup_dir() {
  echo "$HOME/.nemoclaw/rebuild-backups/alpha/$1"
}

# Relative paths of the non-empty regular files of a backup (the manifest left out).
stored_files() {
  (cd "$(backup_dir "$1")" && find . -type f -size +0 ! -name rebuild-manifest.json | sort)
}

@test "a second backup of unchanged state hard-links every non-empty regular file to the first" {
  run_split backup-all --json
  [ "$status" -eq 0 ]
  assert_valid_json
  [ "$(json_get result.sandboxes.0.linkedFiles)" = 0 ]
  run_split backup-all --json
  [ "$status" -eq 0 ]
  assert_valid_json
  first="$(backups_of alpha | head -1)"
  second="$(backups_of alpha | tail -1)"
  [ "$first" != "$second" ]
  count="$(stored_files "$first" | wc -l)"
  [ "$count" -gt 5 ]
  [ "$(json_get result.sandboxes.0.linkedFiles)" = "$count" ]
  [ "$(json_get result.sandboxes.0.bytesLinked)" -gt 0 ]
  while read -r rel; do
    [ "$(stat -c %i "$(backup_dir "$first")/$rel")" = "$(stat -c %i "$(backup_dir "$second")/$rel")" ]
    [ "$(stat -c %h "$(backup_dir "$second")/$rel")" = 2 ]
  done < <(stored_files "$first")
  # symlinks are stored as symlinks, never linked
  while read -r link; do
    [ "$(stat -c %h "$(backup_dir "$second")/$link")" = 1 ]
  done < <(cd "$(backup_dir "$second")" && find . -type l)
  # the human line says it too
  run_split backup-all
  [ "$status" -eq 0 ]
  [[ "$out" == *"$count unchanged, linked"* ]]
  run_split backups verify alpha
  [ "$status" -eq 0 ]
}

@test "a file whose content or mode changed is copied, the rest linked" {
  run_split backup-all
  [ "$status" -eq 0 ]
  live="$(state_dir_of alpha)"
  echo "one more line" >>"$live/openclaw.json"
  chmod 0600 "$live/workspace/run.sh"
  run_split backup-all --json
  [ "$status" -eq 0 ]
  first="$(backups_of alpha | head -1)"
  second="$(backups_of alpha | tail -1)"
  count="$(stored_files "$first" | wc -l)"
  [ "$(json_get result.sandboxes.0.linkedFiles)" = "$((count - 2))" ]
  [ "$(stat -c %h "$(backup_dir "$second")/.openclaw/openclaw.json")" = 1 ]
  [ "$(stat -c %h "$(backup_dir "$second")/.openclaw/workspace/run.sh")" = 1 ]
  [ "$(stat -c %a "$(backup_dir "$second")/.openclaw/workspace/run.sh")" = 600 ]
  [ "$(stat -c %a "$(backup_dir "$first")/.openclaw/workspace/run.sh")" != 600 ]
  [ "$(stat -c %h "$(backup_dir "$second")/.openclaw/cache/models.json")" = 2 ]
  run_split backups verify alpha
  [ "$status" -eq 0 ]
}

@test "tampering with a shared file is caught by verify of every backup that holds it" {
  for _ in 1 2; do run_split backup-all; [ "$status" -eq 0 ]; done
  first="$(backups_of alpha | head -1)"
  second="$(backups_of alpha | tail -1)"
  shared="$(backup_dir "$second")/.openclaw/cache/models.json"
  [ "$(stat -c %h "$shared")" = 2 ]
  # same size, different bytes
  printf 'X' | dd of="$shared" bs=1 seek=0 conv=notrunc status=none
  for ts in "$first" "$second"; do
    run_split backups verify alpha --backup "$ts" --json
    [ "$status" -ne 0 ]
    [[ "$out" == *"models.json"* ]]
  done
  # the next backup does not link to the tampered file (modified after its backup was sealed)
  run_split backup-all
  [ "$status" -eq 0 ]
  third="$(backups_of alpha | tail -1)"
  [ "$(stat -c %h "$shared")" = 2 ]
  [ "$(stat -c %h "$(backup_dir "$third")/.openclaw/cache/models.json")" = 1 ]
  [ "$(stat -c %h "$(backup_dir "$third")/.openclaw/openclaw.json")" = 3 ]
  run_split backups verify alpha --backup "$third"
  [ "$status" -eq 0 ]
}

@test "prune --keep 1 of the older backup leaves the newer verifying and restorable; --dry-run removes nothing" {
  for _ in 1 2; do run_split backup-all; [ "$status" -eq 0 ]; done
  first="$(backups_of alpha | head -1)"
  second="$(backups_of alpha | tail -1)"
  manifest_bytes="$(($(stat -c %b "$(backup_dir "$first")/rebuild-manifest.json") * $(stat -c %B "$(backup_dir "$first")/rebuild-manifest.json")))"
  run_split backups prune alpha --keep 1 --dry-run --json
  [ "$status" -eq 0 ]
  assert_valid_json
  [ "$(json_get result.removed)" = 1 ]
  [ "$(backups_of alpha | wc -l)" -eq 2 ]
  [ -d "$(backup_dir "$first")" ]
  # every state file of the older backup is still linked from the newer: only its manifest is freed
  [ "$(json_get result.bytesFreed)" = "$manifest_bytes" ]
  run_split backups prune alpha --keep 1 --json
  [ "$status" -eq 0 ]
  [ "$(json_get result.bytesFreed)" = "$manifest_bytes" ]
  [ "$(backups_of alpha)" = "$second" ]
  [ "$(stat -c %h "$(backup_dir "$second")/.openclaw/cache/models.json")" = 1 ]
  run_split backups verify alpha
  [ "$status" -eq 0 ]
  snapshot="$BATS_TEST_TMPDIR/snapshot"
  cp -a "$(state_dir_of alpha)" "$snapshot"
  live="$(state_dir_of alpha)"
  echo changed >"$live/openclaw.json"
  rm "$live/cache/models.json"
  run_split restore alpha --backup "$second" --yes
  [ "$status" -eq 0 ]
  same_tree "$snapshot" "$(state_dir_of alpha)"
}
