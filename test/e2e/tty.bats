#!/usr/bin/env bats
# Progress and colour as a person sees them: the commands run in a real pseudo-terminal
# (util-linux `script`), and without one.

load helpers

setup() {
  new_host --cli-version 0.0.44 --gateway-version 0.0.44
  simctl start-gateway >/dev/null
  sandbox_with_state alpha
  sandbox_with_state beta
  unset NO_COLOR
  export TERM=xterm-256color
}

teardown() {
  teardown_host
}

# in_pty OUTFILE CMD…: runs CMD with stdin/stdout/stderr on a pseudo-terminal, transcript to OUTFILE.
in_pty() {
  local out="$1"
  shift
  local cmd
  printf -v cmd '%q ' "$@"
  script -qefc "$cmd" "$out" >/dev/null </dev/null
}

has_escape() {
  grep -q $'\x1b' "$1"
}

@test "backup-all on a terminal: a live per-sandbox view that ends in a clean summary" {
  simctl set downloadBytesPerSec=4000
  in_pty "$BATS_TEST_TMPDIR/pty" "$NODE" "$REPO/bin/run.js" backup-all
  t="$BATS_TEST_TMPDIR/pty"
  # redrawn in place (cursor up + clear line), with a spinner and elapsed seconds
  grep -q $'\x1b\\[2K' "$t"
  grep -qE $'\x1b\\[[0-9]+A' "$t"
  grep -qE '[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏]' "$t"
  grep -qE 'downloading|hashing' "$t"
  grep -qE '[0-9]+\.[0-9]s' "$t"
  # the final frame shows both sandboxes done, then the summary
  sed 's/\x1b\[[0-9;]*[A-Za-z]//g' "$t" | grep -q 'Backup summary: 2 backed up, 0 failed, 0 skipped'
  sed 's/\x1b\[[0-9;]*[A-Za-z]//g' "$t" | tail -3 | grep -q 'Backups stored in:'
}

@test "upgrade-sandboxes --yes on a terminal: live view and a clean summary" {
  simctl add-sandbox gamma --phase Ready --agent openclaw --image ghcr.io/nvidia/nemoclaw/sandbox-openclaw:2026.6.0 --seed >/dev/null
  register gamma openclaw 2026.6.0
  in_pty "$BATS_TEST_TMPDIR/pty" "$NODE" "$REPO/bin/run.js" upgrade-sandboxes --yes
  t="$BATS_TEST_TMPDIR/pty"
  grep -q $'\x1b\\[2K' "$t"
  sed 's/\x1b\[[0-9;]*[A-Za-z]//g' "$t" | grep -q 'gamma: rebuilt'
  sed 's/\x1b\[[0-9;]*[A-Za-z]//g' "$t" | grep -q 'Upgrade summary: 1 rebuilt, 0 failed, 0 skipped, 2 up to date'
}

@test "NO_COLOR=1 on a terminal: no escape codes at all, plain progress lines" {
  NO_COLOR=1 in_pty "$BATS_TEST_TMPDIR/pty" "$NODE" "$REPO/bin/run.js" backup-all
  ! has_escape "$BATS_TEST_TMPDIR/pty"
  grep -q 'Backup summary: 2 backed up' "$BATS_TEST_TMPDIR/pty"
  NO_COLOR=1 in_pty "$BATS_TEST_TMPDIR/pty2" "$NODE" "$REPO/bin/run.js" gateway preflight
  ! has_escape "$BATS_TEST_TMPDIR/pty2"
}

@test "without a terminal: one plain line per event, no escape codes" {
  "$NODE" "$REPO/bin/run.js" backup-all >"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/err"
  ! has_escape "$BATS_TEST_TMPDIR/out"
  ! has_escape "$BATS_TEST_TMPDIR/err"
  [ "$(grep -c 'alpha' "$BATS_TEST_TMPDIR/err")" -ge 2 ]
  grep -q '✓ alpha' "$BATS_TEST_TMPDIR/err"
  "$NODE" "$REPO/bin/run.js" gateway preflight >"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/err"
  ! has_escape "$BATS_TEST_TMPDIR/out"
}

@test "colour on a terminal for the preflight verdict" {
  in_pty "$BATS_TEST_TMPDIR/pty" "$NODE" "$REPO/bin/run.js" gateway preflight
  grep -q $'\x1b\\[32m✓' "$BATS_TEST_TMPDIR/pty"
}

@test "on a terminal without --yes, upgrade-sandboxes asks per sandbox: 'n' declines and changes nothing, 'y' rebuilds" {
  simctl add-sandbox gamma --phase Ready --agent openclaw --image ghcr.io/nvidia/nemoclaw/sandbox-openclaw:2026.6.0 --seed >/dev/null
  register gamma openclaw 2026.6.0
  cmd="$(printf '%q ' "$NODE" "$REPO/bin/run.js" upgrade-sandboxes)"
  (sleep 3; printf 'n\r') | script -qefc "$cmd" "$BATS_TEST_TMPDIR/no" >/dev/null
  grep -q 'Rebuild sandbox gamma (2026.6.0 → 2026.7.1' "$BATS_TEST_TMPDIR/no"
  sed 's/\x1b\[[0-9;]*[A-Za-z]//g' "$BATS_TEST_TMPDIR/no" | grep -q 'gamma: declined'
  ! grep -q '"delete"' "$HOST/state/calls.log"
  (sleep 3; printf 'y\r') | script -qefc "$cmd" "$BATS_TEST_TMPDIR/yes" >/dev/null
  sed 's/\x1b\[[0-9;]*[A-Za-z]//g' "$BATS_TEST_TMPDIR/yes" | grep -q 'gamma: rebuilt'
}
