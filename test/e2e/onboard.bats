#!/usr/bin/env bats
# `nemoclaw onboard [--resume]` end to end: the built CLI against the OpenShell simulator.

load helpers

setup() {
  new_host --cli-version 0.0.44 --gateway-version 0.0.44
  PORT="$(host_port)"
}

teardown() {
  teardown_host
}

# marker_get FIELD: a field of the runtime marker.
marker_get() {
  "$NODE" -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"))[process.argv[2]])' \
    "$STATE_DIR/runtime.json" "$1"
}

# alive PID: running and not a zombie (the state letter follows the last ')' of /proc/PID/stat).
alive() {
  local stat
  stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
  stat="${stat##*) }"
  [ "${stat%% *}" != Z ]
}

no_marker_left() {
  [ ! -e "$STATE_DIR/runtime.json" ]
  [ ! -e "$STATE_DIR/openshell-gateway.pid" ]
}

# Nothing the simulator knows of is still running (gateways record themselves, also ours).
nothing_running() {
  [ -z "$(simctl pids)" ]
}

@test "drifted live gateway (0.0.43) is repaired; preflight passes afterwards; a rerun is idempotent" {
  simctl install-gateway-bin "$HOST/opt/old/openshell-gateway" --version 0.0.43
  old="$(simctl start-gateway --bin "$HOST/opt/old/openshell-gateway")"
  run_split onboard --resume
  [ "$status" -eq 0 ]
  new="$(marker_get pid)"
  [[ "$out" == *"Stopped the previous gateway (pid $old, SIGTERM)."* ]]
  [[ "$out" == *"✓ NemoClaw gateway is healthy (OpenShell 0.0.44, pid $new)"* ]]
  [[ "$err" == *"Confirming gateway 'nemoclaw' (pid $new) stays up"* ]]
  ! alive "$old" || false
  [ "$new" != "$old" ]
  alive "$new"
  # The new marker: private, current, naming the realpath of the sibling binary.
  [ "$(stat -c %a "$STATE_DIR")" = 700 ]
  [ "$(stat -c %a "$STATE_DIR/runtime.json")" = 600 ]
  [ "$(stat -c %a "$STATE_DIR/openshell-gateway.pid")" = 600 ]
  [ "$(stat -c %a "$STATE_DIR/openshell-gateway.log")" = 600 ]
  [ "$(cat "$STATE_DIR/openshell-gateway.pid")" = "$new" ]
  [ "$(marker_get gatewayBin)" = "$(realpath "$HOST/bin/openshell-gateway")" ]
  [ "$(marker_get openshellVersion)" = 0.0.44 ]
  [ "$(marker_get endpoint)" = "http://127.0.0.1:$PORT" ]
  [[ "$(marker_get desiredEnvHash)" =~ ^[0-9a-f]{64}$ ]]
  # Launched with no arguments and the environment of docs/design.md, "Gateway launch environment" (argv0 is the binary path).
  tr '\0' '\n' <"/proc/$new/environ" | grep -qx "OPENSHELL_BIND_ADDRESS=127.0.0.1"
  tr '\0' '\n' <"/proc/$new/environ" | grep -qx "OPENSHELL_SERVER_PORT=$PORT"
  tr '\0' '\n' <"/proc/$new/environ" | grep -qx "OPENSHELL_DB_URL=sqlite:$STATE_DIR/openshell.db"
  [ "$(tr '\0' '\n' <"/proc/$new/cmdline" | head -1)" = "$HOST/bin/openshell-gateway" ]

  run_split gateway preflight
  [ "$status" -eq 0 ]
  [[ "$out" == *"is compatible with the installed OpenShell 0.0.44"* ]]

  run_split onboard --resume
  [ "$status" -eq 0 ]
  [[ "$out" == *"NemoClaw gateway is already healthy (OpenShell 0.0.44, pid $new)"* ]]
  [[ "$out" != *"Stopped"* ]]
  [ "$(marker_get pid)" = "$new" ]
  alive "$new"
}

@test "first start (no --resume) on a host with no gateway registers, selects and reports JSON" {
  # A leftover registration of the name at another endpoint is re-pointed, not trusted.
  openshell gateway add http://127.0.0.1:1 --name nemoclaw >/dev/null
  run_split onboard --json
  [ "$status" -eq 0 ]
  assert_valid_json
  [ -z "$err" ]
  [[ "$(json_get warnings)" == *"was registered at http://127.0.0.1:1; it now points at http://127.0.0.1:$PORT"* ]]
  [ "$(json_get result.action)" = started ]
  [ "$(json_get result.version)" = 0.0.44 ]
  [ "$(json_get result.endpoint)" = "http://127.0.0.1:$PORT" ]
  [ "$(json_get result.pid)" = "$(marker_get pid)" ]
  [ "$(json_get result.stopped)" = undefined ]
  pid="$(marker_get pid)"
  alive "$pid"
  grep -q '"args":\["gateway","add","http://127.0.0.1:'"$PORT"'","--name","nemoclaw"\]' "$HOST/state/calls.log"
  grep -q '"args":\["gateway","select","nemoclaw"\]' "$HOST/state/calls.log"
  openshell status | sed 's/\x1b\[[0-9;]*m//g' | grep -q "Status: Connected"

  # Idempotent, also under --json: same pid, nothing restarted.
  run_split onboard --json
  [ "$status" -eq 0 ]
  assert_valid_json
  [ "$(json_get result.action)" = already-healthy ]
  [ "$(json_get result.pid)" = "$pid" ]
}

@test "a gateway that answers status and then exits after 0.8 s is never reported healthy (exit 1)" {
  simctl set gatewayExitAfterMs=800
  run_split onboard --resume
  [ "$status" -eq 1 ]
  [[ "$out" != *"gateway is healthy"* ]]
  [[ "$err" != *"gateway is healthy"* ]]
  [[ "$err" == *"exited with code 1 before it was confirmed ready"* ]]
  [[ "$err" == *"lines of $STATE_DIR/openshell-gateway.log:"* ]]
  [[ "$err" == *"database migration failed"* ]]
  no_marker_left
  nothing_running

  run_split onboard --resume --json
  [ "$status" -eq 1 ]
  assert_valid_json
  [ "$(json_get result.action)" = failed ]
  [ "$(json_get error.code)" = gateway_exited ]
  [[ "$(json_get result.logTail)" == *"database migration failed"* ]]
  no_marker_left
  nothing_running
}

@test "a slow start within the timeout succeeds" {
  simctl set gatewayStartDelayMs=1200
  NEMOCLAW_GATEWAY_START_TIMEOUT_MS=20000 run_split onboard
  [ "$status" -eq 0 ]
  [[ "$out" == *"✓ NemoClaw gateway is healthy (OpenShell 0.0.44, pid $(marker_get pid))"* ]]
  # Polled while it was still "running migrations", then confirmed.
  [[ "$err" == *"Waiting for gateway 'nemoclaw' (pid $(marker_get pid)): gateway unreachable"* ]]
  [[ "$err" == *"Confirming gateway 'nemoclaw'"* ]]
  alive "$(marker_get pid)"
}

@test "a start that exceeds NEMOCLAW_GATEWAY_START_TIMEOUT_MS fails cleanly with nothing left running" {
  simctl set gatewayStartDelayMs=30000
  NEMOCLAW_GATEWAY_START_TIMEOUT_MS=1500 run_split onboard --resume
  [ "$status" -eq 1 ]
  [[ "$err" == *"was not ready within 1500 ms"* ]]
  [[ "$err" == *"running database migrations"* ]]
  [[ "$out" != *"healthy"* ]]
  no_marker_left
  nothing_running
}

@test "port held by another process: exit 4 naming the port and the holder; nothing launched" {
  holder="$(simctl start-gateway --no-marker --no-register)"
  run_split onboard --resume
  [ "$status" -eq 4 ]
  [[ "$err" == *"gateway port $PORT on 127.0.0.1 is already in use by pid $holder"* ]]
  alive "$holder"
  no_marker_left
  [ "$(simctl pids)" = "$holder" ]

  run_split onboard --resume --json
  [ "$status" -eq 4 ]
  assert_valid_json
  [ "$(json_get error.code)" = port_in_use ]
}

@test "gateway binary differs from the CLI: exit 3, reinstall advice, the running gateway is left alone" {
  running="$(simctl start-gateway)"
  # A healthy gateway an older NemoClaw onboard launched (same env hash) is recognised as such.
  run_split onboard --resume
  [ "$status" -eq 0 ]
  [[ "$out" == *"already healthy (OpenShell 0.0.44, pid $running)"* ]]
  # An in-place upgrade of the binary only: the sibling openshell-gateway now says 0.0.43.
  simctl set gatewayVersion=0.0.43
  run_split onboard --resume
  [ "$status" -eq 3 ]
  [[ "$err" == *"Reinstall OpenShell so that \`openshell\` and \`openshell-gateway\` have the same version"* ]]
  [[ "$err" == *"Gateway binary: $HOST/bin/openshell-gateway (0.0.43)"* ]]
  alive "$running"
  [ "$(marker_get pid)" = "$running" ]

  run_split onboard --resume --json
  [ "$status" -eq 3 ]
  assert_valid_json
  [ "$(json_get preflight.issue.kind)" = host_process_drift ]
  [ "$(simctl pids)" = "$running" ]
}

@test "a marker whose pid belongs to a foreign process never gets that process signalled" {
  foreign="$(simctl spawn-foreign -- "$HOST/bin/openshell-gateway")"
  mkdir -p -m 700 "$STATE_DIR"
  cat >"$STATE_DIR/runtime.json" <<EOF
{"version": 1, "pid": $foreign, "driver": "docker", "platform": "linux", "arch": "x64",
 "endpoint": "http://127.0.0.1:$PORT", "gatewayBin": "$HOST/bin/openshell-gateway",
 "openshellVersion": "0.0.44", "dockerHost": null, "createdAt": "2026-11-01T10:00:00Z"}
EOF
  chmod 600 "$STATE_DIR/runtime.json"
  run_split onboard --resume
  [ "$status" -eq 0 ]
  [[ "$err" == *"Discarded a stale runtime marker"* ]]
  [[ "$out" != *"Stopped"* ]]
  alive "$foreign"
  new="$(marker_get pid)"
  [ "$new" != "$foreign" ]
  alive "$new"
}

@test "without --resume a running gateway that is not healthy is left alone (exit 4)" {
  simctl install-gateway-bin "$HOST/opt/old/openshell-gateway" --version 0.0.43
  old="$(simctl start-gateway --bin "$HOST/opt/old/openshell-gateway")"
  run_split onboard
  [ "$status" -eq 4 ]
  [[ "$err" == *"run \`nemoclaw onboard --resume\`"* ]]
  alive "$old"
  [ "$(marker_get pid)" = "$old" ]
}

@test "SIGTERM during the start stops what was launched and exits 143" {
  simctl set gatewayStartDelayMs=30000
  "$NODE" "$REPO/bin/run.js" onboard --resume >"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/err" &
  cli=$!
  for _ in $(seq 1 100); do
    [ -e "$STATE_DIR/runtime.json" ] && break
    sleep 0.05
  done
  [ -e "$STATE_DIR/runtime.json" ]
  kill -TERM "$cli"
  status=0
  wait "$cli" || status=$?
  [ "$status" -eq 143 ]
  no_marker_left
  nothing_running
  [ ! -e "$HOME/.nemoclaw/locks/maintenance.lock" ]
}

@test "no openshell: exit 4, one JSON document" {
  if PATH="$BASE_PATH" command -v openshell >/dev/null; then skip "this machine has a real openshell"; fi
  PATH="$BASE_PATH" run_split onboard --resume --json
  [ "$status" -eq 4 ]
  assert_valid_json
  [ "$(json_get error.code)" = openshell_not_found ]
}

@test "another maintenance command holds the lock: exit 4, nothing started" {
  mkdir -p "$HOME/.nemoclaw/locks"
  printf '{"pid": %d, "command": "backup-all", "hostname": "%s", "startedAt": "2026-11-01T10:00:00Z"}\n' \
    "$$" "$(hostname)" >"$HOME/.nemoclaw/locks/maintenance.lock"
  run_split onboard --resume
  [ "$status" -eq 4 ]
  [[ "$err" == *"another maintenance command holds"* ]]
  no_marker_left
  nothing_running
}

@test "--help documents the command, examples and exit codes" {
  run_split onboard --help
  [ "$status" -eq 0 ]
  [[ "$out" == *"--resume"* ]]
  [[ "$out" == *"EXAMPLES"* ]]
  [[ "$out" == *"nemoclaw onboard --resume"* ]]
  [[ "$out" == *"EXIT CODES"* ]]
}
