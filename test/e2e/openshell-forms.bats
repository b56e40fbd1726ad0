#!/usr/bin/env bats
# The OpenShell call forms and answers measured on the real binaries (SPEC §17, docs/design.md §3),
# exercised end to end against the simulator: the create form by installed version, lifecycle
# calls bounded by the sandbox ready timeout, `sandbox list` paging, an unregistered gateway, the
# preflight's serving-evidence rule and the preflight kept in JSON failures.

load helpers

teardown() {
  teardown_host
}

# stale_sandbox NAME: Ready, seeded, running the previous agent image (2026.6.0).
stale_sandbox() {
  simctl add-sandbox "$1" --phase Ready --agent openclaw \
    --image ghcr.io/nvidia/nemoclaw/sandbox-openclaw:2026.6.0 --seed >/dev/null
  register "$1" openclaw 2026.6.0
}

# create_calls: the argv of every `sandbox create` the simulator logged, one JSON array a line.
create_calls() {
  grep '"sandbox","create"' "$HOST/state/calls.log" || true
}

@test "a rebuild on OpenShell 0.0.104 creates with '--no-tty -- true' (no --detach) and keeps the state" {
  new_host --cli-version 0.0.104 --gateway-version 0.0.104
  simctl start-gateway >/dev/null
  stale_sandbox beta
  before="$(state_dir_of beta)"
  cp -a "$before" "$BATS_TEST_TMPDIR/before"
  run_split upgrade-sandboxes --yes --json
  [ "$status" -eq 0 ]
  assert_valid_json
  [ "$(json_get result.sandboxes.0.status)" = rebuilt ]
  [[ "$(create_calls)" == *'"--name","beta","--from","ghcr.io/nvidia/nemoclaw/sandbox-openclaw:2026.7.1","--no-tty","--","true"'* ]]
  [[ "$(create_calls)" != *"--detach"* ]] || false
  same_tree "$BATS_TEST_TMPDIR/before" "$(state_dir_of beta)"
}

@test "a rebuild on OpenShell 0.0.111 creates with --detach and no command" {
  new_host --cli-version 0.0.111 --gateway-version 0.0.111
  simctl start-gateway >/dev/null
  stale_sandbox beta
  run_split upgrade-sandboxes --yes --json
  [ "$status" -eq 0 ]
  assert_valid_json
  [ "$(json_get result.sandboxes.0.status)" = rebuilt ]
  [[ "$(create_calls)" == *'"--from","ghcr.io/nvidia/nemoclaw/sandbox-openclaw:2026.7.1","--detach"]'* ]]
  [[ "$(create_calls)" != *'"--","true"'* ]] || false
}

@test "create, start and stop carry OPENSHELL_PROVISION_TIMEOUT/OPENSHELL_LIFECYCLE_TIMEOUT = ceil(ready timeout)" {
  new_host --cli-version 0.0.111 --gateway-version 0.0.111
  simctl start-gateway >/dev/null
  stale_sandbox beta
  # A wrapper in front of the simulated CLI records the two variables of every call.
  mkdir -p "$HOST/wrap"
  cat >"$HOST/wrap/openshell" <<SH
#!/bin/sh
echo "\${OPENSHELL_PROVISION_TIMEOUT:-unset} \${OPENSHELL_LIFECYCLE_TIMEOUT:-unset} \${COLUMNS:-unset} \$*" >>"$HOST/env.log"
exec "$HOST/bin/openshell" "\$@"
SH
  chmod +x "$HOST/wrap/openshell"
  COLUMNS=40 NEMOCLAW_OPENSHELL_BIN="$HOST/wrap/openshell" NEMOCLAW_SANDBOX_READY_TIMEOUT_MS=61500 \
    NEMOCLAW_PROBE_TIMEOUT_MS=5000 run_split upgrade-sandboxes --yes
  [ "$status" -eq 0 ]
  grep -q '^62 62 unset -g nemoclaw sandbox create --name beta' "$HOST/env.log"
  grep -q '^62 62 unset sandbox list -g nemoclaw --limit 1000 --offset 0' "$HOST/env.log"
}

@test "restore --create whose create is cut: exit 1, lifecycle_outcome_unknown, never 'nothing was changed'" {
  new_host --cli-version 0.0.111 --gateway-version 0.0.111
  simctl start-gateway >/dev/null
  sandbox_with_state alpha
  run_split backup-all
  [ "$status" -eq 0 ]
  openshell sandbox delete alpha >/dev/null
  simctl set neverReady=true >/dev/null
  SECONDS=0
  NEMOCLAW_SANDBOX_READY_TIMEOUT_MS=1000 run_split restore alpha --create --yes --json
  [ "$status" -eq 1 ]
  [ "$SECONDS" -lt 30 ]
  assert_valid_json
  [ "$(json_get error.code)" = lifecycle_outcome_unknown ]
  msg="$(json_get error.message)"
  [[ "$msg" == *'`openshell sandbox create alpha` did not finish within 1s (exit 1: Error: sandbox provisioning timed out after 1s); the sandbox may have changed (now: Provisioning); look before retrying'* ]]
  [[ "$msg" != *"nothing was changed"* ]] || false
  # The preflight ran: the envelope keeps it on this later failure.
  [ "$(json_get preflight.verdict)" = compatible ]
  # It really was created (the simulated gateway still has it).
  openshell sandbox get alpha >/dev/null
}

@test "150 sandboxes: a registered one beyond the first 100 rows is not missing (status, --check, backup-all)" {
  new_host --cli-version 0.0.111 --gateway-version 0.0.111
  simctl start-gateway >/dev/null
  # 149 unregistered sandboxes sorting first, written straight into the simulator's state.
  "$NODE" -e '
    const fs = require("fs"), path = require("path");
    const dir = path.join(process.argv[1], "state/sandboxes");
    fs.mkdirSync(dir, { recursive: true });
    for (let i = 0; i < 149; i++) {
      const name = `a-${String(i).padStart(3, "0")}`;
      fs.mkdirSync(path.join(dir, name, "root/sandbox"), { recursive: true });
      fs.writeFileSync(path.join(dir, `${name}.json`), JSON.stringify({ id: `id-${i}`, name,
        phase: "Ready", created: "2026-12-04 17:23:11", image: "ghcr.io/nvidia/nemoclaw/sandbox-openclaw:2026.7.1" }));
    }' "$HOST"
  sandbox_with_state zeta
  [ "$(openshell sandbox list | grep -c Ready)" -eq 100 ]
  run_split status --json
  [ "$status" -eq 1 ]
  assert_valid_json
  [ "$(json_get result.sandboxes.0.name)" = zeta ]
  [ "$(json_get result.sandboxes.0.phase)" = Ready ]
  [ "$(json_get result.sandboxes.0.status)" = current ]
  run_split upgrade-sandboxes --check --json
  [ "$status" -eq 0 ]
  [ "$(json_get result.counts.missing)" = 0 ]
  run_split backup-all --require-all
  [ "$status" -eq 0 ]
  [[ "$out" == *"1 backed up, 0 failed, 0 skipped"* ]]
  # Paged: one full page of 1000 was never needed, one short page was enough.
  grep -q '"sandbox","list","-g","nemoclaw","--limit","1000","--offset","0"' "$HOST/state/calls.log"
}

@test "an unregistered gateway name: status degrades (exit 4, onboard advised), other commands exit 4 gateway_not_registered" {
  new_host --cli-version 0.0.111 --gateway-version 0.0.111
  simctl start-gateway >/dev/null
  sandbox_with_state alpha
  run_split backup-all
  [ "$status" -eq 0 ]
  run_split status --gateway other --json
  [ "$status" -eq 4 ]
  assert_valid_json
  # `status -g other` says `No gateway configured.` (exit 0): nothing serves that name, whatever
  # the runtime marker of the port's gateway says.
  [ "$(json_get preflight.verdict)" = unknown ]
  [[ "$(json_get preflight.evidence)" == *'"state":"no-gateway"'* ]]
  [ "$(json_get result.source)" = registry ]
  [ "$(json_get result.sandboxes.0.name)" = alpha ]
  [[ "$(json_get result.actions)" == *"nemoclaw onboard"* ]]
  [ "$(json_get error.code)" = gateway_not_registered ]
  run_split status --gateway other
  [ "$status" -eq 4 ]
  [[ "$out$err" == *"nemoclaw onboard"* ]]
  for cmd in "backup-all" "upgrade-sandboxes --check"; do
    run_split $cmd --gateway other --json
    [ "$status" -eq 4 ]
    assert_valid_json
    [ "$(json_get error.code)" = gateway_not_registered ]
    [[ "$(json_get error.message)" == *"Unknown gateway 'other'."*"nemoclaw onboard"* ]]
    # The preflight ran: the envelope keeps it, and its warning, on this later failure.
    [ "$(json_get preflight.verdict)" = unknown ]
    [[ "$(json_get warnings)" == *"is not registered with openshell"*"nemoclaw onboard"* ]]
  done
  run_split gateway preflight --gateway other --strict
  [ "$status" -eq 3 ]
}

@test "no gateway answering and no live marker: a binary on disk makes no verdict (unknown; --strict exit 3)" {
  new_host --cli-version 0.0.111 --gateway-version 0.0.111
  simctl start-gateway >/dev/null
  simctl stop >/dev/null
  run_split gateway preflight --json
  [ "$status" -eq 0 ]
  assert_valid_json
  [ "$(json_get preflight.verdict)" = unknown ]
  [[ "$(json_get preflight.missing)" == *"no live runtime marker vouches for a gateway process"* ]]
  run_split gateway preflight --strict --json
  [ "$status" -eq 3 ]
  assert_valid_json
  [ "$(json_get error.code)" = preflight_unknown ]
  run_split gateway preflight --gateway nosuch
  [ "$status" -eq 0 ]
  [[ "$err" == *"not registered with openshell"* ]]
}
