/**
 * The console's only way to the server: typed GraphQL over POST /graphql and REST predict.
 *
 * Contract: `request(doc, vars)` resolves with `data`, or rejects with an `ApiError` whose `kind`
 * says what the user can do about it:
 * - "unauthenticated": HTTP 401 or `extensions.code` UNAUTHENTICATED; the client also calls
 *   `onUnauthenticated`, which signs the user out (back to sign-in with the message).
 * - "forbidden": HTTP 403 or FORBIDDEN; `requiredScope` names the scope the key lacks.
 * - "network": the server could not be reached; "server": any other failure (GraphQL error,
 *   non-JSON answer, 5xx). Expected failures (ValidationError, NotFoundError) are data, not errors.
 * The key is sent as `Authorization: Bearer <key>`; an empty key sends no header (auth disabled).
 */
import type { TypedDocument } from "./generated";

export type ApiErrorKind = "unauthenticated" | "forbidden" | "network" | "server";

export class ApiError extends Error {
  readonly kind: ApiErrorKind;
  readonly status: number | null;
  readonly requiredScope: string | null;

  constructor(
    kind: ApiErrorKind,
    message: string,
    options: { status?: number | null; requiredScope?: string | null } = {},
  ) {
    super(message);
    this.name = "ApiError";
    this.kind = kind;
    this.status = options.status ?? null;
    this.requiredScope = options.requiredScope ?? null;
  }
}

type GraphQLErrorBody = { message?: string; extensions?: { code?: string; requiredScope?: string } };
type ResponseBody = {
  data?: unknown;
  errors?: GraphQLErrorBody[];
  error?: { type?: string; message?: string; required_scope?: string };
};

export type ClientOptions = {
  /** The API key; "" means none (a server with PLINTH_AUTH=disabled). */
  apiKey: string;
  onUnauthenticated?: (error: ApiError) => void;
};

export function authHeaders(apiKey: string): Record<string, string> {
  return apiKey ? { Authorization: `Bearer ${apiKey}` } : {};
}

export function networkError(cause: unknown): ApiError {
  const detail = cause instanceof Error ? ` (${cause.message})` : "";
  return new ApiError(
    "network",
    `Cannot reach the Plinth server${detail}. Check that it is running (\`plinth up\`) and reload.`,
  );
}

/** The ApiError for an auth failure answer, or null when `status`/`body` is not one. */
export function authError(status: number, body: ResponseBody | null): ApiError | null {
  const first = body?.errors?.[0];
  const code = first?.extensions?.code;
  const message = body?.error?.message ?? first?.message;
  if (status === 401 || code === "UNAUTHENTICATED") {
    return new ApiError("unauthenticated", message ?? "The server did not accept the API key.", {
      status,
    });
  }
  if (status === 403 || code === "FORBIDDEN") {
    const scope = body?.error?.required_scope ?? first?.extensions?.requiredScope ?? null;
    const hint = scope ? ` Use a key with the \`${scope}\` scope.` : "";
    return new ApiError("forbidden", `${message ?? "Your API key may not do this."}${hint}`, {
      status,
      requiredScope: scope,
    });
  }
  return null;
}

export class GraphQLClient {
  readonly apiKey: string;
  private readonly onUnauthenticated: ((error: ApiError) => void) | undefined;

  constructor(options: ClientOptions) {
    this.apiKey = options.apiKey;
    this.onUnauthenticated = options.onUnauthenticated;
  }

  async request<R, V>(document: TypedDocument<R, V>, variables: V): Promise<R> {
    let response: Response;
    try {
      response = await fetch("/graphql", {
        method: "POST",
        headers: {
          "Content-Type": "application/json",
          Accept: "application/json",
          ...authHeaders(this.apiKey),
        },
        body: JSON.stringify({
          query: document.query,
          operationName: document.operationName,
          variables,
        }),
      });
    } catch (cause) {
      throw networkError(cause);
    }
    let body: ResponseBody | null = null;
    try {
      body = (await response.json()) as ResponseBody;
    } catch {
      body = null;
    }
    const denied = authError(response.status, body);
    if (denied) {
      if (denied.kind === "unauthenticated") this.onUnauthenticated?.(denied);
      throw denied;
    }
    if (body === null) {
      throw new ApiError(
        "server",
        `The server answered ${response.status} without JSON. Check the server log, then retry.`,
        { status: response.status },
      );
    }
    if (body.errors && body.errors.length > 0) {
      const message = body.errors.map((e) => e.message ?? "unknown error").join("; ");
      throw new ApiError("server", message, { status: response.status });
    }
    if (!response.ok || body.data === undefined || body.data === null) {
      throw new ApiError("server", `The server answered ${response.status}. Retry in a moment.`, {
        status: response.status,
      });
    }
    return body.data as R;
  }
}
