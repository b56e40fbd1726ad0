#!/usr/bin/env bats
# examples/systemd: the units verify with the real systemd-analyze (ExecStart= pointed at the
# built CLI on a copy, since verify needs the program to exist) and the timers' calendars parse.

load helpers

UNITS="$REPO/examples/systemd"

setup() {
  command -v systemd-analyze >/dev/null || skip "systemd-analyze missing (.ci/run installs Debian's systemd)"
  COPY="$BATS_TEST_TMPDIR/units"
  mkdir -p "$COPY"
  cp "$UNITS"/*.service "$UNITS"/*.timer "$COPY/"
}

@test "systemd-analyze verify: the units as shipped name a program that must exist; with the built CLI they verify" {
  # As shipped they point at /usr/local/bin/nemoclaw: verify refuses while it does not exist here.
  if [ ! -e /usr/local/bin/nemoclaw ]; then
    run systemd-analyze verify "$COPY"/nemoclaw-backup.service
    [ "$status" -ne 0 ]
    [[ "$output" == *"/usr/local/bin/nemoclaw"* ]]
  fi
  sed -i "s#/usr/local/bin/nemoclaw#$REPO/bin/run.js#g" "$COPY"/*.service
  run systemd-analyze verify "$COPY"/*.service "$COPY"/*.timer
  echo "$output"
  [ "$status" -eq 0 ]
  [ -z "$output" ]
}

@test "units: system units with User=, the nightly backup pushes with retention and metrics, timers are persistent and spread" {
  grep -q '^User=nemoclaw$' "$UNITS/nemoclaw-backup.service"
  grep -q '^User=nemoclaw$' "$UNITS/nemoclaw-verify.service"
  grep -qE '^ExecStart=/usr/local/bin/nemoclaw backup-all --keep [0-9]+ --push --metrics-file /.+\.prom$' "$UNITS/nemoclaw-backup.service"
  grep -q '^ExecStart=/usr/local/bin/nemoclaw backups verify --remote$' "$UNITS/nemoclaw-verify.service"
  for timer in nemoclaw-backup.timer nemoclaw-verify.timer; do
    grep -q '^Persistent=true$' "$UNITS/$timer"
    grep -qE '^RandomizedDelaySec=[0-9]+(min|h|s)?$' "$UNITS/$timer"
    grep -q '^WantedBy=timers.target$' "$UNITS/$timer"
  done
  # Every flag the units pass is one the CLI accepts (--help lists it).
  run "$NODE" "$REPO/bin/run.js" backup-all --help
  [[ "$output" == *"--push"* && "$output" == *"--metrics-file"* && "$output" == *"--keep"* ]]
}

@test "systemd-analyze calendar: nightly and weekly" {
  nightly="$(sed -n 's/^OnCalendar=//p' "$UNITS/nemoclaw-backup.timer")"
  weekly="$(sed -n 's/^OnCalendar=//p' "$UNITS/nemoclaw-verify.timer")"
  TZ=UTC run systemd-analyze calendar --iterations=8 "$nightly"
  [ "$status" -eq 0 ]
  [[ "$output" == *"Normalized form: *-*-* 02:30:00"* ]]
  # Eight consecutive days.
  [ "$(grep -cE '(Next elapse|Iter\. #[0-9]+):.* 02:30:00' <<<"$output")" -eq 8 ]
  TZ=UTC run systemd-analyze calendar --iterations=3 "$weekly"
  [ "$status" -eq 0 ]
  [ "$(grep -cE '(Next elapse|Iter\. #[0-9]+): Sun ' <<<"$output")" -eq 3 ]
}
