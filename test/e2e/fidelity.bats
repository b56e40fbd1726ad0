#!/usr/bin/env bats
# Backup fidelity (docs/design.md): modes, special files, odd names, corrupt manifests, lock and scratch
# handling — through the built CLI and the simulator, whose transfers behave like tar streams.

load helpers

setup() {
  new_host --cli-version 0.0.44 --gateway-version 0.0.44
  simctl start-gateway >/dev/null
  sandbox_with_state alpha
  BACKUPS="$HOME/.nemoclaw/rebuild-backups"
}

teardown() {
  teardown_host
}

# manifest_of SANDBOX TS EXPR: evaluates EXPR (JS, `m` is the manifest) and prints the result.
manifest_eval() {
  "$NODE" -e '
    const m = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    const v = eval(process.argv[2]);
    console.log(typeof v === "object" ? JSON.stringify(v) : String(v));' \
    "$BACKUPS/$1/$2/rebuild-manifest.json" "$3"
}

# edit_manifest SANDBOX TS EXPR: runs EXPR (JS, mutating `m`) on the manifest and writes it back.
edit_manifest() {
  "$NODE" -e '
    const fs = require("fs"); const file = process.argv[1];
    const m = JSON.parse(fs.readFileSync(file, "utf8"));
    eval(process.argv[2]);
    fs.writeFileSync(file, JSON.stringify(m, null, 2));' \
    "$BACKUPS/$1/$2/rebuild-manifest.json" "$3"
}

mode_of() {
  stat -c '%a' "$1"
}

@test "modes: every entry records its 0777 bits; setuid is not promised; verify fails on a chmod" {
  live="$(state_dir_of alpha)"
  echo secret >"$live/creds.json" && chmod 600 "$live/creds.json"
  echo tool >"$live/tool" && chmod 4755 "$live/tool"
  run_split backup-all
  [ "$status" -eq 0 ]
  ts="$(backups_of alpha)"
  [ "$(manifest_eval alpha "$ts" 'm.files.find(f => f.path === ".openclaw/creds.json").mode')" = 0600 ]
  [ "$(manifest_eval alpha "$ts" 'm.files.find(f => f.path === ".openclaw/tool").mode')" = 0755 ]
  [ "$(manifest_eval alpha "$ts" 'm.files.every(f => /^0[0-7]{3}$/.test(f.mode))')" = true ]
  run_split backups verify alpha
  [ "$status" -eq 0 ]

  chmod 666 "$BACKUPS/alpha/$ts/.openclaw/creds.json"
  run_split backups verify alpha --json
  [ "$status" -eq 1 ]
  assert_valid_json
  [ "$(json_get 'result.backups.0.modeChanged')" = '[".openclaw/creds.json"]' ]
  run_split backups verify alpha
  [ "$status" -eq 1 ]
  [[ "$out" == *"mode:    .openclaw/creds.json"* ]]
}

@test "modes: an older manifest without modes still verifies and restores" {
  run_split backup-all
  [ "$status" -eq 0 ]
  ts="$(backups_of alpha)"
  edit_manifest alpha "$ts" 'for (const f of m.files) delete f.mode; delete m.skipped'
  chmod 666 "$BACKUPS/alpha/$ts/.openclaw/workspace/run.sh"
  run_split backups verify alpha --backup "$ts"
  [ "$status" -eq 0 ]
  run_split restore alpha --backup "$ts" --yes
  [ "$status" -eq 0 ]
}

@test "restore: modes the upload's umask narrowed are repaired with one chmod per mode, never a shell" {
  live="$(state_dir_of alpha)"
  echo a >"$live/shared-a" && chmod 666 "$live/shared-a"
  echo b >"$live/shared-b" && chmod 666 "$live/shared-b"
  echo c >"$live/group-x" && chmod 775 "$live/group-x"
  run_split backup-all
  [ "$status" -eq 0 ]
  : >"$HOST/state/calls.log"
  run_split restore alpha --yes --json
  [ "$status" -eq 0 ]
  assert_valid_json
  [ "$(json_get result.repairedModes)" = 3 ]
  [ "$(mode_of "$live/shared-a")" = 666 ]
  [ "$(mode_of "$live/shared-b")" = 666 ]
  [ "$(mode_of "$live/group-x")" = 775 ]
  # Exactly one chmod per distinct mode, as argv (no sh -c), with absolute sandbox paths.
  chmods="$(grep '"chmod"' "$HOST/state/calls.log")"
  [ "$(printf '%s\n' "$chmods" | wc -l)" -eq 2 ]
  printf '%s\n' "$chmods" | grep -q '"chmod","0666","/sandbox/.openclaw/shared-a","/sandbox/.openclaw/shared-b"'
  printf '%s\n' "$chmods" | grep -q '"chmod","0775","/sandbox/.openclaw/group-x"'
  ! grep -q '"sh","-c"' "$HOST/state/calls.log" || false
}

@test "special files: a FIFO and a socket are listed as skipped with a warning each; the backup is complete" {
  live="$(state_dir_of alpha)"
  mkfifo "$live/agent.pipe"
  python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])' "$live/agent.sock"
  [ -S "$live/agent.sock" ]
  run_split backup-all --json
  [ "$status" -eq 0 ]
  assert_valid_json
  [ "$(json_get result.summary.backedUp)" = 1 ]
  [[ "$out" == *'sandbox alpha: FIFO .openclaw/agent.pipe was not backed up'* ]]
  [[ "$out" == *'sandbox alpha: socket .openclaw/agent.sock was not backed up'* ]]
  ts="$(backups_of alpha)"
  [ "$(manifest_eval alpha "$ts" 'm.skipped')" = '[{"path":".openclaw/agent.sock","type":"socket"},{"path":".openclaw/agent.pipe","type":"fifo"}]' ]
  # Not stored: the backup holds exactly its manifest, and verifies.
  [ ! -e "$BACKUPS/alpha/$ts/.openclaw/agent.pipe" ]
  run_split backups verify alpha
  [ "$status" -eq 0 ]
  # Human output names them on stderr too.
  run_split backup-all
  [ "$status" -eq 0 ]
  [[ "$err" == *"FIFO .openclaw/agent.pipe was not backed up"* ]]
  # The safety backup of a restore warns the same way; the restored state holds no FIFO.
  run_split restore alpha --yes
  [ "$status" -eq 0 ]
  [[ "$err" == *"FIFO .openclaw/agent.pipe was not backed up"* ]]
  [ ! -e "$live/agent.pipe" ]
}

@test "hard links: stored as two separate files that verify and restore" {
  live="$(state_dir_of alpha)"
  echo linked >"$live/one"
  ln "$live/one" "$live/two"
  run_split backup-all
  [ "$status" -eq 0 ]
  ts="$(backups_of alpha)"
  [ "$(stat -c %h "$BACKUPS/alpha/$ts/.openclaw/one")" = 1 ]
  [ "$(manifest_eval alpha "$ts" 'm.files.filter(f => f.path === ".openclaw/one" || f.path === ".openclaw/two").length')" = 2 ]
  run_split restore alpha --yes
  [ "$status" -eq 0 ]
  [ "$(cat "$live/two")" = linked ]
}

@test "odd names: a name that is not valid UTF-8 is stored under its exact bytes and restored" {
  live="$(state_dir_of alpha)"
  odd="$live/$(printf 'bad-\xff\xfe.txt')"
  echo odd >"$odd"
  run_split backup-all
  [ "$status" -eq 0 ]
  ts="$(backups_of alpha)"
  [ "$(manifest_eval alpha "$ts" 'm.files.filter(f => f.pathB64).map(f => Buffer.from(f.pathB64, "base64").toString("hex")).join()')" = "$(printf '.openclaw/bad-\xff\xfe.txt' | od -An -tx1 | tr -d ' \n')" ]
  run_split backups verify alpha
  [ "$status" -eq 0 ]
  rm "$odd"
  run_split restore alpha --backup "$ts" --yes
  [ "$status" -eq 0 ]
  [ "$(cat "$odd")" = odd ]
}

@test "corrupt: a manifest path outside its backed-up dirs fails verify and is refused by restore" {
  run_split backup-all
  [ "$status" -eq 0 ]
  ts="$(backups_of alpha)"
  edit_manifest alpha "$ts" 'm.files[0].path = ".ssh/authorized_keys"'
  run_split backups verify alpha
  [ "$status" -eq 1 ]
  [[ "$out" == *'CORRUPT (manifest file ".ssh/authorized_keys" is not under one of its backedUpDirs)'* ]]
  : >"$HOST/state/calls.log"
  run_split restore alpha --backup "$ts" --yes
  [ "$status" -ne 0 ]
  [[ "$err" == *"corrupt"* ]]
  ! grep -q '"rm"' "$HOST/state/calls.log" || false
}

@test "corrupt: a stored state dir that is a symlink fails verify, and restore never rm -rfs or uploads it" {
  run_split backup-all
  [ "$status" -eq 0 ]
  ts="$(backups_of alpha)"
  elsewhere="$BATS_TEST_TMPDIR/elsewhere"
  mv "$BACKUPS/alpha/$ts/.openclaw" "$elsewhere"
  ln -s "$elsewhere" "$BACKUPS/alpha/$ts/.openclaw"
  run_split backups verify alpha
  [ "$status" -eq 1 ]
  [[ "$out" == *"CORRUPT (stored state directory .openclaw is a symlink)"* ]]
  before="$(simctl tree alpha /sandbox/.openclaw)"
  : >"$HOST/state/calls.log"
  run_split restore alpha --backup "$ts" --yes
  [ "$status" -ne 0 ]
  ! grep -q '"rm"' "$HOST/state/calls.log" || false
  ! grep -q '"upload"' "$HOST/state/calls.log" || false
  [ "$(simctl tree alpha /sandbox/.openclaw)" = "$before" ]
}

@test "every locked command cleans dead runs' scratch: restore, upgrade-sandboxes, onboard" {
  run_split backup-all
  [ "$status" -eq 0 ]
  plant() {
    mkdir -p "$BACKUPS/alpha/.2026-01-01T00-00-00-000Z.partial/.openclaw" "$HOME/.nemoclaw/restore-verify/alpha-dead"
    echo x >"$HOME/.nemoclaw/restore-verify/alpha-dead/f"
  }
  plant
  run_split restore alpha --yes
  [ "$status" -eq 0 ]
  [ ! -e "$BACKUPS/alpha/.2026-01-01T00-00-00-000Z.partial" ]
  [ ! -e "$HOME/.nemoclaw/restore-verify/alpha-dead" ]

  plant
  run_split upgrade-sandboxes --yes
  [ "$status" -eq 0 ]
  [ ! -e "$BACKUPS/alpha/.2026-01-01T00-00-00-000Z.partial" ]
  [ ! -e "$HOME/.nemoclaw/restore-verify/alpha-dead" ]

  plant
  run_split upgrade-sandboxes --check
  # --check takes no lock and touches nothing
  [ -e "$BACKUPS/alpha/.2026-01-01T00-00-00-000Z.partial" ]

  run_split onboard --resume
  [ "$status" -eq 0 ]
  [ ! -e "$BACKUPS/alpha/.2026-01-01T00-00-00-000Z.partial" ]
  [ ! -e "$HOME/.nemoclaw/restore-verify/alpha-dead" ]
}

@test "lock from another host: exit 4, says so, prints the exact rm, and is never removed" {
  mkdir -p "$HOME/.nemoclaw/locks"
  lock="$HOME/.nemoclaw/locks/maintenance.lock"
  printf '{"pid":12345,"command":"backup-all","hostname":"build-07","startedAt":"2026-11-01T10:00:00Z"}\n' >"$lock"
  run_split backup-all
  [ "$status" -eq 4 ]
  [[ "$err" == *"the lock was taken on host build-07, not on this host ($(hostname))"* ]]
  [[ "$err" == *"If you know no nemoclaw command is running on build-07, remove it: rm $lock"* ]]
  [ -e "$lock" ]
}

@test "lock held by a reused pid: exit 4, explains the pid was reused, prints the exact rm" {
  mkdir -p "$HOME/.nemoclaw/locks"
  lock="$HOME/.nemoclaw/locks/maintenance.lock"
  sleep 60 &
  sleeper=$!
  printf '{"pid":%d,"command":"backup-all","hostname":"%s","startedAt":"2020-01-01T00:00:00Z"}\n' "$sleeper" "$(hostname)" >"$lock"
  run_split backup-all
  kill "$sleeper"
  [ "$status" -eq 4 ]
  [[ "$err" == *"pid $sleeper is alive but started after the lock was taken"* ]]
  [[ "$err" == *"remove it: rm $lock"* ]]
  [ -e "$lock" ]
}

@test "a lock file that cannot be created is exit 4 naming it" {
  mkdir -p "$HOME/.nemoclaw"
  echo "not a directory" >"$HOME/.nemoclaw/locks"
  run_split backup-all --json
  [ "$status" -eq 4 ]
  assert_valid_json
  [ "$(json_get error.code)" = lock_unavailable ]
  [[ "$(json_get error.message)" == *"cannot create the maintenance lock $HOME/.nemoclaw/locks/maintenance.lock"* ]]
}

@test "a backup that cannot be written names the directory" {
  mkdir -p "$BACKUPS"
  echo "not a directory" >"$BACKUPS/alpha"
  run_split backup-all
  [ "$status" -eq 1 ]
  [[ "$out" == *"cannot write $BACKUPS/alpha"* ]]
}

@test "upgrade-sandboxes: the rebuilt sandbox gets back the modes the upload's umask narrowed" {
  simctl add-sandbox beta --phase Ready --agent openclaw \
    --image ghcr.io/nvidia/nemoclaw/sandbox-openclaw:2026.6.0 --seed >/dev/null
  register beta openclaw 2026.6.0
  live="$(state_dir_of beta)"
  echo shared >"$live/shared" && chmod 666 "$live/shared"
  echo private >"$live/private" && chmod 600 "$live/private"
  : >"$HOST/state/calls.log"
  run_split upgrade-sandboxes --yes
  [ "$status" -eq 0 ]
  live="$(state_dir_of beta)"
  [ "$(mode_of "$live/shared")" = 666 ]
  [ "$(mode_of "$live/private")" = 600 ]
  # One chmod, for the one mode the umask narrows, naming only that file.
  [ "$(grep -c '"chmod"' "$HOST/state/calls.log")" -eq 1 ]
  grep '"chmod"' "$HOST/state/calls.log" | grep -q '"chmod","0666","/sandbox/.openclaw/shared"\]'
}

@test "backups verify racing a prune: the backup that vanished is reported, not an internal error" {
  run_split backup-all
  [ "$status" -eq 0 ]
  run_split backup-all
  [ "$status" -eq 0 ]
  newer="$(backups_of alpha | sort | tail -1)"
  older="$(backups_of alpha | sort | head -1)"
  [ "$newer" != "$older" ]
  # Keeps the verify busy on the newer backup (sparse: no disk space) while the older one goes.
  truncate -s 1G "$BACKUPS/alpha/$newer/.openclaw/big"
  "$NODE" "$REPO/bin/run.js" backups verify alpha --json >"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/err" &
  pid=$!
  # Once it is hashing the big file it has listed both backups: remove the older one, as a prune does.
  seen=0
  for _ in $(seq 500); do
    if ls -l "/proc/$pid/fd" 2>/dev/null | grep -q "$newer/.openclaw/big"; then seen=1; break; fi
    sleep 0.01
  done
  mv "$BACKUPS/alpha/$older" "$BACKUPS/alpha/.$older.partial"
  rm -rf "$BACKUPS/alpha/.$older.partial"
  rc=0
  wait "$pid" || rc=$?
  [ "$seen" -eq 1 ]
  out="$(cat "$BATS_TEST_TMPDIR/out")"
  [ "$rc" -eq 1 ]
  assert_valid_json
  [ "$(json_get error.code)" != internal ]
  [ "$(json_get result.backups.1.timestamp)" = "$older" ]
  [ "$(json_get result.backups.1.vanished)" = true ]
  [[ "$(json_get result.backups.1.corrupt)" == *"vanished during verification"* ]]
}
