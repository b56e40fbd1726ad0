// Native-speed answers for the benchmark (knobs `fastQueries` and `fastTransfer`).
//
// A native `openshell` starts in milliseconds; each Node simulator process costs ~80–150 ms of
// CPU. A benchmark that compares nemoclaw with `cp -a` would otherwise measure Node's start-up,
// not nemoclaw. So, for a host whose behaviour is plain (no fault or delay knob active):
//
// - `fastQueries`: the first run of a read-only query (`--version`, `status`, `gateway info`,
//   `sandbox list`, `docker inspect`) goes through Node as usual and its stdout, stderr and exit
//   code are recorded under `state/replay/`; later identical invocations through the same wrapper
//   are replayed by the bash wrapper. Any change to the host's state drops every recording.
// - `fastTransfer`: `openshell -g GW sandbox download NAME /abs/dir DEST` of a directory in a
//   Ready sandbox is done by the bash wrapper with `cp -a`. Anything else (a file, a missing path,
//   an unusual path) falls through to Node, which produces the real errors.
//
// Calls answered this way are logged with `"fast":true`. Neither knob notices a gateway process
// killed behind the simulator's back: they are for benchmarks, never for fault tests.

import fs from "node:fs";
import path from "node:path";
import {
  effectivePhase,
  FAST_ENABLED,
  FAULT_KNOBS,
  hostFromEnv,
  knobsAtDefault,
  listSandboxes,
  readConfig,
  readGateways,
  recordCall,
  replayDir,
  TRANSIENT_PHASES,
  transferDir,
} from "./host-state.mjs";

const SAFE_ARG = /^[A-Za-z0-9._=-]+$/;

/** Knobs under which answers depend on time, call counts or injected faults. */
const QUERY_KNOBS = [
  ...FAULT_KNOBS,
  "cliVersionDelayMs",
  "gatewayVersionDelayMs",
  "gatewayVersionHang",
  "gatewayStartDelayMs",
  "gatewayExitAfterMs",
];
const quiet = (config) => knobsAtDefault(config, QUERY_KNOBS);
const transferQuiet = (config) =>
  knobsAtDefault(config, [
    ...QUERY_KNOBS,
    "transferDelayMs",
    "downloadBytesPerSec",
    "downloadFailAfterBytes",
  ]);

/** Called by `simctl set`: (re)enables or disables both fast paths for the new knobs. */
export function rebuildFastPaths(paths, config) {
  fs.rmSync(replayDir(paths), { recursive: true, force: true });
  if (config.fastQueries && quiet(config)) {
    fs.mkdirSync(replayDir(paths), { recursive: true });
    fs.writeFileSync(path.join(replayDir(paths), FAST_ENABLED), "");
  }
  refreshFastTransfer(paths, config);
}

/** The fast-transfer cache: the gateway names that resolve, and one marker per Ready sandbox. */
export function refreshFastTransfer(paths, config) {
  const dir = transferDir(paths);
  fs.rmSync(dir, { recursive: true, force: true });
  if (!config.fastTransfer || !transferQuiet(config)) return;
  fs.mkdirSync(dir, { recursive: true });
  for (const sandbox of listSandboxes(paths)) {
    if (effectivePhase(sandbox) === "Ready" && !sandbox.readyAt)
      fs.writeFileSync(path.join(dir, sandbox.name), "");
  }
  for (const name of Object.keys(readGateways(paths).gateways)) {
    if (SAFE_ARG.test(name)) fs.writeFileSync(path.join(dir, `.gateway-${name}`), "");
  }
  fs.writeFileSync(path.join(dir, FAST_ENABLED), "");
}

/** Which invocations may be recorded: read-only queries whose answer depends only on state. */
function replayable(tool, argv) {
  const args = argv.filter((a, i) => !(a === "-g" || argv[i - 1] === "-g"));
  const [a, b] = args;
  if (tool === "openshell-gateway") return args.length === 1 && a === "--version";
  if (tool === "docker") return a === "inspect";
  if (args.length === 1 && (a === "--version" || a === "-V")) return true;
  return (
    (a === "status" && args.length === 1) ||
    (a === "gateway" && b === "info" && args.length === 2) ||
    (a === "sandbox" && b === "list" && args.length === 2) ||
    // nemoclaw's paged form: `sandbox list --limit N --offset K`.
    (a === "sandbox" && b === "list" && args.length === 6 && args[2] === "--limit" && args[4] === "--offset")
  );
}

/**
 * The start of every simulated executable: its host (from the wrapper), its arguments logged to
 * `calls.log`, the knobs, and `saveReplay(exitCode)` when this answer may be recorded.
 */
export function startInvocation(tool) {
  const paths = hostFromEnv();
  const argv = process.argv.slice(2);
  recordCall(paths, tool, argv);
  const config = readConfig(paths);
  return { paths, argv, config, saveReplay: replayRecorder(paths, config, tool, argv) };
}

/**
 * Starts capturing this process's stdout and stderr when its invocation may be recorded.
 * Returns `save(exitCode)` to call once the answer is complete, or null.
 */
function replayRecorder(paths, config, tool, argv) {
  const id = process.env.NEMOCLAW_SIM_REPLAY_ID;
  if (!config.fastQueries || !quiet(config) || !id || !/^[0-9a-f]{12}$/.test(id)) return null;
  if (!fs.existsSync(path.join(replayDir(paths), FAST_ENABLED))) return null;
  if (!argv.every((a) => SAFE_ARG.test(a)) || !replayable(tool, argv)) return null;
  // A sandbox still turning Ready (or Stopped) would make `sandbox list` change with time alone.
  if (listSandboxes(paths).some((s) => TRANSIENT_PHASES.includes(s.phase))) return null;
  // A workspace changes what `sandbox list` prints (a WORKSPACE column), not only its arguments.
  if (process.env.OPENSHELL_WORKSPACE) return null;
  const captured = { out: [], err: [] };
  for (const [stream, sink] of [
    [process.stdout, captured.out],
    [process.stderr, captured.err],
  ]) {
    const write = stream.write.bind(stream);
    stream.write = (chunk, ...rest) => {
      sink.push(Buffer.from(chunk));
      return write(chunk, ...rest);
    };
  }
  return (code) => {
    const key = path.join(replayDir(paths), [id, ...argv].join("~"));
    const tmp = `${key}.${process.pid}.tmp`;
    fs.writeFileSync(`${tmp}.out`, Buffer.concat(captured.out));
    fs.writeFileSync(`${tmp}.err`, Buffer.concat(captured.err));
    fs.renameSync(`${tmp}.out`, `${key}.out`);
    fs.renameSync(`${tmp}.err`, `${key}.err`);
    // The exit code is written last: the wrapper replays only once it exists.
    fs.writeFileSync(`${tmp}.code`, `${code ?? 0}\n`);
    fs.renameSync(`${tmp}.code`, `${key}.code`);
  };
}

/** Bash for the top of every wrapper: replay a recorded answer (`id` names the wrapper). */
export function replayBash(tool, id) {
  return [
    `export NEMOCLAW_SIM_REPLAY_ID=${id}`,
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a bash parameter expansion, not a template
    'if [ -f "$NEMOCLAW_SIM_HOST/state/replay/.enabled" ] && [ -z "${OPENSHELL_WORKSPACE:-}" ]; then',
    `  key=${id}; json=""; safe=1`,
    '  for arg in "$@"; do',
    "    case $arg in ''|*[!A-Za-z0-9._=-]*) safe=0; break ;; esac",
    '    key="$key~$arg"; json="$json,\\"$arg\\""',
    "  done",
    '  rec="$NEMOCLAW_SIM_HOST/state/replay/$key"',
    '  if [ "$safe" = 1 ] && [ -f "$rec.code" ]; then',
    '    read -r code <"$rec.code"',
    '    if [ -s "$rec.out" ]; then IFS= read -r -d "" text <"$rec.out"; printf "%s" "$text"; fi',
    '    if [ -s "$rec.err" ]; then IFS= read -r -d "" text <"$rec.err"; printf "%s" "$text" >&2; fi',
    `    printf '{"tool":"${tool}","argv0":"%s","args":[%s],"pid":%d,"fast":true}\\n' "$0" "\${json#,}" "$$" >>"$NEMOCLAW_SIM_HOST/state/calls.log"`,
    '    exit "$code"',
    "  fi",
    "fi",
  ];
}

/** Bash for the `openshell` wrapper: a plain directory download done by `cp -a`. */
export const FAST_TRANSFER_BASH = [
  'if [ "$#" -eq 7 ] && [ "$1" = -g ] && [ "$3" = sandbox ] && [ "$4" = download ] &&',
  '   [ -f "$NEMOCLAW_SIM_HOST/state/fast-transfer/.enabled" ] &&',
  '   [ -f "$NEMOCLAW_SIM_HOST/state/fast-transfer/.gateway-$2" ] && [ -f "$NEMOCLAW_SIM_HOST/state/fast-transfer/$5" ]; then',
  "  case $6:$7 in",
  "    */..:*|*/../*:*|*/.:*|*/./*:*|*//*:*|*[!A-Za-z0-9._/-]*:*|*:*[!A-Za-z0-9._/-]*|*:) ;;",
  "    /?*)",
  '      src="$NEMOCLAW_SIM_HOST/state/sandboxes/$5/root$6"',
  '      if [ -d "$src" ] && [ ! -L "$src" ]; then',
  `        printf '{"tool":"openshell","argv0":"%s","args":["-g","%s","sandbox","download","%s","%s","%s"],"pid":%d,"fast":true}\\n' "$0" "$2" "$5" "$6" "$7" "$$" >>"$NEMOCLAW_SIM_HOST/state/calls.log"`,
  '        mkdir -p -- "$7" && cp -a -- "$src/." "$7/" && exit 0',
  "        exit 1",
  "      fi",
  "      ;;",
  "  esac",
  "fi",
];
