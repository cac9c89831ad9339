/** The models list: status, ready/total replicas, scaling bounds and repo; refreshed every 2 s. */
import { ModelsDocument, type ModelsQuery } from "../api/generated";
import { useAuth } from "../auth";
import { Banner, EmptyState, Spinner, StatusBadge } from "../components";
import { Link } from "../router";
import { usePoll } from "../usePoll";

export const MODELS_POLL_MS = 2000;

type ModelRow = ModelsQuery["models"][number];

export function replicaCounts(model: ModelRow): { ready: number; total: number } {
  const replicas = model.deployments.flatMap((d) => d.replicas);
  return {
    ready: replicas.filter((r) => r.state === "READY").length,
    total: replicas.filter((r) => r.state !== "STOPPING" && r.state !== "FAILED").length,
  };
}

export function ModelsList() {
  const { client } = useAuth();
  const poll = usePoll(() => client.request(ModelsDocument, {}), MODELS_POLL_MS);
  const models = poll.data?.models;

  return (
    <section>
      <header className="page-header">
        <div>
          <h1>Models</h1>
          <p className="muted">Live: refreshed every 2 seconds.</p>
        </div>
        <Link to={{ page: "deploy" }} className="button button-primary">
          Deploy a model
        </Link>
      </header>
      {poll.error && (
        <Banner tone={models ? "warning" : "error"}>
          {models ? "Showing the last known state. " : ""}
          {poll.error.message}
        </Banner>
      )}
      {poll.loading && !models && (
        <p className="muted">
          <Spinner /> Loading models…
        </p>
      )}
      {models && models.length === 0 && (
        <EmptyState title="No models yet">
          <p>Deploy a Hugging Face model to get an HTTP endpoint in a minute.</p>
          <Link to={{ page: "deploy" }} className="button button-primary">
            Deploy your first model
          </Link>
        </EmptyState>
      )}
      {models && models.length > 0 && (
        <table className="table" aria-label="Models">
          <thead>
            <tr>
              <th>Name</th>
              <th>Status</th>
              <th>Replicas ready</th>
              <th>Min–max</th>
              <th>Repository</th>
            </tr>
          </thead>
          <tbody>
            {models.map((model) => {
              const latest = model.deployments[0];
              const { ready, total } = replicaCounts(model);
              return (
                <tr key={model.name}>
                  <td>
                    <Link to={{ page: "model", name: model.name, tab: "overview" }}>
                      <strong>{model.name}</strong>
                    </Link>
                  </td>
                  <td>
                    <StatusBadge status={latest?.status ?? "NONE"} />
                    {latest?.status === "FAILED" && latest.error && (
                      <div className="cell-error" title={latest.error}>
                        {latest.error}
                      </div>
                    )}
                  </td>
                  <td className="num" aria-label={`${ready} of ${total} replicas ready`}>
                    {ready}/{total}
                  </td>
                  <td className="num">
                    {model.scaling.minReplicas}–{model.scaling.maxReplicas}
                  </td>
                  <td className="mono">
                    {latest ? latest.huggingFaceRepo : "—"}
                    {latest?.revision ? `@${latest.revision}` : ""}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
    </section>
  );
}
