import type { GatewayStatus } from "./preflight-types.js";
import { versionsEqual } from "./versions.js";

/**
 * When is a freshly launched gateway healthy? (docs/design.md, "onboard", step 4.)
 *
 * A gateway can answer its health RPC while a startup migration is still running and then crash,
 * so one good `openshell status` proves nothing. The rule: `status -g <gw>` reports Connected,
 * under `<gw>`, at our endpoint, serving the installed version — and the launched process is still
 * alive (not a zombie) right after that poll — on two consecutive polls at least
 * `confirmIntervalMs` apart. The launched process exiting at any point fails at once; so does the
 * deadline passing first.
 *
 * Pure: the caller feeds observations (with their time) and sleeps for `nextPollDelay`.
 */

export interface ReadinessCriteria {
  gatewayName: string;
  /** The installed OpenShell version the gateway must serve. */
  version: string;
  /** `http://127.0.0.1:<port>`; a status naming another server is not our gateway. */
  endpoint: string;
  /** Epoch ms after which a gateway that is not yet healthy has failed. */
  deadline: number;
  /** Minimum spacing of the confirming polls (docs/design.md, "onboard": at least one second). */
  confirmIntervalMs: number;
  /** Consecutive healthy polls required (docs/design.md, "onboard": two). */
  requiredHealthyPolls: number;
  /** Spacing of polls while the gateway is still starting. */
  startingPollMs: number;
}

export const READINESS_DEFAULTS = {
  confirmIntervalMs: 1000,
  requiredHealthyPolls: 2,
  startingPollMs: 250,
} as const;

/** One poll: what `openshell status` said (null when it failed to run) and whether the process lives. */
export interface ReadinessObservation {
  /** Epoch ms at which the liveness check after the status poll completed. */
  at: number;
  status: GatewayStatus | null;
  /** Alive and not a zombie, and still the process instance that was launched. */
  processAlive: boolean;
}

export type ReadinessState =
  | { phase: "starting"; polls: number; problem: string }
  | { phase: "confirming"; polls: number; healthyPolls: number; lastHealthyAt: number }
  | { phase: "healthy"; polls: number }
  | { phase: "exited"; polls: number; problem: string }
  | { phase: "timed-out"; polls: number; problem: string };

export type TerminalReadiness = Extract<ReadinessState, { phase: "healthy" | "exited" | "timed-out" }>;

export function initialReadiness(): ReadinessState {
  return { phase: "starting", polls: 0, problem: "not polled yet" };
}

export function isTerminal(state: ReadinessState): state is TerminalReadiness {
  return state.phase === "healthy" || state.phase === "exited" || state.phase === "timed-out";
}

export type StatusAssessment = { healthy: true } | { healthy: false; problem: string };

/** Two gateway endpoints name the same server (case and trailing slashes do not matter). */
export function sameEndpoint(a: string, b: string): boolean {
  return a.replace(/\/+$/, "").toLowerCase() === b.replace(/\/+$/, "").toLowerCase();
}

/** Does this `openshell status` show *our* gateway serving the installed version? */
export function assessStatus(
  status: GatewayStatus | null,
  criteria: Pick<ReadinessCriteria, "gatewayName" | "version" | "endpoint">,
): StatusAssessment {
  if (status === null) return { healthy: false, problem: "`openshell status` did not complete" };
  if (status.state !== "connected") {
    const text = status.statusText ? ` (${status.statusText})` : "";
    return { healthy: false, problem: `gateway ${status.state}${text}` };
  }
  if (status.gatewayName !== criteria.gatewayName) {
    return {
      healthy: false,
      problem: `status reports gateway '${status.gatewayName ?? "unknown"}', not '${criteria.gatewayName}'`,
    };
  }
  if (status.server !== undefined && !sameEndpoint(status.server, criteria.endpoint)) {
    return { healthy: false, problem: `gateway '${criteria.gatewayName}' is registered at ${status.server}` };
  }
  if (!versionsEqual(status.version, criteria.version)) {
    return {
      healthy: false,
      problem: `gateway serves ${status.version ?? "an unknown version"}, not ${criteria.version}`,
    };
  }
  return { healthy: true };
}

/** Applies one observation. Terminal states absorb everything. */
export function advanceReadiness(
  state: ReadinessState,
  observation: ReadinessObservation,
  criteria: ReadinessCriteria,
): ReadinessState {
  if (isTerminal(state)) return state;
  const polls = state.polls + 1;
  if (!observation.processAlive) {
    return { phase: "exited", polls, problem: "the gateway process exited" };
  }
  const assessment = assessStatus(observation.status, criteria);
  if (assessment.healthy) {
    if (state.phase === "starting") {
      if (criteria.requiredHealthyPolls <= 1) return { phase: "healthy", polls };
      return { phase: "confirming", polls, healthyPolls: 1, lastHealthyAt: observation.at };
    }
    if (observation.at - state.lastHealthyAt >= criteria.confirmIntervalMs) {
      const healthyPolls = state.healthyPolls + 1;
      if (healthyPolls >= criteria.requiredHealthyPolls) return { phase: "healthy", polls };
      return { phase: "confirming", polls, healthyPolls, lastHealthyAt: observation.at };
    }
    // Too soon to count as a confirmation; neither counts nor resets.
    return { ...state, polls };
  }
  const problem = assessment.problem;
  if (observation.at >= criteria.deadline) return { phase: "timed-out", polls, problem };
  return { phase: "starting", polls, problem };
}

/** The deadline passed while waiting: fail unless already terminal. */
export function expireReadiness(
  state: ReadinessState,
  now: number,
  criteria: ReadinessCriteria,
): ReadinessState {
  if (isTerminal(state) || now < criteria.deadline) return state;
  const problem =
    state.phase === "starting" ? state.problem : "the gateway had not yet been confirmed by a second poll";
  return { phase: "timed-out", polls: state.polls, problem };
}

/** How long to wait before the next poll (0 = now). */
export function nextPollDelay(state: ReadinessState, now: number, criteria: ReadinessCriteria): number {
  if (isTerminal(state)) return 0;
  const wanted =
    state.phase === "confirming"
      ? Math.max(0, state.lastHealthyAt + criteria.confirmIntervalMs - now)
      : state.polls === 0
        ? 0
        : criteria.startingPollMs;
  return Math.max(0, Math.min(wanted, criteria.deadline - now));
}
