import { act, screen, within } from "@testing-library/react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { data, mockServer, renderApp } from "./helpers";

function model(name: string, states: string[], status = "ACTIVE", extra: Record<string, unknown> = {}) {
  return {
    name,
    createdAt: "2025-01-01T00:00:00+00:00",
    scaling: { minReplicas: 1, maxReplicas: 3 },
    deployments: [
      {
        id: `${name}-d1`,
        version: 1,
        huggingFaceRepo: `org/${name}`,
        revision: null,
        task: "feature-extraction",
        status,
        error: null,
        replicas: states.map((state, i) => ({ id: `${name}-r${i}`, state })),
        ...extra,
      },
    ],
  };
}

beforeEach(() => {
  localStorage.setItem("plinth.apiKey", "pl_good");
  window.location.hash = "#/models";
});
afterEach(() => {
  vi.useRealTimers();
  localStorage.clear();
});

describe("models list", () => {
  it("shows each model's status, ready/total replicas, bounds and repo", async () => {
    mockServer(() =>
      data({
        models: [
          model("minilm", ["READY", "STARTING"]),
          model("broken", [], "FAILED", { error: "no such repository: org/broken" }),
        ],
      }),
    );
    renderApp();
    const table = await screen.findByRole("table", { name: "Models" });
    const rows = within(table).getAllByRole("row");
    const minilm = within(rows[1]!);
    expect(minilm.getByText("minilm")).toBeTruthy();
    expect(minilm.getByText("active")).toBeTruthy();
    expect(minilm.getByLabelText("1 of 2 replicas ready")).toBeTruthy();
    expect(minilm.getByText("1–3")).toBeTruthy();
    expect(minilm.getByText("org/minilm")).toBeTruthy();
    const broken = within(rows[2]!);
    expect(broken.getByText("failed")).toBeTruthy();
    expect(broken.getByText("no such repository: org/broken")).toBeTruthy();
  });

  it("refreshes every 2 seconds, so replica counts follow the server", async () => {
    vi.useFakeTimers({ shouldAdvanceTime: true });
    let ready = 0;
    const calls = mockServer(() =>
      data({ models: [model("minilm", ready === 0 ? ["STARTING"] : ["READY"])] }),
    );
    renderApp();
    expect(await screen.findByLabelText("0 of 1 replicas ready")).toBeTruthy();
    ready = 1;
    await act(() => vi.advanceTimersByTimeAsync(2100));
    expect(await screen.findByLabelText("1 of 1 replicas ready")).toBeTruthy();
    expect(calls.filter((c) => c.operationName === "Models").length).toBeGreaterThanOrEqual(2);
  });

  it("offers the deploy form when there are no models", async () => {
    mockServer(() => data({ models: [] }));
    renderApp();
    expect(await screen.findByText("No models yet")).toBeTruthy();
    expect(screen.getByRole("link", { name: "Deploy your first model" }).getAttribute("href")).toBe(
      "#/deploy",
    );
  });

  it("keeps the last list and warns when a refresh fails", async () => {
    vi.useFakeTimers({ shouldAdvanceTime: true });
    let fail = false;
    mockServer(() =>
      fail
        ? { status: 500, body: { errors: [{ message: "database is locked" }] } }
        : data({ models: [model("minilm", ["READY"])] }),
    );
    renderApp();
    expect(await screen.findByText("minilm")).toBeTruthy();
    fail = true;
    await act(() => vi.advanceTimersByTimeAsync(2100));
    expect(await screen.findByText(/Showing the last known state/)).toBeTruthy();
    expect(screen.getByText("minilm")).toBeTruthy();
  });
});
