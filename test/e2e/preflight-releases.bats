#!/usr/bin/env bats
# The same drift cases with the output forms of other OpenShell releases, and dev builds.

load helpers

teardown() {
  teardown_host
}

@test "OpenShell 0.0.36 (NAMESPACE era): legacy cluster drift against a 0.0.35 image" {
  new_host --cli-version 0.0.36 --gateway-version 0.0.36
  simctl start-cluster --image ghcr.io/nvidia/openshell/cluster:0.0.35
  run_split gateway preflight --json
  [ "$status" -eq 3 ]
  assert_valid_json
  [ "$(json_get preflight.issue.kind)" = image_drift ]
  [ "$(json_get preflight.installedVersion)" = 0.0.36 ]
}

@test "OpenShell 0.0.36: matching legacy cluster is compatible" {
  new_host --cli-version 0.0.36 --gateway-version 0.0.36
  simctl start-cluster --image ghcr.io/nvidia/openshell/cluster:0.0.36
  run_split gateway preflight --json
  [ "$status" -eq 0 ]
  [ "$(json_get preflight.gateway.mode)" = cluster ]
}

@test "OpenShell 0.0.85 (gateway info Server: form): host-process drift" {
  new_host --cli-version 0.0.85 --gateway-version 0.0.85
  simctl install-gateway-bin "$HOST/opt/old/openshell-gateway" --version 0.0.84
  simctl start-gateway --bin "$HOST/opt/old/openshell-gateway"
  run_split gateway preflight --json
  [ "$status" -eq 3 ]
  assert_valid_json
  [ "$(json_get preflight.issue.kind)" = host_process_drift ]
  [[ "$(json_get preflight.evidence)" == *"http://127.0.0.1:$(host_port)"* ]]
}

@test "OpenShell 0.0.92 (Authentication: line): served drift and compatible" {
  new_host --cli-version 0.0.92 --gateway-version 0.0.91
  simctl start-gateway
  run_split gateway preflight --json
  [ "$status" -eq 3 ]
  [ "$(json_get preflight.gateway.servedVersion)" = 0.0.91 ]
  teardown_host
  new_host --cli-version 0.0.92 --gateway-version 0.0.92
  simctl start-gateway
  run_split gateway preflight --json
  [ "$status" -eq 0 ]
  [ "$(json_get preflight.gateway.servedVersion)" = 0.0.92 ]
}

@test "OpenShell 0.0.92 unreachable gateway (error-only status): a drifted binary on disk proves nothing (unknown; --strict refuses)" {
  new_host --cli-version 0.0.92 --gateway-version 0.0.90
  simctl start-gateway
  simctl stop
  run_split gateway preflight --json
  # No served version and no live marker: which process would serve is unknown (SPEC §17).
  [ "$status" -eq 0 ]
  assert_valid_json
  [ "$(json_get preflight.verdict)" = unknown ]
  [ "$(json_get preflight.gateway.binaryVersion)" = 0.0.90 ]
  [[ "$(json_get preflight.evidence)" == *"unreachable"* ]]
  run_split gateway preflight --strict --json
  [ "$status" -eq 3 ]
  assert_valid_json
  [ "$(json_get error.code)" = preflight_unknown ]
}

@test "dev builds: 0.0.4-dev.6+g2bf9969 on both sides is compatible" {
  new_host --cli-version 0.0.4-dev.6+g2bf9969 --gateway-version 0.0.4-dev.6+g2bf9969
  simctl start-gateway
  run_split gateway preflight --json
  [ "$status" -eq 0 ]
  assert_valid_json
  [ "$(json_get preflight.installedVersion)" = "0.0.4-dev.6+g2bf9969" ]
}

@test "dev builds: a different build of the same prerelease is compatible, another prerelease drifts" {
  new_host --cli-version 0.0.4-dev.6+g2bf9969 --gateway-version 0.0.4-dev.6+gdeadbee
  simctl start-gateway
  run_split gateway preflight
  [ "$status" -eq 0 ]
  teardown_host
  new_host --cli-version 0.0.4-dev.7+g1111111 --gateway-version 0.0.4-dev.6+g2bf9969
  simctl start-gateway
  run_split gateway preflight
  [ "$status" -eq 3 ]
}
