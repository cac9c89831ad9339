/**
 * `watchDeployment`: follows one deployment until it is ACTIVE, FAILED or SUPERSEDED.
 *
 * Live first: the `deploymentEvents` subscription over graphql-transport-ws at /graphql (the key
 * goes in connection_init, as browsers cannot set WebSocket headers). If the socket cannot be
 * opened, is not acknowledged within `connectTimeoutMs`, or drops, it falls back to polling
 * `deployment(id) { status error events }` every `pollMs`, so a proxy without WebSocket support
 * (or one that holds the upgrade forever) only makes progress a little coarser. When the
 * stream ends, one final query fetches the status and the failure reason (`error`).
 * `onChange` receives the whole state each time; the returned function stops everything.
 */
import { createClient, type Client } from "graphql-ws";
import { ApiError, authHeaders, type GraphQLClient } from "./client";
import {
  DeploymentEventsDocument,
  DeploymentProgressDocument,
  type DeploymentEventsSubscription,
  type DeploymentStatus,
  type EventFieldsFragment,
} from "./generated";

export type DeployWatchState = {
  status: DeploymentStatus | null;
  error: string | null;
  events: EventFieldsFragment[];
  transport: "live" | "polling";
  /** Why following stalled (the watch keeps trying while this is set, unless `done`). */
  problem: string | null;
  done: boolean;
};

export const CONNECT_TIMEOUT_MS = 3000;

export const TERMINAL: readonly DeploymentStatus[] = ["ACTIVE", "FAILED", "SUPERSEDED"];

export function websocketUrl(location: Location = window.location): string {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}/graphql`;
}

/**
 * graphql-ws's `dispose()` awaits the pending connection and so rejects (with the socket's error
 * event) when that connection was refused: nothing is left to clean up then, so swallow it.
 */
function disposeQuietly(ws: Client | undefined): void {
  if (ws) Promise.resolve(ws.dispose()).catch(() => undefined);
}

export function watchDeployment(options: {
  client: GraphQLClient;
  id: string;
  onChange: (state: DeployWatchState) => void;
  pollMs?: number;
  connectTimeoutMs?: number;
}): () => void {
  const { client, id, onChange } = options;
  const pollMs = options.pollMs ?? 1000;
  const connectTimeoutMs = options.connectTimeoutMs ?? CONNECT_TIMEOUT_MS;
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let watchdog: ReturnType<typeof setTimeout> | undefined;
  let ws: Client | undefined;
  let state: DeployWatchState = {
    status: null,
    error: null,
    events: [],
    transport: "live",
    problem: null,
    done: false,
  };

  const update = (changes: Partial<DeployWatchState>) => {
    if (stopped) return;
    state = { ...state, ...changes };
    onChange(state);
  };

  const addEvent = (event: EventFieldsFragment) => {
    if (state.events.some((e) => e.id === event.id)) return;
    update({ events: [...state.events, event], status: event.status });
  };

  const poll = async (): Promise<boolean> => {
    try {
      const { deployment } = await client.request(DeploymentProgressDocument, { id });
      if (!deployment) {
        update({ problem: "This deployment no longer exists (was the model deleted?).", done: true });
        return true;
      }
      const done = TERMINAL.includes(deployment.status);
      update({
        status: deployment.status,
        error: deployment.error,
        events: deployment.events,
        problem: null,
        done,
      });
      return done;
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      const fatal = error instanceof ApiError && error.kind === "unauthenticated";
      update({ problem: `Could not refresh progress: ${message}`, done: fatal });
      return fatal;
    }
  };

  const startPolling = () => {
    if (watchdog !== undefined) clearTimeout(watchdog);
    if (state.transport === "polling") return;
    disposeQuietly(ws);
    ws = undefined;
    update({ transport: "polling" });
    const tick = async () => {
      if (stopped) return;
      const done = await poll();
      if (!done && !stopped) timer = setTimeout(tick, pollMs);
    };
    void tick();
  };

  try {
    ws = createClient({
      url: websocketUrl(),
      connectionParams: authHeaders(client.apiKey),
      retryAttempts: 0,
      lazy: true,
    });
  } catch {
    ws = undefined; // no WebSocket in this environment
  }

  const subscribe = (socket: Client) =>
    socket.subscribe<DeploymentEventsSubscription>(
      { query: DeploymentEventsDocument.query, variables: { id } },
      {
        next: (result) => {
          if (result.errors?.length) {
            update({ problem: result.errors.map((e) => e.message).join("; ") });
          } else if (result.data) {
            addEvent(result.data.deploymentEvents);
          }
        },
        error: (error) => {
          if (stopped) return;
          if (Array.isArray(error)) {
            // The server refused the subscription itself (e.g. unknown deployment).
            const message = error.map((e: { message?: string }) => e.message).join("; ");
            update({ problem: message || "The server refused to stream this deployment." });
          }
          // Either way polling gives the authoritative answer (and handles a bad key).
          startPolling();
        },
        complete: () => {
          if (stopped) return;
          disposeQuietly(ws);
          ws = undefined;
          // The stream ends at a terminal status; one query fetches it with the failure reason.
          void poll().then((done) => {
            if (!done && !stopped) startPolling();
          });
        },
      },
    );

  if (!ws) {
    startPolling();
  } else {
    const socket = ws;
    socket.on("connected", () => {
      if (watchdog !== undefined) clearTimeout(watchdog);
    });
    watchdog = setTimeout(() => {
      if (!stopped && !state.done) startPolling();
    }, connectTimeoutMs);
    subscribe(socket);
  }

  return () => {
    stopped = true;
    if (timer !== undefined) clearTimeout(timer);
    if (watchdog !== undefined) clearTimeout(watchdog);
    disposeQuietly(ws);
  };
}
