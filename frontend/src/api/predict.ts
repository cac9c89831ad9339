/**
 * `predict(name, body, key, environment)`: POST /v1/models/{name}/predict (production) or
 * /v1/models/{name}/environments/{env}/predict with the console's key, timed; the answer's
 * `X-Plinth-Deployment-Version` says which version served it.
 * Resolves with the answer whatever its status (the playground shows errors as answers); only a
 * network failure rejects. An error body is the contract's `{"error": {"type", "message"}}`.
 */
import { authHeaders, networkError } from "./client";

export type PredictBody = { inputs: string | string[]; parameters?: Record<string, unknown> };

export type PredictResult = {
  ok: boolean;
  status: number;
  latencyMs: number;
  body: unknown;
  retryAfter: string | null;
  /** The version that answered (X-Plinth-Deployment-Version), when the gateway says. */
  version: string | null;
};

export function predictPath(name: string, environment = "production"): string {
  const model = `/v1/models/${encodeURIComponent(name)}`;
  return environment === "production"
    ? `${model}/predict`
    : `${model}/environments/${encodeURIComponent(environment)}/predict`;
}

export async function predict(
  name: string,
  body: PredictBody,
  apiKey: string,
  environment = "production",
  now: () => number = () => performance.now(),
): Promise<PredictResult> {
  const started = now();
  let response: Response;
  try {
    response = await fetch(predictPath(name, environment), {
      method: "POST",
      headers: { "Content-Type": "application/json", ...authHeaders(apiKey) },
      body: JSON.stringify(body),
    });
  } catch (cause) {
    throw networkError(cause);
  }
  const text = await response.text();
  const latencyMs = now() - started;
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON: shown as text
  }
  return {
    ok: response.ok,
    status: response.status,
    latencyMs,
    body: parsed,
    retryAfter: response.headers.get("Retry-After"),
    version: response.headers.get("X-Plinth-Deployment-Version"),
  };
}

/** The contract's error message in `body`, if it is an error body. */
export function errorMessage(body: unknown): string | null {
  if (typeof body === "object" && body !== null && "error" in body) {
    const error = (body as { error: unknown }).error;
    if (typeof error === "object" && error !== null && "message" in error) {
      return String((error as { message: unknown }).message);
    }
  }
  return null;
}
