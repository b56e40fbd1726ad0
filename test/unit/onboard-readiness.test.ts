import { describe, expect, it } from "vitest";
import {
  advanceReadiness,
  assessStatus,
  expireReadiness,
  initialReadiness,
  isTerminal,
  nextPollDelay,
  READINESS_DEFAULTS,
  type ReadinessCriteria,
  type ReadinessState,
} from "../../src/domain/gateway-readiness.js";
import type { GatewayStatus } from "../../src/domain/preflight-types.js";

const T0 = 1_000_000;

const criteria: ReadinessCriteria = {
  gatewayName: "nemoclaw",
  version: "0.0.44",
  endpoint: "http://127.0.0.1:8080",
  deadline: T0 + 60_000,
  ...READINESS_DEFAULTS,
};

const healthy: GatewayStatus = {
  state: "connected",
  statusText: "Connected",
  gatewayName: "nemoclaw",
  server: "http://127.0.0.1:8080",
  version: "0.0.44",
};
const unreachable: GatewayStatus = { state: "unreachable" };

/** Feeds (time, status, alive) observations in order and returns every intermediate state. */
function run(observations: Array<[number, GatewayStatus | null, boolean]>, c = criteria): ReadinessState[] {
  const states: ReadinessState[] = [];
  let state = initialReadiness();
  for (const [at, status, processAlive] of observations) {
    state = advanceReadiness(state, { at: T0 + at, status, processAlive }, c);
    states.push(state);
  }
  return states;
}

describe("assessStatus", () => {
  it("accepts Connected under the gateway name, at the endpoint, serving the installed version", () => {
    expect(assessStatus(healthy, criteria)).toEqual({ healthy: true });
    expect(assessStatus({ ...healthy, statusText: "Connected (HTTP)" }, criteria).healthy).toBe(true);
    // Build metadata is not part of the comparison; a missing Server line is not held against it.
    expect(assessStatus({ ...healthy, version: "0.0.44+g123" }, criteria).healthy).toBe(true);
    const { server: _server, ...noServer } = healthy;
    expect(assessStatus(noServer, criteria).healthy).toBe(true);
    expect(assessStatus({ ...healthy, server: "http://127.0.0.1:8080/" }, criteria).healthy).toBe(true);
  });

  it("rejects everything else with a reason that never says healthy", () => {
    const cases: Array<[GatewayStatus | null, RegExp]> = [
      [null, /did not complete/],
      [unreachable, /gateway unreachable/],
      [{ state: "error", statusText: "Error" }, /gateway error \(Error\)/],
      [{ ...healthy, gatewayName: "other" }, /'other', not 'nemoclaw'/],
      [{ ...healthy, gatewayName: undefined }, /'unknown', not 'nemoclaw'/],
      [{ ...healthy, server: "http://127.0.0.1:9090" }, /registered at http:\/\/127.0.0.1:9090/],
      [{ ...healthy, version: "0.0.43" }, /serves 0.0.43, not 0.0.44/],
      [{ ...healthy, version: undefined }, /serves an unknown version/],
    ];
    for (const [status, reason] of cases) {
      const verdict = assessStatus(status, criteria);
      expect(verdict.healthy).toBe(false);
      if (!verdict.healthy) {
        expect(verdict.problem).toMatch(reason);
        expect(verdict.problem).not.toMatch(/healthy/);
      }
    }
  });
});

describe("advanceReadiness", () => {
  it("needs two consecutive healthy polls at least one second apart", () => {
    const states = run([
      [0, unreachable, true],
      [250, healthy, true],
      [700, healthy, true], // too soon: neither counts nor resets
      [1249, healthy, true], // 999 ms after the first healthy poll: still too soon
      [1250, healthy, true],
    ]);
    expect(states.map((s) => s.phase)).toEqual([
      "starting",
      "confirming",
      "confirming",
      "confirming",
      "healthy",
    ]);
    expect(states[4]?.polls).toBe(5);
  });

  it("fails at once when the process is gone, even right after a healthy answer", () => {
    const states = run([
      [0, healthy, true],
      [1000, healthy, false], // answered health, then died (startup migration crash)
    ]);
    expect(states[1]).toMatchObject({ phase: "exited", problem: "the gateway process exited" });
    // Terminal states absorb later observations.
    const after = advanceReadiness(
      states[1] as ReadinessState,
      { at: T0 + 2000, status: healthy, processAlive: true },
      criteria,
    );
    expect(after.phase).toBe("exited");
  });

  it("a dead process fails even before any healthy poll", () => {
    expect(run([[0, null, false]])[0]?.phase).toBe("exited");
  });

  it("an unhealthy poll while confirming starts the confirmation over", () => {
    const states = run([
      [0, healthy, true],
      [1000, { ...healthy, version: "0.0.43" }, true],
      [1250, healthy, true],
      [2000, healthy, true], // only 750 ms after the new first healthy poll
      [2250, healthy, true],
    ]);
    expect(states.map((s) => s.phase)).toEqual([
      "confirming",
      "starting",
      "confirming",
      "confirming",
      "healthy",
    ]);
  });

  it("times out on an unhealthy poll at or after the deadline", () => {
    const c = { ...criteria, deadline: T0 + 1500 };
    const states = run(
      [
        [0, unreachable, true],
        [1500, unreachable, true],
      ],
      c,
    );
    expect(states[1]).toMatchObject({ phase: "timed-out", problem: "gateway unreachable" });
  });

  it("requiredHealthyPolls = 1 accepts the first healthy poll (the rule itself is configurable)", () => {
    expect(run([[0, healthy, true]], { ...criteria, requiredHealthyPolls: 1 })[0]?.phase).toBe("healthy");
  });
});

describe("expireReadiness and nextPollDelay", () => {
  it("expires a non-terminal state at the deadline, with the last problem", () => {
    const starting: ReadinessState = { phase: "starting", polls: 3, problem: "gateway unreachable" };
    expect(expireReadiness(starting, criteria.deadline - 1, criteria)).toBe(starting);
    expect(expireReadiness(starting, criteria.deadline, criteria)).toEqual({
      phase: "timed-out",
      polls: 3,
      problem: "gateway unreachable",
    });
    const confirming: ReadinessState = { phase: "confirming", polls: 2, healthyPolls: 1, lastHealthyAt: T0 };
    expect(expireReadiness(confirming, criteria.deadline, criteria)).toMatchObject({ phase: "timed-out" });
    const done: ReadinessState = { phase: "healthy", polls: 2 };
    expect(expireReadiness(done, criteria.deadline + 1, criteria)).toBe(done);
    expect(isTerminal(done)).toBe(true);
  });

  it("polls at once first, then every startingPollMs, and waits out the confirm interval", () => {
    expect(nextPollDelay(initialReadiness(), T0, criteria)).toBe(0);
    expect(nextPollDelay({ phase: "starting", polls: 1, problem: "x" }, T0, criteria)).toBe(250);
    const confirming: ReadinessState = { phase: "confirming", polls: 2, healthyPolls: 1, lastHealthyAt: T0 };
    expect(nextPollDelay(confirming, T0 + 100, criteria)).toBe(900);
    expect(nextPollDelay(confirming, T0 + 1500, criteria)).toBe(0);
  });

  it("never sleeps past the deadline", () => {
    const c = { ...criteria, deadline: T0 + 300 };
    const confirming: ReadinessState = { phase: "confirming", polls: 2, healthyPolls: 1, lastHealthyAt: T0 };
    expect(nextPollDelay(confirming, T0 + 100, c)).toBe(200);
    expect(nextPollDelay(confirming, T0 + 400, c)).toBe(0);
  });
});
