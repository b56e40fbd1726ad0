#!/usr/bin/env bats
# Documentation that must stay true: the CI smoke script of docs/ci.md, run exactly as written,
# and the generated command reference.

load helpers

setup() {
  new_host --cli-version 0.0.44 --gateway-version 0.0.44
  SMOKE="$BATS_TEST_TMPDIR/nemoclaw-smoke.sh"
  sed -n '/<!-- smoke-script -->/,/<!-- smoke-script-end -->/p' "$REPO/docs/ci.md" | sed '1,2d;$d' | sed '$d' >"$SMOKE"
  chmod +x "$SMOKE"
  # `nemoclaw` on PATH, as an operator has it.
  mkdir -p "$HOST/cli"
  printf '#!/bin/sh\nexec %s %s "$@"\n' "$NODE" "$REPO/bin/run.js" >"$HOST/cli/nemoclaw"
  chmod +x "$HOST/cli/nemoclaw"
  export PATH="$HOST/cli:$PATH"
  export NEMOCLAW_SMOKE_ARTIFACTS="$BATS_TEST_TMPDIR/artifacts"
}

teardown() {
  teardown_host
}

@test "docs/ci.md smoke script: the extracted block is the whole script" {
  head -1 "$SMOKE" | grep -q '^#!/usr/bin/env bash$'
  tail -1 "$SMOKE" | grep -q '^exit "\$check"$'
}

@test "docs/ci.md smoke script passes on a healthy host and backs everything up" {
  simctl start-gateway >/dev/null
  sandbox_with_state alpha
  run "$SMOKE" --backup
  [ "$status" -eq 0 ]
  [ -n "$(backups_of alpha)" ]
  for f in preflight upgrade-check backup; do
    printf '%s' "$(cat "$NEMOCLAW_SMOKE_ARTIFACTS/$f.json")" | "$NODE" "$REPO/test/e2e/validate-json.mjs"
  done
}

@test "docs/ci.md smoke script fails with 3 on a drifted host and writes nothing" {
  simctl install-gateway-bin "$HOST/opt/old/openshell-gateway" --version 0.0.43
  simctl start-gateway --bin "$HOST/opt/old/openshell-gateway" >/dev/null
  sandbox_with_state alpha
  run "$SMOKE" --backup
  [ "$status" -eq 3 ]
  [[ "$output" == *"nemoclaw onboard --resume"* ]]
  [ ! -e "$HOME/.nemoclaw/rebuild-backups" ]
}

@test "docs/ci.md smoke script exits 1 when a sandbox is stale" {
  simctl start-gateway >/dev/null
  simctl add-sandbox beta --phase Ready --agent openclaw --image ghcr.io/nvidia/nemoclaw/sandbox-openclaw:2026.6.0 --seed >/dev/null
  register beta openclaw 2026.6.0
  run "$SMOKE"
  [ "$status" -eq 1 ]
}

@test "docs/commands.md is the current generated command reference" {
  copy="$BATS_TEST_TMPDIR/commands.md"
  cp "$REPO/docs/commands.md" "$copy"
  (cd "$REPO" && OCLIF_SKIP_NEW_VERSION_CHECK=true node_modules/.bin/oclif readme --readme-path "$copy" --no-aliases --no-source-links >/dev/null 2>&1)
  diff -u "$REPO/docs/commands.md" "$copy"
}

@test "every command's --help has a summary, a description, at least two examples and described flags" {
  "$NODE" -e '
    const m = require(process.argv[1]);
    const problems = [];
    for (const [id, c] of Object.entries(m.commands)) {
      if (c.pluginName !== "nemoclaw") continue;
      if (!c.summary) problems.push(`${id}: no summary`);
      if (!c.description) problems.push(`${id}: no description`);
      if (!Array.isArray(c.examples) || c.examples.length < 2) problems.push(`${id}: fewer than two examples`);
      if (!String(c.description).includes("EXIT CODES")) problems.push(`${id}: exit codes not in help`);
      for (const [name, f] of Object.entries(c.flags)) if (!f.description) problems.push(`${id} --${name}: no description`);
    }
    if (problems.length) { console.error(problems.join("\n")); process.exit(1); }' "$REPO/oclif.manifest.json"
}

@test "nemoclaw alone shows the topics and commands" {
  run_split
  [ "$status" -eq 0 ]
  [[ "$out" == *"TOPICS"* ]]
  [[ "$out" == *"backups"* ]]
  [[ "$out" == *"gateway"* ]]
  [[ "$out" == *"backup-all"* ]]
  [[ "$out" == *"upgrade-sandboxes"* ]]
}

@test "shell completion is available" {
  run_split autocomplete bash
  [ "$status" -eq 0 ]
  [[ "$out" == *"nemoclaw"* ]]
}

@test "every sh block of the README and docs/ runs as written (<!-- no-test --> blocks aside)" {
  run "$NODE" "$REPO/test/e2e/doc-blocks.mjs" "$REPO/README.md" "$REPO"/docs/*.md
  echo "$output"
  [ "$status" -eq 0 ]
  # the simulator walkthrough is among the blocks that ran
  [[ "$output" == *"ok   README.md:"* ]]
}

@test "the doc-block runner fails a block whose exit code differs from its text, and skips no-test" {
  md="$BATS_TEST_TMPDIR/doc.md"
  printf '%s\n' 'Text.' '' '```sh' 'true   # exit 3' '```' '' '<!-- no-test -->' '```sh' 'false' '```' >"$md"
  run "$NODE" "$REPO/test/e2e/doc-blocks.mjs" "$md"
  echo "$output"
  [ "$status" -eq 1 ]
  [[ "$output" == *"exit 0, the text says 3"* ]]
  [[ "$output" == *"skip "*"(no-test)"* ]]
  printf '%s\n' '```sh' 'false  # exit 1' 'echo fine' '```' >"$md"
  run "$NODE" "$REPO/test/e2e/doc-blocks.mjs" "$md"
  [ "$status" -eq 0 ]
}

@test "docs/commands.md suggests npm pack, never npm install -g of the private package" {
  ! grep -q 'npm install -g nemoclaw' "$REPO/docs/commands.md" || false
  grep -q 'npm pack' "$REPO/docs/commands.md"
  grep -q 'npm install -g ./nemoclaw-' "$REPO/docs/commands.md"
}

@test "every flag of every command appears in the README's command table" {
  "$NODE" -e '
    const m = require(process.argv[1]);
    const readme = require("fs").readFileSync(process.argv[2], "utf8");
    const table = readme.slice(readme.indexOf("## Commands"), readme.indexOf("## Exit codes"));
    const problems = [];
    for (const [id, c] of Object.entries(m.commands)) {
      if (c.pluginName !== "nemoclaw") continue;
      const rows = table.split("\n").filter((l) => l.startsWith(`| \`nemoclaw ${id.replace(/:/g, " ")}`));
      if (!rows.length) { problems.push(`${id}: no row`); continue; }
      for (const name of Object.keys(c.flags)) if (!rows.some((r) => r.includes(`--${name}`))) problems.push(`${id} --${name}`);
    }
    if (problems.length) { console.error(problems.join("\n")); process.exit(1); }' "$REPO/oclif.manifest.json" "$REPO/README.md"
}
