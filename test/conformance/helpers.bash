# Shared setup for the conformance tests: the BUILT nemoclaw CLI against the REAL OpenShell
# binaries of the kit (../shared/openshell-real, README there). Each test file starts its own
# gateway(s) in setup_file on free loopback ports and stops them by pid in teardown_file.
#
# Reuses test/e2e/helpers.bash for nemoclaw/run_split/assert_valid_json/json_get/register.

load ../e2e/helpers.bash

# The kit: $NEMOCLAW_OPENSHELL_REAL, else ../shared/openshell-real beside the repository.
KIT_SRC="${NEMOCLAW_OPENSHELL_REAL:-$REPO/../shared/openshell-real}"
# A cache of the unpacked kit for this run (SPEC §17: tests use a directory of their own).
export OPENSHELL_REAL_CACHE="${OPENSHELL_REAL_CACHE:-${BATS_RUN_TMPDIR:-/tmp}/openshell-real}"
CATALOG="$REPO/test/conformance/catalog.json"

# kit_dir: the unpacked kit (binaries at $KIT/v0.0.111/openshell …).
kit_dir() {
  [ -x "$KIT_SRC/unpack.sh" ] || {
    echo "OpenShell kit not found at $KIT_SRC (set NEMOCLAW_OPENSHELL_REAL)" >&2
    return 1
  }
  "$KIT_SRC/unpack.sh"
}

# free_port: a loopback port nothing listens on right now (the kernel picks it).
free_port() {
  "$NODE" -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close();});'
}

strip_ansi() { sed 's/\x1b\[[0-9;]*m//g'; }

# new_world DIR CLI_VERSION GATEWAY_BIN_VERSION XDG: a host layout for nemoclaw in DIR:
# DIR/bin/{openshell,openshell-gateway} (links into the kit), DIR/home/.config/openshell -> XDG/openshell.
new_world() {
  local dir=$1 cv=$2 gbv=$3 xdg=$4 kit
  kit=$(kit_dir)
  mkdir -p "$dir/bin" "$dir/home/.config" "$xdg/openshell"
  ln -sfn "$kit/v$cv/openshell" "$dir/bin/openshell"
  [ -z "$gbv" ] || ln -sfn "$kit/v$gbv/openshell-gateway" "$dir/bin/openshell-gateway"
  ln -sfn "$xdg/openshell" "$dir/home/.config/openshell"
}

# use_world DIR PORT: points HOME/PATH (and the gateway port) of this test at a world.
use_world() {
  export HOME="$1/home"
  export PATH="$1/bin:$BASE_PATH"
  export NEMOCLAW_GATEWAY_PORT="$2"
  export NEMOCLAW_AGENT_CATALOG="$CATALOG"
  unset NEMOCLAW_HOME NEMOCLAW_GATEWAY NEMOCLAW_OPENSHELL_BIN NEMOCLAW_OPENSHELL_GATEWAY_BIN NEMOCLAW_STRICT_PREFLIGHT
  export NO_COLOR=1
}

# start_local_gateway VERSION DIR: a real gateway with the kit's local driver (real Ready
# sandboxes), registered as "nemoclaw" in DIR/xdg. Sets GW_PORT. Stop with stop_local_gateway DIR.
start_local_gateway() {
  local v=$1 dir=$2
  GW_PORT=$(free_port)
  mkdir -p "$dir"
  "$KIT_SRC/start.sh" --port "$GW_PORT" --state "$dir/state" --xdg-config "$dir/xdg" --version "v$v" \
    >"$dir/start.log" 2>&1 || { cat "$dir/start.log" >&2; return 1; }
  echo "$GW_PORT" >"$dir/port"
}

# Stops what start_local_gateway started (by the pids in the state dir), and a swapped-in inert
# driver (swap_to_inert_driver), also by pid.
stop_local_gateway() {
  local dir=$1
  [ -d "$dir/state" ] || return 0
  if [ -f "$dir/state/fake-driver.pid" ]; then
    kill "$(cat "$dir/state/fake-driver.pid")" 2>/dev/null || true
    rm -f "$dir/state/fake-driver.pid"
  fi
  "$KIT_SRC/stop.sh" --state "$dir/state" >/dev/null 2>&1 || true
}

# swap_to_inert_driver DIR: replaces the local driver of a running start_local_gateway with the
# kit's inert driver on the same socket (FACTS: the gateway reconnects). Afterwards a Stopped
# sandbox's `start` and any `create` block until their timeout. The local driver's sandboxes die.
swap_to_inert_driver() {
  local dir=$1 kit pid
  kit=$(kit_dir)
  pid=$(cat "$dir/state/driver.pid")
  kill "$pid"
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  rm -f "$dir/state/driver.pid" "$dir/state/driver.sock"
  setsid "$kit/bin/openshell-fake-driver" "$dir/state/driver.sock" >"$dir/state/fake-driver.log" 2>&1 </dev/null &
  echo $! >"$dir/state/fake-driver.pid"
  for _ in $(seq 100); do [ -S "$dir/state/driver.sock" ] && return 0; sleep 0.05; done
  return 1
}

# start_inert_gateway GATEWAY_VERSION CLI_VERSION DIR: start-inert.sh (sandboxes never Ready).
# Registers "nemoclaw" in DIR/config. Sets GW_PORT. Stop with stop_inert_gateway DIR.
start_inert_gateway() {
  local gv=$1 cv=$2 dir=$3
  GW_PORT=$(free_port)
  "$KIT_SRC/start-inert.sh" "$gv" "$GW_PORT" "$dir" "$cv" >"$dir.start.log" 2>&1 ||
    { cat "$dir.start.log" >&2; return 1; }
  echo "$GW_PORT" >"$dir/port"
}

stop_inert_gateway() {
  [ -d "$1" ] && "$KIT_SRC/stop-inert.sh" "$1" >/dev/null 2>&1
  return 0
}

# os ARGS…: the world's openshell (first in PATH) with ANSI stripped; status in $? via PIPESTATUS.
os() {
  openshell "$@"
}

# create_ready NAME: creates a real sandbox with the form of the world's CLI version (SPEC §17)
# and waits until `sandbox get` shows Ready.
create_ready() {
  local name=$1 v
  v=$(openshell --version | strip_ansi | awk '{print $2}')
  if [ "$(printf '%s\n' "$v" 0.0.111 | sort -V | head -1)" = 0.0.111 ]; then
    timeout 120 openshell -g nemoclaw sandbox create --name "$name" --from example.invalid/confagent:1.0.0 --detach >/dev/null 2>&1
  else
    timeout 120 openshell -g nemoclaw sandbox create --name "$name" --from example.invalid/confagent:1.0.0 --no-tty -- true >/dev/null 2>&1
  fi
  wait_phase "$name" Ready
}

# phase_of NAME: the phase `sandbox get` reports (empty when it fails).
phase_of() {
  openshell -g nemoclaw sandbox get "$1" 2>/dev/null | strip_ansi | sed -n 's/^ *Phase: *//p' | head -1
}

# wait_phase NAME PHASE [SECONDS]
wait_phase() {
  for _ in $(seq $((${3:-30} * 10))); do
    [ "$(phase_of "$1")" = "$2" ] && return 0
    sleep 0.1
  done
  echo "sandbox $1 never reached $2 (now: $(phase_of "$1"))" >&2
  return 1
}

# wait_gone NAME [SECONDS]: until `sandbox get` says the sandbox is not found.
wait_gone() {
  for _ in $(seq $((${2:-30} * 10))); do
    openshell -g nemoclaw sandbox get "$1" 2>&1 | strip_ansi | grep -q 'sandbox not found' && return 0
    sleep 0.1
  done
  echo "sandbox $1 still there (phase: $(phase_of "$1"))" >&2
  return 1
}

# sx NAME CMD…: runs CMD in the sandbox (real exec).
sx() {
  local name=$1
  shift
  openshell -g nemoclaw sandbox exec -n "$name" --no-tty -- "$@"
}

# seed_state NAME: realistic agent state in the catalog's state dirs, plus the "image version"
# marker outside them (/sandbox/.image-version) that makes the sandbox stale (catalog.json).
seed_state() {
  sx "$1" sh -c '
    set -e
    d=/sandbox/.confagent; p=/sandbox/projects
    mkdir -p "$d/credentials" "$d/workspace/src" "$d/empty-dir" "$p/alpha/notes"
    printf "{\"model\":\"x\",\"name\":\"%s\"}\n" "$0" > "$d/config.json"; chmod 600 "$d/config.json"
    echo "tok-$0" > "$d/credentials/token"; chmod 600 "$d/credentials/token"; chmod 700 "$d/credentials"
    printf "#!/bin/sh\necho hi\n" > "$d/workspace/run.sh"; chmod 755 "$d/workspace/run.sh"
    echo "print(1)" > "$d/workspace/src/main.py"
    printf "caf\303\251 \342\234\223\n" > "$d/workspace/$(printf "r\303\251sum\303\251 \342\200\223 notes.txt")"
    ln -s run.sh "$d/workspace/link-to-run"
    ln -s /nonexistent/target "$d/workspace/dangling"
    head -c 4219 /dev/urandom > "$d/workspace/blob.bin"
    printf "*.log\n" > "$d/.gitignore"; echo ignored > "$d/agent.log"
    echo "# notes" > "$p/alpha/notes/README.md"
    echo 1.0.0 > /sandbox/.image-version
  ' "$1"
}

# state_listing NAME: every entry of the state dirs, with mode, size, link target and sha256.
state_listing() {
  sx "$1" sh -c '
    export LC_ALL=C; cd /sandbox && find .confagent projects -printf "%y|%m|%s|%l|%p\n" | sort |
    while IFS="|" read -r t m s l p; do
      if [ "$t" = f ]; then h=$(sha256sum <"$p" | cut -c1-64); else h=-; s=-; fi
      printf "%s\n" "$t $m $s ${l:--} $h $p"
    done'
}
