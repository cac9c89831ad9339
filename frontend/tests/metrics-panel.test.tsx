import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { data, minilmModel, mockServer, renderApp, type GraphQLCall } from "./helpers";

const MODEL = minilmModel([
  {
    id: "r-1234567890ab",
    state: "READY",
    pid: 42,
    port: 9001,
    startedAt: null,
    readyAt: null,
    error: null,
    cpuPercent: 37.4,
    memoryBytes: 256 * 1024 * 1024,
  },
]);

function point(time: number, over: Record<string, unknown> = {}) {
  return {
    time: new Date(time).toISOString(),
    samples: 1,
    requests: 20,
    requestsPerSecond: 2,
    requests2xx: 18,
    requests4xx: 2,
    requests429: 1,
    requests5xx: 0,
    notRouted: 0,
    latencyP50: 0.012,
    latencyP90: 0.03,
    latencyP95: 0.04,
    latencyP99: 0.09,
    queueTimeMean: 0.002,
    inFlight: 1,
    queued: 0,
    replicasStarting: 0,
    replicasReady: 1,
    replicasDraining: 0,
    coldStarts: 0,
    cpuPercent: 40,
    memoryBytes: 3e8,
    ...over,
  };
}

/** A metrics answer for the window the console asked for, with `n` points of data. */
function series(call: GraphQLCall, n: number, deploymentId: string | null = "dep-1") {
  const { from, to, step } = call.variables as { from: string; to: string; step: number };
  const start = Date.parse(from);
  const points = Array.from({ length: n }, (_, i) => point(start + i * step * 1000));
  return data({ metrics: { deploymentId, from, to, step, points: deploymentId ? points : [] } });
}

const COLD = {
  coldStarts: [
    {
      deploymentId: "dep-1",
      replicaId: "r-1234567890ab",
      readyAt: "2026-11-30T00:00:05+00:00",
      seconds: 0.42,
      phases: [
        { name: "spawn", seconds: 0.05 },
        { name: "weights", seconds: 0.3 },
      ],
    },
  ],
};

beforeEach(() => {
  localStorage.setItem("plinth.apiKey", "pl_good");
  window.location.hash = "#/models/minilm/metrics";
});
afterEach(() => localStorage.clear());

describe("metrics tab", () => {
  it("charts the window's points and switches windows", async () => {
    const calls = mockServer((call) => {
      if (call.operationName === "Metrics") return series(call, 12);
      if (call.operationName === "ColdStarts") return data(COLD);
      return data(MODEL);
    });
    renderApp();
    const load = await screen.findByRole("figure", { name: "Load and replicas" });
    expect(load.querySelector('path[data-series="Requests/s"]')?.getAttribute("data-points")).toBe("12");
    const latency = screen.getByRole("figure", { name: "Latency percentiles" });
    expect(within(latency).getByRole("list").textContent).toContain("p99 90 ms");
    expect(screen.getByRole("figure", { name: "Queue" })).toBeTruthy();
    expect(screen.getByLabelText("Window summary").textContent).toContain("240 requests");

    const first = calls.filter((c) => c.operationName === "Metrics")[0]!;
    const span = (c: GraphQLCall) =>
      Date.parse(c.variables.to as string) - Date.parse(c.variables.from as string);
    expect(first.variables).toMatchObject({ model: "minilm", step: 10 });
    expect(span(first)).toBe(3600_000);

    await userEvent.click(screen.getByRole("button", { name: "24 h" }));
    await waitFor(() => {
      const last = calls.filter((c) => c.operationName === "Metrics").at(-1)!;
      expect(last.variables.step).toBe(240);
      expect(span(last)).toBe(24 * 3600_000);
    });
    expect(screen.getByRole("button", { name: "24 h" }).getAttribute("aria-pressed")).toBe("true");

    const table = await screen.findByRole("table", { name: "Cold-start history" });
    expect(table.textContent).toContain("420 ms");
    expect(table.textContent).toContain("weights 300 ms");
  });

  it("says why the charts are empty", async () => {
    mockServer((call) => {
      if (call.operationName === "Metrics") return series(call, 0, null);
      if (call.operationName === "ColdStarts") return data({ coldStarts: [] });
      return data(MODEL);
    });
    renderApp();
    const notes = await screen.findAllByText(/No ACTIVE deployment: charts follow the serving version/);
    expect(notes.length).toBeGreaterThan(0);
    expect(screen.getByText(/No replica started in the last 24 hours/)).toBeTruthy();
  });

  it("says when a live deployment has not been sampled yet", async () => {
    mockServer((call) => {
      if (call.operationName === "Metrics") return series(call, 0);
      if (call.operationName === "ColdStarts") return data({ coldStarts: [] });
      return data(MODEL);
    });
    renderApp();
    expect((await screen.findAllByText(/records a point every 10 seconds/)).length).toBeGreaterThan(0);
  });
});

describe("replicas table and scaling editor", () => {
  it("shows each replica's latest CPU and memory, and applies a new policy", async () => {
    window.location.hash = "#/models/minilm";
    const calls = mockServer((call) =>
      call.operationName === "UpdateScaling"
        ? data({
            updateScaling: {
              __typename: "Model",
              name: "minilm",
              scaling: { ...MODEL.model.scaling, autoscalingPolicy: "k8s_hpa" },
            },
          })
        : data(MODEL),
    );
    renderApp();
    const table = await screen.findByRole("table", { name: "Replicas of version 1" });
    expect(table.textContent).toContain("37%");
    expect(table.textContent).toContain("256 MiB");

    await userEvent.selectOptions(screen.getByLabelText("Autoscaling policy"), "k8s_hpa");
    expect(screen.getByText(/Horizontal Pod Autoscaler/)).toBeTruthy();
    await userEvent.click(screen.getByRole("button", { name: "Apply" }));
    await screen.findByText(/Applied/);
    expect(calls.find((c) => c.operationName === "UpdateScaling")?.variables).toMatchObject({
      scaling: { autoscalingPolicy: "k8s_hpa", maxReplicas: 2 },
    });
  });
});
