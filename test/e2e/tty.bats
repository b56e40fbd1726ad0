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

# answer_when FILE TEXT KEY: once TEXT shows in the typescript FILE (a prompt; at most 60 s),
# types KEY and Enter. Waiting for the prompt instead of a fixed time: never early, never idle.
answer_when() {
  for _ in $(seq 600); do
    grep -qF "$2" "$1" 2>/dev/null && break
    sleep 0.1
  done
  printf '%s\r' "$3"
}

has_escape() {
  grep -q $'\x1b' "$1"
}

# screen TRANSCRIPT: the final screen, as a terminal shows it once every redraw and clear is applied.
screen() {
  "$NODE" "$REPO/test/e2e/screen.mjs" "$1"
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

@test "backup-all on a terminal: the live view gives way to the result, each sandbox shown once" {
  simctl set downloadBytesPerSec=4000
  in_pty "$BATS_TEST_TMPDIR/pty" "$NODE" "$REPO/bin/run.js" backup-all
  screen "$BATS_TEST_TMPDIR/pty" >"$BATS_TEST_TMPDIR/screen"
  cat "$BATS_TEST_TMPDIR/screen"
  [ "$(grep -c 'alpha' "$BATS_TEST_TMPDIR/screen")" -eq 1 ]
  [ "$(grep -c 'beta' "$BATS_TEST_TMPDIR/screen")" -eq 1 ]
  # an aligned table: header, one row per sandbox with its timestamp, no per-row path
  grep -qE '^ +NAME +STATUS +BACKUP +SIZE +FILES +TIME' "$BATS_TEST_TMPDIR/screen"
  grep -qE '^✓ +alpha +backed-up +[0-9T-]+Z +[0-9.]+ [KMG]?i?B +[0-9]+ +[0-9.]+s' "$BATS_TEST_TMPDIR/screen"
  ! grep -qE '(alpha|beta).*rebuild-backups/' "$BATS_TEST_TMPDIR/screen" || false
  # the root once, the summary lines verbatim
  [ "$(grep -c 'Backups stored in: ' "$BATS_TEST_TMPDIR/screen")" -eq 1 ]
  grep -q '^Backup summary: 2 backed up, 0 failed, 0 skipped$' "$BATS_TEST_TMPDIR/screen"
}

@test "backup-all on a terminal with stdout redirected: the final frame stays on stderr" {
  simctl set downloadBytesPerSec=4000
  cmd="$(printf '%q ' "$NODE" "$REPO/bin/run.js" backup-all) >$(printf '%q' "$BATS_TEST_TMPDIR/stdout")"
  script -qefc "$cmd" "$BATS_TEST_TMPDIR/pty" >/dev/null </dev/null
  screen "$BATS_TEST_TMPDIR/pty" >"$BATS_TEST_TMPDIR/screen"
  grep -qE '✓ alpha +backed up' "$BATS_TEST_TMPDIR/screen"
  grep -qE '✓ beta +backed up' "$BATS_TEST_TMPDIR/screen"
  # stdout is not a terminal: the plain result lines of old
  grep -q '^✓ alpha: backed up .* → .*rebuild-backups/alpha/' "$BATS_TEST_TMPDIR/stdout"
  ! has_escape "$BATS_TEST_TMPDIR/stdout" || false
}

@test "upgrade-sandboxes --yes on a terminal: live view and a clean summary" {
  simctl add-sandbox gamma --phase Ready --agent openclaw --image ghcr.io/nvidia/nemoclaw/sandbox-openclaw:2026.6.0 --seed >/dev/null
  register gamma openclaw 2026.6.0
  in_pty "$BATS_TEST_TMPDIR/pty" "$NODE" "$REPO/bin/run.js" upgrade-sandboxes --yes
  t="$BATS_TEST_TMPDIR/pty"
  grep -q $'\x1b\\[2K' "$t"
  sed 's/\x1b\[[0-9;]*[A-Za-z]//g' "$t" | grep -qE '✓ +gamma +2026\.6\.0 → 2026\.7\.1 +rebuilt'
  sed 's/\x1b\[[0-9;]*[A-Za-z]//g' "$t" | grep -q 'Upgrade summary: 1 rebuilt, 0 failed, 0 skipped, 2 up to date'
  # the final screen: the live view gave way to the table, each sandbox once
  screen "$t" >"$BATS_TEST_TMPDIR/screen"
  cat "$BATS_TEST_TMPDIR/screen"
  for s in alpha beta gamma; do
    [ "$(grep -c "$s" "$BATS_TEST_TMPDIR/screen")" -eq 1 ]
  done
  grep -qE '^ +NAME +VERSION +STATUS +BACKUP +TIME +DETAIL' "$BATS_TEST_TMPDIR/screen"
  grep -qE '^✓ +gamma +2026\.6\.0 → 2026\.7\.1 +rebuilt +[0-9T-]+Z' "$BATS_TEST_TMPDIR/screen"
}

@test "NO_COLOR=1 on a terminal: no escape codes at all, plain progress lines" {
  NO_COLOR=1 in_pty "$BATS_TEST_TMPDIR/pty" "$NODE" "$REPO/bin/run.js" backup-all
  ! has_escape "$BATS_TEST_TMPDIR/pty" || false
  grep -q 'Backup summary: 2 backed up' "$BATS_TEST_TMPDIR/pty"
  NO_COLOR=1 in_pty "$BATS_TEST_TMPDIR/pty2" "$NODE" "$REPO/bin/run.js" gateway preflight
  ! has_escape "$BATS_TEST_TMPDIR/pty2" || false
}

@test "without a terminal: one plain line per event, no escape codes" {
  "$NODE" "$REPO/bin/run.js" backup-all >"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/err"
  ! has_escape "$BATS_TEST_TMPDIR/out" || false
  ! has_escape "$BATS_TEST_TMPDIR/err" || false
  [ "$(grep -c 'alpha' "$BATS_TEST_TMPDIR/err")" -ge 2 ]
  grep -q '✓ alpha' "$BATS_TEST_TMPDIR/err"
  "$NODE" "$REPO/bin/run.js" gateway preflight >"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/err"
  ! has_escape "$BATS_TEST_TMPDIR/out" || false
}

@test "colour on a terminal for the preflight verdict" {
  in_pty "$BATS_TEST_TMPDIR/pty" "$NODE" "$REPO/bin/run.js" gateway preflight
  grep -q $'\x1b\\[32m✓' "$BATS_TEST_TMPDIR/pty"
}

@test "on a terminal without --yes, upgrade-sandboxes asks per sandbox: 'n' declines and changes nothing, 'y' rebuilds" {
  simctl add-sandbox gamma --phase Ready --agent openclaw --image ghcr.io/nvidia/nemoclaw/sandbox-openclaw:2026.6.0 --seed >/dev/null
  register gamma openclaw 2026.6.0
  cmd="$(printf '%q ' "$NODE" "$REPO/bin/run.js" upgrade-sandboxes)"
  (answer_when "$BATS_TEST_TMPDIR/no" 'Rebuild sandbox gamma' n) | script -qefc "$cmd" "$BATS_TEST_TMPDIR/no" >/dev/null
  grep -q 'Rebuild sandbox gamma (2026.6.0 → 2026.7.1' "$BATS_TEST_TMPDIR/no"
  sed 's/\x1b\[[0-9;]*[A-Za-z]//g' "$BATS_TEST_TMPDIR/no" | grep -qE 'gamma +2026\.6\.0 → 2026\.7\.1 +declined'
  ! grep -q '"delete"' "$HOST/state/calls.log" || false
  (answer_when "$BATS_TEST_TMPDIR/yes" 'Rebuild sandbox gamma' y) | script -qefc "$cmd" "$BATS_TEST_TMPDIR/yes" >/dev/null
  sed 's/\x1b\[[0-9;]*[A-Za-z]//g' "$BATS_TEST_TMPDIR/yes" | grep -qE 'gamma +2026\.6\.0 → 2026\.7\.1 +rebuilt'
}

@test "backups list on a terminal: the root once, aligned rows with timestamps" {
  nemoclaw backup-all >/dev/null 2>&1
  in_pty "$BATS_TEST_TMPDIR/pty" "$NODE" "$REPO/bin/run.js" backups list
  screen "$BATS_TEST_TMPDIR/pty" >"$BATS_TEST_TMPDIR/screen"
  [ "$(grep -c 'rebuild-backups' "$BATS_TEST_TMPDIR/screen")" -eq 1 ]
  grep -qE '^SANDBOX +BACKUP +SIZE +FILES +AGENT' "$BATS_TEST_TMPDIR/screen"
  grep -qE '^alpha +[0-9T-]+Z +[0-9.]+ [KMG]?i?B +[0-9]+ +[0-9.]+' "$BATS_TEST_TMPDIR/screen"
}

# bar_frames TRANSCRIPT: the upload frames of the live view, escape codes removed.
bar_frames() {
  sed 's/\x1b\[[0-9;]*[A-Za-z]//g' "$1" | tr '\r' '\n' | grep -E 'restoring state \[[#-]{20}\]' || true
}

@test "restore on a terminal: the upload shows a bar with a percentage and an ETA, then one completed line" {
  # 3 MiB of state, uploaded at 1 MiB/s: about three seconds of frames.
  head -c 3145728 /dev/urandom >"$(state_dir_of alpha)/model.bin"
  nemoclaw backup-all >/dev/null 2>&1
  simctl set uploadBytesPerSec=1048576
  in_pty "$BATS_TEST_TMPDIR/pty" "$NODE" "$REPO/bin/run.js" restore alpha --yes
  t="$BATS_TEST_TMPDIR/pty"
  bar_frames "$t" >"$BATS_TEST_TMPDIR/frames"
  cat "$BATS_TEST_TMPDIR/frames"
  # a total from the manifest, and progress part-way with a rate and an ETA
  grep -qE '\] [0-9]+% [0-9.]+ [KM]iB / 3\.[0-9] MiB at [0-9.]+ [KM]iB/s, ETA [0-9.]+s' "$BATS_TEST_TMPDIR/frames"
  grep -qE '\] ([1-9]|[1-9][0-9])% ' "$BATS_TEST_TMPDIR/frames"
  # the final screen: no bar left, one completed upload line, then the next steps and the result
  screen "$t" >"$BATS_TEST_TMPDIR/screen"
  cat "$BATS_TEST_TMPDIR/screen"
  ! grep -q 'restoring state \[' "$BATS_TEST_TMPDIR/screen" || false
  [ "$(grep -cE '^✓ alpha +state uploaded: 3\.[0-9] MiB in [0-9.]+s$' "$BATS_TEST_TMPDIR/screen")" -eq 1 ]
  grep -q 'verifying the restored state' "$BATS_TEST_TMPDIR/screen"
}

@test "restore without a terminal: no bar, no escape codes, the plain step lines of old" {
  nemoclaw backup-all >/dev/null 2>&1
  simctl set uploadBytesPerSec=1048576
  run_split restore alpha --yes
  [ "$status" -eq 0 ]
  [[ "$err" != *$'\x1b'* ]]
  [[ "$err" != *ETA* ]]
  grep -q '^… restoring state$' <<<"$err"
}

@test "upgrade-sandboxes on a terminal: the rebuild's upload shows a bar in its row" {
  simctl add-sandbox gamma --phase Ready --agent openclaw --image ghcr.io/nvidia/nemoclaw/sandbox-openclaw:2026.6.0 --seed >/dev/null
  register gamma openclaw 2026.6.0
  head -c 2097152 /dev/urandom >"$(state_dir_of gamma)/model.bin"
  simctl set uploadBytesPerSec=1048576
  in_pty "$BATS_TEST_TMPDIR/pty" "$NODE" "$REPO/bin/run.js" upgrade-sandboxes --yes gamma
  bar_frames "$BATS_TEST_TMPDIR/pty" >"$BATS_TEST_TMPDIR/frames"
  grep -qE 'gamma +restoring state \[[#-]+\] [0-9]+% .* / 2\.[0-9] MiB' "$BATS_TEST_TMPDIR/frames"
  screen "$BATS_TEST_TMPDIR/pty" >"$BATS_TEST_TMPDIR/screen"
  ! grep -q 'restoring state \[' "$BATS_TEST_TMPDIR/screen" || false
  # each sandbox once (the transcript's own "Script started … gamma" line aside)
  [ "$(grep -v '^Script ' "$BATS_TEST_TMPDIR/screen" | grep -c 'gamma')" -eq 1 ]
}

# in_pty_cols COLS OUTFILE CMD…: like in_pty, on a terminal COLS columns wide.
in_pty_cols() {
  local cols="$1" out="$2"
  shift 2
  local cmd
  printf -v cmd '%q ' "$@"
  script -qefc "stty cols $cols rows 50; $cmd" "$out" >/dev/null </dev/null
}

# fits SCREEN COLS: no line of the screen is wider than COLS characters (the transcript's own
# "Script started/done" lines aside).
fits() {
  "$NODE" -e '
    const [file, cols] = process.argv.slice(1);
    const lines = require("fs").readFileSync(file, "utf8").split("\n").filter((l) => !/^Script (started|done)/.test(l));
    const wide = lines.filter((l) => Array.from(l).length > Number(cols));
    if (wide.length) { console.error(wide.join("\n")); process.exit(1); }' "$1" "$2"
}

@test "80 columns: status, --check, backups list and backup-all fit without a wrapped line" {
  simctl add-sandbox long-sandbox-name-20 --phase Ready --agent openclaw --image ghcr.io/nvidia/nemoclaw/sandbox-openclaw:2026.6.0 --seed >/dev/null
  register long-sandbox-name-20 openclaw 2026.6.0
  in_pty_cols 80 "$BATS_TEST_TMPDIR/backup" "$NODE" "$REPO/bin/run.js" backup-all
  screen "$BATS_TEST_TMPDIR/backup" >"$BATS_TEST_TMPDIR/backup.screen"
  cat "$BATS_TEST_TMPDIR/backup.screen"
  fits "$BATS_TEST_TMPDIR/backup.screen" 80
  # the name in full; the just-taken backup shown by its age
  grep -qE '^✓ +long-sandbox-name-20 +backed-up +[0-9]+s ago' "$BATS_TEST_TMPDIR/backup.screen"
  for c in status "upgrade-sandboxes --check" "backups list"; do
    # shellcheck disable=SC2086
    in_pty_cols 80 "$BATS_TEST_TMPDIR/pty" "$NODE" "$REPO/bin/run.js" $c || true  # exit 1: gamma is stale
    screen "$BATS_TEST_TMPDIR/pty" >"$BATS_TEST_TMPDIR/screen"
    cat "$BATS_TEST_TMPDIR/screen"
    fits "$BATS_TEST_TMPDIR/screen" 80
    grep -q 'long-sandbox-name-20 ' "$BATS_TEST_TMPDIR/screen"
  done
  # status: LAST BACKUP is the age only; the note is cut with an ellipsis, the name never
  in_pty_cols 80 "$BATS_TEST_TMPDIR/pty" "$NODE" "$REPO/bin/run.js" status || true
  screen "$BATS_TEST_TMPDIR/pty" >"$BATS_TEST_TMPDIR/screen"
  grep -qE '^NAME +PHASE +VERSION +STATUS +LAST BACKUP +NOTE$' "$BATS_TEST_TMPDIR/screen"
  grep -qE '^alpha +Ready +2026\.7\.1 → 2026\.7\.1 +current +[0-9]+s ago$' "$BATS_TEST_TMPDIR/screen"
  grep -qE '^long-sandbox-name-20 +Ready +2026\.6\.0 → 2026\.7\.1 +stale +[0-9]+s ago +.*…$' "$BATS_TEST_TMPDIR/screen"
  # --check: the same columns in the same order
  in_pty_cols 80 "$BATS_TEST_TMPDIR/pty" "$NODE" "$REPO/bin/run.js" upgrade-sandboxes --check || true
  screen "$BATS_TEST_TMPDIR/pty" | grep -qE '^NAME +PHASE +VERSION +STATUS +NOTE$'
  # a wide terminal keeps the timestamps; a pipe is unchanged (full timestamps, nothing cut)
  in_pty_cols 200 "$BATS_TEST_TMPDIR/pty" "$NODE" "$REPO/bin/run.js" status || true
  screen "$BATS_TEST_TMPDIR/pty" | grep -qE '^alpha +.* [0-9T-]+Z \([0-9]+s ago\)$'
  run_split status
  grep -qE '^alpha +.* [0-9T-]+Z \([0-9]+s ago\)$' <<<"$out"
  [[ "$out" != *"…"* ]]
}

@test "interactive upgrade-sandboxes: the plan before the first question, the rebuild live after the answer" {
  simctl add-sandbox gamma --phase Ready --agent openclaw --image ghcr.io/nvidia/nemoclaw/sandbox-openclaw:2026.6.0 --seed >/dev/null
  register gamma openclaw 2026.6.0
  cmd="stty cols 100; $(printf '%q ' "$NODE" "$REPO/bin/run.js" upgrade-sandboxes)"
  (sleep 3; printf 'y\r') | script -qefc "$cmd" "$BATS_TEST_TMPDIR/pty" >/dev/null
  plain="$(sed 's/\x1b\[[0-9;]*[A-Za-z]//g' "$BATS_TEST_TMPDIR/pty" | tr '\r' '\n')"
  # the plan comes first, with what is left alone
  plan_line="$(grep -n '^Plan: rebuild 1 stale sandbox' <<<"$plain" | head -1 | cut -d: -f1)"
  ask_line="$(grep -n 'Rebuild sandbox gamma' <<<"$plain" | head -1 | cut -d: -f1)"
  [ -n "$plan_line" ] && [ -n "$ask_line" ] && [ "$plan_line" -lt "$ask_line" ]
  grep -qE '^ +gamma +Ready +2026\.6\.0 → 2026\.7\.1 +stale' <<<"$plain"
  grep -q 'Left as they are: alpha, beta (up to date)' <<<"$plain"
  # after the answer: live frames of each step (spinner and elapsed time), then one final line
  grep -qE '[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] gamma +backing up' <<<"$plain"
  grep -qE '[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] gamma +restoring state' <<<"$plain"
  screen "$BATS_TEST_TMPDIR/pty" >"$BATS_TEST_TMPDIR/screen"
  cat "$BATS_TEST_TMPDIR/screen"
  grep -qE '^✓ gamma +rebuilt: ' "$BATS_TEST_TMPDIR/screen"
  grep -q 'Upgrade summary: 1 rebuilt, 0 failed, 0 skipped, 2 up to date' "$BATS_TEST_TMPDIR/screen"
}

@test "restore on a terminal: each step once, marked done" {
  nemoclaw backup-all >/dev/null 2>&1
  in_pty "$BATS_TEST_TMPDIR/pty" "$NODE" "$REPO/bin/run.js" restore alpha --yes
  screen "$BATS_TEST_TMPDIR/pty" >"$BATS_TEST_TMPDIR/screen"
  cat "$BATS_TEST_TMPDIR/screen"
  [ "$(grep -c 'verifying backup' "$BATS_TEST_TMPDIR/screen")" -eq 1 ]
  grep -qE '^✓ verifying backup [0-9T-]+Z$' "$BATS_TEST_TMPDIR/screen"
  grep -q '^✓ taking a safety backup of the current state$' "$BATS_TEST_TMPDIR/screen"
  grep -q '^✓ verifying the restored state$' "$BATS_TEST_TMPDIR/screen"
  ! grep -qE '^(…|[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏]) ' "$BATS_TEST_TMPDIR/screen" || false
  grep -q '^✓ Restored sandbox alpha' "$BATS_TEST_TMPDIR/screen"
}

@test "80 columns: a name too long for the note column still fits, the name in full" {
  simctl add-sandbox a-sandbox-name-of-28-chars-x --phase Ready --agent openclaw --image ghcr.io/nvidia/nemoclaw/sandbox-openclaw:2026.6.0 --seed >/dev/null
  register a-sandbox-name-of-28-chars-x openclaw 2026.6.0
  in_pty_cols 80 "$BATS_TEST_TMPDIR/pty" "$NODE" "$REPO/bin/run.js" status || true
  screen "$BATS_TEST_TMPDIR/pty" >"$BATS_TEST_TMPDIR/screen"
  cat "$BATS_TEST_TMPDIR/screen"
  fits "$BATS_TEST_TMPDIR/screen" 80
  grep -qE '^a-sandbox-name-of-28-chars-x +Ready +2026\.6\.0 → 2026\.7\.1 +stale' "$BATS_TEST_TMPDIR/screen"
}
