/**
 * The deploy form: repo, revision, task (suggested from the repo's cached config through
 * `suggestTask`, a moment after typing stops), name (suggested from the repo), scaling bounds and
 * the autoscaling policy, and the environment the new version serves once ready (production by
 * default; deploying a name that exists creates its next version, which the form says). Client
 * checks mirror the server's; the server's ValidationError lands
 * at the field it names.
 * After a successful submit the form gives way to the live progress of the new deployment.
 */
import { useEffect, useRef, useState, type FormEvent } from "react";
import { ApiError } from "../api/client";
import {
  DeployModelDocument,
  ModelNamesDocument,
  SuggestTaskDocument,
  type DeploymentStatus,
} from "../api/generated";
import { useAuth } from "../auth";
import { Banner, Field, PolicyField, ScalingFieldset, Spinner, describedBy } from "../components";
import {
  DEFAULT_POLICY,
  DEFAULT_SCALING,
  SCALING_FIELDS,
  TASKS,
  checkName,
  checkRepo,
  checkRevision,
  checkScaling,
  scalingDraft,
  suggestName,
  type FieldErrors,
  type ScalingDraft,
  type ScalingKey,
} from "../validation";
import { DeployProgress } from "./DeployProgress";

const FORM_FIELDS = [
  "huggingFaceRepo",
  "revision",
  "task",
  "name",
  "environment",
  ...SCALING_FIELDS.map((f) => f.key),
  "autoscalingPolicy",
];
const SUGGEST_DELAY_MS = 400;
export const ENVIRONMENTS = ["production", "staging", "development"] as const;

type Suggestion = { repo: string; task: string | null; reason: string };

type Started = { id: string; modelName: string; status: DeploymentStatus; error: string | null };

export function Deploy() {
  const { client } = useAuth();
  const [repo, setRepo] = useState("");
  const [revision, setRevision] = useState("");
  const [task, setTask] = useState("auto");
  const [name, setName] = useState("");
  const [nameTouched, setNameTouched] = useState(false);
  const [scaling, setScaling] = useState<ScalingDraft>(() => scalingDraft(DEFAULT_SCALING));
  const [errors, setErrors] = useState<FieldErrors>({});
  const [formError, setFormError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [started, setStarted] = useState<Started | null>(null);
  const [policy, setPolicy] = useState<string>(DEFAULT_POLICY);
  const [taskTouched, setTaskTouched] = useState(false);
  const [suggestion, setSuggestion] = useState<Suggestion | null>(null);
  const formRef = useRef<HTMLFormElement>(null);
  const [environment, setEnvironment] = useState<string>("production");
  const [existing, setExisting] = useState<string[]>([]);

  // The names that exist, to say when a deploy adds a version instead of a model.
  useEffect(() => {
    let current = true;
    client
      .request(ModelNamesDocument, {})
      .then(({ models }) => {
        if (current) setExisting(models.map((m) => m.name));
      })
      .catch(() => undefined); // only a hint: the deploy itself still works
    return () => {
      current = false;
    };
  }, [client]);
  const exists = existing.includes(name);

  // Ask the server which task the repo is made for, once typing pauses; a stale answer (the
  // repo changed meanwhile) is dropped. Unless the user chose a task, the suggestion is applied.
  useEffect(() => {
    const wanted = repo.trim();
    if (checkRepo(wanted) !== undefined || checkRevision(revision) !== undefined) {
      setSuggestion(null);
      return;
    }
    let current = true;
    const timer = setTimeout(() => {
      client
        .request(SuggestTaskDocument, { repo: wanted, revision: revision.trim() || null })
        .then(({ suggestTask }) => {
          if (!current) return;
          setSuggestion({ repo: wanted, task: suggestTask.task, reason: suggestTask.reason });
          if (!taskTouched) setTask(suggestTask.task ?? "auto");
        })
        .catch(() => {
          if (current) setSuggestion(null); // a suggestion is a convenience: "auto" still works
        });
    }, SUGGEST_DELAY_MS);
    return () => {
      current = false;
      clearTimeout(timer);
    };
  }, [client, repo, revision, taskTouched]);

  const clearError = (field: string) =>
    setErrors((prev) => (prev[field] ? { ...prev, [field]: undefined } : prev));

  const focusField = (field: string) => {
    // After React paints the error, move focus so keyboard and screen-reader users land on it.
    setTimeout(() => formRef.current?.querySelector<HTMLElement>(`[name="${field}"]`)?.focus(), 0);
  };

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setFormError(null);
    const checked = checkScaling(scaling);
    const found: FieldErrors = {
      huggingFaceRepo: checkRepo(repo),
      revision: checkRevision(revision),
      name: checkName(name),
      ...checked.errors,
    };
    const first = FORM_FIELDS.find((f) => found[f]);
    setErrors(found);
    if (first) {
      focusField(first);
      return;
    }
    setBusy(true);
    try {
      const { deployModel } = await client.request(DeployModelDocument, {
        input: {
          name,
          huggingFaceRepo: repo.trim(),
          revision: revision.trim() || null,
          task: task === "auto" ? null : task,
          scaling: { ...checked.values, autoscalingPolicy: policy },
          environment,
        },
      });
      if (deployModel.__typename === "ValidationError") {
        if (FORM_FIELDS.includes(deployModel.field)) {
          setErrors({ [deployModel.field]: deployModel.message });
          focusField(deployModel.field);
        } else {
          setFormError(`${deployModel.field}: ${deployModel.message}`);
        }
      } else {
        setStarted({
          id: deployModel.id,
          modelName: deployModel.modelName,
          status: deployModel.status,
          error: deployModel.error,
        });
      }
    } catch (caught) {
      const message = caught instanceof Error ? caught.message : String(caught);
      setFormError(
        caught instanceof ApiError && caught.kind === "forbidden"
          ? `${message} Deploying needs the \`deploy\` or \`admin\` scope.`
          : message,
      );
    } finally {
      setBusy(false);
    }
  };

  if (started) {
    return (
      <section>
        <header className="page-header">
          <h1>Deploy a model</h1>
        </header>
        <DeployProgress
          deploymentId={started.id}
          modelName={started.modelName}
          initialStatus={started.status}
          initialError={started.error}
          environment={environment}
        />
      </section>
    );
  }

  const onRepo = (value: string) => {
    setRepo(value);
    clearError("huggingFaceRepo");
    if (!nameTouched) {
      setName(suggestName(value));
      clearError("name");
    }
  };

  return (
    <section>
      <header className="page-header">
        <div>
          <h1>Deploy a model</h1>
          <p className="muted">
            From the Hugging Face Hub (or your local cache). Replicas start as soon as you deploy.
          </p>
        </div>
      </header>
      <form ref={formRef} className="card form" onSubmit={(e) => void submit(e)} noValidate>
        {formError && <Banner tone="error">{formError}</Banner>}
        <fieldset disabled={busy}>
          <legend>Model</legend>
          <Field
            id="deploy-huggingFaceRepo"
            label="Hugging Face repository"
            help="The repo id, e.g. sentence-transformers/all-MiniLM-L6-v2."
            error={errors.huggingFaceRepo}
          >
            <input
              id="deploy-huggingFaceRepo"
              name="huggingFaceRepo"
              value={repo}
              autoComplete="off"
              spellCheck={false}
              placeholder="org/name"
              aria-invalid={errors.huggingFaceRepo ? true : undefined}
              aria-describedby={describedBy("deploy-huggingFaceRepo", errors.huggingFaceRepo)}
              onChange={(e) => onRepo(e.target.value)}
            />
          </Field>
          <div className="row">
            <Field
              id="deploy-revision"
              label="Revision"
              help="Branch, tag or commit; empty means main."
              error={errors.revision}
            >
              <input
                id="deploy-revision"
                name="revision"
                value={revision}
                autoComplete="off"
                spellCheck={false}
                placeholder="main"
                aria-invalid={errors.revision ? true : undefined}
                aria-describedby={describedBy("deploy-revision", errors.revision)}
                onChange={(e) => {
                  setRevision(e.target.value);
                  clearError("revision");
                }}
              />
            </Field>
            <Field
              id="deploy-task"
              label="Task"
              help={
                suggestion?.task
                  ? `Suggested: ${suggestion.task} (${suggestion.reason}).`
                  : suggestion
                    ? `Auto reads it from the repo's config when it deploys; no suggestion now: ${suggestion.reason}.`
                    : "Auto reads it from the repo's config."
              }
              error={errors.task}
            >
              <select
                id="deploy-task"
                name="task"
                value={task}
                aria-describedby={describedBy("deploy-task", errors.task)}
                onChange={(e) => {
                  setTask(e.target.value);
                  setTaskTouched(true);
                  clearError("task");
                }}
              >
                <option value="auto">auto</option>
                {TASKS.map((t) => (
                  <option key={t} value={t}>
                    {t}
                  </option>
                ))}
              </select>
            </Field>
          </div>
          <Field
            id="deploy-name"
            label="Name"
            help="Used in the URL /v1/models/NAME/predict: lowercase letters, digits and '-'."
            error={errors.name}
          >
            <input
              id="deploy-name"
              name="name"
              value={name}
              autoComplete="off"
              spellCheck={false}
              aria-invalid={errors.name ? true : undefined}
              aria-describedby={describedBy("deploy-name", errors.name)}
              onChange={(e) => {
                setName(e.target.value);
                setNameTouched(true);
                clearError("name");
              }}
            />
          </Field>
          {exists && (
            <p className="banner banner-info" role="status">
              A model named <strong>{name}</strong> exists: deploying creates its next version and
              rolls it out into {environment}; its other environments keep what they serve.
            </p>
          )}
          <Field
            id="deploy-environment"
            label="Environment"
            help="Where the new version serves once ready: production takes real traffic; staging and development have their own routes (/v1/models/NAME/environments/ENV/predict)."
            error={errors.environment}
          >
            <select
              id="deploy-environment"
              name="environment"
              value={environment}
              aria-describedby={describedBy("deploy-environment", errors.environment)}
              onChange={(e) => {
                setEnvironment(e.target.value);
                clearError("environment");
              }}
            >
              {ENVIRONMENTS.map((env) => (
                <option key={env} value={env}>
                  {env}
                </option>
              ))}
            </select>
          </Field>
        </fieldset>
        <fieldset disabled={busy}>
          <legend>Scaling</legend>
          <ScalingFieldset
            idPrefix="deploy"
            draft={scaling}
            errors={errors}
            onChange={(key: ScalingKey, value) => {
              setScaling((prev) => ({ ...prev, [key]: value }));
              clearError(key);
            }}
          />
          <PolicyField
            id="deploy-autoscalingPolicy"
            value={policy}
            error={errors.autoscalingPolicy}
            onChange={(value) => {
              setPolicy(value);
              clearError("autoscalingPolicy");
            }}
          />
        </fieldset>
        <div className="actions">
          <button type="submit" className="button-primary" disabled={busy}>
            {busy ? (
              <>
                <Spinner label="Deploying" /> Deploying…
              </>
            ) : (
              exists ? `Deploy a new version to ${environment}` : "Deploy"
            )}
          </button>
        </div>
      </form>
    </section>
  );
}
