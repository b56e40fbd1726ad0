#!/usr/bin/env bats
# No gateway answering: a registered gateway with nothing listening (unreachable) and no
# registration at all (unregistered), with the real CLIs 0.0.104 and 0.0.111 and a real
# openshell-gateway binary beside them on disk — which must never vouch for a gateway (SPEC §17).

load helpers.bash

setup_file() {
  W="$(mktemp -d "${BATS_RUN_TMPDIR:-/tmp}/conformance-errors.XXXXXX")"
  echo "$W" >"$BATS_FILE_TMPDIR/world"
  local dead
  dead="$(free_port)" # nothing listens there: the kernel just handed it out and it was closed
  for v in 0.0.104 0.0.111; do
    new_world "$W/dead-$v" "$v" "$v" "$W/dead-$v/xdg"
    XDG_CONFIG_HOME="$W/dead-$v/xdg" "$W/dead-$v/bin/openshell" gateway add "http://127.0.0.1:$dead" --name nemoclaw >/dev/null 2>&1
    echo "$dead" >"$W/dead-$v/port"
    new_world "$W/none-$v" "$v" "$v" "$W/none-$v/xdg"
    echo "$dead" >"$W/none-$v/port"
    for w in dead none; do
      use_world "$W/$w-$v" "$dead"
      register alpha confagent 1.0.0
    done
  done
}

teardown_file() {
  W="$(cat "$BATS_FILE_TMPDIR/world" 2>/dev/null)" && rm -rf "$W"
  return 0
}

world() {
  W="$(cat "$BATS_FILE_TMPDIR/world")"
  use_world "$W/$1" "$(cat "$W/$1/port")"
}

unreachable_status() {
  world "dead-$1"
  run_split status --json
  assert_valid_json
  [ "$status" -eq 4 ] || { echo "$out $err"; false; }
  [ "$(json_get result.sandboxes.0.name)" = alpha ]
}

unreachable_mutations() {
  world "dead-$1"
  for cmd in "upgrade-sandboxes --check" "backup-all" "upgrade-sandboxes --yes"; do
    run_split $cmd --json
    assert_valid_json
    [ "$status" -eq 4 ] || { echo "$cmd: $out $err"; false; }
  done
}

no_evidence_preflight() {
  world "$2-$1"
  run_split gateway preflight --json
  assert_valid_json
  [ "$(json_get preflight.verdict)" = unknown ] || { echo "$out"; false; }
  [ "$status" -eq 0 ]
  run_split gateway preflight --strict --json
  assert_valid_json
  [ "$status" -eq 3 ] || { echo "$out $err"; false; }
  NEMOCLAW_STRICT_PREFLIGHT=1 run_split gateway preflight
  [ "$status" -eq 3 ]
}

unregistered_status() {
  world "none-$1"
  run_split status --json
  assert_valid_json
  [ "$status" -eq 4 ] || { echo "$out $err"; false; }
  [ "$(json_get result.sandboxes.0.name)" = alpha ]
  run_split status
  [ "$status" -eq 4 ]
  printf '%s\n%s' "$out" "$err" | grep -q 'nemoclaw onboard'
}

unregistered_others() {
  world "none-$1"
  for cmd in "upgrade-sandboxes --check" "backup-all" "upgrade-sandboxes --yes"; do
    run_split $cmd --json
    assert_valid_json
    [ "$status" -eq 4 ] || { echo "$cmd: $out $err"; false; }
    [ "$(json_get error.code)" = gateway_not_registered ] || { echo "$cmd: $(json_get error.code)"; false; }
    printf '%s' "$out" | grep -q 'nemoclaw onboard'
  done
}

@test "0.0.104 unreachable gateway: status degrades to registry rows, exit 4" { unreachable_status 0.0.104; }
@test "0.0.111 unreachable gateway: status degrades to registry rows, exit 4" { unreachable_status 0.0.111; }
@test "0.0.104 unreachable gateway: --check, backup-all, upgrade --yes exit 4" { unreachable_mutations 0.0.104; }
@test "0.0.111 unreachable gateway: --check, backup-all, upgrade --yes exit 4" { unreachable_mutations 0.0.111; }
@test "0.0.104 unreachable: preflight is unknown despite a gateway binary on disk; --strict exits 3" { no_evidence_preflight 0.0.104 dead; }
@test "0.0.111 unreachable: preflight is unknown despite a gateway binary on disk; --strict exits 3" { no_evidence_preflight 0.0.111 dead; }
@test "0.0.104 unregistered gateway: status degrades to registry rows, exit 4, advises onboard" { unregistered_status 0.0.104; }
@test "0.0.111 unregistered gateway: status degrades to registry rows, exit 4, advises onboard" { unregistered_status 0.0.111; }
@test "0.0.104 unregistered gateway: --check, backup-all, upgrade --yes exit 4 gateway_not_registered" { unregistered_others 0.0.104; }
@test "0.0.111 unregistered gateway: --check, backup-all, upgrade --yes exit 4 gateway_not_registered" { unregistered_others 0.0.111; }
@test "0.0.104 unregistered: preflight is unknown despite a gateway binary on disk; --strict exits 3" { no_evidence_preflight 0.0.104 none; }
@test "0.0.111 unregistered: preflight is unknown despite a gateway binary on disk; --strict exits 3" { no_evidence_preflight 0.0.111 none; }
