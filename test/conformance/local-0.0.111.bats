#!/usr/bin/env bats
# The built nemoclaw against a REAL OpenShell 0.0.111 gateway + CLI with real Ready sandboxes
# (kit local driver): `create --detach`, `sandbox stop/start`, Stopped sandboxes.

VERSION=0.0.111
WITH_STOP=1
load local.bash

setup_file() { local_setup_file; }
teardown_file() { local_teardown_file; }
setup() { local_setup; }

@test "0.0.111: gateway preflight is compatible (JSON valid)" { check_preflight_compatible; }
@test "0.0.111: status shows every real sandbox Ready and stale, none missing" { check_status_rows; }
@test "0.0.111: upgrade-sandboxes --check reads the live agent version (stale)" { check_check_stale; }
@test "0.0.111: backup-all backs up every Ready sandbox byte for byte" { check_backup_all; }
@test "0.0.111: backups verify passes on real backups" { check_backups_verify; }
@test "0.0.111: restore into a Ready sandbox puts the state back byte for byte" { check_restore_ready; }
@test "0.0.111: restore --create re-creates a deleted sandbox (create --detach form)" { check_restore_create; }
@test "0.0.111: upgrade-sandboxes --yes rebuilds end to end, state byte-identical, current after" { check_rebuild; }
@test "0.0.111: restore into a Stopped sandbox restores it and leaves it Stopped" { check_restore_stopped; }
@test "0.0.111: backup-all starts a Stopped sandbox, backs it up byte for byte, stops it again" { check_backup_stopped; }
@test "0.0.111: upgrade-sandboxes --yes rebuilds a stale Stopped sandbox, state byte-identical, left Stopped" { check_rebuild_stopped; }
@test "0.0.111: a create cut by the ready timeout is lifecycle_outcome_unknown, not bounded by the probe timeout" { check_create_cut; }
@test "0.0.111: a start cut by the ready timeout is lifecycle_outcome_unknown, not bounded by the probe timeout" { check_start_cut; }
