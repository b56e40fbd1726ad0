import type { ProcessRunner, RunResult } from "./process-runner.js";

/** Legacy cluster gateways (OpenShell ≤ 0.0.36) run as this Docker container. */
export function clusterContainerName(gateway: string): string {
  return `openshell-cluster-${gateway}`;
}

/**
 * `docker inspect --type container openshell-cluster-<gw>` (JSON form). `docker` is found on
 * PATH by the runner without a shell; a missing client shows up as `startError`.
 */
export function inspectClusterContainer(
  runner: ProcessRunner,
  gateway: string,
  env: Record<string, string>,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<RunResult> {
  return runner.run("docker", ["inspect", "--type", "container", clusterContainerName(gateway)], {
    env,
    timeoutMs,
    signal,
  });
}
