import type { ErrorCode } from "./error-codes.js";
import { ExitCode, exitCodeForSignal } from "./exit-codes.js";

/**
 * The exit code and JSON `error` of a command whose outcome is more than one fact, decided here
 * (pure, tested in test/unit/command-verdicts.test.ts) so the command classes only render it.
 * Precedence follows docs/design.md, "Exit codes": an interrupt, then 3, then 4, then 1, then 0.
 */

export interface VerdictError {
  code: ErrorCode;
  message: string;
  diagnostic?: string[];
}

export interface CommandVerdict {
  exitCode: ExitCode;
  error?: VerdictError;
}

export interface StatusFacts {
  /** The preflight refused (drift, schema mismatch, unknown under --strict). */
  refusal: { code: ErrorCode; message: string; diagnostic: string[] } | null;
  /** The gateway could not be reached. */
  unreachable: { code: ErrorCode; message: string } | null;
  /** `--remote`: the restic repository could not be read. */
  repoProblem: { code: ErrorCode; message: string } | null;
  /** Some sandbox needs action (stale, unknown, missing, interrupted, old or no backup). */
  needsAction: boolean;
  /** The commands that fix what needs action, in order. */
  actions: string[];
  /** `--remote`: some sandbox has no off-host copy, or one older than --max-age. */
  offhostStale: boolean;
}

/** `status`: 3 over 4 over 1 over 0 (docs/design.md, "status"). */
export function statusVerdict(facts: StatusFacts): CommandVerdict {
  const { refusal, unreachable, repoProblem } = facts;
  if (refusal) {
    return {
      exitCode: ExitCode.Refused,
      error: { code: refusal.code, message: refusal.message, diagnostic: refusal.diagnostic },
    };
  }
  const environment = unreachable ?? repoProblem;
  if (environment) {
    return {
      exitCode: ExitCode.Environment,
      error: { code: environment.code, message: environment.message },
    };
  }
  if (!facts.needsAction && !facts.offhostStale) return { exitCode: ExitCode.Ok };
  const actions = [...facts.actions, ...(facts.offhostStale ? ["nemoclaw backups push"] : [])];
  return {
    exitCode: ExitCode.Failed,
    error: { code: "action_needed", message: actions.join("; ") || "something needs action" },
  };
}

export interface PushFacts {
  interrupted: "SIGINT" | "SIGTERM" | null;
  /** The repository could not be used at all (nothing was pushed). */
  problem?: { code: ErrorCode; message: string } | null;
  pushed: number;
  failed: number;
}

/** `backups push` (and the push of `backup-all --push`): interrupt, then 4, then 1, then 0. */
export function pushVerdict(facts: PushFacts): CommandVerdict {
  if (facts.interrupted) {
    return {
      exitCode: exitCodeForSignal(facts.interrupted),
      error: { code: "interrupted", message: `interrupted by ${facts.interrupted}` },
    };
  }
  if (facts.problem) {
    return {
      exitCode: ExitCode.Environment,
      error: { code: facts.problem.code, message: facts.problem.message },
    };
  }
  if (facts.failed === 0) return { exitCode: ExitCode.Ok };
  return {
    exitCode: ExitCode.Failed,
    error: {
      code: "push_failed",
      message: `${facts.failed} of ${facts.failed + facts.pushed} backups failed to push`,
    },
  };
}
