#!/usr/bin/env bats
# The built nemoclaw at each kit version and across the drift pairs: real gateways 0.0.104 and
# 0.0.111 (local driver, one Ready sandbox each, registered), CLIs 0.0.52, 0.0.104, 0.0.111.
# One gateway per version for the whole file; each test picks the CLI (the world's bin dir).
# The sibling openshell-gateway is the binary of the gateway that serves.

load helpers.bash

setup_file() {
  W="$(mktemp -d "${BATS_RUN_TMPDIR:-/tmp}/conformance-versions.XXXXXX")"
  echo "$W" >"$BATS_FILE_TMPDIR/world"
  for gv in 0.0.104 0.0.111; do
    start_local_gateway "$gv" "$W/gw-$gv"
    new_world "$W/w-$gv-$gv" "$gv" "$gv" "$W/gw-$gv/xdg"
    use_world "$W/w-$gv-$gv" "$GW_PORT"
    create_ready alpha
    register alpha confagent 2.0.0
  done
}

teardown_file() {
  W="$(cat "$BATS_FILE_TMPDIR/world" 2>/dev/null)" || return 0
  for gv in 0.0.104 0.0.111; do stop_local_gateway "$W/gw-$gv"; done
  rm -rf "$W"
}

# pair CLI GATEWAY: a world with that CLI against that running gateway (and the same registry).
pair() {
  W="$(cat "$BATS_FILE_TMPDIR/world")"
  local cv=$1 gv=$2 dir="$W/w-$1-$2"
  [ -d "$dir" ] || {
    new_world "$dir" "$cv" "$gv" "$W/gw-$gv/xdg"
    mkdir -p "$dir/home/.nemoclaw"
    cp "$W/w-$gv-$gv/home/.nemoclaw/sandboxes.json" "$dir/home/.nemoclaw/"
  }
  use_world "$dir" "$(cat "$W/gw-$gv/port")"
}

# Same version: compatible, the sandbox is Ready and current (no backup yet: status exits 1).
same_version() {
  pair "$1" "$1"
  run_split gateway preflight --json
  [ "$status" -eq 0 ] || { echo "$out $err"; false; }
  assert_valid_json
  [ "$(json_get preflight.verdict)" = compatible ]
  [ "$(json_get preflight.gateway.servedVersion)" = "$1" ]
  run_split status --json
  assert_valid_json
  [ "$status" -eq 1 ] || { echo "$out $err"; false; }
  [ "$(json_get result.sandboxes.0.phase)" = Ready ]
  [ "$(json_get result.sandboxes.0.status)" = current ]
  run_split upgrade-sandboxes --check --json
  [ "$status" -eq 0 ] || { echo "$out $err"; false; }
  assert_valid_json
  [ "$(json_get result.sandboxes.0.status)" = current ]
}

# A drift pair: preflight, status and --check refuse with exit 3 (schema drift), JSON valid,
# status still shows the registered row (phase "?"), nothing was queried as if trusted.
drift_pair() {
  pair "$1" "$2"
  run_split gateway preflight --json
  assert_valid_json
  [ "$status" -eq 3 ] || { echo "$out $err"; false; }
  [ "$(json_get preflight.verdict)" = drift ] || { echo "verdict $(json_get preflight.verdict)"; false; }
  [ "$(json_get preflight.gateway.servedVersion)" = "$2" ]
  [ "$(json_get preflight.installedVersion)" = "$1" ]
  run_split status --json
  assert_valid_json
  [ "$status" -eq 3 ] || { echo "$out $err"; false; }
  [ "$(json_get result.sandboxes.0.name)" = alpha ]
  run_split upgrade-sandboxes --check --json
  assert_valid_json
  [ "$status" -eq 3 ] || { echo "$out $err"; false; }
  run_split backup-all --json
  assert_valid_json
  [ "$status" -eq 3 ] || { echo "$out $err"; false; }
  [ ! -d "$HOME/.nemoclaw/rebuild-backups/alpha" ] || [ -z "$(ls "$HOME/.nemoclaw/rebuild-backups/alpha")" ]
}

@test "CLI 0.0.104 / gateway 0.0.104: preflight compatible, sandbox Ready and current" { same_version 0.0.104; }
@test "CLI 0.0.111 / gateway 0.0.111: preflight compatible, sandbox Ready and current" { same_version 0.0.111; }
@test "drift CLI 0.0.52 / gateway 0.0.104: preflight, status, --check, backup-all refuse (exit 3)" { drift_pair 0.0.52 0.0.104; }
@test "drift CLI 0.0.52 / gateway 0.0.111: preflight, status, --check, backup-all refuse (exit 3)" { drift_pair 0.0.52 0.0.111; }
@test "drift CLI 0.0.104 / gateway 0.0.111: preflight, status, --check, backup-all refuse (exit 3)" { drift_pair 0.0.104 0.0.111; }
@test "drift CLI 0.0.111 / gateway 0.0.104: preflight, status, --check, backup-all refuse (exit 3)" { drift_pair 0.0.111 0.0.104; }

# The real 0.0.52/0.0.53 drift is silent (every phase reads `Unspecified`, exit 0): nemoclaw must
# never pass that through as a sandbox phase.
@test "drift CLI 0.0.52 / gateway 0.0.111: status never shows an Unspecified phase as a sandbox phase" {
  pair 0.0.52 0.0.111
  run_split status --json
  assert_valid_json
  ! printf '%s' "$out" | grep -q '"phase": "Unspecified"' || false
  [ "$status" -eq 3 ]
}
