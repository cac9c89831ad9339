/**
 * `predict(name, body)`: POST /v1/models/{name}/predict with the console's key, timed.
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
};

export function predictPath(name: string): string {
  return `/v1/models/${encodeURIComponent(name)}/predict`;
}

export async function predict(
  name: string,
  body: PredictBody,
  apiKey: string,
  now: () => number = () => performance.now(),
): Promise<PredictResult> {
  const started = now();
  let response: Response;
  try {
    response = await fetch(predictPath(name), {
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
