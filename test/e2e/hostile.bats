#!/usr/bin/env bats
# Hostile names (docs/design.md, "Names, paths and input"): file names inside a sandbox are
# written by an untrusted agent, and a registry key can be anything. Every command that can print
# them shows them escaped — no raw ESC, OSC, CR, newline, C1 or bidi control reaches stdout or
# stderr — while --json keeps the exact names.

load helpers

setup() {
  new_host --cli-version 0.0.44 --gateway-version 0.0.44
  simctl start-gateway >/dev/null
  BACKUPS="$HOME/.nemoclaw/rebuild-backups"
}

teardown() {
  teardown_host
}

# Runs nemoclaw ARGS… with stdout and stderr in files ($BATS_TEST_TMPDIR/out, err; $status),
# and fails when either holds a raw control character (NUL included, which $(…) would drop).
run_clean() {
  status=0
  "$NODE" "$REPO/bin/run.js" "$@" >"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/err" || status=$?
  out="$(cat "$BATS_TEST_TMPDIR/out")"
  err="$(cat "$BATS_TEST_TMPDIR/err")"
  "$NODE" "$REPO/test/e2e/no-control-chars.mjs" "$BATS_TEST_TMPDIR/out" "$BATS_TEST_TMPDIR/err"
  # A newline in a name must not forge a line of its own.
  ! grep -q '^forged' "$BATS_TEST_TMPDIR/out" "$BATS_TEST_TMPDIR/err" || false
}

# Names an agent could write: ESC sequences (clear screen, colour), OSC (window title, ended by
# BEL), CR and newline (forged lines), C1 CSI, DEL, bidi overrides and isolates, a backslash.
hostile_state() {
  local live="$1"
  mkdir -p "$live/odd"
  printf 'a\n' >"$live/odd/$(printf 'clear\033[2J\033[Hscreen')"
  printf 'b\n' >"$live/odd/$(printf 'title\033]0;owned\007.txt')"
  printf 'c\n' >"$live/odd/$(printf 'cr\rforged')"
  printf 'd\n' >"$live/odd/$(printf 'nl\nforged line')"
  printf 'e\n' >"$live/odd/$(printf 'bidi\342\200\256txt.exe')"
  printf 'f\n' >"$live/odd/$(printf 'iso\342\201\246x\342\201\251')"
  printf 'g\n' >"$live/odd/$(printf 'c1\302\23331m')"
  printf 'h\n' >"$live/odd/$(printf 'del\177')"
  printf 'i\n' >"$live/odd/$(printf 'back\\slash')"
  printf 'j\n' >"$live/odd/$(printf 'bytes\377\033[31m')"   # not UTF-8: stored as pathB64
  chmod 666 "$live/odd/$(printf 'clear\033[2J\033[Hscreen')"   # the upload's umask narrows it: a chmod repair
  mkfifo "$live/odd/$(printf 'fifo\033]2;pwned\007\nforged')"
}

@test "backup-all, backups list and verify (after tampering) print every hostile name escaped; --json keeps them exact" {
  sandbox_with_state alpha
  hostile_state "$(state_dir_of alpha)"
  run_clean backup-all
  [ "$status" -eq 0 ]
  # The skipped FIFO's warning names it escaped.
  [[ "$err" == *'FIFO .openclaw/odd/fifo\x1b]2;pwned\x07\nforged was not backed up'* ]]
  run_clean backup-all --json
  [ "$status" -eq 0 ]
  assert_valid_json
  # The exact name, JSON-encoded, in the structured field.
  [[ "$(json_get result.sandboxes)" == *'"path":".openclaw/odd/fifo\u001b]2;pwned\u0007\nforged","type":"fifo"'* ]]
  ts="$(backups_of alpha | tail -1)"
  odd="$BACKUPS/alpha/$ts/.openclaw/odd"
  # Tamper: change one, remove one, chmod one, add one with a hostile name.
  printf 'X\n' >"$odd/$(printf 'cr\rforged')"
  rm "$odd/$(printf 'nl\nforged line')"
  chmod 600 "$odd/$(printf 'bidi\342\200\256txt.exe')"
  printf 'k\n' >"$odd/$(printf 'extra\033[5m\nforged')"
  printf 'X\n' >"$odd/$(printf 'bytes\377\033[31m')"
  printf 'X\n' >"$odd/$(printf 'back\\slash')"
  run_clean backups verify alpha --backup "$ts"
  [ "$status" -eq 1 ]
  [[ "$out" == *'changed: .openclaw/odd/cr\rforged'* ]]
  [[ "$out" == *'missing: .openclaw/odd/nl\nforged line'* ]]
  [[ "$out" == *'mode:    .openclaw/odd/bidi\u202etxt.exe'* ]]
  [[ "$out" == *'extra:   .openclaw/odd/extra\x1b[5m\nforged'* ]]
  # Names that are not UTF-8, or hold a backslash, are recorded as bytes and shown as \xNN once.
  [[ "$out" == *'changed: .openclaw/odd/bytes\xff\x1b[31m'* ]]
  [[ "$out" == *'changed: .openclaw/odd/back\x5cslash'* ]]
  run_clean backups verify alpha --backup "$ts" --json
  [ "$status" -eq 1 ]
  assert_valid_json
  [[ "$out" == *'".openclaw/odd/nl\nforged line"'* ]]
  run_clean backups list
  [ "$status" -eq 0 ]
  # A manifest naming a hostile path outside its dirs: corrupt, and its reason is escaped too.
  "$NODE" -e '
    const fs = require("fs"); const f = process.argv[1];
    const m = JSON.parse(fs.readFileSync(f, "utf8"));
    m.files[0].path = "elsewhere/\u001b]0;t\u0007\u202e\nforged";
    fs.writeFileSync(f, JSON.stringify(m));' "$BACKUPS/alpha/$ts/rebuild-manifest.json"
  run_clean backups list
  [ "$status" -eq 0 ]
  [[ "$out" == *"CORRUPT"* ]]
  run_clean backups verify alpha
  [ "$status" -eq 1 ]
  [[ "$out" == *'elsewhere/\x1b]0;t\x07\u202e\nforged'* ]]
  # A manifest that is not JSON: the parser's message quotes raw bytes; it is escaped as well.
  printf '{"version": 1, \033]0;x\007\n forged' >"$BACKUPS/alpha/$ts/rebuild-manifest.json"
  run_clean backups list
  run_clean backups verify alpha
  [ "$status" -eq 1 ]
  run_clean backups prune --keep 1
}

@test "restore (with its chmod repair) and its safety backup print hostile names escaped" {
  sandbox_with_state alpha
  hostile_state "$(state_dir_of alpha)"
  run_clean backup-all
  [ "$status" -eq 0 ]
  run_clean restore alpha --yes
  [ "$status" -eq 0 ]
  [[ "$err" == *'fifo\x1b]2;pwned\x07\nforged'* ]]
  run_clean restore alpha --yes --json
  [ "$status" -eq 0 ]
  assert_valid_json
  # A restore whose backup no longer verifies names nothing raw either.
  ts="$(backups_of alpha | tail -1)"
  printf 'X\n' >"$BACKUPS/alpha/$ts/.openclaw/odd/$(printf 'title\033]0;owned\007.txt')"
  run_clean restore alpha --backup "$ts" --yes
  [ "$status" -ne 0 ]
}

@test "upgrade-sandboxes, --check and status print hostile names and registry keys escaped" {
  simctl add-sandbox beta --phase Ready --agent openclaw \
    --image ghcr.io/nvidia/nemoclaw/sandbox-openclaw:2026.6.0 --seed >/dev/null
  register beta openclaw 2026.6.0
  hostile_state "$(state_dir_of beta)"
  # A registry key no sandbox could be named: shown escaped, never used.
  register "$(printf 'evil\033]0;owned\007\r\nforged\342\200\256')"
  run_clean upgrade-sandboxes --check
  [ "$status" -eq 1 ]
  [[ "$out" == *'evil\x1b]0;owned\x07\r\nforged\u202e'* ]]
  run_clean status
  [ "$status" -eq 1 ]
  [[ "$out" == *'evil\x1b]0;owned\x07\r\nforged\u202e'* ]]
  run_clean status --json
  assert_valid_json
  run_clean upgrade-sandboxes --yes
  [ "$status" -eq 1 ]
  [[ "$out$err" == *'fifo\x1b]2;pwned\x07\nforged'* ]]
  [[ "$out" == *'evil\x1b]0;owned\x07\r\nforged\u202e'*"invalid sandbox name"* ]]
  run_clean upgrade-sandboxes --yes --json
  assert_valid_json
  run_clean backup-all
  [ "$status" -eq 1 ]
  [[ "$out" == *'evil\x1b]0;owned\x07\r\nforged\u202e'* ]]
}
