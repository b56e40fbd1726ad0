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
  teardown_host
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
