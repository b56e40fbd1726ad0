#!/usr/bin/env bats
# `nemoclaw onboard` starting the REAL openshell-gateway (0.0.104 and 0.0.111). A real gateway
# needs a compute driver (Docker on real hosts): as SPEC §17 "Precisely" says, the test launches it
# through a wrapper named `openshell-gateway` that adds the kit's inert driver socket
# (OPENSHELL_COMPUTE_DRIVER_SOCKET, and OPENSHELL_DRIVERS=fake below 0.0.111) and execs the real
# binary; nemoclaw's own launch environment stays the production one.

load helpers.bash

setup_file() {
  W="$(mktemp -d "${BATS_RUN_TMPDIR:-/tmp}/conformance-onboard.XXXXXX")"
  echo "$W" >"$BATS_FILE_TMPDIR/world"
  local kit
  kit="$(kit_dir)"
  for v in 0.0.104 0.0.111; do
    local d="$W/w-$v"
    new_world "$d" "$v" "" "$d/xdg"
    setsid "$kit/bin/openshell-fake-driver" "$d/driver.sock" >"$d/driver.log" 2>&1 </dev/null &
    echo $! >"$d/driver.pid"
    for _ in $(seq 100); do [ -S "$d/driver.sock" ] && break; sleep 0.05; done
    local drivers=""
    [ "$v" = 0.0.111 ] || drivers='export OPENSHELL_DRIVERS=fake'
    # exec -a keeps the wrapper path as argv0, the way nemoclaw's identity check knows
    # wrapper-script gateways (test/sim does the same)
    cat >"$d/bin/openshell-gateway" <<WRAPPER
#!/bin/bash
# test wrapper (SPEC §17): the kit's inert driver in place of Docker, then the real gateway
export OPENSHELL_COMPUTE_DRIVER_SOCKET='$d/driver.sock'
$drivers
exec -a "\$0" '$kit/v$v/openshell-gateway' "\$@"
WRAPPER
    chmod 755 "$d/bin/openshell-gateway"
    free_port >"$d/port"
  done
}

# The gateway nemoclaw launched (pid file in its state dir) and the driver: by pid.
teardown_file() {
  W="$(cat "$BATS_FILE_TMPDIR/world" 2>/dev/null)" || return 0
  for v in 0.0.104 0.0.111; do
    local d="$W/w-$v" p
    for f in "$d"/home/.local/state/nemoclaw/*/openshell-gateway.pid "$d/launched.pid" "$d/driver.pid"; do
      [ -f "$f" ] || continue
      p="$(cat "$f")"
      kill "$p" 2>/dev/null || continue
      for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$p" 2>/dev/null || true
    done
  done
  rm -rf "$W"
}

world() {
  W="$(cat "$BATS_FILE_TMPDIR/world")"
  use_world "$W/w-$1" "$(cat "$W/w-$1/port")"
}

onboard_starts() {
  world "$1"
  NEMOCLAW_GATEWAY_START_TIMEOUT_MS=60000 run_split onboard --json
  assert_valid_json
  [ "$status" -eq 0 ] || { echo "$out $err"; cat "$HOME"/.local/state/nemoclaw/*/openshell-gateway.log | strip_ansi | tail -20; false; }
  # kept by the test, so that teardown_file stops it by pid even if nemoclaw lost track of it
  cat "$HOME"/.local/state/nemoclaw/*/openshell-gateway.pid >"$W/w-$1/launched.pid"
  [ "$(json_get preflight)" = null ]
  # the real CLI sees it, registered by nemoclaw under "nemoclaw", serving the installed version
  openshell status -g nemoclaw | strip_ansi | grep -q "Version: ${1}$"
  openshell status -g nemoclaw | strip_ansi | grep -q "Server: http://127.0.0.1:$NEMOCLAW_GATEWAY_PORT"
  run_split gateway preflight --json
  [ "$status" -eq 0 ] || { echo "$out $err"; false; }
  assert_valid_json
  [ "$(json_get preflight.verdict)" = compatible ]
  run_split status --json
  assert_valid_json
  [ "$status" -eq 0 ] || { echo "$out $err"; false; }
  # again: already healthy, nothing restarted
  local pid
  pid="$(cat "$HOME"/.local/state/nemoclaw/*/openshell-gateway.pid)"
  run_split onboard --json
  [ "$status" -eq 0 ] || { echo "$out $err"; false; }
  [ "$(cat "$HOME"/.local/state/nemoclaw/*/openshell-gateway.pid)" = "$pid" ]
}

@test "0.0.104: onboard starts the real gateway, registers it, and the preflight trusts it" { onboard_starts 0.0.104; }
@test "0.0.111: onboard starts the real gateway, registers it, and the preflight trusts it" { onboard_starts 0.0.111; }
