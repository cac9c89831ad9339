/**
 * Versions and environments of one model: the Environments panel (what each environment serves,
 * since when, its scaling, its canary and its last rollback reason) with promote, rollback and
 * canary actions, and the Versions table (every immutable version, where it came from and what
 * it serves now).
 *
 * Every action asks for confirmation, answers at once (the button shows a spinner), and then
 * shows live progress: the deployment concerned is polled every second (`deployment(id)`) until
 * the environment serves it (traffic shifted) or it FAILED, with the reason. The environments
 * themselves come from the model page's own poll (`environments` prop).
 */
import { useEffect, useState, type FormEvent, type ReactNode } from "react";
import { ApiError } from "../api/client";
import {
  AbortCanaryDocument,
  DeploymentProgressDocument,
  PromoteCanaryDocument,
  PromoteDeploymentDocument,
  RollbackDocument,
  StartCanaryDocument,
  type DeploymentDetailFragment,
  type EnvironmentFieldsFragment,
  type EventFieldsFragment,
  type LifecycleFieldsFragment,
} from "../api/generated";
import { useAuth } from "../auth";
import { Banner, Field, Spinner, StatusBadge, describedBy, formatTime } from "../components";
import type { FieldErrors } from "../validation";

type Version = DeploymentDetailFragment;

/** Only a deployment that was ACTIVE once can be promoted (backend PROMOTABLE). */
export function promotable(version: Version): boolean {
  return version.status === "ACTIVE" || version.status === "SUPERSEDED";
}

/** "org/repo@rev", or "package sha256:…" for a pushed package. */
export function sourceOf(version: Pick<Version, "huggingFaceRepo" | "revision" | "resolvedRevision">): string {
  if (version.huggingFaceRepo === "package") return `package ${version.revision ?? "?"}`;
  const rev = version.revision ?? version.resolvedRevision;
  return rev ? `${version.huggingFaceRepo}@${rev.length > 12 ? rev.slice(0, 12) : rev}` : version.huggingFaceRepo;
}

export function scalingSummary(s: EnvironmentFieldsFragment["scaling"]): string {
  return `${s.minReplicas}–${s.maxReplicas} replicas · target ${s.concurrencyTarget} in flight · ${s.autoscalingPolicy}`;
}

export function boundsSummary(bounds: NonNullable<EnvironmentFieldsFragment["canary"]>["autoRollback"]): string {
  if (!bounds || (bounds.maxErrorRate == null && bounds.maxP95Ms == null)) return "no auto-rollback";
  const parts = [];
  if (bounds.maxErrorRate != null) parts.push(`error rate > ${+(bounds.maxErrorRate * 100).toFixed(2)}%`);
  if (bounds.maxP95Ms != null) parts.push(`p95 > ${bounds.maxP95Ms} ms`);
  return `rolls back if ${parts.join(" or ")} over ${bounds.windowSeconds} s`;
}

/** When the environment's deployment started serving it: its last traffic shift, else creation. */
function servingSince(env: EnvironmentFieldsFragment): string | null {
  const dep = env.deployment;
  if (!dep) return null;
  const shifts = dep.events.filter((e) => e.kind === "traffic_shifted" || e.kind === "canary_promoted");
  return shifts.at(-1)?.at ?? dep.createdAt;
}

export type CanaryDraft = { percent: string; maxErrorRate: string; maxP95Ms: string; windowSeconds: string };

export type CanaryValues = {
  percent: number;
  autoRollback: { maxErrorRate: number | null; maxP95Ms: number | null; windowSeconds: number } | null;
};

/** The canary form's checks (services.check_canary's rules); the error rate is in percent here. */
export function checkCanary(draft: CanaryDraft): { values: CanaryValues; errors: FieldErrors } {
  const errors: FieldErrors = {};
  const num = (raw: string) => (raw.trim() === "" ? null : Number(raw));
  const percent = num(draft.percent);
  if (percent === null || !Number.isFinite(percent)) errors.percent = "enter the share of traffic, e.g. 10";
  else if (!(percent > 0 && percent < 100)) errors.percent = "must be between 0 and 100 (exclusive)";
  const rate = num(draft.maxErrorRate);
  if (rate !== null && (!Number.isFinite(rate) || rate < 0 || rate > 100)) {
    errors.maxErrorRate = "must be a percentage between 0 and 100, or empty for no bound";
  }
  const p95 = num(draft.maxP95Ms);
  if (p95 !== null && (!Number.isFinite(p95) || p95 <= 0)) {
    errors.maxP95Ms = "must be a positive number of milliseconds, or empty for no bound";
  }
  const window = num(draft.windowSeconds) ?? 60;
  if (!Number.isFinite(window) || window < 1 || window > 86_400) {
    errors.windowSeconds = "must be between 1 and 86400 seconds";
  }
  const bounded = rate !== null || p95 !== null;
  return {
    values: {
      percent: percent ?? 0,
      autoRollback: bounded
        ? { maxErrorRate: rate === null ? null : rate / 100, maxP95Ms: p95, windowSeconds: window }
        : null,
    },
    errors,
  };
}

type Outcome =
  | { ok: true; deployment: Extract<LifecycleFieldsFragment, { __typename: "Deployment" }> }
  | { ok: false; field: string; message: string };

function outcome(result: LifecycleFieldsFragment): Outcome {
  if (result.__typename === "Deployment") return { ok: true, deployment: result };
  return { ok: false, field: result.field, message: result.message };
}

function failureText(caught: unknown): string {
  const message = caught instanceof Error ? caught.message : String(caught);
  return caught instanceof ApiError && caught.kind === "forbidden"
    ? `${message} Promote, rollback and canaries need the \`deploy\` or \`admin\` scope.`
    : message;
}

/** What the panel is following after an action. */
type Tracked = {
  deploymentId: string;
  version: number;
  environment: string;
  what: "promote" | "rollback" | "canary" | "promote-canary" | "abort-canary";
};

function trackedDone(t: Tracked, envs: EnvironmentFieldsFragment[]): boolean {
  const env = envs.find((e) => e.name === t.environment);
  if (!env) return false;
  if (t.what === "canary") return env.canary?.deployment.id === t.deploymentId;
  if (t.what === "abort-canary") return env.canary === null || env.canary === undefined;
  return env.deployment?.id === t.deploymentId;
}

const DOING: Record<Tracked["what"], string> = {
  promote: "Promoting",
  rollback: "Rolling back to",
  canary: "Starting a canary of",
  "promote-canary": "Promoting the canary",
  "abort-canary": "Aborting the canary",
};

/** Live progress of one action until the environment shows its result, or FAILED. */
export function ActionProgress({
  tracked,
  done,
  onClose,
}: {
  tracked: Tracked;
  done: boolean;
  onClose: () => void;
}) {
  const { client } = useAuth();
  const [status, setStatus] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [events, setEvents] = useState<EventFieldsFragment[]>([]);
  const [problem, setProblem] = useState<string | null>(null);
  // SUPERSEDED before the environment showed it: another rollout replaced it meanwhile.
  const failed = status === "FAILED" || (status === "SUPERSEDED" && !done && tracked.what !== "abort-canary");

  useEffect(() => {
    if (done || failed) return;
    let alive = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const tick = async () => {
      try {
        const { deployment } = await client.request(DeploymentProgressDocument, { id: tracked.deploymentId });
        if (!alive) return;
        setProblem(deployment ? null : "This deployment no longer exists (was the model deleted?).");
        if (deployment) {
          setStatus(deployment.status);
          setError(deployment.error);
          setEvents(deployment.events.slice(-4));
          if (deployment.status === "FAILED" || deployment.status === "SUPERSEDED") return;
        }
      } catch (caught) {
        if (alive) setProblem(`Could not refresh progress: ${failureText(caught)}`);
      }
      if (alive) timer = setTimeout(tick, 1000);
    };
    void tick();
    return () => {
      alive = false;
      if (timer !== undefined) clearTimeout(timer);
    };
  }, [client, tracked.deploymentId, done, failed]);

  const versionText = tracked.what.endsWith("canary") && tracked.what !== "canary" ? "" : ` version ${tracked.version}`;
  const title = failed
    ? `${DOING[tracked.what]}${versionText} in ${tracked.environment} failed`
    : done
      ? tracked.what === "canary"
        ? `Version ${tracked.version} is the canary of ${tracked.environment}`
        : tracked.what === "abort-canary"
          ? `The canary of ${tracked.environment} was aborted`
          : `${tracked.environment} now serves version ${tracked.version}`
      : `${DOING[tracked.what]}${versionText} in ${tracked.environment}…`;
  return (
    <section className="card progress" aria-live="polite" aria-label="Action progress">
      <header className="progress-header">
        <h3>
          {!done && !failed && <Spinner label="In progress" />} {title}
        </h3>
        {status && <StatusBadge status={status as "ACTIVE"} />}
        {(done || failed) && (
          <button type="button" className="button-small" onClick={onClose}>
            Dismiss
          </button>
        )}
      </header>
      {done && !failed && tracked.what !== "abort-canary" && (
        <Banner tone="success">Traffic shifted; the replicas it replaced drain and stop.</Banner>
      )}
      {failed && (
        <Banner tone="error">
          <strong>Reason:</strong>{" "}
          {error ??
            (status === "SUPERSEDED"
              ? "another rollout replaced this version before it took the traffic"
              : "the server gave no reason; see the version's events")}
          . The
          environment keeps serving what it served before; fix the cause and try again.
        </Banner>
      )}
      {problem && <Banner tone="warning">{problem}</Banner>}
      {!done && !failed && (
        <p className="muted">Starting replicas, then shifting traffic once they are ready; this takes a few seconds to minutes.</p>
      )}
      <ol className="timeline">
        {events.map((event) => (
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

/** Shared by every action: run the mutation, then follow it (or show the error). */
function useAction(onStarted: (t: Tracked) => void) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<{ field: string; message: string } | null>(null);
  const run = async (
    call: () => Promise<LifecycleFieldsFragment>,
    track: (d: Extract<LifecycleFieldsFragment, { __typename: "Deployment" }>) => Tracked,
  ): Promise<boolean> => {
    setBusy(true);
    setError(null);
    try {
      const result = outcome(await call());
      if (!result.ok) {
        setError({ field: result.field, message: result.message });
        return false;
      }
      onStarted(track(result.deployment));
      return true;
    } catch (caught) {
      setError({ field: "", message: failureText(caught) });
      return false;
    } finally {
      setBusy(false);
    }
  };
  return { busy, error, setError, run };
}

export function EnvironmentsPanel({
  model,
  environments,
  versions,
}: {
  model: string;
  environments: EnvironmentFieldsFragment[];
  versions: Version[];
}) {
  const [tracked, setTracked] = useState<Tracked | null>(null);
  return (
    <section className="stack" aria-label="Environments">
      <h2>Environments</h2>
      {tracked && (
        <ActionProgress
          key={`${tracked.deploymentId}-${tracked.what}`}
          tracked={tracked}
          done={trackedDone(tracked, environments)}
          onClose={() => setTracked(null)}
        />
      )}
      <div className="env-grid">
        {environments.map((env) => (
          <EnvironmentCard key={env.name} model={model} env={env} versions={versions} onStarted={setTracked} />
        ))}
      </div>
    </section>
  );
}

type Open = "none" | "promote" | "rollback" | "canary" | "promote-canary" | "abort-canary";

export function EnvironmentCard({
  model,
  env,
  versions,
  onStarted,
}: {
  model: string;
  env: EnvironmentFieldsFragment;
  versions: Version[];
  onStarted: (t: Tracked) => void;
}) {
  const { client } = useAuth();
  const [open, setOpen] = useState<Open>("none");
  const action = useAction((t) => {
    setOpen("none");
    onStarted(t);
  });
  const dep = env.deployment;
  const candidates = versions.filter((v) => promotable(v) && v.id !== dep?.id);
  const ready = dep?.replicas.filter((r) => r.state === "READY").length ?? 0;
  const previous = env.previousDeployment;
  const show = (which: Open) => {
    action.setError(null);
    setOpen(which);
  };

  const simple = (what: "rollback" | "promote-canary" | "abort-canary") => {
    const variables = { model, environment: env.name };
    return action.run(
      async () =>
        what === "rollback"
          ? (await client.request(RollbackDocument, variables)).rollback
          : what === "promote-canary"
            ? (await client.request(PromoteCanaryDocument, variables)).promoteCanary
            : (await client.request(AbortCanaryDocument, variables)).abortCanary,
      (d) => ({ deploymentId: d.id, version: d.version, environment: env.name, what }),
    );
  };

  return (
    <article className="card" aria-label={`Environment ${env.name}`}>
      <header className="card-header">
        <h3>{env.name}</h3>
        {dep ? <StatusBadge status={dep.status} /> : <span className="badge badge-muted">serves nothing</span>}
      </header>
      <dl className="facts">
        <dt>Serves</dt>
        <dd data-testid={`serves-${env.name}`}>{dep ? `version ${dep.version}` : "nothing yet"}</dd>
        <dt>Since</dt>
        <dd>{formatTime(servingSince(env))}</dd>
        <dt>Replicas</dt>
        <dd>
          {dep ? `${ready} ready of ${dep.replicas.length}` : "none running"} · {scalingSummary(env.scaling)}
        </dd>
        <dt>Previous</dt>
        <dd>{previous ? `version ${previous.version}` : "none"}</dd>
        {env.canary && (
          <>
            <dt>Canary</dt>
            <dd>
              version {env.canary.deployment.version} gets {env.canary.percent}% of the traffic;{" "}
              {boundsSummary(env.canary.autoRollback)}
            </dd>
          </>
        )}
      </dl>
      {env.lastRollbackReason && (
        <Banner tone="warning">
          <strong>Last rollback:</strong> {env.lastRollbackReason}
        </Banner>
      )}
      {open === "none" && (
        <div className="actions">
          <button
            type="button"
            onClick={() => show("promote")}
            disabled={candidates.length === 0}
            title={candidates.length === 0 ? "No other version is ready to promote: deploy one first." : undefined}
          >
            Promote a version…
          </button>
          <button
            type="button"
            onClick={() => show("rollback")}
            disabled={!previous}
            title={previous ? `Serve version ${previous.version} again` : `${env.name} has no previous deployment to roll back to.`}
            aria-label={`Roll back ${env.name}`}
          >
            Roll back…
          </button>
          {env.canary ? (
            <>
              <button type="button" onClick={() => show("promote-canary")}>
                Promote canary…
              </button>
              <button type="button" className="button-danger-outline" onClick={() => show("abort-canary")}>
                Abort canary…
              </button>
            </>
          ) : (
            <button
              type="button"
              onClick={() => show("canary")}
              disabled={!dep || candidates.length === 0}
              title={
                !dep
                  ? `${env.name} serves nothing yet: promote a version first.`
                  : candidates.length === 0
                    ? "No other version is ready to canary."
                    : undefined
              }
            >
              Start canary…
            </button>
          )}
        </div>
      )}
      {open === "promote" && (
        <PromoteForm
          environment={env.name}
          candidates={candidates}
          busy={action.busy}
          error={action.error}
          onCancel={() => setOpen("none")}
          onConfirm={(deploymentId) =>
            action.run(
              async () =>
                (await client.request(PromoteDeploymentDocument, { deploymentId, environment: env.name }))
                  .promoteDeployment,
              (d) => ({ deploymentId: d.id, version: d.version, environment: env.name, what: "promote" }),
            )
          }
        />
      )}
      {open === "canary" && (
        <CanaryForm
          environment={env.name}
          candidates={candidates}
          busy={action.busy}
          error={action.error}
          onCancel={() => setOpen("none")}
          onConfirm={(deploymentId, values) =>
            action.run(
              async () =>
                (
                  await client.request(StartCanaryDocument, {
                    model,
                    deploymentId,
                    environment: env.name,
                    percent: values.percent,
                    autoRollback: values.autoRollback,
                  })
                ).startCanary,
              (d) => ({ deploymentId: d.id, version: d.version, environment: env.name, what: "canary" }),
            )
          }
        />
      )}
      {(open === "rollback" || open === "promote-canary" || open === "abort-canary") && (
        <Confirm
          label={`Confirm ${open.replace("-", " ")}`}
          busy={action.busy}
          error={action.error}
          confirmText={
            open === "rollback"
              ? `Roll back to version ${previous?.version ?? "?"}`
              : open === "promote-canary"
                ? "Promote canary"
                : "Abort canary"
          }
          danger={open !== "promote-canary"}
          onCancel={() => setOpen("none")}
          onConfirm={() => simple(open)}
        >
          {open === "rollback" ? (
            <p>
              {env.name} goes back to <strong>version {previous?.version}</strong> (from version{" "}
              {dep?.version}). Its replicas start first; traffic shifts once they are ready.
            </p>
          ) : open === "promote-canary" ? (
            <p>
              Version {env.canary?.deployment.version} takes all of {env.name}&apos;s traffic at once; version{" "}
              {dep?.version} drains and stops.
            </p>
          ) : (
            <p>
              Version {env.canary?.deployment.version} stops taking traffic; {env.name} stays on version{" "}
              {dep?.version}.
            </p>
          )}
        </Confirm>
      )}
    </article>
  );
}

function ErrorBanner({ error }: { error: { field: string; message: string } | null }) {
  if (!error) return null;
  return (
    <Banner tone="error">
      {error.field && error.field !== "input" ? `${error.field}: ` : ""}
      {error.message}
    </Banner>
  );
}

function Confirm({
  label,
  busy,
  error,
  confirmText,
  danger,
  onCancel,
  onConfirm,
  children,
}: {
  label: string;
  busy: boolean;
  error: { field: string; message: string } | null;
  confirmText: string;
  danger?: boolean;
  onCancel: () => void;
  onConfirm: () => Promise<boolean>;
  children: ReactNode;
}) {
  return (
    <form
      className="confirm"
      aria-label={label}
      onSubmit={(e) => {
        e.preventDefault();
        void onConfirm();
      }}
    >
      {children}
      <ErrorBanner error={error} />
      <div className="actions">
        <button type="submit" className={danger ? "button-danger" : "button-primary"} disabled={busy}>
          {busy ? (
            <>
              <Spinner label="Working" /> {confirmText}…
            </>
          ) : (
            confirmText
          )}
        </button>
        <button type="button" disabled={busy} onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}

function versionLabel(v: Version): string {
  const serves = v.environment ? `, serves ${v.environment}` : "";
  return `Version ${v.version} (${sourceOf(v)}${serves})`;
}

export function PromoteForm({
  environment,
  candidates,
  busy,
  error,
  onCancel,
  onConfirm,
}: {
  environment: string;
  candidates: Version[];
  busy: boolean;
  error: { field: string; message: string } | null;
  onCancel: () => void;
  onConfirm: (deploymentId: string) => Promise<boolean>;
}) {
  const [chosen, setChosen] = useState(candidates[0]?.id ?? "");
  const version = candidates.find((v) => v.id === chosen);
  const id = `promote-${environment}`;
  return (
    <Confirm
      label={`Promote to ${environment}`}
      busy={busy}
      error={error}
      confirmText={`Promote to ${environment}`}
      onCancel={onCancel}
      onConfirm={() => onConfirm(chosen)}
    >
      <Field
        id={id}
        label="Version"
        help={
          version?.environment && version.environment !== environment
            ? `Version ${version.version} serves ${version.environment}: it is copied as a new version (same snapshot) so both environments keep their own replicas.`
            : "Its replicas start first; traffic shifts once they are ready, with no downtime."
        }
      >
        <select id={id} value={chosen} disabled={busy} onChange={(e) => setChosen(e.target.value)}>
          {candidates.map((v) => (
            <option key={v.id} value={v.id}>
              {versionLabel(v)}
            </option>
          ))}
        </select>
      </Field>
    </Confirm>
  );
}

const CANARY_FIELDS = ["percent", "maxErrorRate", "maxP95Ms", "windowSeconds"] as const;

export function CanaryForm({
  environment,
  candidates,
  busy,
  error,
  onCancel,
  onConfirm,
}: {
  environment: string;
  candidates: Version[];
  busy: boolean;
  error: { field: string; message: string } | null;
  onCancel: () => void;
  onConfirm: (deploymentId: string, values: CanaryValues) => Promise<boolean>;
}) {
  const [chosen, setChosen] = useState(candidates[0]?.id ?? "");
  const [draft, setDraft] = useState<CanaryDraft>({ percent: "10", maxErrorRate: "", maxP95Ms: "", windowSeconds: "60" });
  const [errors, setErrors] = useState<FieldErrors>({});
  // The server's ValidationError names e.g. "autoRollback.maxP95Ms": show it at that field.
  const serverField = error?.field.replace(/^autoRollback\./, "") ?? "";
  const atField = (CANARY_FIELDS as readonly string[]).includes(serverField);
  const shown: FieldErrors = atField && error ? { ...errors, [serverField]: errors[serverField] ?? error.message } : errors;
  const p = `canary-${environment}`;
  const input = (key: (typeof CANARY_FIELDS)[number], label: string, help: string, placeholder?: string) => (
    <Field id={`${p}-${key}`} label={label} help={help} error={shown[key]}>
      <input
        id={`${p}-${key}`}
        name={key}
        type="number"
        inputMode="decimal"
        step="any"
        value={draft[key]}
        placeholder={placeholder}
        disabled={busy}
        aria-invalid={shown[key] ? true : undefined}
        aria-describedby={describedBy(`${p}-${key}`, shown[key])}
        onChange={(e) => {
          const value = e.target.value;
          setDraft((prev) => ({ ...prev, [key]: value }));
          setErrors((prev) => ({ ...prev, [key]: undefined }));
        }}
      />
    </Field>
  );
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const checked = checkCanary(draft);
    setErrors(checked.errors);
    if (CANARY_FIELDS.some((f) => checked.errors[f])) return;
    await onConfirm(chosen, checked.values);
  };
  return (
    <form className="confirm" aria-label={`Start a canary in ${environment}`} onSubmit={(e) => void submit(e)} noValidate>
      <Field id={`${p}-version`} label="Canary version" help="It starts next to the current version and takes a share of the traffic.">
        <select id={`${p}-version`} value={chosen} disabled={busy} onChange={(e) => setChosen(e.target.value)}>
          {candidates.map((v) => (
            <option key={v.id} value={v.id}>
              {versionLabel(v)}
            </option>
          ))}
        </select>
      </Field>
      <div className="row">
        {input("percent", "Traffic (%)", "Share of requests the canary answers (10: every 10th request).")}
        {input("windowSeconds", "Window (s)", "The span of recent requests the bounds judge.")}
      </div>
      <div className="row">
        {input("maxErrorRate", "Max error rate (%)", "Roll back when more answers than this fail (5xx). Empty: no bound.", "none")}
        {input("maxP95Ms", "Max p95 latency (ms)", "Roll back when the canary's p95 is slower. Empty: no bound.", "none")}
      </div>
      {!atField && <ErrorBanner error={error} />}
      <div className="actions">
        <button type="submit" className="button-primary" disabled={busy}>
          {busy ? (
            <>
              <Spinner label="Starting" /> Start canary…
            </>
          ) : (
            "Start canary"
          )}
        </button>
        <button type="button" disabled={busy} onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}

export function VersionsTable({ versions }: { versions: Version[] }) {
  const byId = new Map(versions.map((v) => [v.id, v.version]));
  return (
    <section className="card" aria-label="Versions">
      <header className="card-header">
        <h2>Versions</h2>
        <span className="muted">Every deploy is a new, immutable version; promote one from an environment above.</span>
      </header>
      <table className="table" aria-label="Versions of the model">
        <thead>
          <tr>
            <th>Version</th>
            <th>Source</th>
            <th>Engine</th>
            <th>Status</th>
            <th>Serves</th>
            <th>Promoted from</th>
            <th>By</th>
            <th>Created</th>
          </tr>
        </thead>
        <tbody>
          {versions.map((v) => (
            <tr key={v.id}>
              <td className="num">v{v.version}</td>
              <td className="mono" title={v.resolvedRevision ?? undefined}>
                {sourceOf(v)}
              </td>
              <td>{v.engine}</td>
              <td>
                <StatusBadge status={v.status} />
                {v.error && <div className="cell-error">{v.error}</div>}
              </td>
              <td>{v.environment ?? (v.status === "DEPLOYING" || v.status === "PENDING" ? `→ ${v.targetEnvironment}` : "—")}</td>
              <td>{v.promotedFrom ? `v${byId.get(v.promotedFrom) ?? "?"}` : "—"}</td>
              <td className="mono">{v.createdBy ?? "—"}</td>
              <td>{formatTime(v.createdAt)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
