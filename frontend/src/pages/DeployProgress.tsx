/** Live progress of one deployment (events as they happen) until ACTIVE or FAILED with reason. */
import { useEffect, useState } from "react";
import { watchDeployment, type DeployWatchState } from "../api/deployWatch";
import type { DeploymentStatus } from "../api/generated";
import { useAuth } from "../auth";
import { Banner, Spinner, StatusBadge, formatTime } from "../components";
import { Link } from "../router";

export function DeployProgress({
  deploymentId,
  modelName,
  initialStatus,
  initialError,
  environment = "production",
}: {
  deploymentId: string;
  modelName: string;
  initialStatus: DeploymentStatus;
  initialError: string | null;
  environment?: string;
}) {
  const { client } = useAuth();
  const [state, setState] = useState<DeployWatchState>({
    status: initialStatus,
    error: initialError,
    events: [],
    transport: "live",
    problem: null,
    done: false,
  });

  useEffect(
    () =>
      watchDeployment({
        client,
        id: deploymentId,
        onChange: (next) => setState((prev) => ({ ...next, status: next.status ?? prev.status })),
      }),
    [client, deploymentId],
  );

  const status = state.status ?? initialStatus;
  const model = { page: "model", name: modelName, tab: "overview" } as const;
  return (
    <section className="card progress" aria-live="polite" aria-label="Deploy progress">
      <header className="progress-header">
        <h2>
          {status === "ACTIVE"
            ? environment === "production"
              ? `${modelName} is live`
              : `${modelName} is live in ${environment}`
            : status === "FAILED"
              ? `Deploying ${modelName} failed`
              : `Deploying ${modelName}…`}
        </h2>
        <StatusBadge status={status} />
      </header>
      {status === "ACTIVE" && (
        <Banner tone="success">
          Ready to serve. <Link to={model}>Open the model</Link> or{" "}
          <Link to={{ ...model, tab: "playground" }}>try it in the playground</Link>.
        </Banner>
      )}
      {status === "FAILED" && (
        <Banner tone="error">
          <strong>Reason:</strong> {state.error ?? "the server gave no reason; see the events below"}
          <br />
          Fix the cause, then delete the failed model on its <Link to={model}>page</Link> and deploy
          again.
        </Banner>
      )}
      {state.problem && <Banner tone="warning">{state.problem}</Banner>}
      {!state.done && status !== "ACTIVE" && status !== "FAILED" && (
        <p className="muted">
          <Spinner label="Deploying" />{" "}
          {state.transport === "live"
            ? "Streaming progress live."
            : "Live stream unavailable; checking every second."}{" "}
          Fetching weights and starting replicas can take a few minutes for large models.
        </p>
      )}
      <ol className="timeline">
        {state.events.map((event) => (
          <li key={event.id}>
            <time dateTime={event.at}>{formatTime(event.at)}</time>
            <StatusBadge status={event.status} />
            <span>{event.message}</span>
          </li>
        ))}
      </ol>
    </section>
  );
}
