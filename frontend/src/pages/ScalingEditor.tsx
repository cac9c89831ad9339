/**
 * Edit a model's scaling bounds and autoscaling policy and apply them live (updateScaling);
 * errors at the field.
 */
import { useEffect, useState, type FormEvent } from "react";
import { UpdateScalingDocument, type ScalingFieldsFragment } from "../api/generated";
import { useAuth } from "../auth";
import { Banner, PolicyField, ScalingFieldset, Spinner } from "../components";
import {
  SCALING_FIELDS,
  checkScaling,
  scalingDraft,
  type FieldErrors,
  type ScalingDraft,
} from "../validation";

export function ScalingEditor({ model, current }: { model: string; current: ScalingFieldsFragment }) {
  const { client } = useAuth();
  const [draft, setDraft] = useState<ScalingDraft>(() => scalingDraft(current));
  const [policy, setPolicy] = useState(current.autoscalingPolicy);
  const [dirty, setDirty] = useState(false);
  const [errors, setErrors] = useState<FieldErrors>({});
  const [busy, setBusy] = useState(false);
  const [message, setMessage] = useState<{ tone: "success" | "error"; text: string } | null>(null);

  // Follow the server's values (another tab, the CLI) unless the user is editing; keyed on the
  // serialised values so a poll returning equal numbers does not reset anything.
  const serverKey = JSON.stringify(current);
  useEffect(() => {
    if (!dirty) {
      setDraft(scalingDraft(current));
      setPolicy(current.autoscalingPolicy);
    }
  }, [serverKey, dirty]);

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
        setDraft(scalingDraft(updateScaling.scaling));
        setPolicy(updateScaling.scaling.autoscalingPolicy);
        setDirty(false);
        setMessage({
          tone: "success",
          text: "Applied. Replicas follow the new bounds within a few seconds.",
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
