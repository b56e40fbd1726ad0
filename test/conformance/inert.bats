#!/usr/bin/env bats
# Real gateways 0.0.104 and 0.0.111 with the kit's INERT driver (sandboxes stay Provisioning):
# a host with 150 registered sandboxes — more than the 100 rows `sandbox list` returns unpaged —
# has none reported missing.

load helpers.bash

N=150

setup_file() {
  W="$(mktemp -d "${BATS_RUN_TMPDIR:-/tmp}/conformance-inert.XXXXXX")"
  echo "$W" >"$BATS_FILE_TMPDIR/world"
  for v in 0.0.104 0.0.111; do
    mkdir -p "$W/gw-$v"
    start_inert_gateway "$v" "$v" "$W/gw-$v"
    new_world "$W/w-$v" "$v" "$v" "$W/gw-$v/config"
    use_world "$W/w-$v" "$GW_PORT"
    # create blocks until Ready (never here): bounded by OPENSHELL_PROVISION_TIMEOUT, 50 at a time
    local form=(--no-tty -- true)
    [ "$v" = 0.0.104 ] || form=(--detach)
    for i in $(seq -w 1 "$N"); do
      OPENSHELL_PROVISION_TIMEOUT=1 openshell -g nemoclaw sandbox create --name "many-$i" \
        --from example.invalid/confagent:1.0.0 "${form[@]}" >/dev/null 2>&1 &
      if [ $((10#$i % 50)) -eq 0 ]; then wait; fi
    done
    wait
    [ "$(openshell sandbox list -g nemoclaw --limit 1000 --offset 0 | strip_ansi | grep -c '^many-')" -eq "$N" ]
    # the registry, written at once (register() would rewrite the file N times)
    mkdir -p "$HOME/.nemoclaw"
    "$NODE" -e '
      const n = Number(process.argv[2]); const sandboxes = {};
      for (let i = 1; i <= n; i++) {
        const name = `many-${String(i).padStart(3, "0")}`;
        sandboxes[name] = { name, agent: "confagent", agentVersion: "1.0.0", nemoclawVersion: "0.1.0",
          imageTag: "example.invalid/confagent:1.0.0", gatewayName: "nemoclaw", createdAt: "2026-11-01T10:00:00Z" };
      }
      require("fs").writeFileSync(process.argv[1], JSON.stringify({ sandboxes }, null, 2), { mode: 0o600 });' \
      "$HOME/.nemoclaw/sandboxes.json" "$N"
  done
}

teardown_file() {
  W="$(cat "$BATS_FILE_TMPDIR/world" 2>/dev/null)" || return 0
  for v in 0.0.104 0.0.111; do stop_inert_gateway "$W/gw-$v"; done
  rm -rf "$W"
}

world() {
  W="$(cat "$BATS_FILE_TMPDIR/world")"
  use_world "$W/w-$1" "$(cat "$W/gw-$1/port")"
}

none_missing() {
  world "$1"
  [ "$(openshell sandbox list -g nemoclaw | strip_ansi | grep -c '^many-')" -eq 100 ] # the real default page
  run_split "${@:2}" --json
  assert_valid_json
  [ "$status" -ne 3 ] && [ "$status" -ne 4 ] || { echo "$out $err" | head -50; false; }
  [ "$(json_get result.counts.missing)" = 0 ] || { echo "missing: $(json_get result.counts.missing)"; false; }
  printf '%s' "$out" | "$NODE" -e '
    const d = JSON.parse(require("fs").readFileSync(0, "utf8"));
    const rows = d.result.sandboxes;
    if (rows.length !== Number(process.argv[1])) throw new Error(`rows: ${rows.length}`);
    const bad = rows.filter((r) => r.status === "missing" || r.phase !== "Provisioning");
    if (bad.length) throw new Error(JSON.stringify(bad.slice(0, 3)));' "$N"
}

@test "0.0.104 inert, 150 sandboxes: status reports none missing, every one Provisioning" { none_missing 0.0.104 status; }
@test "0.0.111 inert, 150 sandboxes: status reports none missing, every one Provisioning" { none_missing 0.0.111 status; }
@test "0.0.104 inert, 150 sandboxes: upgrade-sandboxes --check reports none missing" { none_missing 0.0.104 upgrade-sandboxes --check; }
@test "0.0.111 inert, 150 sandboxes: upgrade-sandboxes --check reports none missing" { none_missing 0.0.111 upgrade-sandboxes --check; }
