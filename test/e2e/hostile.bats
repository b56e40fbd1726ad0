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
  for p in ${foreign:-}; do kill -KILL "$p" 2>/dev/null || true; done
  teardown_host
}

# Starts an unrelated long-lived process that leads its own process group; appends its pid to
# $foreign and prints it.
start_foreign_group() {
  setsid sleep 300 </dev/null >/dev/null 2>&1 &
  local p=$!
  foreign="${foreign:-} $p"
  # The leader of its own group: field 5 of its stat is its pid.
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    [ "$(awk '{print $5}' "/proc/$p/stat" 2>/dev/null)" = "$p" ] && break
    sleep 0.05
  done
  [ "$(awk '{print $5}' "/proc/$p/stat")" = "$p" ]
  last_foreign=$p
}

tick_of() {
  awk '{print $22}' "/proc/$1/stat"
}

# crafted_journal SANDBOX BACKUP CHILD_JSON BOOT_ID: an interrupted rebuild journal of a dead writer.
crafted_journal() {
  mkdir -p "$HOME/.nemoclaw/operations"
  "$NODE" -e '
    const [file, sandbox, ts, child, bootId] = process.argv.slice(1);
    require("fs").writeFileSync(file, JSON.stringify({ version: 1, operation: "rebuild", sandbox,
      gateway: "nemoclaw", backup: ts, safetyBackup: null, image: null, finalPhase: "Ready", phase: "deleting",
      startedAt: "2026-11-29T10:00:00.000Z", updatedAt: "2026-11-29T10:00:01.000Z",
      writer: { pid: 4194000, bootId, startTick: 1, hostname: require("os").hostname() },
      child: JSON.parse(child), command: "nemoclaw upgrade-sandboxes --yes" }), { mode: 0o600 });' \
    "$HOME/.nemoclaw/operations/$1.json" "$1" "$2" "$3" "$4"
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

@test "a crafted journal naming a live unrelated process group never leads to a signal" {
  boot="$(cat /proc/sys/kernel/random/boot_id)"
  for name in beta gamma delta; do
    simctl add-sandbox "$name" --phase Ready --agent openclaw \
      --image ghcr.io/nvidia/nemoclaw/sandbox-openclaw:2026.6.0 --seed >/dev/null
    register "$name" openclaw 2026.6.0
  done
  run_clean backup-all
  [ "$status" -eq 0 ]
  start_foreign_group; leader=$last_foreign
  start_foreign_group; member=$last_foreign
  start_foreign_group; other_boot=$last_foreign
  # beta: the child is a real process (pid + tick match) but the group named is another live one.
  crafted_journal beta "$(backups_of beta)" "{\"pid\":$member,\"pgid\":$leader,\"startTick\":$(tick_of "$member")}" "$boot"
  # gamma: the recorded child matches pid, group and tick — but the journal is from another boot.
  crafted_journal gamma "$(backups_of gamma)" "{\"pid\":$other_boot,\"pgid\":$other_boot,\"startTick\":$(tick_of "$other_boot")}" "0c0ffee0-0000-4000-8000-000000000000"
  # delta: a pid whose start tick is not the recorded one (a reused pid).
  crafted_journal delta "$(backups_of delta)" "{\"pid\":$leader,\"pgid\":$leader,\"startTick\":$(( $(tick_of "$leader") + 1 ))}" "$boot"
  ticks="$(tick_of "$leader") $(tick_of "$member") $(tick_of "$other_boot")"
  run_clean upgrade-sandboxes --yes
  [[ "$out$err" != *"stopped the interrupted run's OpenShell process"* ]] || false
  # All three still run, as the same processes.
  [ "$(tick_of "$leader") $(tick_of "$member") $(tick_of "$other_boot")" = "$ticks" ]
  for p in $leader $member $other_boot; do [ "$(awk '{print $3}' "/proc/$p/stat")" != Z ]; done
}
