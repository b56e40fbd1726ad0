#!/usr/bin/env bats
# `nemoclaw gateway preflight` end to end: the built CLI against the OpenShell simulator.

load helpers

setup() {
  new_host --cli-version 0.0.44 --gateway-version 0.0.44
}

teardown() {
  teardown_host
}

anchors_present() {
  [[ "$err" == *"OpenShell gateway schema preflight failed before checking the gateway."* ]]
  [[ "$err" == *"Installed OpenShell: $1"* ]]
  [[ "$err" == *"Refusing to trust OpenShell sandbox state while the host CLI and gateway schema may be out of sync."* ]]
  [[ "$err" == *"No sandbox data was changed."* ]]
  [[ "$err" == *"Recovery:"* ]]
  [[ "$err" == *"2. Rerun \`nemoclaw gateway preflight\` after \`openshell status\` reports a healthy NemoClaw gateway."* ]]
}

@test "healthy host-process gateway from a live marker is compatible (exit 0)" {
  simctl start-gateway
  run_split gateway preflight
  [ "$status" -eq 0 ]
  [[ "$out" == *"is compatible with the installed OpenShell 0.0.44"* ]]
  [[ "$out" == *"running, from the runtime marker"* ]]
  [ -z "$err" ]
}

@test "live-marker drift: the running gateway binary is older than the CLI (exit 3)" {
  simctl install-gateway-bin "$HOST/opt/old/openshell-gateway" --version 0.0.43
  simctl start-gateway --bin "$HOST/opt/old/openshell-gateway"
  run_split gateway preflight
  [ "$status" -eq 3 ]
  anchors_present 0.0.44
  [[ "$err" == *"Running gateway binary: $HOST/opt/old/openshell-gateway (0.0.43)"* ]]
  [[ "$err" == *"Serving gateway version: 0.0.43 (reported by \`openshell status\`)"* ]]
  # The binary onboard would launch (beside openshell) is current: onboard is the fix.
  [[ "$err" == *"1. Run \`nemoclaw onboard --resume\` to repair or recreate the NemoClaw gateway with the installed OpenShell version."* ]]
  [[ "$err" != *"cluster"* ]]
  [ -z "$out" ]
}

@test "marker-less sibling fallback drift advises reinstalling OpenShell (exit 3)" {
  simctl set gatewayVersion=0.0.43
  # The sibling binary serves (status reports 0.0.43); no runtime marker names it.
  simctl start-gateway >/dev/null
  rm "$STATE_DIR/runtime.json"
  run_split gateway preflight
  [ "$status" -eq 3 ]
  anchors_present 0.0.44
  [[ "$err" == *"Running gateway binary: $HOST/bin/openshell-gateway (0.0.43)"* ]]
  [[ "$err" == *"Reinstall OpenShell so that \`openshell\` and \`openshell-gateway\` have the same version, then run \`nemoclaw onboard --resume\`."* ]]
}

@test "a stale marker (dead pid) of an old binary gives no false positive and is never executed" {
  simctl install-gateway-bin "$HOST/opt/old/openshell-gateway" --version 0.0.43
  simctl start-gateway --bin "$HOST/opt/old/openshell-gateway"
  pid="$(cat "$STATE_DIR/openshell-gateway.pid")"
  kill "$pid"
  while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
  : >"$HOST/state/calls.log"
  run_split gateway preflight --json
  [ "$status" -eq 0 ]
  assert_valid_json
  # Nothing serves and no live marker vouches: the matching sibling binary on disk proves
  # nothing about what serves, so the verdict is unknown (never compatible).
  [ "$(json_get preflight.verdict)" = unknown ]
  [ "$(json_get preflight.gateway.binarySource)" = sibling ]
  ! grep -q "opt/old/openshell-gateway" "$HOST/state/calls.log" || false
}

@test "legacy cluster image drift (exit 3) names the cluster volumes" {
  simctl start-cluster --image ghcr.io/nvidia/openshell/cluster:0.0.36
  run_split gateway preflight
  [ "$status" -eq 3 ]
  anchors_present 0.0.44
  [[ "$err" == *"Running gateway image: ghcr.io/nvidia/openshell/cluster:0.0.36 (0.0.36)"* ]]
  [[ "$err" == *"openshell-cluster-nemoclaw"* ]]
}

@test "patched nemoclaw-cluster image tag drift: the suffix is not a prerelease" {
  simctl start-cluster --image ghcr.io/nvidia/nemoclaw/nemoclaw-cluster:0.0.36-fuse-overlayfs-aa8b8487
  run_split gateway preflight --json
  [ "$status" -eq 3 ]
  assert_valid_json
  [ "$(json_get preflight.issue.kind)" = image_drift ]
  [ "$(json_get preflight.gateway.mode)" = cluster ]
  [ "$(json_get preflight.gateway.imageVersion)" = 0.0.36 ]
}

@test "a stopped leftover cluster container does not mask host-process drift" {
  simctl start-cluster --image ghcr.io/nvidia/openshell/cluster:0.0.44 --stopped
  simctl install-gateway-bin "$HOST/opt/old/openshell-gateway" --version 0.0.43
  simctl start-gateway --bin "$HOST/opt/old/openshell-gateway"
  run_split gateway preflight --json
  [ "$status" -eq 3 ]
  assert_valid_json
  [ "$(json_get preflight.gateway.mode)" = host-process ]
  [ "$(json_get preflight.issue.kind)" = host_process_drift ]
  [[ "$(json_get error.diagnostic)" != *"cluster"* ]]
}

@test "a stopped leftover cluster container of an old version causes no false drift" {
  simctl start-cluster --image ghcr.io/nvidia/openshell/cluster:0.0.30 --stopped
  simctl start-gateway
  run_split gateway preflight
  [ "$status" -eq 0 ]
}

@test "served-version drift: binary replaced in place while the old process still serves (exit 3)" {
  simctl set gatewayVersion=0.0.43
  simctl start-gateway
  simctl set gatewayVersion=0.0.44
  run_split gateway preflight --json
  [ "$status" -eq 3 ]
  assert_valid_json
  [ "$(json_get preflight.issue.kind)" = served_version_drift ]
  [ "$(json_get preflight.gateway.binaryVersion)" = 0.0.44 ]
  [ "$(json_get preflight.gateway.servedVersion)" = 0.0.43 ]
  [[ "$(json_get error.diagnostic)" == *"Serving gateway version: 0.0.43 (reported by \`openshell status\`)"* ]]
}

@test "a hanging openshell-gateway --version is bounded by the probe timeout, leaving no process behind" {
  simctl start-gateway
  simctl set gatewayVersionHang=true
  export NEMOCLAW_PROBE_TIMEOUT_MS=1500
  start=$(date +%s%N)
  run_split gateway preflight --json
  elapsed_ms=$(( ($(date +%s%N) - start) / 1000000 ))
  # One matching served version is enough: compatible despite the hanging binary probe.
  [ "$status" -eq 0 ]
  assert_valid_json
  [ "$(json_get preflight.verdict)" = compatible ]
  [[ "$(json_get preflight.evidence)" == *"timed out after 1500 ms"* ]]
  [ "$elapsed_ms" -lt 6000 ]
  # The hung `--version` process and the grandchild holding its pipes were both recorded by the
  # simulator, and both are gone (their process group was killed): only the gateway lives.
  grep -q gateway-version-hang-grandchild "$HOST/state/pids"
  for _ in $(seq 20); do
    simctl pids --long | grep -q hang || break
    sleep 0.1
  done
  [ "$(simctl pids --long | grep -c hang)" -eq 0 ]
  [ "$(simctl pids --long | grep -c gateway)" -eq 1 ]
}

@test "an untrusted marker binary (live foreign pid) is never executed" {
  simctl install-gateway-bin "$HOST/opt/evil/openshell-gateway" --version 0.0.44
  simctl start-gateway
  foreign="$(simctl spawn-foreign)"
  marker="$STATE_DIR/runtime.json"
  "$NODE" -e '
    const fs = require("fs"); const [file, pid, bin] = process.argv.slice(1);
    const m = JSON.parse(fs.readFileSync(file, "utf8")); m.pid = Number(pid); m.gatewayBin = bin;
    fs.writeFileSync(file, JSON.stringify(m));' "$marker" "$foreign" "$HOST/opt/evil/openshell-gateway"
  : >"$HOST/state/calls.log"
  run_split gateway preflight --json
  assert_valid_json
  ! grep -q "opt/evil" "$HOST/state/calls.log" || false
  [ "$(json_get preflight.gateway.binarySource)" = sibling ]
  [[ "$(json_get preflight.evidence)" == *"runtime-marker"* ]]
  [ "$status" -eq 0 ]
}

@test "a marker pointing at another gateway's live pid is not trusted" {
  simctl install-gateway-bin "$HOST/opt/other/openshell-gateway" --version 0.0.43
  simctl install-gateway-bin "$HOST/opt/claimed/openshell-gateway" --version 0.0.43
  simctl start-gateway
  other="$(simctl start-gateway --bin "$HOST/opt/other/openshell-gateway" --port 0 --no-marker --no-register --name other)"
  "$NODE" -e '
    const fs = require("fs"); const [file, pid, bin] = process.argv.slice(1);
    const m = JSON.parse(fs.readFileSync(file, "utf8")); m.pid = Number(pid); m.gatewayBin = bin;
    fs.writeFileSync(file, JSON.stringify(m));' "$STATE_DIR/runtime.json" "$other" "$HOST/opt/claimed/openshell-gateway"
  : >"$HOST/state/calls.log"
  run_split gateway preflight --json
  [ "$status" -eq 0 ]
  ! grep -q "opt/claimed" "$HOST/state/calls.log" || false
  [ "$(json_get preflight.gateway.binarySource)" = sibling ]
}

@test "unknown verdict warns and exits 0; --strict refuses with exit 3" {
  rm "$HOST/bin/openshell-gateway"
  run_split gateway preflight
  [ "$status" -eq 0 ]
  [[ "$out" == *"compatibility is unknown"* ]]
  [[ "$err" == *"the version of the gateway serving 'nemoclaw'"* ]]
  run_split gateway preflight --strict --json
  [ "$status" -eq 3 ]
  assert_valid_json
  [ "$(json_get preflight.verdict)" = unknown ]
  [ "$(json_get error.code)" = preflight_unknown ]
  NEMOCLAW_STRICT_PREFLIGHT=1 run_split gateway preflight
  [ "$status" -eq 3 ]
}

@test "no openshell anywhere: exit 4 with a one-line message and no stack trace" {
  export PATH="$BASE_PATH"
  run_split gateway preflight
  [ "$status" -eq 4 ]
  [ "$(printf '%s\n' "$err" | wc -l)" -eq 1 ]
  [[ "$err" == *"openshell"* ]]
  [[ "$err" != *"    at "* ]]
  run_split gateway preflight --json
  [ "$status" -eq 4 ]
  assert_valid_json
  [ "$(json_get error.code)" = openshell_not_found ]
}

@test "--json is one schema-valid document for compatible, drift and usage errors" {
  simctl start-gateway
  run_split gateway preflight --json
  [ "$status" -eq 0 ]
  assert_valid_json
  [ "$(json_get ok)" = true ]
  [ "$(json_get command)" = "gateway preflight" ]
  [ "$(json_get result.proceed)" = true ]
  run_split gateway preflight --json --bogus
  [ "$status" -eq 2 ]
  assert_valid_json
  [ "$(json_get error.code)" = usage ]
  run_split gateway preflight --json --gateway 'bad name;rm'
  [ "$status" -eq 2 ]
  assert_valid_json
  run_split no-such-command --json
  [ "$status" -eq 2 ]
  assert_valid_json
}

@test "usage error without --json: one line of our own and the help pointer, exit 2" {
  run_split gateway preflight --bogus
  [ "$status" -eq 2 ]
  [ "$(printf '%s\n' "$err" | wc -l)" -eq 2 ]
  [ "$(printf '%s\n' "$err" | head -1)" = "Error: unknown flag --bogus" ]
  [ "$(printf '%s\n' "$err" | tail -1)" = "See: nemoclaw gateway preflight --help" ]
  [ -z "$out" ]
}

@test "--help lists examples and the exit codes" {
  run_split gateway preflight --help
  [ "$status" -eq 0 ]
  [[ "$out" == *"EXAMPLES"* ]]
  [[ "$out" == *"--strict --json"* ]]
  [[ "$out" == *"EXIT CODES"* ]]
  [[ "$out" == *"refused by the gateway preflight"* ]]
}

@test "--version prints the CLI version" {
  run_split --version
  [ "$status" -eq 0 ]
  [[ "$out" == nemoclaw/0.* ]]
}

@test "--gateway with a name OpenShell does not know: a warning and unknown, never compatible" {
  simctl start-gateway >/dev/null
  run_split gateway preflight --gateway nosuch
  [ "$status" -eq 0 ]
  [[ "$out" == *"gateway 'nosuch' compatibility is unknown: OpenShell knows no gateway by that name"* ]]
  [[ "$out" != *"is compatible"* ]]
  [[ "$err" == *"could not verify the gateway"* ]]
  run_split gateway preflight --gateway nosuch --json
  [ "$status" -eq 0 ]
  assert_valid_json
  [ "$(json_get preflight.verdict)" = unknown ]
  [ "$(json_get result.verdict)" = unknown ]
  [ "$(json_get warnings)" != "[]" ]
  run_split gateway preflight --gateway nosuch --strict
  [ "$status" -eq 3 ]
}
