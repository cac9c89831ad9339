/**
 * The playground: a form suited to the model's task that calls POST /v1/models/{name}/predict (or
 * the chosen environment's route, /v1/models/{name}/environments/{env}/predict) and shows the
 * version that answered (X-Plinth-Deployment-Version) and the answer (embeddings summarised as dimension and first values) with its latency, plus
 * copyable curl, Plinth SDK and OpenAI SDK snippets for the same request (the OpenAI one through
 * the OpenAI-compatible routes under /v1, for the tasks they serve). Snippets never contain the key.
 */
import { useState, type FormEvent } from "react";
import type { DeploymentStatus } from "../api/generated";
import { errorMessage, predict, predictPath, type PredictBody, type PredictResult } from "../api/predict";
import { useAuth } from "../auth";
import { Banner, CopyButton, Field, Spinner } from "../components";

type Mode = "texts" | "generation";

export function modeForTask(task: string | null): Mode {
  return task === "text-generation" ? "generation" : "texts";
}

export function buildBody(mode: Mode, text: string, maxNewTokens: number): PredictBody {
  if (mode === "generation") {
    return { inputs: text, parameters: { max_new_tokens: maxNewTokens } };
  }
  return {
    inputs: text
      .split("\n")
      .map((line) => line.trim())
      .filter(Boolean),
  };
}

function pythonLiteral(value: unknown): string {
  // JSON is valid Python for strings, numbers and lists; dicts too except for true/false/null.
  return JSON.stringify(value)
    .replace(/\btrue\b/g, "True")
    .replace(/\bfalse\b/g, "False")
    .replace(/\bnull\b/g, "None");
}

export function curlSnippet(origin: string, model: string, body: PredictBody, environment = "production"): string {
  const json = JSON.stringify(body).replace(/'/g, "'\\''");
  return [
    `curl -X POST ${origin}${predictPath(model, environment)} \\`,
    '  -H "Authorization: Bearer $PLINTH_API_KEY" \\',
    '  -H "Content-Type: application/json" \\',
    `  -d '${json}'`,
  ].join("\n");
}

export function sdkSnippet(model: string, body: PredictBody, environment = "production"): string {
  const args = [JSON.stringify(model), pythonLiteral(body.inputs)];
  if (body.parameters) args.push(pythonLiteral(body.parameters));
  if (environment !== "production") args.push(`environment=${JSON.stringify(environment)}`);
  return [
    "import plinth",
    "",
    "client = plinth.Client()  # reads PLINTH_URL and PLINTH_API_KEY",
    `result = client.models.predict(${args.join(", ")})`,
    "print(result)",
  ].join("\n");
}

/**
 * The same request through the OpenAI SDK (`base_url` = the platform's /v1): embeddings for
 * feature extraction, chat completions for generation; null for tasks OpenAI has no route for.
 */
export function openaiSnippet(
  origin: string,
  model: string,
  task: string | null,
  body: PredictBody,
): string | null {
  const head = [
    "import os",
    "",
    "from openai import OpenAI",
    "",
    `client = OpenAI(base_url="${origin}/v1", api_key=os.environ["PLINTH_API_KEY"])`,
  ];
  if (task === "text-generation") {
    const text = typeof body.inputs === "string" ? body.inputs : JSON.stringify(body.inputs);
    const maxTokens = body.parameters?.max_new_tokens;
    const args = [
      `model=${JSON.stringify(model)}`,
      `messages=[{"role": "user", "content": ${pythonLiteral(text)}}]`,
      ...(typeof maxTokens === "number" ? [`max_tokens=${maxTokens}`] : []),
    ];
    return [
      ...head,
      `reply = client.chat.completions.create(${args.join(", ")})`,
      "print(reply.choices[0].message.content)",
      "# or, without a chat template: client.completions.create(model=..., prompt=...)",
    ].join("\n");
  }
  if (task === "feature-extraction") {
    return [
      ...head,
      `result = client.embeddings.create(model=${JSON.stringify(model)}, input=${pythonLiteral(body.inputs)})`,
      "print([len(item.embedding) for item in result.data])",
    ].join("\n");
  }
  return null;
}

/** A short human summary of a predict answer, or null when raw JSON says it best. */
export function summarize(body: unknown): string | null {
  if (typeof body !== "object" || body === null) return null;
  const embeddings = (body as { embeddings?: unknown }).embeddings;
  if (Array.isArray(embeddings) && embeddings.every(Array.isArray)) {
    const rows = embeddings as number[][];
    const dimension = rows[0]?.length ?? 0;
    const lines = rows
      .slice(0, 3)
      .map((row, i) => `  [${i}] ${row.slice(0, 6).map((v) => v.toFixed(4)).join(", ")}, …`);
    const more = rows.length > 3 ? [`  … and ${rows.length - 3} more`] : [];
    return [`${rows.length} embedding${rows.length === 1 ? "" : "s"} · dimension ${dimension}`, ...lines, ...more].join("\n");
  }
  if (Array.isArray(body)) {
    const items = body as unknown[];
    if (items.every((x) => typeof x === "object" && x !== null && "generated_text" in x)) {
      return items.map((x) => String((x as { generated_text: unknown }).generated_text)).join("\n---\n");
    }
    if (items.every(Array.isArray)) {
      return (items as unknown[][])
        .map((ranked, i) => {
          const top = ranked[0] as { label?: unknown; score?: unknown } | undefined;
          if (!top || typeof top.score !== "number") return `[${i}] —`;
          return `[${i}] ${String(top.label)} (${(top.score * 100).toFixed(1)}%)`;
        })
        .join("\n");
    }
  }
  return null;
}

function errorHint(result: PredictResult): string {
  switch (result.status) {
    case 403:
      return "Your key may not call this model: use a key with the `invoke` (or `invoke:NAME`) scope.";
    case 429:
      return `The model's queue is full; retry${result.retryAfter ? ` in ${result.retryAfter} s` : " shortly"}, or raise max replicas or max queue.`;
    case 422:
      return "Check the input above.";
    case 503:
      return "The model is not serving yet; watch its deployment on the Overview tab.";
    case 504:
      return "No answer in time: the model may be starting from zero, retry in a moment.";
    default:
      return "";
  }
}

export type PlaygroundEnvironment = {
  name: string;
  status: DeploymentStatus | null;
  version: number | null;
};

export function Playground({
  model,
  task,
  environments,
}: {
  model: string;
  task: string | null;
  environments: PlaygroundEnvironment[];
}) {
  const [environment, setEnvironment] = useState("production");
  const chosen = environments.find((e) => e.name === environment);
  const status = chosen?.status ?? null;
  const { apiKey, signOut } = useAuth();
  const [mode, setMode] = useState<Mode>(modeForTask(task));
  const [text, setText] = useState(mode === "generation" ? "Once upon a time" : "Plinth serves models.\nHello world");
  const [maxNewTokens, setMaxNewTokens] = useState("32");
  const [inputError, setInputError] = useState<string | undefined>();
  const [busy, setBusy] = useState(false);
  const [result, setResult] = useState<PredictResult | null>(null);
  const [failure, setFailure] = useState<string | null>(null);

  const tokens = Number(maxNewTokens);
  const body = buildBody(mode, text, Number.isInteger(tokens) && tokens > 0 ? tokens : 32);
  const openai = openaiSnippet(window.location.origin, model, task, body);

  const send = async (event: FormEvent) => {
    event.preventDefault();
    setFailure(null);
    if (mode === "generation" && !text.trim()) return setInputError("enter a prompt");
    if (mode === "texts" && body.inputs.length === 0) return setInputError("enter at least one text");
    if (mode === "generation" && (!Number.isInteger(tokens) || tokens < 1)) {
      return setInputError("max_new_tokens must be a whole number of 1 or more");
    }
    setInputError(undefined);
    setBusy(true);
    try {
      const answer = await predict(model, body, apiKey ?? "", environment);
      if (answer.status === 401) {
        signOut("Your API key is no longer accepted (revoked or expired?). Sign in again.");
        return;
      }
      setResult(answer);
    } catch (caught) {
      setResult(null);
      setFailure(caught instanceof Error ? caught.message : String(caught));
    } finally {
      setBusy(false);
    }
  };

  const summary = result?.ok ? summarize(result.body) : null;
  return (
    <div className="stack">
      {status !== "ACTIVE" && (
        <Banner tone="info">
          {status
            ? `${environment} is ${status.toLowerCase()}; requests answer once it is active.`
            : `${environment} serves nothing yet: requests answer 404 until a version is promoted to it (Versions tab).`}
        </Banner>
      )}
      <form className="card form" onSubmit={(e) => void send(e)} noValidate aria-label="Playground">
        <header className="card-header">
          <h2>Try it</h2>
          <div className="segmented" role="group" aria-label="Input kind">
            <button type="button" aria-pressed={mode === "texts"} onClick={() => setMode("texts")}>
              Texts
            </button>
            <button
              type="button"
              aria-pressed={mode === "generation"}
              onClick={() => setMode("generation")}
            >
              Prompt
            </button>
          </div>
        </header>
        <Field
          id="pg-environment"
          label="Environment"
          help={`Sent to ${predictPath(model, environment)}${chosen?.version != null ? `, served by version ${chosen.version}` : ""}.`}
        >
          <select
            id="pg-environment"
            value={environment}
            disabled={busy}
            onChange={(e) => {
              setEnvironment(e.target.value);
              setResult(null);
            }}
          >
            {(environments.length ? environments : [{ name: "production" }]).map((env) => (
              <option key={env.name} value={env.name}>
                {env.name}
              </option>
            ))}
          </select>
        </Field>
        <Field
          id="pg-input"
          label={mode === "generation" ? "Prompt" : "Texts (one per line)"}
          help={
            mode === "generation"
              ? "The model continues this text."
              : "Each line is one input; they are sent as one batch."
          }
          error={inputError}
        >
          <textarea
            id="pg-input"
            rows={5}
            value={text}
            disabled={busy}
            onChange={(e) => {
              setText(e.target.value);
              setInputError(undefined);
            }}
          />
        </Field>
        {mode === "generation" && (
          <Field id="pg-max" label="max_new_tokens" help="The most tokens to generate.">
            <input
              id="pg-max"
              type="number"
              min={1}
              step={1}
              value={maxNewTokens}
              disabled={busy}
              onChange={(e) => setMaxNewTokens(e.target.value)}
            />
          </Field>
        )}
        <div className="actions">
          <button type="submit" className="button-primary" disabled={busy}>
            {busy ? (
              <>
                <Spinner label="Sending" /> Sending…
              </>
            ) : (
              "Send request"
            )}
          </button>
        </div>
      </form>
      {failure && <Banner tone="error">{failure}</Banner>}
      {result && (
        <section className="card" aria-label="Response">
          <header className="card-header">
            <h2>Response</h2>
            <span className={result.ok ? "badge badge-ok" : "badge badge-bad"}>{result.status}</span>
            <span className="muted">{Math.round(result.latencyMs)} ms</span>
            {result.version && (
              <span className="badge badge-muted" title="X-Plinth-Deployment-Version">
                served by version {result.version}
              </span>
            )}
          </header>
          {!result.ok && (
            <Banner tone="error">
              {errorMessage(result.body) ?? "The request failed."} {errorHint(result)}
            </Banner>
          )}
          {summary && <pre className="code">{summary}</pre>}
          <details open={!summary}>
            <summary>Raw JSON</summary>
            <pre className="code">{JSON.stringify(result.body, null, 2)}</pre>
          </details>
        </section>
      )}
      <section className="card" aria-label="Snippets">
        <h2>Call it from code</h2>
        <Snippet title="curl" text={curlSnippet(window.location.origin, model, body, environment)} />
        <Snippet title="Python (Plinth SDK)" text={sdkSnippet(model, body, environment)} />
        {openai && environment !== "production" ? (
          <p className="muted">
            OpenAI SDK: the OpenAI-compatible routes name only the model, so they call production;
            use curl or the Plinth SDK for {environment}.
          </p>
        ) : openai ? (
          <Snippet title="Python (OpenAI SDK)" text={openai} />
        ) : (
          <p className="muted">
            OpenAI SDK: the OpenAI-compatible routes serve embeddings (feature-extraction) and
            chat or completions (text-generation); {task ?? "this task"} has no OpenAI equivalent,
            so use curl or the Plinth SDK.
          </p>
        )}
      </section>
    </div>
  );
}

function Snippet({ title, text }: { title: string; text: string }) {
  return (
    <div className="snippet">
      <div className="snippet-header">
        <h3>{title}</h3>
        <CopyButton text={text} />
      </div>
      <pre className="code">{text}</pre>
    </div>
  );
}
