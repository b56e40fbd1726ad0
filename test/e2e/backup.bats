#!/usr/bin/env bats
# backup-all, backups list / verify: the built CLI against the simulator.

load helpers

setup() {
  new_host --cli-version 0.0.44 --gateway-version 0.0.44
  simctl start-gateway >/dev/null
}

teardown() {
  teardown_host
}

@test "success: every Ready sandbox is backed up byte-for-byte with a manifest" {
  sandbox_with_state alpha
  sandbox_with_state beta
  run_split backup-all
  [ "$status" -eq 0 ]
  [[ "$out" == *"Backup summary: 2 backed up, 0 failed, 0 skipped"* ]]
  [[ "$out" == *"Backups stored in: $HOME/.nemoclaw/rebuild-backups"* ]]
  for s in alpha beta; do
    ts="$(backups_of $s)"
    [ "$(echo "$ts" | wc -l)" -eq 1 ]
    dir="$HOME/.nemoclaw/rebuild-backups/$s/$ts"
    same_tree "$(state_dir_of $s)" "$dir/.openclaw"
    [ -f "$dir/rebuild-manifest.json" ]
    grep -q '"complete": true' "$dir/rebuild-manifest.json"
  done
  # names with spaces, binary and git-ignored files made it
  find "$HOME/.nemoclaw/rebuild-backups/alpha" -name '* *' | grep -q .
  run_split backups verify
  [ "$status" -eq 0 ]
}

@test "empty registry: nothing to back up, exit 0, no preflight" {
  : >"$HOST/state/calls.log"
  run_split backup-all
  [ "$status" -eq 0 ]
  [[ "$out" == *"No sandboxes registered. Nothing to back up."* ]]
  [ ! -s "$HOST/state/calls.log" ]
}

@test "a sandbox that is not Ready is skipped and reported; --require-all makes it a failure" {
  sandbox_with_state alpha
  sandbox_with_state beta Error
  run_split backup-all
  [ "$status" -eq 0 ]
  [[ "$out" == *"beta: skipped: phase Error, not Ready"* ]]
  [[ "$out" == *"1 backed up, 0 failed, 1 skipped"* ]]
  run_split backup-all --require-all --json
  [ "$status" -eq 1 ]
  assert_valid_json
  NEMOCLAW_REQUIRE_ALL_SANDBOX_BACKUPS=1 run_split backup-all
  [ "$status" -eq 1 ]
}

@test "a download failing midway leaves no complete-looking backup; the others succeed" {
  sandbox_with_state alpha
  sandbox_with_state beta
  simctl set downloadFailAfterBytes=2000 downloadFailSandbox=beta
  run_split backup-all
  [ "$status" -eq 1 ]
  [[ "$out" == *"Backup summary: 1 backed up, 1 failed, 0 skipped"* ]]
  [ -n "$(backups_of alpha)" ]
  [ -z "$(backups_of beta)" ]
  [ -z "$(ls -A "$HOME/.nemoclaw/rebuild-backups/beta" 2>/dev/null)" ]
}

@test "corrupt registry: exit 4, file untouched, nothing written" {
  mkdir -p "$HOME/.nemoclaw"
  printf '{"sandboxes": {"alpha": ' >"$HOME/.nemoclaw/sandboxes.json"
  before="$(sha256sum "$HOME/.nemoclaw/sandboxes.json")"
  run_split backup-all
  [ "$status" -eq 4 ]
  [[ "$err" == *"sandboxes.json"* ]]
  [ "$(printf '%s\n' "$err" | wc -l)" -eq 1 ]
  [ "$before" = "$(sha256sum "$HOME/.nemoclaw/sandboxes.json")" ]
  [ ! -e "$HOME/.nemoclaw/rebuild-backups" ]
}

@test "a registry entry named ../../x is reported failed and creates nothing outside the backup root" {
  sandbox_with_state alpha
  register "../../x"
  run_split backup-all --json
  [ "$status" -eq 1 ]
  assert_valid_json
  [[ "$out" == *"invalid sandbox name"* ]]
  [ ! -e "$HOME/.nemoclaw/x" ]
  [ ! -e "$HOME/x" ]
  [ "$(ls "$HOME/.nemoclaw/rebuild-backups")" = alpha ]
}

@test "two concurrent runs: the second exits 4 at once naming the holder" {
  sandbox_with_state alpha
  simctl set downloadBytesPerSec=1500
  "$NODE" "$REPO/bin/run.js" backup-all >/dev/null 2>&1 &
  first=$!
  for _ in $(seq 50); do [ -e "$HOME/.nemoclaw/locks/maintenance.lock" ] && break; sleep 0.1; done
  start=$(date +%s%N)
  run_split backup-all
  elapsed=$(( ($(date +%s%N) - start) / 1000000 ))
  kill -INT "$first" 2>/dev/null || true
  wait "$first" || true
  [ "$status" -eq 4 ]
  [[ "$err" == *"pid $first"* ]]
  [ "$elapsed" -lt 5000 ]
}

@test "SIGINT mid-backup: summary printed, exit 130, no partial backup, clean rerun" {
  sandbox_with_state alpha
  sandbox_with_state beta
  simctl set downloadBytesPerSec=1500
  backup_in_background
  wait_for_staging alpha
  signal_and_wait INT
  [ "$rc" -eq 130 ]
  grep -q "Backup summary:" "$BATS_TEST_TMPDIR/out"
  [ -z "$(ls -A "$HOME/.nemoclaw/rebuild-backups/alpha")" ]
  [ ! -e "$HOME/.nemoclaw/locks/maintenance.lock" ]
  simctl set downloadBytesPerSec=null
  run_split backup-all
  [ "$status" -eq 0 ]
  run_split backups list --json
  [ "$(json_get result.backups | grep -o '"complete":true' | wc -l)" -eq 2 ]
}

@test "kill -9 mid-backup: the next run reclaims the lock, cleans staging, and lists nothing partial" {
  sandbox_with_state alpha
  simctl set downloadBytesPerSec=1500
  backup_in_background
  wait_for_staging alpha
  signal_and_wait KILL
  # The killed run's transfer outlives it (its own process group): stop it by its pid, which
  # the simulator logged, as an operator would.
  for p in $(grep '"download"' "$HOST/state/calls.log" | grep -o '"pid":[0-9]*' | cut -d: -f2); do
    kill -KILL -- "-$p" 2>/dev/null || kill -KILL "$p" 2>/dev/null || true
  done
  [ -e "$HOME/.nemoclaw/locks/maintenance.lock" ]
  ls -A "$HOME/.nemoclaw/rebuild-backups/alpha" | grep -q partial
  run_split backups list
  [[ "$out" != *partial* ]]
  simctl set downloadBytesPerSec=null
  run_split backup-all --json
  [ "$status" -eq 0 ]
  [[ "$(json_get result.cleanedStaging)" == *partial* ]]
  [ -z "$(ls -A "$HOME/.nemoclaw/rebuild-backups/alpha" | grep partial)" ]
}

@test "a lock left by a dead pid is reclaimed" {
  sandbox_with_state alpha
  mkdir -p "$HOME/.nemoclaw/locks"
  printf '{"pid": 4000000, "command": "backup-all", "hostname": "%s", "startedAt": "2026-01-01T00:00:00Z"}' "$(hostname)" \
    >"$HOME/.nemoclaw/locks/maintenance.lock"
  run_split backup-all
  [ "$status" -eq 0 ]
}

@test "--keep 2 after four runs leaves the newest two" {
  sandbox_with_state alpha
  for _ in 1 2 3 4; do
    run_split backup-all --keep 2
    [ "$status" -eq 0 ]
  done
  [ "$(backups_of alpha | wc -l)" -eq 2 ]
}

@test "backups verify catches a flipped byte, a missing and an extra file; a broken manifest is corrupt" {
  sandbox_with_state alpha
  run_split backup-all
  [ "$status" -eq 0 ]
  dir="$HOME/.nemoclaw/rebuild-backups/alpha/$(backups_of alpha)"
  run_split backups verify alpha
  [ "$status" -eq 0 ]
  file="$(find "$dir/.openclaw" -type f -name '*.json' | head -1)"
  printf 'X' | dd of="$file" bs=1 seek=0 conv=notrunc 2>/dev/null
  victim="$(find "$dir/.openclaw" -type f ! -name '*.json' | head -1)"
  rm "$victim"
  echo extra >"$dir/.openclaw/extra.txt"
  run_split backups verify alpha --json
  [ "$status" -eq 1 ]
  assert_valid_json
  [[ "$(json_get result.backups)" == *"extra.txt"* ]]
  [[ "$(json_get result.backups)" == *"${file#"$dir/"}"* ]]
  [[ "$(json_get result.backups)" == *"${victim#"$dir/"}"* ]]
  mkdir -p "$HOME/.nemoclaw/rebuild-backups/alpha/2026-01-01T00-00-00-000Z"
  echo '{broken' >"$HOME/.nemoclaw/rebuild-backups/alpha/2026-01-01T00-00-00-000Z/rebuild-manifest.json"
  run_split backups list
  [[ "$out" == *"2026-01-01T00-00-00-000Z  CORRUPT"* ]]
  run_split backups verify alpha --backup 2026-01-01T00-00-00-000Z
  [ "$status" -eq 1 ]
  [[ "$out" == *CORRUPT* ]]
}

@test "drift: exit 3 before any write, sandbox list never called" {
  sandbox_with_state alpha
  simctl stop
  simctl set gatewayVersion=0.0.43
  simctl start-gateway >/dev/null
  : >"$HOST/state/calls.log"
  run_split backup-all
  [ "$status" -eq 3 ]
  [[ "$err" == *"OpenShell gateway schema preflight failed before backing up registered sandboxes."* ]]
  [[ "$err" == *"Rerun \`nemoclaw backup-all\`"* ]]
  ! grep -q '"list"' "$HOST/state/calls.log" || false
  [ ! -e "$HOME/.nemoclaw/rebuild-backups" ]
  [ ! -e "$HOME/.nemoclaw/locks/maintenance.lock" ]
}

@test "schema mismatch on sandbox list: exit 3, nothing classified as stopped, no backup written" {
  sandbox_with_state alpha
  simctl set schemaMismatch=tonic14
  run_split backup-all --json
  [ "$status" -eq 3 ]
  assert_valid_json
  [ "$(json_get preflight.verdict)" = schema_mismatch ]
  [[ "$(json_get error.diagnostic)" == *"OpenShell gateway/schema mismatch was detected while backing up registered sandboxes."* ]]
  [[ "$out" != *Stopped* ]]
  [ -z "$(backups_of alpha)" ]
}

@test "gateway unreachable on sandbox list: exit 4" {
  sandbox_with_state alpha
  simctl set unreachable=true
  run_split backup-all
  [ "$status" -eq 4 ]
  [[ "$err" == *"unreachable"* ]]
  [[ "$err" != *"destroy"* ]]
}

@test "--json of backup-all and backups list validates against the schema" {
  sandbox_with_state alpha
  run_split backup-all --json
  [ "$status" -eq 0 ]
  assert_valid_json
  [ "$(json_get result.summary.backedUp)" = 1 ]
  run_split backups list --json
  [ "$status" -eq 0 ]
  assert_valid_json
  run_split backups verify --json
  [ "$status" -eq 0 ]
  assert_valid_json
}

@test "SIGTERM mid-backup: summary printed, exit 143, nothing partial left" {
  sandbox_with_state alpha
  simctl set downloadBytesPerSec=1500
  backup_in_background --json
  wait_for_staging alpha
  signal_and_wait TERM
  [ "$rc" -eq 143 ]
  out="$(cat "$BATS_TEST_TMPDIR/out")"
  assert_valid_json
  [ "$(json_get result.interrupted)" = SIGTERM ]
  [ -z "$(ls -A "$HOME/.nemoclaw/rebuild-backups/alpha")" ]
  [ ! -e "$HOME/.nemoclaw/locks/maintenance.lock" ]
}

@test "the gateway going away mid-run fails the remaining sandboxes, prints the summary, keeps earlier backups" {
  sandbox_with_state alpha
  sandbox_with_state beta
  # sandbox list + alpha's download succeed; everything after finds the gateway gone
  simctl set gatewayGoneAfterCalls=2
  run_split backup-all --concurrency 1
  [ "$status" -eq 1 ]
  [[ "$out" == *"Backup summary: 1 backed up, 1 failed, 0 skipped"* ]]
  [[ "$out" == *"beta: failed: gateway unreachable"* ]]
  [ -n "$(backups_of alpha)" ]
  [ -z "$(ls -A "$HOME/.nemoclaw/rebuild-backups/beta" 2>/dev/null)" ]
}

@test "a state dir that does not exist in the sandbox is recorded as absent and the backup is complete" {
  simctl add-sandbox empty --phase Ready --agent openclaw --image ghcr.io/nvidia/nemoclaw/sandbox-openclaw:2026.7.1 >/dev/null
  register empty
  run_split backup-all --json
  [ "$status" -eq 0 ]
  assert_valid_json
  [[ "$(json_get result.sandboxes)" == *'"absentDirs":["/sandbox/.openclaw"]'* ]]
  manifest="$HOME/.nemoclaw/rebuild-backups/empty/$(backups_of empty)/rebuild-manifest.json"
  grep -q '"complete": true' "$manifest"
  run_split backups verify empty
  [ "$status" -eq 0 ]
}

@test "--concurrency bounds the transfers: one at a time takes at least the sum of their latencies" {
  sandbox_with_state alpha
  sandbox_with_state beta
  sandbox_with_state gamma
  simctl set transferDelayMs=700
  start=$(date +%s%N)
  run_split backup-all --concurrency 1
  elapsed=$(( ($(date +%s%N) - start) / 1000000 ))
  [ "$status" -eq 0 ]
  [[ "$out" == *"Backup summary: 3 backed up, 0 failed, 0 skipped"* ]]
  [ "$elapsed" -ge 2100 ]
}

@test "SIGINT while sandboxes wait for a transfer slot: they are reported not started, with no staging" {
  sandbox_with_state alpha
  sandbox_with_state beta
  sandbox_with_state gamma
  simctl set downloadBytesPerSec=1500
  backup_in_background --concurrency 1 --json
  wait_for_staging alpha
  signal_and_wait INT
  [ "$rc" -eq 130 ]
  out="$(cat "$BATS_TEST_TMPDIR/out")"
  assert_valid_json
  [ "$(json_get result.summary.skipped)" -eq 2 ]
  sandboxes="$(json_get result.sandboxes)"
  [[ "$sandboxes" == *'"name":"beta","status":"skipped","reason":"not started (run stopped)"'* ]]
  [[ "$sandboxes" == *'"name":"gamma","status":"skipped","reason":"not started (run stopped)"'* ]]
  [ -z "$(ls -A "$HOME/.nemoclaw/rebuild-backups/beta" 2>/dev/null)" ]
  [ -z "$(ls -A "$HOME/.nemoclaw/rebuild-backups/gamma" 2>/dev/null)" ]
}

@test "SIGINT while hashing stops the hashing at once: exit 130, interrupted, nothing partial" {
  simctl add-sandbox alpha --phase Ready --agent openclaw \
    --image ghcr.io/nvidia/nemoclaw/sandbox-openclaw:2026.7.1 --seed --big-mib 768 --small-files 10 >/dev/null
  register alpha
  simctl set fastTransfer=true
  backup_in_background --json
  # The download is a fast copy; the staging tree reaching its full size means hashing has begun.
  staged() { du -sm "$HOME/.nemoclaw/rebuild-backups/alpha" 2>/dev/null | cut -f1; }
  for _ in $(seq 400); do [ "$(staged || echo 0)" -ge 768 ] 2>/dev/null && break; sleep 0.02; done
  start=$(date +%s%N)
  signal_and_wait INT
  elapsed=$(( ($(date +%s%N) - start) / 1000000 ))
  [ "$rc" -eq 130 ]
  # Finishing the hash and fsync of 768 MiB instead would take well over a second here.
  [ "$elapsed" -lt 800 ]
  out="$(cat "$BATS_TEST_TMPDIR/out")"
  assert_valid_json
  [[ "$(json_get result.sandboxes)" == *'"reason":"interrupted by SIGINT"'* ]]
  [ -z "$(ls -A "$HOME/.nemoclaw/rebuild-backups/alpha")" ]
  [ ! -e "$HOME/.nemoclaw/locks/maintenance.lock" ]
}

@test "sync -f failing (a writeback error) fails the backup: nothing sealed, no staging left" {
  sandbox_with_state alpha
  # A fake coreutils `sync` first on PATH: `sync -f` reports a writeback error (SPEC §19).
  cat >"$HOST/bin/sync" <<'SH'
#!/bin/sh
echo "$*" >>"$HOST_SYNC_LOG"
echo "sync: error syncing '$2': Input/output error" >&2
exit 1
SH
  chmod +x "$HOST/bin/sync"
  export HOST_SYNC_LOG="$HOST/sync.log"
  run_split backup-all --json
  [ "$status" -eq 1 ]
  assert_valid_json
  [[ "$out" == *"sync -f"*"Input/output error"* ]]
  grep -q '^-f .*/alpha/\..*\.partial$' "$HOST/sync.log"
  # Nothing looks complete, and no staging is left behind.
  [ -z "$(ls -A "$HOME/.nemoclaw/rebuild-backups/alpha")" ]
  # With a working sync the same backup succeeds.
  rm "$HOST/bin/sync"
  run_split backup-all
  [ "$status" -eq 0 ]
  [ "$(backups_of alpha | wc -l)" -eq 1 ]
}
