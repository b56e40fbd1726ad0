#!/usr/bin/env bats
# upgrade-sandboxes --check and rebuilds: the built CLI against the simulator.

load helpers

setup() {
  new_host --cli-version 0.0.44 --gateway-version 0.0.44
  simctl start-gateway >/dev/null
}

teardown() {
  teardown_host
}

# stale_sandbox NAME: Ready, seeded, running the previous agent image (2026.6.0).
stale_sandbox() {
  simctl add-sandbox "$1" --phase Ready --agent openclaw \
    --image ghcr.io/nvidia/nemoclaw/sandbox-openclaw:2026.6.0 --seed >/dev/null
  register "$1" openclaw 2026.6.0
}

state_hash() {
  (cd "$HOME" && find . -path ./.nemoclaw -prune -o -print 2>/dev/null | sort | sha256sum)
  (find "$HOME/.nemoclaw" -exec stat -c '%n %s %Y' {} + 2>/dev/null; find "$HOME/.nemoclaw" -type f -exec sha256sum {} + 2>/dev/null) | sort | sha256sum
}

@test "--check: current, stale, unknown and missing are classified; exit 1; nothing written" {
  sandbox_with_state alpha
  stale_sandbox beta
  simctl add-sandbox gamma --phase Error --agent openclaw --image ghcr.io/nvidia/nemoclaw/sandbox-openclaw:2026.7.1 >/dev/null
  register gamma openclaw ""
  register delta
  before="$(state_hash)"
  run_split upgrade-sandboxes --check
  [ "$status" -eq 1 ]
  [[ "$out" == *"alpha"*"2026.7.1 → 2026.7.1"*"current"* ]]
  [[ "$out" == *"beta"*"2026.6.0 → 2026.7.1"*"stale"* ]]
  [[ "$out" == *"gamma"*"unknown"* ]]
  [[ "$out" == *"delta"*"missing"* ]]
  [ "$before" = "$(state_hash)" ]
  [ ! -e "$HOME/.nemoclaw/rebuild-backups" ]
  [ ! -e "$HOME/.nemoclaw/locks" ]
  ! grep -qE '"(delete|create|upload|download)"' "$HOST/state/calls.log" || false
}

@test "--check with everything current: exit 0 and the all-clear line" {
  sandbox_with_state alpha
  run_split upgrade-sandboxes --check --json
  [ "$status" -eq 0 ]
  assert_valid_json
  run_split upgrade-sandboxes --check
  [[ "$out" == *"All sandboxes are up to date."* ]]
}

@test "--check: a recorded nemoclaw fingerprint that differs makes a sandbox stale" {
  sandbox_with_state alpha
  "$NODE" -e '
    const fs = require("fs"); const f = process.argv[1]; const d = JSON.parse(fs.readFileSync(f, "utf8"));
    d.sandboxes.alpha.nemoclawVersion = "0.0.1"; fs.writeFileSync(f, JSON.stringify(d));' "$HOME/.nemoclaw/sandboxes.json"
  run_split upgrade-sandboxes --check --json
  [ "$status" -eq 1 ]
  [[ "$(json_get result.sandboxes)" == *"built by nemoclaw 0.0.1"* ]]
}

@test "--check: unreachable gateway is exit 4 without destroy or orphan advice" {
  sandbox_with_state alpha
  simctl set unreachable=true
  run_split upgrade-sandboxes --check
  [ "$status" -eq 4 ]
  ! grep -qiE 'orphan|destroy|delete' <<<"$out$err" || false
}

@test "--check: drift refuses with exit 3 before sandbox list" {
  sandbox_with_state alpha
  simctl stop
  simctl set gatewayVersion=0.0.43
  simctl start-gateway >/dev/null
  : >"$HOST/state/calls.log"
  run_split upgrade-sandboxes --check
  [ "$status" -eq 3 ]
  [[ "$err" == *"preflight failed before checking sandbox upgrade state."* ]]
  ! grep -q '"list"' "$HOST/state/calls.log" || false
}

@test "--check: a schema mismatch on a state query refuses with exit 3" {
  sandbox_with_state alpha
  simctl set schemaMismatch=unimplemented
  run_split upgrade-sandboxes --check --json
  [ "$status" -eq 3 ]
  assert_valid_json
  [ "$(json_get preflight.verdict)" = schema_mismatch ]
}

@test "non-interactive without --yes: exit 2 and no OpenShell call at all" {
  stale_sandbox beta
  : >"$HOST/state/calls.log"
  run_split upgrade-sandboxes </dev/null
  [ "$status" -eq 2 ]
  [ ! -s "$HOST/state/calls.log" ]
  run_split upgrade-sandboxes --json </dev/null
  [ "$status" -eq 2 ]
  assert_valid_json
}

@test "rebuild: a stale sandbox keeps its state byte-for-byte; current ones are untouched; registry keeps unknown fields" {
  sandbox_with_state alpha
  stale_sandbox beta
  snapshot="$BATS_TEST_TMPDIR/beta"
  cp -a "$(state_dir_of beta)" "$snapshot"
  alpha_before="$(find "$(state_dir_of alpha)" -type f -exec sha256sum {} + | sort)"
  run_split upgrade-sandboxes --yes
  [ "$status" -eq 0 ]
  [[ "$out" == *"beta: rebuilt"* ]]
  [[ "$out" == *"Upgrade summary: 1 rebuilt, 0 failed, 0 skipped, 1 up to date"* ]]
  same_tree "$snapshot" "$(state_dir_of beta)"
  [ "$alpha_before" = "$(find "$(state_dir_of alpha)" -type f -exec sha256sum {} + | sort)" ]
  ! grep '"delete"' "$HOST/state/calls.log" | grep -q alpha || false
  "$NODE" -e '
    const d = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    const b = d.sandboxes.beta;
    if (b.agentVersion !== "2026.7.1" || b.nemoclawVersion !== "0.1.0") process.exit(1);
    if (b.imageTag !== "ghcr.io/nvidia/nemoclaw/sandbox-openclaw:2026.7.1") process.exit(2);
    if (b.policy.network !== "restricted" || d.schemaRevision !== 7) process.exit(3);' "$HOME/.nemoclaw/sandboxes.json"
  run_split upgrade-sandboxes --check
  [ "$status" -eq 0 ]
}

@test "create failing after the delete: one retry, then FAILED with the backup and a working restore command" {
  stale_sandbox beta
  snapshot="$BATS_TEST_TMPDIR/beta"
  cp -a "$(state_dir_of beta)" "$snapshot"
  registry_before="$(sha256sum <"$HOME/.nemoclaw/sandboxes.json")"
  simctl set createFailTimes=2
  run_split upgrade-sandboxes --yes --json
  [ "$status" -eq 1 ]
  assert_valid_json
  [ "$(grep -c '"create"' "$HOST/state/calls.log")" -eq 2 ]
  cmd="$(json_get result.sandboxes | "$NODE" -e 'console.log(JSON.parse(require("fs").readFileSync(0,"utf8"))[0].recoveryCommand)')"
  [[ "$cmd" == "nemoclaw restore beta --backup "*" --create --yes" ]]
  [ "$registry_before" = "$(sha256sum <"$HOME/.nemoclaw/sandboxes.json")" ]
  # the printed command, run as printed, brings the sandbox back with its state
  read -r -a argv <<<"${cmd#nemoclaw }"
  run_split "${argv[@]}"
  [ "$status" -eq 0 ]
  same_tree "$snapshot" "$(state_dir_of beta)"
}

@test "human FAILED output puts the restore command on a line of its own" {
  stale_sandbox beta
  simctl set createFailTimes=2
  run_split upgrade-sandboxes --yes
  [ "$status" -eq 1 ]
  [[ "$out" == *"beta: FAILED"* ]]
  printf '%s\n' "$out" | grep -qE '^nemoclaw restore beta --backup [0-9T-]+Z --create --yes$'
}

@test "stale but not Ready, unknown and missing sandboxes are skipped with a reason; skips alone exit 0" {
  simctl add-sandbox gamma --phase Error --agent openclaw --image ghcr.io/nvidia/nemoclaw/sandbox-openclaw:2026.6.0 >/dev/null
  register gamma openclaw 2026.6.0
  register delta
  run_split upgrade-sandboxes --yes --json
  [ "$status" -eq 0 ]
  assert_valid_json
  [[ "$(json_get result.sandboxes)" == *"stale but Error, not Ready"* ]]
  [[ "$(json_get result.sandboxes)" == *"missing"* ]]
}

@test "drift refuses a rebuild with exit 3 before anything is listed" {
  stale_sandbox beta
  simctl stop
  simctl set gatewayVersion=0.0.43
  simctl start-gateway >/dev/null
  : >"$HOST/state/calls.log"
  run_split upgrade-sandboxes --auto
  [ "$status" -eq 3 ]
  ! grep -qE '"(list|delete)"' "$HOST/state/calls.log" || false
}

@test "a recreated sandbox that never becomes Ready: retried, then FAILED with the recovery command" {
  stale_sandbox beta
  simctl set neverReady=true
  export NEMOCLAW_SANDBOX_READY_TIMEOUT_MS=1500
  run_split upgrade-sandboxes --yes --json
  [ "$status" -eq 1 ]
  assert_valid_json
  # `sandbox create` blocks until Ready, bounded by OPENSHELL_PROVISION_TIMEOUT = ceil(1.5 s) = 2 s.
  [[ "$(json_get result.sandboxes)" == *'`openshell sandbox create beta` did not finish within 2s (exit 1: Error: sandbox provisioning timed out after 2s); the sandbox may have changed (now: Provisioning); look before retrying'* ]]
  [[ "$(json_get result.sandboxes)" == *"nemoclaw restore beta --backup "* ]]
  [ "$(json_get result.sandboxes.0.code)" = lifecycle_outcome_unknown ]
  [ "$(json_get error.code)" = lifecycle_outcome_unknown ]
  [ "$(grep -c '"create"' "$HOST/state/calls.log")" -eq 2 ]
}

@test "--check: a slow version probe falls back to the registry's version, bounded by the probe timeout" {
  stale_sandbox beta
  simctl set execDelayMs=5000
  export NEMOCLAW_PROBE_TIMEOUT_MS=1000
  start=$(date +%s%N)
  run_split upgrade-sandboxes --check --json
  elapsed=$(( ($(date +%s%N) - start) / 1000000 ))
  [ "$status" -eq 1 ]
  [ "$elapsed" -lt 4500 ]
  [[ "$(json_get result.sandboxes)" == *'"versionSource":"registry"'* ]]
  [[ "$(json_get result.sandboxes)" == *'"status":"stale"'* ]]
}

@test "a schema mismatch after the delete: exit 3 with the modified-sandbox wording and the restore command" {
  stale_sandbox beta
  sandbox_with_state alpha
  # list, two version probes, beta's backup download, the get before the delete, the delete, the
  # get that sees it gone and the get before the create get through; the create does not
  simctl set schemaMismatchAfterCalls=8
  run_split upgrade-sandboxes --yes
  [ "$status" -eq 3 ]
  [[ "$err" == *"OpenShell gateway/schema mismatch was detected while rebuilding sandbox 'beta'."* ]]
  [[ "$err" == *"Sandbox beta was modified; its state is preserved in $HOME/.nemoclaw/rebuild-backups/beta/"* ]]
  [[ "$err" == *"nemoclaw restore beta --backup "*" --create --yes"* ]]
  [[ "$err" != *"No sandbox data was changed."* ]]
  [[ "$out" == *"Upgrade summary:"* ]]
  [ "$(grep -c '"create"' "$HOST/state/calls.log")" -eq 1 ]
}
