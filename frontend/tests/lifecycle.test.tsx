// Versions and environments: the Environments panel, promote/rollback/canary actions with their
// progress, the Versions table, and the environment choices of deploy, scaling and playground.
import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { checkCanary } from "../src/pages/Lifecycle";
import { RefusedWebSocket, data, mockServer, renderApp, type GraphQLCall } from "./helpers";

const T0 = "2025-01-01T00:00:00+00:00";
const SCALING = {
  minReplicas: 1,
  maxReplicas: 2,
  concurrencyTarget: 2,
  maxConcurrency: 4,
  scaleDownDelaySeconds: 300,
  autoscalingWindowSeconds: 60,
  maxQueue: 64,
  autoscalingPolicy: "plinth",
};
const STAGING_SCALING = { ...SCALING, minReplicas: 0, maxReplicas: 1 };

function version(n: number, extra: Record<string, unknown> = {}) {
  return {
    id: `dep-${n}`,
    version: n,
    huggingFaceRepo: "org/clf",
    revision: n === 2 ? "v2" : null,
    resolvedRevision: `abc${n}`,
    task: "text-classification",
    engine: "transformers",
    status: "ACTIVE",
    error: null,
    createdAt: T0,
    createdBy: "pl_ab12cd34",
    environment: null,
    targetEnvironment: "production",
    promotedFrom: null,
    replicas: [{ id: `r${n}`, state: "READY", pid: 1, port: 9000, startedAt: null, readyAt: null, error: null }],
    events: [],
    ...extra,
  };
}

function served(v: ReturnType<typeof version>) {
  return {
    id: v.id,
    version: v.version,
    status: v.status,
    createdAt: v.createdAt,
    replicas: v.replicas.map((r) => ({ id: r.id, state: r.state })),
    events: [{ id: "9", at: "2025-01-02T10:00:00+00:00", kind: "traffic_shifted" }],
  };
}

type Env = {
  name: string;
  scaling: typeof SCALING;
  deployment: ReturnType<typeof served> | null;
  previousDeployment: { id: string; version: number } | null;
  canary: unknown;
  lastRollbackReason: string | null;
};

/** v1 serves production, v2 serves staging (no previous anywhere) unless `changes` say else. */
function model(changes: { production?: Partial<Env>; staging?: Partial<Env>; versions?: ReturnType<typeof version>[] } = {}) {
  const versions = changes.versions ?? [
    version(2, { environment: "staging", targetEnvironment: "staging" }),
    version(1, { environment: "production" }),
  ];
  const find = (n: number) => versions.find((v) => v.version === n)!;
  const env = (name: string, base: Partial<Env>, extra?: Partial<Env>): Env => ({
    name,
    scaling: SCALING,
    deployment: null,
    previousDeployment: null,
    canary: null,
    lastRollbackReason: null,
    ...base,
    ...extra,
  });
  return {
    model: {
      name: "clf",
      createdAt: T0,
      scaling: SCALING,
      deployments: versions,
      environments: [
        env("development", {}),
        env("staging", { scaling: STAGING_SCALING, deployment: served(find(2)) }, changes.staging),
        env("production", { deployment: served(find(1)) }, changes.production),
      ],
    },
  };
}

function ops(calls: GraphQLCall[], name: string) {
  return calls.filter((c) => c.operationName === name);
}

function envCard(name: string) {
  return screen.getByRole("article", { name: `Environment ${name}` });
}

beforeEach(() => {
  localStorage.setItem("plinth.apiKey", "pl_good");
  vi.stubGlobal("WebSocket", RefusedWebSocket);
});
afterEach(() => {
  localStorage.clear();
  vi.unstubAllGlobals();
});

describe("environments panel", () => {
  it("shows what each environment serves, its scaling, canary and last rollback", async () => {
    window.location.hash = "#/models/clf/versions";
    mockServer(() =>
      data(
        model({
          production: {
            canary: {
              percent: 10,
              deployment: { id: "dep-2", version: 2, status: "ACTIVE", error: null },
              autoRollback: { maxErrorRate: 0.05, maxP95Ms: 800, windowSeconds: 60 },
            },
            lastRollbackReason: "canary version 3 rolled back: error rate 0.5 > 0.05",
          },
        }),
      ),
    );
    renderApp();
    const production = await screen.findByRole("article", { name: "Environment production" });
    expect(within(production).getByTestId("serves-production").textContent).toBe("version 1");
    expect(production.textContent).toContain("1 ready of 1 · 1–2 replicas · target 2 in flight · plinth");
    expect(production.textContent).toContain(
      "version 2 gets 10% of the traffic; rolls back if error rate > 5% or p95 > 800 ms over 60 s",
    );
    expect(production.textContent).toContain("Last rollback: canary version 3 rolled back: error rate 0.5 > 0.05");
    expect(within(envCard("staging")).getByTestId("serves-staging").textContent).toBe("version 2");
    expect(envCard("staging").textContent).toContain("0–1 replicas");
    expect(within(envCard("development")).getByTestId("serves-development").textContent).toBe("nothing yet");
  });

  it("disables rollback with a reason when there is no previous deployment", async () => {
    window.location.hash = "#/models/clf/versions";
    mockServer(() => data(model()));
    renderApp();
    await screen.findByRole("article", { name: "Environment production" });
    const rollback = within(envCard("production")).getByRole("button", { name: "Roll back production" });
    expect((rollback as HTMLButtonElement).disabled).toBe(true);
    expect(rollback.getAttribute("title")).toBe("production has no previous deployment to roll back to.");
    // Development serves nothing: no canary either, and it says why.
    const canary = within(envCard("development")).getByRole("button", { name: "Start canary…" });
    expect((canary as HTMLButtonElement).disabled).toBe(true);
    expect(canary.getAttribute("title")).toMatch(/serves nothing yet: promote a version first/);
  });

  it("promotes a chosen version after confirmation and follows it until traffic shifted", async () => {
    window.location.hash = "#/models/clf/versions";
    let promoted = false;
    const v3 = version(3, { environment: "production", promotedFrom: "dep-2" });
    const calls = mockServer((call) => {
      if (call.operationName === "PromoteDeployment") {
        promoted = true;
        return data({
          promoteDeployment: { __typename: "Deployment", id: "dep-3", version: 3, status: "DEPLOYING", error: null, environment: null },
        });
      }
      if (call.operationName === "DeploymentProgress") {
        return data({
          deployment: {
            id: "dep-3",
            modelName: "clf",
            status: "DEPLOYING",
            error: null,
            events: [{ id: "20", at: T0, kind: "promoting", status: "DEPLOYING", message: "promotion into production: starting replicas" }],
          },
        });
      }
      // The model poll shows production on version 3 once the promotion was asked for.
      if (!promoted) return data(model());
      const versions = [v3, version(2, { environment: "staging", targetEnvironment: "staging" }), version(1, { status: "SUPERSEDED" })];
      return data(model({ versions, production: { deployment: served(v3), previousDeployment: { id: "dep-1", version: 1 } } }));
    });
    renderApp();
    await screen.findByRole("article", { name: "Environment production" });
    await userEvent.click(within(envCard("production")).getByRole("button", { name: "Promote a version…" }));
    const form = screen.getByRole("form", { name: "Promote to production" });
    const select = within(form).getByLabelText("Version") as HTMLSelectElement;
    expect([...select.options].map((o) => o.textContent)).toEqual(["Version 2 (org/clf@v2, serves staging)"]);
    expect(form.textContent).toMatch(/copied as a new version/);
    await userEvent.click(within(form).getByRole("button", { name: "Promote to production" }));

    await waitFor(() => expect(ops(calls, "PromoteDeployment")).toHaveLength(1));
    expect(ops(calls, "PromoteDeployment")[0]?.variables).toEqual({ deploymentId: "dep-2", environment: "production" });
    const progress = await screen.findByRole("region", { name: "Action progress" });
    expect(
      await within(progress).findByRole("heading", { name: "production now serves version 3" }, { timeout: 5000 }),
    ).toBeTruthy();
    expect(progress.textContent).toContain("Traffic shifted");
    const table = screen.getByRole("table", { name: "Versions of the model" });
    const row3 = within(table).getAllByRole("row")[1]!;
    expect(row3.textContent).toContain("v3");
    expect(row3.textContent).toContain("production");
    expect(row3.textContent).toContain("v2"); // promoted from
    expect(row3.textContent).toContain("pl_ab12cd34");
  });

  it("rolls back after confirmation and shows the server's refusal when it says no", async () => {
    window.location.hash = "#/models/clf/versions";
    const calls = mockServer((call) =>
      call.operationName === "Rollback"
        ? data({
            rollback: {
              __typename: "ValidationError",
              field: "environment",
              message: "a rollout into clf/production is in progress; wait for it to finish",
            },
          })
        : data(model({ production: { previousDeployment: { id: "dep-0", version: 0 } } })),
    );
    renderApp();
    await screen.findByRole("article", { name: "Environment production" });
    const rollback = within(envCard("production")).getByRole("button", { name: "Roll back production" });
    expect((rollback as HTMLButtonElement).disabled).toBe(false);
    await userEvent.click(rollback);
    const confirm = screen.getByRole("form", { name: "Confirm rollback" });
    expect(confirm.textContent).toContain("production goes back to version 0");
    await userEvent.click(within(confirm).getByRole("button", { name: "Roll back to version 0" }));
    expect((await screen.findByRole("alert")).textContent).toContain("wait for it to finish");
    expect(ops(calls, "Rollback")[0]?.variables).toEqual({ model: "clf", environment: "production" });
  });

  it("shows why a rollback failed, and that the environment kept its version", async () => {
    window.location.hash = "#/models/clf/versions";
    const calls = mockServer((call) =>
      call.operationName === "Rollback"
        ? data({ rollback: { __typename: "Deployment", id: "dep-0", version: 0, status: "DEPLOYING", error: null, environment: null } })
        : call.operationName === "DeploymentProgress"
          ? data({
              deployment: {
                id: "dep-0",
                modelName: "clf",
                status: "FAILED",
                error: "replica r-1 exited with code 1 before ready",
                events: [{ id: "30", at: T0, kind: "failed", status: "FAILED", message: "replica r-1 exited" }],
              },
            })
          : data(model({ production: { previousDeployment: { id: "dep-0", version: 0 } } })),
    );
    renderApp();
    await screen.findByRole("article", { name: "Environment production" });
    await userEvent.click(within(envCard("production")).getByRole("button", { name: "Roll back production" }));
    await userEvent.click(
      within(screen.getByRole("form", { name: "Confirm rollback" })).getByRole("button", { name: "Roll back to version 0" }),
    );
    const progress = await screen.findByRole("region", { name: "Action progress" });
    expect(
      await within(progress).findByRole("heading", { name: "Rolling back to version 0 in production failed" }),
    ).toBeTruthy();
    expect(within(progress).getByRole("alert").textContent).toContain(
      "Reason: replica r-1 exited with code 1 before ready. The environment keeps serving what it served before",
    );
    expect(ops(calls, "DeploymentProgress").length).toBe(1); // a failure stops the polling
  });

  it("validates the canary at its fields, then starts it with the bounds as fractions", async () => {
    window.location.hash = "#/models/clf/versions";
    const calls = mockServer((call) =>
      call.operationName === "StartCanary"
        ? data({ startCanary: { __typename: "Deployment", id: "dep-4", version: 4, status: "DEPLOYING", error: null, environment: null } })
        : call.operationName === "DeploymentProgress"
          ? data({ deployment: { id: "dep-4", modelName: "clf", status: "DEPLOYING", error: null, events: [] } })
          : data(model()),
    );
    renderApp();
    await screen.findByRole("article", { name: "Environment production" });
    await userEvent.click(within(envCard("production")).getByRole("button", { name: "Start canary…" }));
    const form = screen.getByRole("form", { name: "Start a canary in production" });
    const percent = within(form).getByLabelText("Traffic (%)");
    await userEvent.clear(percent);
    await userEvent.type(percent, "150");
    await userEvent.type(within(form).getByLabelText("Max p95 latency (ms)"), "-3");
    await userEvent.click(within(form).getByRole("button", { name: "Start canary" }));
    expect(within(form).getByText("must be between 0 and 100 (exclusive)")).toBeTruthy();
    expect(within(form).getByText(/must be a positive number of milliseconds/)).toBeTruthy();
    expect(ops(calls, "StartCanary")).toHaveLength(0);

    await userEvent.clear(percent);
    await userEvent.type(percent, "10");
    await userEvent.clear(within(form).getByLabelText("Max p95 latency (ms)"));
    await userEvent.type(within(form).getByLabelText("Max p95 latency (ms)"), "500");
    await userEvent.type(within(form).getByLabelText("Max error rate (%)"), "5");
    await userEvent.click(within(form).getByRole("button", { name: "Start canary" }));
    await waitFor(() => expect(ops(calls, "StartCanary")).toHaveLength(1));
    expect(ops(calls, "StartCanary")[0]?.variables).toEqual({
      model: "clf",
      deploymentId: "dep-2",
      environment: "production",
      percent: 10,
      autoRollback: { maxErrorRate: 0.05, maxP95Ms: 500, windowSeconds: 60 },
    });
    expect(await screen.findByRole("heading", { name: /Starting a canary of version 4 in production/ })).toBeTruthy();
  });

  it("promotes and aborts a running canary", async () => {
    window.location.hash = "#/models/clf/versions";
    const canary = { percent: 25, deployment: { id: "dep-2", version: 2, status: "ACTIVE", error: null }, autoRollback: null };
    const calls = mockServer((call) =>
      call.operationName === "AbortCanary"
        ? data({ abortCanary: { __typename: "NotFoundError", field: "environment", message: "production has no canary" } })
        : data(model({ production: { canary } })),
    );
    renderApp();
    await screen.findByRole("article", { name: "Environment production" });
    expect(envCard("production").textContent).toContain("no auto-rollback");
    await userEvent.click(within(envCard("production")).getByRole("button", { name: "Abort canary…" }));
    await userEvent.click(within(screen.getByRole("form", { name: "Confirm abort canary" })).getByRole("button", { name: "Abort canary" }));
    expect((await screen.findByRole("alert")).textContent).toContain("production has no canary");
    expect(ops(calls, "AbortCanary")[0]?.variables).toEqual({ model: "clf", environment: "production" });
  });
});

describe("checkCanary", () => {
  it("mirrors the server's rules", () => {
    expect(checkCanary({ percent: "", maxErrorRate: "", maxP95Ms: "", windowSeconds: "60" }).errors.percent).toMatch(/enter/);
    expect(checkCanary({ percent: "5", maxErrorRate: "101", maxP95Ms: "", windowSeconds: "0" }).errors).toEqual({
      maxErrorRate: "must be a percentage between 0 and 100, or empty for no bound",
      windowSeconds: "must be between 1 and 86400 seconds",
    });
    expect(checkCanary({ percent: "5", maxErrorRate: "", maxP95Ms: "", windowSeconds: "60" }).values).toEqual({
      percent: 5,
      autoRollback: null,
    });
  });
});

describe("environment choices elsewhere", () => {
  it("deploy says when the name exists and sends the chosen environment", async () => {
    window.location.hash = "#/deploy";
    const calls = mockServer((call) =>
      call.operationName === "ModelNames"
        ? data({ models: [{ name: "clf" }] })
        : call.operationName === "SuggestTask"
          ? data({ suggestTask: { task: null, reason: "not cached" } })
          : call.operationName === "DeployModel"
            ? data({ deployModel: { __typename: "Deployment", id: "dep-5", modelName: "clf", status: "PENDING", error: null } })
            : data({ deployment: { id: "dep-5", modelName: "clf", status: "ACTIVE", error: null, events: [] } }),
    );
    renderApp();
    await userEvent.type(screen.getByLabelText("Hugging Face repository"), "org/clf");
    await userEvent.selectOptions(screen.getByLabelText("Environment"), "staging");
    expect(await screen.findByText(/deploying creates its next version and rolls it out into staging/)).toBeTruthy();
    await userEvent.click(screen.getByRole("button", { name: "Deploy a new version to staging" }));
    await waitFor(() => expect(ops(calls, "DeployModel")).toHaveLength(1));
    expect(ops(calls, "DeployModel")[0]?.variables).toMatchObject({ input: { name: "clf", environment: "staging" } });
    expect(await screen.findByRole("heading", { name: "clf is live in staging" }, { timeout: 5000 })).toBeTruthy();
  });

  it("scaling edits the chosen environment's bounds", async () => {
    window.location.hash = "#/models/clf";
    const calls = mockServer((call) =>
      call.operationName === "UpdateScaling"
        ? data({ updateScaling: { __typename: "Model", name: "clf", scaling: SCALING } })
        : data(model()),
    );
    renderApp();
    const scaling = await screen.findByRole("form", { name: "Scaling" });
    expect((within(scaling).getByLabelText("Max replicas") as HTMLInputElement).value).toBe("2");
    await userEvent.selectOptions(within(scaling).getByLabelText("Environment"), "staging");
    const max = within(scaling).getByLabelText("Max replicas") as HTMLInputElement;
    expect(max.value).toBe("1");
    await userEvent.clear(max);
    await userEvent.type(max, "3");
    await userEvent.click(within(scaling).getByRole("button", { name: "Apply" }));
    expect(await within(scaling).findByText(/Applied to staging/)).toBeTruthy();
    expect(ops(calls, "UpdateScaling")[0]?.variables).toMatchObject({
      model: "clf",
      environment: "staging",
      scaling: { minReplicas: 0, maxReplicas: 3 },
    });
    expect(max.value).toBe("3"); // not production's answer
  });

  it("playground calls the environment's route and shows the version that answered", async () => {
    window.location.hash = "#/models/clf/playground";
    const urls: string[] = [];
    mockServer(
      () => data(model()),
      (url) => {
        urls.push(url);
        return { body: [[{ label: "POSITIVE", score: 0.9 }]], headers: { "X-Plinth-Deployment-Version": "2" } };
      },
    );
    renderApp();
    const env = await screen.findByLabelText("Environment");
    await userEvent.selectOptions(env, "staging");
    expect(screen.getByText(/Sent to \/v1\/models\/clf\/environments\/staging\/predict, served by version 2/)).toBeTruthy();
    await userEvent.click(screen.getByRole("button", { name: "Send request" }));
    expect(await screen.findByText("served by version 2")).toBeTruthy();
    expect(urls).toEqual(["/v1/models/clf/environments/staging/predict"]);
    expect(screen.getByText(/environment="staging"/)).toBeTruthy(); // the SDK snippet
  });
});
