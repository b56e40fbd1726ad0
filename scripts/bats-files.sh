#!/usr/bin/env bash
# Runs bats test files (TAP on stdout), the files in parallel when GNU parallel is installed
# (bats --jobs needs it; .ci/run installs Debian's `parallel`), one after another otherwise.
# Tests inside a file stay in order: a file's tests may share its setup_file state.
#   NEMOCLAW_TEST_JOBS=N   parallel files (default: 2 per CPU; 1 runs them one after another)
# Usage: scripts/bats-files.sh [BATS OPTION...] DIR|FILE...
set -euo pipefail
cd "$(dirname "$0")/.."
cpus="$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 1)"
jobs="${NEMOCLAW_TEST_JOBS:-$((cpus * 2))}"
if ! [[ "$jobs" =~ ^[1-9][0-9]*$ ]]; then
  echo "NEMOCLAW_TEST_JOBS must be a positive integer, not '$jobs'" >&2
  exit 2
fi
args=(--formatter tap)
if [ "$jobs" -gt 1 ] && command -v parallel >/dev/null 2>&1; then
  args+=(--jobs "$jobs" --no-parallelize-within-files)
  # Longest first, so no long file starts last and runs alone: a directory becomes its files,
  # largest first (a file's size is a fair guess at its duration).
  files=()
  for arg in "$@"; do
    if [ -d "$arg" ]; then
      while IFS= read -r file; do files+=("$file"); done < <(ls -S "$arg"/*.bats)
    else
      files+=("$arg")
    fi
  done
  set -- "${files[@]}"
fi
exec node_modules/bats/bin/bats "${args[@]}" "$@"
