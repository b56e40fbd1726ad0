/** The exit codes of docs/design.md, "Exit codes", identical in every command. */
export const ExitCode = {
  Ok: 0,
  Failed: 1,
  Usage: 2,
  Refused: 3,
  Environment: 4,
  Interrupted: 130,
  Terminated: 143,
} as const;

export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** 130 for SIGINT, 143 for SIGTERM: the one mapping from an interrupting signal to an exit code. */
export function exitCodeForSignal(signal: "SIGINT" | "SIGTERM"): ExitCode {
  return signal === "SIGINT" ? ExitCode.Interrupted : ExitCode.Terminated;
}

/**
 * The worse of two exit codes, for a command that did two things (`backup-all --push`): an
 * interrupt, then a refusal (3), then an environment problem (4), then a failure (1), then success.
 */
export function worseExitCode(a: ExitCode, b: ExitCode): ExitCode {
  const rank = (c: ExitCode) =>
    c === ExitCode.Interrupted || c === ExitCode.Terminated
      ? 6
      : ([0, 2, 5, 4, 3][c as 0 | 1 | 2 | 3 | 4] ?? 0);
  return rank(b) > rank(a) ? b : a;
}
