#!/usr/bin/env bats
# The crash matrix (test/crash/matrix.mjs, SPEC §18) inside `npm test`: a sample of one kill
# point per destructive workflow must hold the invariant, and the matrix must see a violation
# when there is one. The whole matrix is `npm run test:crash`, a CI step of its own.

load helpers

@test "crash matrix sample: one kill point per destructive workflow, every follow-up, 0 violations" {
  run "$NODE" "$REPO/test/crash/matrix.mjs" --sample --jobs 2
  echo "$output"
  [ "$status" -eq 0 ]
  [[ "$output" =~ crash\ matrix:\ 7\ kill\ points,\ [0-9]+\ follow-up\ runs,\ 0\ violations ]]
  [ "$(grep -c '^ok [0-9]* - ' <<<"$output")" -eq 7 ]
  # Each sample point was reached (the CLI was killed there) and its finishing commands exited 0.
  ! grep -q 'point not reached\|exit [1-9]' <<<"$output" || false
  for wf in rebuild-ready rebuild-stopped restore-ready restore-stopped restore-create backup-all-stopped prune; do
    grep -q "^ok [0-9]* - $wf " <<<"$output"
  done
}

@test "crash matrix detects a violation: a product that never kept its journal loses the restore" {
  # --inject drop-journal removes the journal right after the kill, as a restore that wrote none
  # would leave things: the state dir is gone, status finds nothing to finish.
  run "$NODE" "$REPO/test/crash/matrix.mjs" --sample --only restore-ready --inject drop-journal
  echo "$output"
  [ "$status" -eq 1 ]
  [[ "$output" == *"not ok 1 - restore-ready"*"rm -rf /sandbox/.openclaw#1"* ]]
  [[ "$output" == *"live state equals no intended state (S: absent; B: absent)"* ]]
  [[ "$output" =~ crash\ matrix:\ 1\ kill\ points,\ [0-9]+\ follow-up\ runs,\ [1-9][0-9]*\ violations ]]
}

@test "crash matrix detects lost bytes and broken pins: the backups a journal pins removed after the kill" {
  run "$NODE" "$REPO/test/crash/matrix.mjs" --sample --only restore-ready --inject drop-pinned
  echo "$output"
  [ "$status" -eq 1 ]
  [[ "$output" == *"not ok 1 - restore-ready"* ]]
  [[ "$output" == *"after the kill: backup "*" pinned by beta.json manifest unreadable (ENOENT)"* ]]
  [[ "$output" == *"is lost (not live with the same bytes, in no backup that verifies)"* ]]
  [[ "$output" == *"still open after nemoclaw restore beta --backup "*" --yes: beta.json (phase restoring)"* ]]
}

@test "crash matrix refuses bad arguments with exit 2" {
  run "$NODE" "$REPO/test/crash/matrix.mjs" --inject everything
  [ "$status" -eq 2 ]
  [[ "$output" == "matrix: --inject is drop-journal or drop-pinned" ]]
}
