import { act, screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { data, mockServer, renderApp, type GraphQLCall, environments } from "./helpers";

const MODEL = {
  model: {
    name: "minilm",
    createdAt: "2025-01-01T00:00:00+00:00",
    scaling: {
      minReplicas: 1,
      maxReplicas: 2,
      concurrencyTarget: 2,
      maxConcurrency: 4,
      scaleDownDelaySeconds: 300,
      autoscalingWindowSeconds: 60,
      maxQueue: 64,
    },
    deployments: [],
  },
};
(MODEL.model as Record<string, unknown>).environments = environments(MODEL.model.scaling, MODEL.model.deployments[0]);

type Line = { replicaId: string; at: string | null; line: string };
const line = (replicaId: string, text: string): Line => ({ replicaId, at: null, line: text });

/** A server whose replicaLogs answers `tails` in turn (the last one repeats). */
function serve(tails: Line[][]): GraphQLCall[] {
  let served = 0;
  return mockServer((call) => {
    if (call.operationName === "ReplicaLogs") {
      const tail = tails[Math.min(served, tails.length - 1)];
      served += 1;
      return data({ replicaLogs: tail });
    }
    return data(MODEL);
  });
}

/** The panel's lines as "replica text". */
async function shownLines(): Promise<string[]> {
  const panel = await screen.findByRole("log", { name: "Log lines" });
  return within(panel)
    .getAllByRole("listitem")
    .map((li) => Array.from(li.children, (c) => c.textContent).join(" "));
}

beforeEach(() => {
  localStorage.setItem("plinth.apiKey", "pl_good");
  vi.useFakeTimers({ shouldAdvanceTime: true });
});
afterEach(() => {
  vi.useRealTimers();
  localStorage.clear();
});

describe("replica logs tab", () => {
  it("shows the tail in order with each line's replica id", async () => {
    window.location.hash = "#/models/minilm/logs";
    const calls = serve([
      [line("replica-aaaa", "loading weights"), line("replica-bbbb", "listening on :9001")],
    ]);
    renderApp();
    expect(await shownLines()).toEqual([
      "replica-aaaa loading weights",
      "replica-bbbb listening on :9001",
    ]);
    expect(calls.find((c) => c.operationName === "ReplicaLogs")?.variables).toEqual({
      model: "minilm",
      tail: 200,
    });
    expect(screen.getByRole("region", { name: "Replica logs" })).toBeTruthy();
  });

  it("polling adds the lines replicas wrote since", async () => {
    window.location.hash = "#/models/minilm/logs";
    const first = [line("r1", "starting")];
    serve([first, [...first, line("r1", "ready"), line("r2", "starting")]]);
    renderApp();
    expect(await shownLines()).toEqual(["r1 starting"]);
    await act(() => vi.advanceTimersByTimeAsync(2000));
    await vi.waitFor(async () =>
      expect(await shownLines()).toEqual(["r1 starting", "r1 ready", "r2 starting"]),
    );
  });

  it("pause freezes the lines and stops polling; resume loads at once", async () => {
    window.location.hash = "#/models/minilm/logs";
    const first = [line("r1", "starting")];
    const calls = serve([first, [...first, line("r1", "ready")]]);
    renderApp();
    expect(await shownLines()).toEqual(["r1 starting"]);
    const user = userEvent.setup({ advanceTimers: vi.advanceTimersByTime });
    await user.click(screen.getByRole("button", { name: "Pause" }));
    const before = calls.filter((c) => c.operationName === "ReplicaLogs").length;
    await act(() => vi.advanceTimersByTimeAsync(6000));
    expect(calls.filter((c) => c.operationName === "ReplicaLogs")).toHaveLength(before);
    expect(await shownLines()).toEqual(["r1 starting"]);

    await user.click(screen.getByRole("button", { name: "Resume" }));
    await vi.waitFor(async () => expect(await shownLines()).toEqual(["r1 starting", "r1 ready"]));
  });

  it("says so when no replica has written anything yet", async () => {
    window.location.hash = "#/models/minilm/logs";
    serve([[]]);
    renderApp();
    expect(await screen.findByRole("heading", { name: "No log lines yet" })).toBeTruthy();
    expect(screen.getByText("Replicas write here when they start.")).toBeTruthy();
    expect(screen.queryByRole("log")).toBeNull();
  });

  it("is reachable from the model page's tabs", async () => {
    window.location.hash = "#/models/minilm";
    serve([[line("r1", "hello")]]);
    renderApp();
    const tabs = await screen.findByRole("navigation", { name: "Model sections" });
    await userEvent.setup({ advanceTimers: vi.advanceTimersByTime }).click(
      within(tabs).getByRole("link", { name: "Logs" }),
    );
    expect(window.location.hash).toBe("#/models/minilm/logs");
    expect(await shownLines()).toEqual(["r1 hello"]);
  });
});
