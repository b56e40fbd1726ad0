import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  classifyDockerError,
  dockerInspectFormat,
  parseDockerFormatOutput,
  parseDockerInspect,
  parseDockerPorts,
} from "../../src/adapters/docker-output.js";
import { OutputFormatError } from "../../src/adapters/openshell-output.js";

const fixture = (name: string): string =>
  readFileSync(new URL(`./fixtures/docker/${name}`, import.meta.url), "utf8");
const NAME = "openshell-cluster-nemoclaw";

describe("parseDockerInspect", () => {
  it("parses a running cluster container and dedupes the IPv4/IPv6 bindings", () => {
    expect(parseDockerInspect(fixture("inspect-running.json"), NAME)).toEqual({
      name: NAME,
      image: "ghcr.io/nvidia/openshell/cluster:0.0.36",
      running: true,
      hostPorts: [8080],
    });
  });

  it("parses a stopped container (no live port map)", () => {
    expect(parseDockerInspect(fixture("inspect-stopped.json"), NAME)).toEqual({
      name: NAME,
      image: "ghcr.io/nvidia/openshell/cluster:0.0.36",
      running: false,
      hostPorts: [],
    });
  });

  it("parses a NemoClaw-patched cluster image", () => {
    expect(parseDockerInspect(fixture("inspect-nemoclaw-cluster.json"), NAME)?.image).toBe(
      "ghcr.io/nvidia/nemoclaw/nemoclaw-cluster:0.0.36-fuse-overlayfs-aa8b8487",
    );
  });

  it("returns null for `[]` and empty output", () => {
    expect(parseDockerInspect(fixture("inspect-missing.json"), NAME)).toBeNull();
    expect(parseDockerInspect("", NAME)).toBeNull();
  });

  it("picks the entry with the requested name", () => {
    const entry = (name: string, image: string) => ({
      Name: `/${name}`,
      Config: { Image: image },
      State: { Running: true },
      NetworkSettings: { Ports: {} },
    });
    const stdout = JSON.stringify([entry("other", "a:1"), entry(NAME, "b:2")]);
    expect(parseDockerInspect(stdout, NAME)?.image).toBe("b:2");
  });

  it.each([
    ["not json"],
    ['{"Config":{}}'],
    ['[{"Name":"/x","Config":{"Image":"a"}}]'],
    ['[{"Name":"/x","Config":{"Image":"a"},"State":{"Running":"yes"}}]'],
    ['[{"Config":{"Image":"a"},"State":{"Running":true},"NetworkSettings":{"Ports":[1]}}]'],
  ])("throws OutputFormatError on %j", (stdout) => {
    expect(() => parseDockerInspect(stdout, NAME)).toThrow(OutputFormatError);
  });
});

describe("parseDockerPorts", () => {
  it("reads host ports, numeric, deduplicated and sorted", () => {
    expect(
      parseDockerPorts(
        '{"30051/tcp":[{"HostIp":"0.0.0.0","HostPort":"8080"},{"HostIp":"::","HostPort":"8080"}],"6443/tcp":[{"HostIp":"127.0.0.1","HostPort":"6443"}],"80/tcp":null}',
      ),
    ).toEqual([6443, 8080]);
  });

  it.each([["{}"], ["null"], [""], ["<no value>"], ['{"30051/tcp":[{"HostIp":"","HostPort":""}]}']])(
    "%j → []",
    (text) => {
      expect(parseDockerPorts(text)).toEqual([]);
    },
  );

  it("throws on garbage", () => {
    expect(() => parseDockerPorts("{nope")).toThrow(OutputFormatError);
    expect(() => parseDockerPorts("[8080]")).toThrow(OutputFormatError);
  });
});

describe("parseDockerFormatOutput", () => {
  it("uses a template with the three fields in order", () => {
    expect(dockerInspectFormat).toBe("{{.Config.Image}}|{{.State.Running}}|{{json .NetworkSettings.Ports}}");
  });

  it("parses a running container", () => {
    expect(parseDockerFormatOutput(fixture("inspect-format-running.txt"), NAME)).toEqual({
      name: NAME,
      image: "ghcr.io/nvidia/openshell/cluster:0.0.36",
      running: true,
      hostPorts: [8080],
    });
  });

  it("parses a stopped container", () => {
    expect(parseDockerFormatOutput(fixture("inspect-format-stopped.txt"), NAME)).toEqual({
      name: NAME,
      image: "ghcr.io/nvidia/openshell/cluster:0.0.36",
      running: false,
      hostPorts: [],
    });
  });

  it("returns null on empty output", () => {
    expect(parseDockerFormatOutput("\n", NAME)).toBeNull();
  });

  it.each([["just-an-image"], ["img|maybe|{}"], ["|true|{}"], ["img|true|{broken"]])(
    "throws on %j",
    (stdout) => {
      expect(() => parseDockerFormatOutput(stdout, NAME)).toThrow(OutputFormatError);
    },
  );
});

describe("classifyDockerError", () => {
  it("recognises a missing container", () => {
    expect(classifyDockerError(fixture("inspect-missing.stderr.txt"))).toBe("no-such-container");
    expect(classifyDockerError("Error response from daemon: No such container: x")).toBe("no-such-container");
  });

  it("recognises an unavailable daemon", () => {
    expect(classifyDockerError(fixture("daemon-unavailable.stderr.txt"))).toBe("daemon-unavailable");
    expect(
      classifyDockerError(
        "permission denied while trying to connect to the Docker daemon socket at unix:///var/run/docker.sock",
      ),
    ).toBe("daemon-unavailable");
  });

  it("classifies anything else as other", () => {
    expect(classifyDockerError("Error: something odd")).toBe("other");
    expect(classifyDockerError("")).toBe("other");
  });
});
