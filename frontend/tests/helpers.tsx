// Test seams: a fake /graphql (+ REST) behind a stubbed fetch, fake WebSockets, and render().
import { render } from "@testing-library/react";
import { vi } from "vitest";
import { App } from "../src/App";
import { AuthProvider } from "../src/auth";

export type GraphQLCall = {
  operationName: string;
  variables: Record<string, unknown>;
  authorization: string | null;
};

export type Reply = { status?: number; body: unknown; headers?: Record<string, string> };
export type Handler = (call: GraphQLCall) => Reply | Promise<Reply>;

export function data(value: unknown): Reply {
  return { body: { data: value } };
}

export const UNAUTHENTICATED: Reply = {
  status: 401,
  body: {
    error: { type: "unauthorized", message: "unknown API key" },
    errors: [{ message: "unknown API key", extensions: { code: "UNAUTHENTICATED" } }],
  },
};

/** Stubs fetch: POST /graphql goes to `handler`; `rest` answers other paths. Returns the calls. */
export function mockServer(
  handler: Handler,
  rest?: (url: string, init: RequestInit) => Reply,
): GraphQLCall[] {
  const calls: GraphQLCall[] = [];
  vi.stubGlobal(
    "fetch",
    vi.fn(async (input: RequestInfo | URL, init: RequestInit = {}) => {
      const url = String(input);
      const headers = new Headers(init.headers);
      let reply: Reply;
      if (url === "/graphql") {
        const body = JSON.parse(String(init.body)) as GraphQLCall;
        const call = {
          operationName: body.operationName,
          variables: body.variables ?? {},
          authorization: headers.get("Authorization"),
        };
        calls.push(call);
        reply = await handler(call);
      } else if (rest) {
        reply = rest(url, init);
      } else {
        throw new TypeError(`unexpected fetch ${url}`);
      }
      return new Response(JSON.stringify(reply.body), {
        status: reply.status ?? 200,
        headers: { "Content-Type": "application/json", ...reply.headers },
      });
    }),
  );
  return calls;
}

class FakeSocket {
  static readonly CONNECTING = 0;
  static readonly OPEN = 1;
  static readonly CLOSING = 2;
  static readonly CLOSED = 3;
  readyState = 0;
  protocol = "graphql-transport-ws";
  onopen: ((e: unknown) => void) | null = null;
  onclose: ((e: unknown) => void) | null = null;
  onerror: ((e: unknown) => void) | null = null;
  onmessage: ((e: unknown) => void) | null = null;
  constructor(readonly url: string) {}
  send(_raw: string): void {}
  close(): void {
    this.readyState = 3;
  }
}

/** A WebSocket whose upgrade hangs forever (as behind some proxies). */
export class HangingWebSocket extends FakeSocket {}

/** A WebSocket that never connects (as behind a proxy without WebSocket support). */
export class RefusedWebSocket extends FakeSocket {
  constructor(url: string) {
    super(url);
    setTimeout(() => {
      this.readyState = 3;
      this.onerror?.({ type: "error" });
      this.onclose?.({ type: "close", code: 1006, reason: "", wasClean: false });
    }, 0);
  }
}

/**
 * A graphql-transport-ws server in a WebSocket's clothes: opens, acks connection_init (recording
 * its payload), then answers a subscribe with `events` as `next` messages and `complete`.
 */
export function streamingWebSocket(events: unknown[], seen: { init?: unknown; url?: string }) {
  return class StreamingWebSocket extends FakeSocket {
    constructor(url: string) {
      super(url);
      seen.url = url;
      setTimeout(() => {
        this.readyState = 1;
        this.onopen?.({ type: "open" });
      }, 0);
    }
    override send(raw: string): void {
      const message = JSON.parse(raw) as { type: string; id?: string; payload?: unknown };
      const reply = (value: unknown) =>
        setTimeout(() => this.onmessage?.({ data: JSON.stringify(value) }), 0);
      if (message.type === "connection_init") {
        seen.init = message.payload;
        reply({ type: "connection_ack" });
      } else if (message.type === "subscribe") {
        for (const event of events) {
          reply({ type: "next", id: message.id, payload: { data: { deploymentEvents: event } } });
        }
        reply({ type: "complete", id: message.id });
      }
    }
  };
}

export function renderApp() {
  return render(
    <AuthProvider>
      <App />
    </AuthProvider>,
  );
}

type FixtureDeployment = { id: string; version: number; status: string; createdAt: string; replicas?: unknown[] };

/** A model's three environments as `Model.environments` answers them: production serves `served`. */
export function environments(scaling: Record<string, unknown>, served?: FixtureDeployment | null) {
  return ["development", "staging", "production"].map((name) => ({
    name,
    scaling,
    deployment:
      name === "production" && served
        ? {
            id: served.id,
            version: served.version,
            status: served.status,
            createdAt: served.createdAt,
            replicas: (served.replicas ?? []).map((r) => ({ id: (r as { id: string }).id, state: (r as { state: string }).state })),
            events: [],
          }
        : null,
    previousDeployment: null,
    canary: null,
    lastRollbackReason: null,
  }));
}


/** The "minilm" model (one ACTIVE feature-extraction version with `replicas`, served in
 * production) as the `Model` query answers it. */
export function minilmModel(replicas: unknown[]) {
  const scaling = {
    minReplicas: 1,
    maxReplicas: 2,
    concurrencyTarget: 2,
    maxConcurrency: 4,
    scaleDownDelaySeconds: 300,
    autoscalingWindowSeconds: 60,
    maxQueue: 64,
    autoscalingPolicy: "plinth",
  };
  const deployment = {
    id: "dep-1",
    version: 1,
    huggingFaceRepo: "org/minilm",
    revision: null,
    resolvedRevision: "abc123",
    task: "feature-extraction",
    engine: "transformers",
    status: "ACTIVE",
    error: null,
    createdAt: "2025-01-01T00:00:00+00:00",
    replicas,
    events: [],
  };
  return {
    model: {
      name: "minilm",
      createdAt: "2025-01-01T00:00:00+00:00",
      scaling,
      deployments: [deployment],
      environments: environments(scaling, deployment),
    },
  };
}
