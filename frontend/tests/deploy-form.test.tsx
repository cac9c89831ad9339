import { act, screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import {
  HangingWebSocket,
  RefusedWebSocket,
  data,
  mockServer,
  renderApp,
  streamingWebSocket,
  type GraphQLCall,
} from "./helpers";

const EVENTS = [
  { id: "1", at: "2025-01-01T00:00:00+00:00", kind: "created", status: "PENDING", message: "deployment of org/minilm requested (version 1)" },
  { id: "2", at: "2025-01-01T00:00:01+00:00", kind: "status", status: "DEPLOYING", message: "fetching weights" },
  { id: "3", at: "2025-01-01T00:00:05+00:00", kind: "status", status: "ACTIVE", message: "serving with 1 replica" },
];

function deployed(status = "PENDING") {
  return data({
    deployModel: { __typename: "Deployment", id: "dep-1", modelName: "minilm", status, error: null },
  });
}

function field(label: string): HTMLInputElement {
  return screen.getByLabelText(label) as HTMLInputElement;
}

async function fill(label: string, value: string) {
  await userEvent.clear(field(label));
  if (value) await userEvent.type(field(label), value);
}

function errorOf(label: string): string | null {
  const input = field(label);
  const ids = (input.getAttribute("aria-describedby") ?? "").split(" ");
  const error = ids.map((id) => document.getElementById(id)).find((el) => el?.className === "field-error");
  return error?.textContent ?? null;
}

function deployCalls(calls: GraphQLCall[]) {
  return calls.filter((c) => c.operationName === "DeployModel");
}

beforeEach(() => {
  localStorage.setItem("plinth.apiKey", "pl_good");
  window.location.hash = "#/deploy";
  vi.stubGlobal("WebSocket", RefusedWebSocket);
});
afterEach(() => {
  vi.useRealTimers();
  localStorage.clear();
});

describe("deploy form", () => {
  it("suggests a valid name from the repo until you type your own", async () => {
    mockServer(() => deployed());
    renderApp();
    await userEvent.type(field("Hugging Face repository"), "BAAI/bge-small-en-v1.5");
    expect(field("Name").value).toBe("bge-small-en-v1-5");
    await fill("Name", "embedder");
    await userEvent.type(field("Hugging Face repository"), "x");
    expect(field("Name").value).toBe("embedder");
  });

  it("suggests the task from the repo's cached config and sends the chosen policy", async () => {
    const calls = mockServer((call) =>
      call.operationName === "SuggestTask"
        ? data({ suggestTask: { task: "text-classification", reason: "from the cached repository's config.json" } })
        : deployed(),
    );
    renderApp();
    await userEvent.type(field("Hugging Face repository"), "org/classifier");
    await waitFor(() => expect(field("Task").value).toBe("text-classification"));
    expect(screen.getByText(/Suggested: text-classification \(from the cached repository's config.json\)/)).toBeTruthy();
    const suggested = calls.filter((c) => c.operationName === "SuggestTask");
    expect(suggested.at(-1)?.variables).toEqual({ repo: "org/classifier", revision: null });

    await userEvent.selectOptions(screen.getByLabelText("Autoscaling policy"), "knative_kpa");
    expect(screen.getByText(/panic window/)).toBeTruthy(); // the chosen policy's one line
    await userEvent.click(screen.getByRole("button", { name: "Deploy" }));
    await waitFor(() => expect(deployCalls(calls)).toHaveLength(1));
    expect(deployCalls(calls)[0]?.variables).toMatchObject({
      input: { task: "text-classification", scaling: { autoscalingPolicy: "knative_kpa" } },
    });
  });

  it("says why no task is suggested and keeps auto", async () => {
    mockServer((call) =>
      call.operationName === "SuggestTask"
        ? data({ suggestTask: { task: null, reason: "'org/x' is not in this server's model cache yet" } })
        : deployed(),
    );
    renderApp();
    await userEvent.type(field("Hugging Face repository"), "org/x");
    expect(await screen.findByText(/no suggestion now: 'org\/x' is not in this server's model cache/)).toBeTruthy();
    expect(field("Task").value).toBe("auto");
  });

  it("explains each scaling bound in one line", async () => {
    mockServer(() => deployed());
    renderApp();
    const help = document.getElementById(
      field("Min replicas").getAttribute("aria-describedby")!.split(" ")[0]!,
    );
    expect(help?.textContent).toMatch(/scales to zero/);
    for (const label of ["Max replicas", "Concurrency target", "Max concurrency", "Scale-down delay (s)", "Max queue"]) {
      expect(field(label).getAttribute("aria-describedby")).toBeTruthy();
    }
  });

  it("shows the server's rules at each field before sending anything", async () => {
    const calls = mockServer(() => deployed());
    renderApp();
    await userEvent.type(field("Hugging Face repository"), "not a repo!");
    await fill("Name", "Bad_Name");
    await fill("Revision", "my branch");
    await fill("Min replicas", "3");
    await fill("Max replicas", "2");
    await fill("Concurrency target", "8");
    await fill("Max concurrency", "1.5");
    await fill("Max queue", "-1");
    await userEvent.click(screen.getByRole("button", { name: "Deploy" }));

    expect(errorOf("Hugging Face repository")).toMatch(/is not a Hugging Face repository id/);
    expect(errorOf("Name")).toMatch(/is not a valid name/);
    expect(errorOf("Revision")).toMatch(/without spaces/);
    expect(errorOf("Min replicas")).toBe("minReplicas (3) must not exceed maxReplicas (2)");
    expect(errorOf("Max concurrency")).toBe("must be a whole number");
    expect(errorOf("Max queue")).toBe("must be 0 or more");
    expect(deployCalls(calls)).toHaveLength(0);
    await waitFor(() => expect(document.activeElement).toBe(field("Hugging Face repository")));

    // Fixing a field clears its error at once.
    await fill("Max replicas", "4");
    expect(errorOf("Max replicas")).toBeNull();
  });

  it("checks the concurrency target against max concurrency", async () => {
    mockServer(() => deployed());
    renderApp();
    await userEvent.type(field("Hugging Face repository"), "org/minilm");
    await fill("Concurrency target", "8");
    await userEvent.click(screen.getByRole("button", { name: "Deploy" }));
    expect(errorOf("Concurrency target")).toBe("concurrencyTarget (8) must not exceed maxConcurrency (4)");
  });

  it("shows the server's ValidationError at the field it names", async () => {
    const calls = mockServer(() =>
      data({
        deployModel: {
          __typename: "ValidationError",
          field: "name",
          message: "model 'minilm' already exists; delete it first or choose another name",
        },
      }),
    );
    renderApp();
    await userEvent.type(field("Hugging Face repository"), "org/minilm");
    await userEvent.click(screen.getByRole("button", { name: "Deploy" }));

    await waitFor(() => expect(errorOf("Name")).toMatch(/already exists/));
    expect(errorOf("Hugging Face repository")).toBeNull();
    expect(deployCalls(calls)[0]?.variables).toEqual({
      input: {
        name: "minilm",
        huggingFaceRepo: "org/minilm",
        revision: null,
        task: null,
        scaling: {
          minReplicas: 0,
          maxReplicas: 1,
          concurrencyTarget: 2,
          maxConcurrency: 4,
          scaleDownDelaySeconds: 300,
          autoscalingWindowSeconds: 60,
          maxQueue: 64,
          autoscalingPolicy: "plinth",
        },
        environment: "production",
      },
    });
    expect((screen.getByRole("button", { name: "Deploy" }) as HTMLButtonElement).disabled).toBe(false);
  });

  it("shows a server error on a scaling field at that field", async () => {
    mockServer(() =>
      data({ deployModel: { __typename: "ValidationError", field: "maxReplicas", message: "must be 64 or fewer" } }),
    );
    renderApp();
    await userEvent.type(field("Hugging Face repository"), "org/minilm");
    await userEvent.click(screen.getByRole("button", { name: "Deploy" }));
    await waitFor(() => expect(errorOf("Max replicas")).toBe("must be 64 or fewer"));
  });

  it("says which scope is missing when the key may not deploy", async () => {
    mockServer(() => ({
      status: 200,
      body: {
        data: null,
        errors: [{ message: "this key lacks the deploy scope", extensions: { code: "FORBIDDEN", requiredScope: "deploy" } }],
      },
    }));
    renderApp();
    await userEvent.type(field("Hugging Face repository"), "org/minilm");
    await userEvent.click(screen.getByRole("button", { name: "Deploy" }));
    expect((await screen.findByRole("alert")).textContent).toContain("`deploy`");
  });

  it("streams progress live until ACTIVE, sending the key in connection_init", async () => {
    const seen: { init?: unknown; url?: string } = {};
    vi.stubGlobal("WebSocket", streamingWebSocket(EVENTS, seen));
    const calls = mockServer((call) =>
      call.operationName === "DeployModel"
        ? deployed()
        : data({ deployment: { id: "dep-1", modelName: "minilm", status: "ACTIVE", error: null, events: EVENTS } }),
    );
    renderApp();
    await userEvent.type(field("Hugging Face repository"), "org/minilm");
    await userEvent.selectOptions(screen.getByLabelText("Task"), "feature-extraction");
    await userEvent.click(screen.getByRole("button", { name: "Deploy" }));

    expect(await screen.findByRole("heading", { name: "minilm is live" })).toBeTruthy();
    expect(screen.getByText("fetching weights")).toBeTruthy();
    expect(seen.init).toEqual({ Authorization: "Bearer pl_good" });
    expect(seen.url).toMatch(/^ws:\/\/.*\/graphql$/);
    expect(deployCalls(calls)[0]?.variables).toMatchObject({ input: { task: "feature-extraction" } });
  });

  it("falls back to polling when the WebSocket fails, and shows why a deploy FAILED", async () => {
    let polls = 0;
    mockServer((call) => {
      if (call.operationName === "DeployModel") return deployed();
      if (call.operationName === "SuggestTask") return data({ suggestTask: { task: null, reason: "not cached" } });
      if (call.operationName === "ModelNames") return data({ models: [] });
      polls += 1;
      const failed = polls >= 2;
      return data({
        deployment: {
          id: "dep-1",
          modelName: "minilm",
          status: failed ? "FAILED" : "DEPLOYING",
          error: failed ? "org/minilm has no weights at revision main" : null,
          events: failed ? EVENTS.slice(0, 2) : EVENTS.slice(0, 1),
        },
      });
    });
    renderApp();
    await userEvent.type(field("Hugging Face repository"), "org/minilm");
    await userEvent.click(screen.getByRole("button", { name: "Deploy" }));

    expect(await screen.findByText(/checking every second/)).toBeTruthy();
    expect(await screen.findByRole("heading", { name: "Deploying minilm failed" }, { timeout: 3000 })).toBeTruthy();
    expect(screen.getByText(/has no weights at revision main/)).toBeTruthy();
    expect(polls).toBe(2);
  });

  it("falls back to polling when the WebSocket never opens", async () => {
    vi.useFakeTimers({ shouldAdvanceTime: true });
    vi.stubGlobal("WebSocket", HangingWebSocket);
    mockServer((call) =>
      call.operationName === "DeployModel"
        ? deployed()
        : data({ deployment: { id: "dep-1", modelName: "minilm", status: "ACTIVE", error: null, events: EVENTS } }),
    );
    renderApp();
    await userEvent.type(field("Hugging Face repository"), "org/minilm");
    await userEvent.click(screen.getByRole("button", { name: "Deploy" }));
    expect(await screen.findByText(/Streaming progress live/)).toBeTruthy();
    await act(() => vi.advanceTimersByTimeAsync(3100));
    expect(await screen.findByRole("heading", { name: "minilm is live" })).toBeTruthy();
    expect(screen.getByText("serving with 1 replica")).toBeTruthy();
    vi.useRealTimers();
  });
});
