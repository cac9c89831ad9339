/**
 * Edit the scaling bounds and autoscaling policy of one of a model's environments (production by
 * default) and apply them live (updateScaling); errors at the field.
 */
import { useEffect, useState, type FormEvent } from "react";
import { UpdateScalingDocument, type ScalingFieldsFragment } from "../api/generated";
import { useAuth } from "../auth";
import { Banner, Field, PolicyField, ScalingFieldset, Spinner } from "../components";
import {
  DEFAULT_POLICY,
  DEFAULT_SCALING,
  SCALING_FIELDS,
  checkScaling,
  scalingDraft,
  type FieldErrors,
  type ScalingDraft,
} from "../validation";

const FALLBACK: ScalingFieldsFragment = { ...DEFAULT_SCALING, autoscalingPolicy: DEFAULT_POLICY };

type EnvironmentScaling = { name: string; scaling: ScalingFieldsFragment };

export function ScalingEditor({ model, environments }: { model: string; environments: EnvironmentScaling[] }) {
  const { client } = useAuth();
  const [environment, setEnvironment] = useState("production");
  const current = (environments.find((e) => e.name === environment) ?? environments[0])?.scaling ?? FALLBACK;
  const [draft, setDraft] = useState<ScalingDraft>(() => scalingDraft(current));
  const [policy, setPolicy] = useState(current.autoscalingPolicy);
  const [dirty, setDirty] = useState(false);
  const [errors, setErrors] = useState<FieldErrors>({});
  const [busy, setBusy] = useState(false);
  const [message, setMessage] = useState<{ tone: "success" | "error"; text: string } | null>(null);

  // Follow the server's values (another tab, the CLI) unless the user is editing; keyed on the
  // serialised values so a poll returning equal numbers does not reset anything.
  const serverKey = JSON.stringify(current);
  // After an apply, the polled values are stale until the next poll: keep what was applied until
  // the server's values change (`staleKey` is what they were when the apply answered).
  const [staleKey, setStaleKey] = useState<string | null>(null);
  useEffect(() => {
    if (staleKey !== null && staleKey === serverKey) return;
    if (staleKey !== null) setStaleKey(null);
    if (!dirty) {
      setDraft(scalingDraft(current));
      setPolicy(current.autoscalingPolicy);
    }
  }, [serverKey, dirty, staleKey]);

  const apply = async (event: FormEvent) => {
    event.preventDefault();
    setMessage(null);
    const checked = checkScaling(draft);
    setErrors(checked.errors);
    if (SCALING_FIELDS.some((f) => checked.errors[f.key])) return;
    setBusy(true);
    try {
      const { updateScaling } = await client.request(UpdateScalingDocument, {
        model,
        scaling: { ...checked.values, autoscalingPolicy: policy },
        environment,
      });
      if (updateScaling.__typename === "ValidationError") {
        setErrors({ [updateScaling.field]: updateScaling.message });
        if (
          updateScaling.field !== "autoscalingPolicy" &&
          !SCALING_FIELDS.some((f) => f.key === updateScaling.field)
        ) {
          setMessage({ tone: "error", text: `${updateScaling.field}: ${updateScaling.message}` });
        }
      } else if (updateScaling.__typename === "NotFoundError") {
        setMessage({ tone: "error", text: `${updateScaling.message}. It may have been deleted.` });
      } else {
        // The answer's `scaling` is production's; keep what was applied to this environment.
        if (environment === "production") {
          setDraft(scalingDraft(updateScaling.scaling));
          setPolicy(updateScaling.scaling.autoscalingPolicy);
        }
        setStaleKey(serverKey);
        setDirty(false);
        setMessage({
          tone: "success",
          text: `Applied to ${environment}. Replicas follow the new bounds within a few seconds.`,
        });
      }
    } catch (caught) {
      setMessage({ tone: "error", text: caught instanceof Error ? caught.message : String(caught) });
    } finally {
      setBusy(false);
    }
  };

  return (
    <form className="card form" onSubmit={(e) => void apply(e)} noValidate aria-label="Scaling">
      <header className="card-header">
        <h2>Scaling</h2>
        {dirty && <span className="muted">Unsaved changes</span>}
      </header>
      <Field
        id="scaling-environment"
        label="Environment"
        help="Each environment scales its own replicas; the bounds below are this one's."
      >
        <select
          id="scaling-environment"
          value={environment}
          disabled={busy}
          onChange={(e) => {
            const next = environments.find((env) => env.name === e.target.value);
            setEnvironment(e.target.value);
            setStaleKey(null);
            if (next) {
              setDraft(scalingDraft(next.scaling));
              setPolicy(next.scaling.autoscalingPolicy);
            }
            setDirty(false);
            setErrors({});
            setMessage(null);
          }}
        >
          {environments.map((env) => (
            <option key={env.name} value={env.name}>
              {env.name}
            </option>
          ))}
        </select>
      </Field>
      {message && <Banner tone={message.tone}>{message.text}</Banner>}
      <fieldset disabled={busy}>
        <ScalingFieldset
          idPrefix="scaling"
          draft={draft}
          errors={errors}
          onChange={(key, value) => {
            setDraft((prev) => ({ ...prev, [key]: value }));
            setDirty(true);
            setMessage(null);
            setErrors((prev) => ({ ...prev, [key]: undefined }));
          }}
        />
        <PolicyField
          id="scaling-autoscalingPolicy"
          value={policy}
          error={errors.autoscalingPolicy}
          onChange={(value) => {
            setPolicy(value);
            setDirty(true);
            setMessage(null);
            setErrors((prev) => ({ ...prev, autoscalingPolicy: undefined }));
          }}
        />
      </fieldset>
      <div className="actions">
        <button type="submit" className="button-primary" disabled={busy || !dirty}>
          {busy ? (
            <>
              <Spinner label="Applying" /> Applying…
            </>
          ) : (
            "Apply"
          )}
        </button>
        <button
          type="button"
          disabled={busy || !dirty}
          onClick={() => {
            setDraft(scalingDraft(current));
            setPolicy(current.autoscalingPolicy);
            setDirty(false);
            setErrors({});
            setMessage(null);
          }}
        >
          Reset
        </button>
      </div>
    </form>
  );
}
