/**
 * One model: its environments (promote, rollback, canary), deployments, replicas (with their
 * latest CPU and memory) and events (refreshed every 2 s), scaling per environment, delete, and
 * the versions, metrics, playground and replica-logs tabs.
 */
import { useState, type FormEvent } from "react";
import { DeleteModelDocument, ModelDocument, type DeploymentDetailFragment } from "../api/generated";
import { useAuth } from "../auth";
import { Banner, EmptyState, Spinner, StatusBadge, formatTime } from "../components";
import { Link, navigate, type ModelTab } from "../router";
import { usePoll } from "../usePoll";
import { EnvironmentsPanel, VersionsTable } from "./Lifecycle";
import { MetricsPanel, formatBytes } from "./MetricsPanel";
import { Playground } from "./Playground";
import { ReplicaLogs } from "./ReplicaLogs";
import { ScalingEditor } from "./ScalingEditor";

export function ModelPage({ name, tab }: { name: string; tab: ModelTab }) {
  const { client } = useAuth();
  const poll = usePoll(() => client.request(ModelDocument, { name }), 2000);
  const model = poll.data?.model;

  if (poll.loading && poll.data === undefined) {
    return (
      <p className="muted">
        <Spinner /> Loading {name}…
      </p>
    );
  }
  if (poll.data === undefined) {
    return <Banner tone="error">{poll.error?.message ?? "Could not load the model."}</Banner>;
  }
  if (!model) {
    return (
      <EmptyState title={`No model named ${name}`}>
        <p>It may have been deleted.</p>
        <Link to={{ page: "models" }}>Back to models</Link>
      </EmptyState>
    );
  }
  const latest = model.deployments[0];
  const serving = model.deployments.find((d) => d.status === "ACTIVE") ?? latest;
  const production = model.environments.find((e) => e.name === "production")?.deployment;
  return (
    <section>
      <header className="page-header">
        <div>
          <p className="crumbs">
            <Link to={{ page: "models" }}>Models</Link> /
          </p>
          <h1>
            {model.name} <StatusBadge status={production?.status ?? latest?.status ?? "NONE"} />
          </h1>
          <p className="muted mono">
            {latest?.huggingFaceRepo}
            {latest?.task ? ` · ${latest.task}` : ""}
          </p>
        </div>
        <DeleteModel name={model.name} />
      </header>
      <nav className="tabs" aria-label="Model sections">
        <Link
          to={{ page: "model", name: model.name, tab: "overview" }}
          className={tab === "overview" ? "tab tab-active" : "tab"}
        >
          Overview
        </Link>
        <Link
          to={{ page: "model", name: model.name, tab: "versions" }}
          className={tab === "versions" ? "tab tab-active" : "tab"}
        >
          Versions
        </Link>
        <Link
          to={{ page: "model", name: model.name, tab: "metrics" }}
          className={tab === "metrics" ? "tab tab-active" : "tab"}
        >
          Metrics
        </Link>
        <Link
          to={{ page: "model", name: model.name, tab: "playground" }}
          className={tab === "playground" ? "tab tab-active" : "tab"}
        >
          Playground
        </Link>
        <Link
          to={{ page: "model", name: model.name, tab: "logs" }}
          className={tab === "logs" ? "tab tab-active" : "tab"}
        >
          Logs
        </Link>
      </nav>
      {poll.error && <Banner tone="warning">Showing the last known state. {poll.error.message}</Banner>}
      {tab === "playground" ? (
        <Playground
          model={model.name}
          task={serving?.task ?? null}
          environments={model.environments.map((e) => ({
            name: e.name,
            status: e.deployment?.status ?? null,
            version: e.deployment?.version ?? null,
          }))}
        />
      ) : tab === "versions" ? (
        <div className="stack">
          <EnvironmentsPanel model={model.name} environments={model.environments} versions={model.deployments} />
          <VersionsTable versions={model.deployments} />
        </div>
      ) : tab === "logs" ? (
        <ReplicaLogs model={model.name} />
      ) : tab === "metrics" ? (
        <MetricsPanel model={model.name} />
      ) : (
        <div className="stack">
          <EnvironmentsPanel model={model.name} environments={model.environments} versions={model.deployments} />
          <ScalingEditor model={model.name} environments={model.environments} />
          {model.deployments.map((deployment) => (
            <DeploymentCard key={deployment.id} deployment={deployment} />
          ))}
        </div>
      )}
    </section>
  );
}

function DeploymentCard({ deployment: d }: { deployment: DeploymentDetailFragment }) {
  const events = [...d.events].reverse();
  return (
    <article className="card" aria-label={`Deployment version ${d.version}`}>
      <header className="card-header">
        <h2>
          Version {d.version} <StatusBadge status={d.status} />
        </h2>
        {d.environment && <span className="badge badge-muted">serves {d.environment}</span>}
        <span className="muted">created {formatTime(d.createdAt)}</span>
      </header>
      <dl className="facts">
        <dt>Repository</dt>
        <dd className="mono">
          {d.huggingFaceRepo}
          {d.revision ? `@${d.revision}` : ""}
        </dd>
        <dt>Resolved revision</dt>
        <dd className="mono">{d.resolvedRevision ?? "—"}</dd>
        <dt>Task</dt>
        <dd>{d.task ?? "auto"}</dd>
        <dt>Engine</dt>
        <dd>{d.engine}</dd>
      </dl>
      {d.error && (
        <Banner tone="error">
          <strong>Error:</strong> {d.error}
        </Banner>
      )}
      <h3>Replicas</h3>
      {d.replicas.length === 0 ? (
        <p className="muted">
          No replicas. {d.status === "ACTIVE" ? "Scaled to zero: the next request starts one." : ""}
        </p>
      ) : (
        <table className="table" aria-label={`Replicas of version ${d.version}`}>
          <thead>
            <tr>
              <th>Replica</th>
              <th>State</th>
              <th>PID</th>
              <th className="num">CPU</th>
              <th className="num">Memory</th>
              <th>Started</th>
              <th>Ready</th>
              <th>Error</th>
            </tr>
          </thead>
          <tbody>
            {d.replicas.map((r) => (
              <tr key={r.id}>
                <td className="mono">{r.id.slice(0, 12)}</td>
                <td>
                  <StatusBadge status={r.state} />
                </td>
                <td className="num">{r.pid ?? "—"}</td>
                <td className="num">{r.cpuPercent == null ? "—" : `${r.cpuPercent.toFixed(0)}%`}</td>
                <td className="num">{formatBytes(r.memoryBytes ?? null)}</td>
                <td>{formatTime(r.startedAt)}</td>
                <td>{formatTime(r.readyAt)}</td>
                <td className="cell-error">{r.error ?? ""}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <h3>Events</h3>
      <ol className="timeline" aria-label={`Events of version ${d.version}`}>
        {events.map((event) => (
          <li key={event.id}>
            <time dateTime={event.at}>{formatTime(event.at)}</time>
            <StatusBadge status={event.status} />
            <span>{event.message}</span>
          </li>
        ))}
      </ol>
    </article>
  );
}

function DeleteModel({ name }: { name: string }) {
  const { client } = useAuth();
  const [open, setOpen] = useState(false);
  const [typed, setTyped] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const remove = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const { deleteModel } = await client.request(DeleteModelDocument, { name });
      if (deleteModel.__typename === "NotFoundError") {
        setError(`${deleteModel.message}; it was probably deleted already.`);
        setBusy(false);
        return;
      }
      navigate({ page: "models" });
    } catch (caught) {
      setError(caught instanceof Error ? caught.message : String(caught));
      setBusy(false);
    }
  };

  if (!open) {
    return (
      <button type="button" className="button-danger-outline" onClick={() => setOpen(true)}>
        Delete model…
      </button>
    );
  }
  return (
    <form className="card confirm" onSubmit={(e) => void remove(e)} aria-label="Confirm delete">
      <p>
        This stops every replica of <strong>{name}</strong> and removes its deployments. Type its
        name to confirm.
      </p>
      {error && <Banner tone="error">{error}</Banner>}
      <input
        aria-label="Model name to confirm"
        value={typed}
        autoFocus
        disabled={busy}
        onChange={(e) => setTyped(e.target.value)}
      />
      <div className="actions">
        <button type="submit" className="button-danger" disabled={busy || typed !== name}>
          {busy ? (
            <>
              <Spinner label="Deleting" /> Deleting…
            </>
          ) : (
            `Delete ${name}`
          )}
        </button>
        <button type="button" disabled={busy} onClick={() => setOpen(false)}>
          Cancel
        </button>
      </div>
    </form>
  );
}
