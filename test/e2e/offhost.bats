#!/usr/bin/env bats
# Beyond one disk: off-host copies in a restic repository (real restic; a local repository and a
# REST one served by `rclone serve restic` on 127.0.0.1), metrics read back through the real
# prometheus-node-exporter. Everything started here is stopped by pid in teardown.

load helpers

setup() {
  for tool in restic rclone; do
    command -v "$tool" >/dev/null || skip "$tool missing (.ci/run installs it from Debian)"
  done
  new_host --cli-version 0.0.44 --gateway-version 0.0.44
  simctl start-gateway >/dev/null
  printf 'correct horse battery staple\n' >"$HOST/restic.pass"
  export RESTIC_PASSWORD_FILE="$HOST/restic.pass"
  unset RESTIC_REPOSITORY RESTIC_REPOSITORY_FILE RESTIC_PASSWORD RESTIC_PASSWORD_COMMAND NEMOCLAW_METRICS_FILE
  SERVER_PIDS=()
}

teardown() {
  for pid in "${SERVER_PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  teardown_host
}

# free_port: a free 127.0.0.1 port reserved for this host until teardown (safe under bats --jobs).
free_port() {
  simctl free-port
}

# wait_port PORT: up to 10 s for something to listen on 127.0.0.1:PORT.
wait_port() {
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

# A local repository at $HOST/repo, initialised; exported as RESTIC_REPOSITORY.
local_repo() {
  export RESTIC_REPOSITORY="$HOST/repo"
  restic init >/dev/null
}

# A REST repository: `rclone serve restic` on a free 127.0.0.1 port over $HOST/rest-data; sets
# REST_URL (not exported: tests pass it with --repo) and initialises it.
rest_repo() {
  mkdir -p "$HOST/rest-data"
  local port
  port="$(free_port)"
  RCLONE_CONFIG="$HOST/rclone.conf" rclone serve restic "$HOST/rest-data" --addr "127.0.0.1:$port" \
    >"$HOST/rclone.log" 2>&1 &
  SERVER_PIDS+=("$!")
  wait_port "$port"
  REST_URL="rest:http://127.0.0.1:$port/"
  restic -r "$REST_URL" init >/dev/null
}

snapshot_count() {
  restic "$@" snapshots --json --tag nemoclaw | "$NODE" -e 'console.log(JSON.parse(require("fs").readFileSync(0, "utf8")).length)'
}

@test "disaster recovery over REST: push, lose NEMOCLAW_HOME and the sandbox, restore --from-repo --create byte-identical" {
  command -v rclone >/dev/null
  rest_repo
  sandbox_with_state alpha
  sandbox_with_state beta
  run_split backup-all --push --repo "$REST_URL" --json
  [ "$status" -eq 0 ]
  assert_valid_json
  [ "$(json_get result.push.pushed)" = 2 ]
  ts="$(backups_of alpha)"
  [ "$(snapshot_count -r "$REST_URL")" -eq 2 ]
  # Pushing again stores nothing new: no new snapshot, every backup reported present.
  run_split backups push --repo "$REST_URL" --json
  [ "$status" -eq 0 ]
  assert_valid_json
  [ "$(json_get result.pushed)" = 0 ]
  [ "$(json_get result.present)" = 2 ]
  [ "$(snapshot_count -r "$REST_URL")" -eq 2 ]
  # The snapshot's tags name sandbox, backup and host.
  restic -r "$REST_URL" snapshots --json --tag "sandbox:alpha,backup:$ts" | grep -q "host:$(hostname)"

  snapshot="$BATS_TEST_TMPDIR/alpha-state"
  cp -a "$(state_dir_of alpha)" "$snapshot"
  rm -rf "$HOME/.nemoclaw"
  "$(dirname "$(command -v openshell)")/openshell" -g nemoclaw sandbox delete alpha >/dev/null

  run_split restore alpha --from-repo --repo "$REST_URL" --create --yes --json
  [ "$status" -eq 0 ]
  assert_valid_json
  [ "$(json_get result.created)" = true ]
  [ "$(json_get result.fromRepo.timestamp)" = "$ts" ]
  [ "$(json_get result.fromRepo.pulled)" = true ]
  same_tree "$snapshot" "$(state_dir_of alpha)"
  # Registered again on the new host, so the next backup-all covers it.
  run_split status --json
  [ "$(json_get result.sandboxes.0.name)" = alpha ]
  # The pulled backup is a complete local backup again, and verifies.
  [ "$(backups_of alpha)" = "$ts" ]
  run_split backups verify alpha
  [ "$status" -eq 0 ]
  # No staging left behind.
  [ -z "$(ls -A "$HOME/.nemoclaw/rebuild-backups/alpha" | grep partial || true)" ]
}

@test "restore --from-repo: does not depend on the absolute path the backup had on the other host" {
  local_repo
  sandbox_with_state alpha
  run_split backup-all --push
  [ "$status" -eq 0 ]
  ts="$(backups_of alpha)"
  snapshot="$BATS_TEST_TMPDIR/alpha-state"
  cp -a "$(state_dir_of alpha)" "$snapshot"
  # The snapshot's tree holds alpha/<ts>/…, not this host's path.
  restic ls --json latest | grep -q "\"path\":\"/alpha/$ts/rebuild-manifest.json\""
  # (only the snapshot's own metadata line records where it was taken; no tree node does)
  ! restic ls --json latest | grep '"struct_type":"node"' | grep -q "$HOME" || false
  # A new host: another state root, another home.
  export NEMOCLAW_HOME="$HOST/elsewhere/state"
  simctl write-file alpha /sandbox/.openclaw/workspace/notes.md "changed after the backup" >/dev/null
  run_split restore alpha --from-repo --yes
  [ "$status" -eq 0 ]
  [ -d "$NEMOCLAW_HOME/rebuild-backups/alpha/$ts" ]
  same_tree "$snapshot" "$(state_dir_of alpha)"
}

@test "restore --from-repo picks the newest backup of any host; --backup and --host choose; unknown names are exit 2" {
  local_repo
  sandbox_with_state alpha
  run_split backup-all --push
  first="$(backups_of alpha)"
  sleep 0.01
  run_split backup-all --push
  [ "$status" -eq 0 ]
  newest="$(backups_of alpha | sort | tail -1)"
  [ "$(backups_of alpha | wc -l)" -eq 2 ]
  [ "$first" != "$newest" ]
  [ "$(snapshot_count)" -eq 2 ]
  rm -rf "$HOME/.nemoclaw/rebuild-backups"
  run_split restore alpha --from-repo --yes --json
  [ "$status" -eq 0 ]
  [ "$(json_get result.fromRepo.timestamp)" = "$newest" ]
  run_split restore alpha --from-repo --backup "$(backups_of alpha | sort | head -1)" --yes --json
  [ "$status" -eq 0 ]
  run_split restore alpha --from-repo --host no-such-host --yes --json
  [ "$status" -eq 2 ]
  assert_valid_json
  [ "$(json_get error.code)" = no_such_backup ]
  run_split restore ghost --from-repo --yes --json
  [ "$status" -eq 2 ]
  assert_valid_json
  [ "$(json_get error.code)" = unknown_sandbox ]
}

@test "backups list --remote shows what the repository holds" {
  local_repo
  sandbox_with_state alpha
  run_split backups list --remote --json
  [ "$status" -eq 0 ]
  assert_valid_json
  [ "$(json_get result.snapshots)" = "[]" ]
  run_split backup-all --push
  ts="$(backups_of alpha)"
  run_split backups list --remote
  [ "$status" -eq 0 ]
  [[ "$out" == "alpha $ts host=$(hostname) snapshot="* ]]
  run_split backups list --remote --json
  assert_valid_json
  [ "$(json_get result.snapshots.0.backup)" = "$ts" ]
}

@test "a corrupted repository pack is found by backups verify --remote --read-data" {
  local_repo
  sandbox_with_state alpha
  run_split backup-all --push
  [ "$status" -eq 0 ]
  run_split backups verify --remote --json
  [ "$status" -eq 0 ]
  assert_valid_json
  [ "$(json_get result.check.readData)" = 1/10 ]
  [ "$(json_get result.snapshots.0.ok)" = true ]
  # Damage the biggest data pack in the middle.
  pack="$(find "$RESTIC_REPOSITORY/data" -type f -printf '%s %p\n' | sort -n | tail -1 | cut -d' ' -f2)"
  chmod u+w "$pack"
  size="$(stat -c %s "$pack")"
  printf 'CORRUPTED-BY-THE-TEST' | dd of="$pack" bs=1 seek=$((size / 2)) conv=notrunc status=none
  run_split backups verify --remote --read-data --json
  [ "$status" -eq 1 ]
  assert_valid_json
  [ "$(json_get result.check.ok)" = false ]
  [ "$(json_get result.check.readData)" = all ]
  [ "$(json_get error.code)" = remote_mismatch ]
}

@test "a local backup that no longer matches its manifest is not pushed (exit 1); the others are" {
  local_repo
  sandbox_with_state alpha
  sandbox_with_state beta
  run_split backup-all
  ts="$(backups_of alpha)"
  f="$(find "$HOME/.nemoclaw/rebuild-backups/alpha/$ts/.openclaw" -type f | head -1)"
  printf 'tampered' >>"$f"
  run_split backups push --json
  [ "$status" -eq 1 ]
  assert_valid_json
  [ "$(json_get result.pushed)" = 1 ]
  [ "$(json_get result.failed)" = 1 ]
  [ "$(json_get error.code)" = push_failed ]
  [ "$(snapshot_count)" -eq 1 ]
  restic snapshots --json --tag sandbox:beta | grep -q backup:
}

@test "not configured is exit 2; wrong password, unreachable or missing repository is exit 4 with restic's message" {
  sandbox_with_state alpha
  unset RESTIC_PASSWORD_FILE
  for args in "backups push" "backups list --remote" "backups verify --remote" "restore alpha --from-repo --yes" "status --remote" "backup-all --push"; do
    # shellcheck disable=SC2086
    run_split $args --json
    [ "$status" -eq 2 ]
    assert_valid_json
    [ "$(json_get error.code)" = repository_not_configured ]
  done
  # backup-all --push without a repository changes nothing: no backup was taken.
  [ -z "$(backups_of alpha)" ]
  export RESTIC_PASSWORD_FILE="$HOST/restic.pass"
  run_split backups push --repo "$HOST/none" --json
  [ "$status" -eq 4 ]
  assert_valid_json
  [[ "$(json_get error.message)" == *"Is there a repository at the following location?"* ]]
  local_repo
  printf 'wrong\n' >"$HOST/wrong.pass"
  RESTIC_PASSWORD_FILE="$HOST/wrong.pass" run_split backups list --remote
  [ "$status" -eq 4 ]
  [[ "$err" == *"wrong password"* ]]
  port="$(free_port)"
  run_split backups push --repo "rest:http://127.0.0.1:$port/" --json
  [ "$status" -eq 4 ]
  [[ "$(json_get error.message)" == *"connection refused"* ]]
  # backup-all --push: the backup succeeds, the push cannot: the worse code (4) wins.
  run_split backup-all --push --repo "rest:http://127.0.0.1:$port/" --json
  [ "$status" -eq 4 ]
  assert_valid_json
  [ "$(json_get result.summary.backedUp)" = 1 ]
}

@test "status --remote shows the newest off-host copy and flags a missing one; without --remote restic is never run" {
  local_repo
  sandbox_with_state alpha
  sandbox_with_state beta
  run_split backup-all
  run_split backups push alpha
  [ "$status" -eq 0 ]
  run_split status --remote --json
  [ "$status" -eq 1 ]
  assert_valid_json
  [ "$(json_get result.offhost.sandboxes.0.name)" = alpha ]
  [ "$(json_get result.offhost.sandboxes.0.stale)" = false ]
  [ "$(json_get result.offhost.sandboxes.1.lastCopy)" = null ]
  [ "$(json_get result.offhost.stale)" = 1 ]
  run_split backups push
  run_split status --remote
  [ "$status" -eq 0 ]
  [[ "$out" == *"Off-host copies"* ]]
  # A restic that records being run: status without --remote never calls it.
  mkdir -p "$HOST/fakebin"
  printf '#!/bin/sh\necho called >>"%s"\nexit 1\n' "$HOST/restic-called" >"$HOST/fakebin/restic"
  chmod +x "$HOST/fakebin/restic"
  PATH="$HOST/fakebin:$PATH" run_split status
  [ "$status" -eq 0 ]
  [ ! -e "$HOST/restic-called" ]
}

@test "metrics: backup-all --metrics-file is served by the real prometheus-node-exporter; other commands' series carry over" {
  command -v prometheus-node-exporter >/dev/null || skip "prometheus-node-exporter missing (.ci/run installs it)"
  local_repo
  sandbox_with_state alpha
  mkdir -p "$HOST/textfile"
  prom="$HOST/textfile/nemoclaw.prom"
  run_split status --metrics-file "$prom"
  [ "$status" -eq 1 ]
  grep -q 'nemoclaw_last_run_timestamp_seconds{command="status"}' "$prom"
  ! grep -q 'nemoclaw_last_success_timestamp_seconds{command="status"}' "$prom" || false
  NEMOCLAW_METRICS_FILE="$prom" run_split backup-all --push --keep 3
  [ "$status" -eq 0 ]
  [ "$(stat -c %a "$prom")" = 644 ]
  # No temp file left next to it.
  [ "$(ls -A "$HOST/textfile")" = nemoclaw.prom ]
  port="$(free_port)"
  prometheus-node-exporter --web.listen-address="127.0.0.1:$port" --collector.disable-defaults \
    --collector.textfile --collector.textfile.directory="$HOST/textfile" >"$HOST/node-exporter.log" 2>&1 &
  SERVER_PIDS+=("$!")
  wait_port "$port"
  metrics="$(curl -fsS "http://127.0.0.1:$port/metrics" 2>/dev/null ||
    "$NODE" -e 'fetch(process.argv[1]).then(r => r.text()).then(t => process.stdout.write(t))' "http://127.0.0.1:$port/metrics")"
  # The exporter parsed the file without error…
  echo "$metrics" | grep -q '^node_textfile_scrape_error 0'
  # …and serves every family with this run's values.
  ts="$(backups_of alpha)"
  served="$(echo "$metrics" | awk '$1 == "nemoclaw_backup_last_timestamp_seconds{sandbox=\"alpha\"}" { print $2 }')"
  # node_exporter prints floats its own way (1.79e+09): compare numbers, to the second.
  "$NODE" -e '
    const [ts, served] = process.argv.slice(1);
    const m = /^(\d{4}-\d{2}-\d{2})T(\d{2})-(\d{2})-(\d{2})-(\d{3})Z$/.exec(ts);
    const want = Date.parse(`${m[1]}T${m[2]}:${m[3]}:${m[4]}.${m[5]}Z`) / 1000;
    if (!(Math.abs(Number(served) - want) < 1)) { console.error(served, want); process.exit(1); }' "$ts" "$served"
  echo "$metrics" | grep -qE '^nemoclaw_backup_offhost_last_timestamp_seconds\{sandbox="alpha"\} [0-9.e+]+$'
  echo "$metrics" | grep -qE '^nemoclaw_last_success_timestamp_seconds\{command="backup-all"\} '
  echo "$metrics" | grep -qE '^nemoclaw_last_run_timestamp_seconds\{command="status"\} '
  echo "$metrics" | grep -qE '^nemoclaw_preflight_verdict\{verdict="compatible"\} 1$'
  echo "$metrics" | grep -qE '^nemoclaw_preflight_verdict\{verdict="drift"\} 0$'
  echo "$metrics" | grep -qE '^nemoclaw_sandboxes\{status="current"\} 1$'
  echo "$metrics" | grep -qE '^nemoclaw_unfinished_operations 0$'
  for family in last_run_timestamp_seconds last_success_timestamp_seconds backup_last_timestamp_seconds \
    backup_offhost_last_timestamp_seconds preflight_verdict sandboxes unfinished_operations; do
    echo "$metrics" | grep -q "^# TYPE nemoclaw_$family gauge"
  done
}

@test "--metrics-file: not a .prom file, a missing directory or inside the state root is exit 2 before any work" {
  sandbox_with_state alpha
  run_split backup-all --metrics-file "$HOST/metrics.txt" --json
  [ "$status" -eq 2 ]
  assert_valid_json
  [ "$(json_get error.code)" = invalid_metrics_file ]
  run_split backup-all --metrics-file "$HOST/nope/n.prom"
  [ "$status" -eq 2 ]
  mkdir -p "$HOME/.nemoclaw"
  run_split status --metrics-file "$HOME/.nemoclaw/n.prom"
  [ "$status" -eq 2 ]
  [ -z "$(backups_of alpha)" ]
}
