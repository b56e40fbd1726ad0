#!/usr/bin/env bats
# The built nemoclaw against a REAL OpenShell 0.0.104 gateway + CLI with real Ready sandboxes
# (kit local driver). 0.0.104 has no `create --detach` and no `sandbox stop/start`.

VERSION=0.0.104
load local.bash

setup_file() { local_setup_file; }
teardown_file() { local_teardown_file; }
setup() { local_setup; }

@test "0.0.104: gateway preflight is compatible (JSON valid)" { check_preflight_compatible; }
@test "0.0.104: status shows every real sandbox Ready and stale, none missing" { check_status_rows; }
@test "0.0.104: upgrade-sandboxes --check reads the live agent version (stale)" { check_check_stale; }
@test "0.0.104: backup-all backs up every Ready sandbox byte for byte" { check_backup_all; }
@test "0.0.104: backups verify passes on real backups" { check_backups_verify; }
@test "0.0.104: restore into a Ready sandbox puts the state back byte for byte" { check_restore_ready; }
@test "0.0.104: restore --create re-creates a deleted sandbox (create --no-tty -- true form)" { check_restore_create; }
@test "0.0.104: upgrade-sandboxes --yes rebuilds end to end, state byte-identical, current after" { check_rebuild; }
@test "0.0.104: a create cut by the ready timeout is lifecycle_outcome_unknown, not bounded by the probe timeout" { check_create_cut; }
