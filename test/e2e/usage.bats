#!/usr/bin/env bats
# Usage errors as a person meets them (SPEC §21): one line of our own, then one help pointer,
# exit 2 — and one JSON document under --json. An unknown sandbox is exit 2 in every command
# that takes one, found before any lock or OpenShell call.

load helpers

setup() {
  new_host --cli-version 0.0.44 --gateway-version 0.0.44
  simctl start-gateway >/dev/null
}

teardown() {
  teardown_host
}

# usage_error EXPECTED_LINE HELP_FOR ARGS…: exit 2, exactly two stderr lines, nothing on stdout,
# no oclif wording or internal ids; then the same with --json: one valid document, code usage.
usage_error() {
  local line="$1" help="$2"
  shift 2
  run_split "$@"
  echo "$err"
  [ "$status" -eq 2 ]
  [ -z "$out" ]
  [ "$(printf '%s\n' "$err" | wc -l)" -eq 2 ]
  [ "$(printf '%s\n' "$err" | head -1)" = "Error: $line" ]
  [ "$(printf '%s\n' "$err" | tail -1)" = "See: nemoclaw ${help:+$help }--help" ]
  [[ "$err" != *"See more help"* ]]
  [[ "$err" != *"The following error"* ]]
  [[ "$err" != *":extra"* ]]
  run_split "$@" --json
  [ "$status" -eq 2 ]
  assert_valid_json
  [ "$(json_get error.code)" = usage ]
  [ "$(json_get error.message)" = "$line" ]
}

@test "missing required flag, bad value, unknown flag: one clean line each" {
  usage_error "missing required flag --keep" "backups prune" backups prune
  usage_error "invalid value for --keep: expected an integer but received: x" "backups prune" backups prune --keep x
  usage_error "unknown flag --bogus" "backups list" backups list --bogus
  usage_error "missing argument SANDBOX" "restore" restore
}

@test "an unexpected argument is named, never as an internal command id" {
  usage_error "unexpected argument: extra" "backups list" backups list extra
  usage_error "unexpected argument: now" "status" status now
}

@test "unknown commands point at the nearest help" {
  usage_error 'unknown command "bogus"' "" bogus
  usage_error 'unknown command "backups bogus"' "backups" backups bogus
}

# unknown_sandbox ARGS…: exit 2, error code unknown_sandbox naming ghost, and no OpenShell call.
unknown_sandbox() {
  : >"$HOST/state/calls.log"
  run_split "$@" --json
  [ "$status" -eq 2 ]
  assert_valid_json
  [ "$(json_get error.code)" = unknown_sandbox ]
  [[ "$(json_get error.message)" == *"unknown sandbox ghost"* ]]
  [ ! -s "$HOST/state/calls.log" ]
  [ ! -e "$HOME/.nemoclaw/locks/maintenance.lock" ]
  run_split "$@"
  [ "$status" -eq 2 ]
  [[ "$err" == "Error: unknown sandbox ghost: "* ]]
}

@test "a sandbox no registry entry, backup or journal knows is exit 2 in every command that takes one" {
  sandbox_with_state alpha
  unknown_sandbox restore ghost --yes
  unknown_sandbox restore ghost --yes --create
  unknown_sandbox upgrade-sandboxes --yes ghost
  unknown_sandbox upgrade-sandboxes --check ghost
  unknown_sandbox backups verify ghost
  unknown_sandbox backups prune ghost --keep 1
  unknown_sandbox backups list --sandbox ghost
}

@test "a known sandbox without a usable backup stays exit 4; one with only backups is known" {
  sandbox_with_state alpha
  run_split restore alpha --yes --json
  [ "$status" -eq 4 ]
  assert_valid_json
  [ "$(json_get error.code)" != unknown_sandbox ]
  run_split backup-all
  [ "$status" -eq 0 ]
  # alpha leaves the registry: its backups still make it known.
  printf '{"sandboxes": {}}\n' >"$HOME/.nemoclaw/sandboxes.json"
  run_split backups verify alpha
  [ "$status" -eq 0 ]
  run_split backups list --sandbox alpha
  [ "$status" -eq 0 ]
  [[ "$out" == *alpha* ]]
}

@test "openshell not found says what to do next" {
  rm -f "$HOST/bin/openshell"
  run_split gateway preflight
  [ "$status" -eq 4 ]
  [[ "$err" == *"openshell not found"* ]]
  [[ "$err" == *"install OpenShell or set NEMOCLAW_OPENSHELL_BIN"* ]]
  [[ "$err" == *"npm run demo"* ]]
}

@test "a flag that needs another is refused without it, before anything runs" {
  usage_error "--repo needs --remote" "status" status --repo /srv/restic
  usage_error "--repo needs --push" "backup-all" backup-all --repo /srv/restic
  usage_error "--host needs --from-repo" "restore" restore alpha --host old-host --yes
  usage_error "--read-data needs --remote" "backups verify" backups verify --read-data
}
