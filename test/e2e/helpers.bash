# Shared setup for the e2e tests: every test gets its own simulated OpenShell host (test/sim)
# in a temp dir, with HOME and PATH pointing into it, and tears it down even on failure.

REPO="$(cd "$BATS_TEST_DIRNAME/../.." && pwd)"
NODE="$(command -v node)"
SIMCTL=("$NODE" "$REPO/test/sim/simctl.mjs")
BASE_PATH="$(dirname "$NODE"):/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# new_host [simctl init flags…]: creates $HOST with a free port and points HOME/PATH at it.
new_host() {
  HOST="$(mktemp -d "${BATS_TMPDIR:-/tmp}/nemoclaw-e2e.XXXXXX")"
  "${SIMCTL[@]}" init "$HOST" --port 0 "$@" >/dev/null
  export HOME="$HOST/home"
  export PATH="$HOST/bin:$BASE_PATH"
  unset NEMOCLAW_HOME NEMOCLAW_GATEWAY NEMOCLAW_OPENSHELL_BIN NEMOCLAW_OPENSHELL_GATEWAY_BIN NEMOCLAW_STRICT_PREFLIGHT
  export NO_COLOR=1
  STATE_DIR="$HOME/.local/state/nemoclaw/openshell-docker-gateway-$(host_port)"
  [ "$(host_port)" = 8080 ] && STATE_DIR="$HOME/.local/state/nemoclaw/openshell-docker-gateway"
  export NEMOCLAW_GATEWAY_PORT="$(host_port)"
}

host_port() {
  "$NODE" -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).port)' "$HOST/state/config.json"
}

simctl() {
  "${SIMCTL[@]}" "$1" "$HOST" "${@:2}"
}

nemoclaw() {
  "$NODE" "$REPO/bin/run.js" "$@"
}

# Runs nemoclaw capturing stdout and stderr apart: $status, $out, $err.
run_split() {
  local errfile="$BATS_TEST_TMPDIR/stderr.$$"
  status=0
  out="$("$NODE" "$REPO/bin/run.js" "$@" 2>"$errfile")" || status=$?
  err="$(cat "$errfile")"
}

assert_valid_json() {
  printf '%s' "$out" | "$NODE" "$REPO/test/e2e/validate-json.mjs"
}

json_get() {
  printf '%s' "$out" | "$NODE" -e '
    let v = JSON.parse(require("fs").readFileSync(0, "utf8"));
    for (const k of process.argv[1].split(".")) v = v == null ? undefined : v[k];
    console.log(typeof v === "object" ? JSON.stringify(v) : String(v));' "$1"
}

teardown_host() {
  if [ -n "${HOST:-}" ] && [ -d "$HOST" ]; then
    "${SIMCTL[@]}" stop "$HOST" >/dev/null 2>&1 || true
    rm -rf "$HOST"
  fi
}

# register NAME [AGENT] [AGENT_VERSION]: adds an entry to $HOME/.nemoclaw/sandboxes.json,
# keeping everything else (and an unknown top-level key, as real registries have).
register() {
  mkdir -p "$HOME/.nemoclaw"
  "$NODE" -e '
    const fs = require("fs"); const [file, name, agent, version] = process.argv.slice(1);
    let doc = { defaultSandbox: name, sandboxes: {}, schemaRevision: 7 };
    try { doc = JSON.parse(fs.readFileSync(file, "utf8")); } catch {}
    doc.sandboxes[name] = { name, agent, agentVersion: version, nemoclawVersion: "0.1.0",
      imageTag: `ghcr.io/nvidia/nemoclaw/sandbox-${agent}:${version}`, gatewayName: "nemoclaw",
      createdAt: "2026-11-01T10:00:00Z", policy: { network: "restricted" } };
    fs.writeFileSync(file, JSON.stringify(doc, null, 2), { mode: 0o600 });' \
    "$HOME/.nemoclaw/sandboxes.json" "$1" "${2:-openclaw}" "${3:-2026.7.1}"
}

# sandbox_with_state NAME [PHASE]: a simulated sandbox with a seeded /sandbox/.openclaw tree, registered.
sandbox_with_state() {
  simctl add-sandbox "$1" --phase "${2:-Ready}" --agent openclaw \
    --image ghcr.io/nvidia/nemoclaw/sandbox-openclaw:2026.7.1 --seed >/dev/null
  register "$1"
}

state_dir_of() {
  simctl sandbox-path "$1" /sandbox/.openclaw
}

backups_of() {
  ls "$HOME/.nemoclaw/rebuild-backups/$1" 2>/dev/null | grep -v '^\.' || true
}

# Trees equal: same names, same bytes, same symlinks (the manifest is not part of the state).
same_tree() {
  diff -r --no-dereference -x rebuild-manifest.json "$1" "$2"
}

# Starts backup-all ARGS... in the background (stdout/stderr in $BATS_TEST_TMPDIR/out, err); sets $pid.
backup_in_background() {
  "$NODE" "$REPO/bin/run.js" backup-all "$@" >"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/err" &
  pid=$!
}

# Waits up to 10 s for a staging directory of sandbox $1 (a backup under way); fails otherwise.
wait_for_staging() {
  for _ in $(seq 100); do
    ls -A "$HOME/.nemoclaw/rebuild-backups/$1" 2>/dev/null | grep -q partial && return 0
    sleep 0.1
  done
  return 1
}

# Sends signal $1 to $pid and reaps it; sets $rc to its exit status.
signal_and_wait() {
  kill "-$1" "$pid"
  rc=0
  wait "$pid" || rc=$?
}
