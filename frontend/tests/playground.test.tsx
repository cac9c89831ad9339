import { screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { buildBody, curlSnippet, openaiSnippet, sdkSnippet, summarize } from "../src/pages/Playground";
import { data, minilmModel, mockServer, renderApp } from "./helpers";

const MODEL = minilmModel([
  { id: "r1", state: "READY", pid: 42, port: 9001, startedAt: null, readyAt: null, error: null },
]);

beforeEach(() => {
  localStorage.setItem("plinth.apiKey", "pl_good");
});
afterEach(() => localStorage.clear());

describe("playground", () => {
  it("sends the texts to predict and summarises the embeddings with latency", async () => {
    window.location.hash = "#/models/minilm/playground";
    const requests: { url: string; body: unknown; auth: string | null }[] = [];
    mockServer(
      () => data(MODEL),
      (url, init) => {
        requests.push({ url, body: JSON.parse(String(init.body)), auth: new Headers(init.headers).get("Authorization") });
        return { body: { embeddings: [Array.from({ length: 384 }, (_, i) => i / 1000), Array(384).fill(0.5)] } };
      },
    );
    renderApp();
    const input = await screen.findByLabelText("Texts (one per line)");
    await userEvent.clear(input);
    await userEvent.type(input, "hello{enter}world");
    await userEvent.click(screen.getByRole("button", { name: "Send request" }));

    expect(await screen.findByText(/2 embeddings · dimension 384/)).toBeTruthy();
    expect(screen.getByText(/\d+ ms/)).toBeTruthy();
    expect(requests).toEqual([
      { url: "/v1/models/minilm/predict", body: { inputs: ["hello", "world"] }, auth: "Bearer pl_good" },
    ]);
  });

  it("shows an error answer with what to do", async () => {
    window.location.hash = "#/models/minilm/playground";
    mockServer(
      () => data(MODEL),
      () => ({ status: 429, body: { error: { type: "queue_full", message: "the queue of minilm is full" } } }),
    );
    renderApp();
    await userEvent.click(await screen.findByRole("button", { name: "Send request" }));
    const alert = await screen.findByRole("alert");
    expect(alert.textContent).toContain("the queue of minilm is full");
    expect(alert.textContent).toContain("raise max replicas or max queue");
  });

  it("builds snippets for curl and the SDK without the key", () => {
    const body = buildBody("generation", "Once", 16);
    expect(curlSnippet("http://127.0.0.1:8000", "gpt", body)).toContain(
      "-d '{\"inputs\":\"Once\",\"parameters\":{\"max_new_tokens\":16}}'",
    );
    expect(sdkSnippet("gpt", body)).toContain(
      'client.models.predict("gpt", "Once", {"max_new_tokens":16})',
    );
    expect(curlSnippet("http://h", "m", body)).toContain("$PLINTH_API_KEY");
  });

  it("builds the OpenAI SDK snippet by task, pointing at the platform's /v1", () => {
    const chat = openaiSnippet("http://h:8000", "gpt", "text-generation", buildBody("generation", "Once", 16));
    expect(chat).toContain('OpenAI(base_url="http://h:8000/v1", api_key=os.environ["PLINTH_API_KEY"])');
    expect(chat).toContain(
      'client.chat.completions.create(model="gpt", messages=[{"role": "user", "content": "Once"}], max_tokens=16)',
    );
    const embed = openaiSnippet("http://h", "minilm", "feature-extraction", buildBody("texts", "a\nb", 1));
    expect(embed).toContain('client.embeddings.create(model="minilm", input=["a","b"])');
    expect(openaiSnippet("http://h", "clf", "text-classification", buildBody("texts", "a", 1))).toBeNull();
  });

  it("summarises classification and generation answers", () => {
    expect(summarize([[{ label: "POSITIVE", score: 0.98 }, { label: "NEGATIVE", score: 0.02 }]])).toBe(
      "[0] POSITIVE (98.0%)",
    );
    expect(summarize([{ generated_text: "Once upon" }])).toBe("Once upon");
    expect(summarize({ something: 1 })).toBeNull();
  });
});

describe("model page", () => {
  it("applies scaling live and shows the server's error at the field", async () => {
    window.location.hash = "#/models/minilm";
    const calls = mockServer((call) =>
      call.operationName === "UpdateScaling"
        ? data({ updateScaling: { __typename: "ValidationError", field: "maxReplicas", message: "must be 64 or fewer" } })
        : data(MODEL),
    );
    renderApp();
    const max = (await screen.findByLabelText("Max replicas")) as HTMLInputElement;
    expect(max.value).toBe("2");
    await userEvent.clear(max);
    await userEvent.type(max, "5");
    await userEvent.click(screen.getByRole("button", { name: "Apply" }));

    expect((await screen.findByText("must be 64 or fewer")).id).toBe("scaling-maxReplicas-error");
    expect(calls.find((c) => c.operationName === "UpdateScaling")?.variables).toMatchObject({
      model: "minilm",
      scaling: { maxReplicas: 5, minReplicas: 1 },
    });
    expect(max.value).toBe("5");
  });

  it("deletes only after the name is typed", async () => {
    window.location.hash = "#/models/minilm";
    const calls = mockServer((call) =>
      call.operationName === "DeleteModel"
        ? data({ deleteModel: { __typename: "DeletedModel", name: "minilm" } })
        : data(call.operationName === "Models" ? { models: [] } : MODEL),
    );
    renderApp();
    await userEvent.click(await screen.findByRole("button", { name: "Delete model…" }));
    const confirm = screen.getByRole("button", { name: "Delete minilm" }) as HTMLButtonElement;
    expect(confirm.disabled).toBe(true);
    await userEvent.type(screen.getByLabelText("Model name to confirm"), "minilm");
    await userEvent.click(confirm);

    expect(await screen.findByRole("heading", { name: "Models" })).toBeTruthy();
    expect(calls.filter((c) => c.operationName === "DeleteModel")).toHaveLength(1);
    expect(window.location.hash).toBe("#/models");
  });
});
