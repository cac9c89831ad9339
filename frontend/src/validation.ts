/**
 * Client-side checks that mirror the server's (plinth.types.validate_name, Scaling.check and
 * backend/services/models.py create_deployment), so most mistakes show at the field before a
 * round trip. The server stays the judge: its ValidationError is shown at the same field names
 * (the contract's camelCase), so the two can never disagree silently.
 */
import type { ScalingInput } from "./api/generated";

export const TASKS = ["feature-extraction", "text-classification", "text-generation"] as const;
export type Task = (typeof TASKS)[number];

export type FieldErrors = Partial<Record<string, string>>;

const NAME_RE = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const HF_REPO_RE = /^(?:[A-Za-z0-9][\w.-]*\/)?[A-Za-z0-9][\w.-]*$/;

/** The numeric scaling fields the forms edit (the policy is chosen separately). */
export type ScalingKey = Exclude<keyof Required<ScalingInput>, "autoscalingPolicy">;

export type ScalingFieldSpec = {
  key: ScalingKey;
  label: string;
  help: string;
  integer: boolean;
  unit?: string;
};

/** The scaling bounds, in form order, each with the one-line explanation the form shows. */
export const SCALING_FIELDS: readonly ScalingFieldSpec[] = [
  {
    key: "minReplicas",
    label: "Min replicas",
    help: "Replicas kept running even when idle; 0 scales to zero (the next request waits for a cold start).",
    integer: true,
  },
  {
    key: "maxReplicas",
    label: "Max replicas",
    help: "The most replicas the autoscaler may start under load (at most 64).",
    integer: true,
  },
  {
    key: "concurrencyTarget",
    label: "Concurrency target",
    help: "In-flight requests per replica the autoscaler aims for; more load than this adds replicas.",
    integer: false,
  },
  {
    key: "maxConcurrency",
    label: "Max concurrency",
    help: "Hard limit of in-flight requests per replica; extra requests wait in the queue.",
    integer: true,
  },
  {
    key: "scaleDownDelaySeconds",
    label: "Scale-down delay",
    help: "How long load must stay low before a replica is removed.",
    integer: false,
    unit: "s",
  },
  {
    key: "autoscalingWindowSeconds",
    label: "Autoscaling window",
    help: "The span of recent load the autoscaler averages over.",
    integer: false,
    unit: "s",
  },
  {
    key: "maxQueue",
    label: "Max queue",
    help: "Requests that may wait per deployment; beyond it callers get 429 with Retry-After.",
    integer: true,
  },
];

/** Defaults of plinth.types.Scaling, as the form starts with them. */
export const DEFAULT_SCALING: Record<ScalingKey, number> = {
  minReplicas: 0,
  maxReplicas: 1,
  concurrencyTarget: 2,
  maxConcurrency: 4,
  scaleDownDelaySeconds: 300,
  autoscalingWindowSeconds: 60,
  maxQueue: 64,
};

export type ScalingDraft = Record<ScalingKey, string>;

export function scalingDraft(values: Record<ScalingKey, number>): ScalingDraft {
  const draft = {} as ScalingDraft;
  for (const field of SCALING_FIELDS) draft[field.key] = String(values[field.key]);
  return draft;
}

/** Parsed values and per-field errors of a scaling draft (Scaling.check's rules and messages). */
export function checkScaling(draft: ScalingDraft): {
  values: Record<ScalingKey, number>;
  errors: FieldErrors;
} {
  const errors: FieldErrors = {};
  const values = {} as Record<ScalingKey, number>;
  for (const field of SCALING_FIELDS) {
    const raw = draft[field.key].trim();
    const value = Number(raw);
    if (raw === "" || !Number.isFinite(value)) {
      errors[field.key] = "enter a number";
    } else if (field.integer && !Number.isInteger(value)) {
      errors[field.key] = "must be a whole number";
    }
    values[field.key] = value;
  }
  const ok = (key: ScalingKey) => errors[key] === undefined;
  const set = (key: ScalingKey, message: string) => {
    if (ok(key)) errors[key] = message;
  };
  const v = values;
  if (ok("minReplicas") && v.minReplicas < 0) set("minReplicas", "must be 0 or more");
  if (ok("maxReplicas") && v.maxReplicas < 1) set("maxReplicas", "must be 1 or more");
  if (ok("maxReplicas") && v.maxReplicas > 64) set("maxReplicas", "must be 64 or fewer");
  if (ok("minReplicas") && ok("maxReplicas") && v.minReplicas > v.maxReplicas) {
    set("minReplicas", `minReplicas (${v.minReplicas}) must not exceed maxReplicas (${v.maxReplicas})`);
  }
  if (ok("maxConcurrency") && v.maxConcurrency < 1) set("maxConcurrency", "must be 1 or more");
  if (ok("concurrencyTarget") && v.concurrencyTarget <= 0) {
    set("concurrencyTarget", "must be greater than 0");
  }
  if (ok("concurrencyTarget") && ok("maxConcurrency") && v.concurrencyTarget > v.maxConcurrency) {
    set(
      "concurrencyTarget",
      `concurrencyTarget (${v.concurrencyTarget}) must not exceed maxConcurrency (${v.maxConcurrency})`,
    );
  }
  if (ok("scaleDownDelaySeconds") && v.scaleDownDelaySeconds < 0) {
    set("scaleDownDelaySeconds", "must be 0 or more");
  }
  if (ok("autoscalingWindowSeconds") && v.autoscalingWindowSeconds <= 0) {
    set("autoscalingWindowSeconds", "must be greater than 0");
  }
  if (ok("maxQueue") && v.maxQueue < 0) set("maxQueue", "must be 0 or more");
  return { values, errors };
}

export function checkName(name: string): string | undefined {
  if (!name) return "must not be empty";
  if (!NAME_RE.test(name)) {
    return `'${name}' is not a valid name: use 1-63 lowercase letters, digits and '-', starting and ending with a letter or digit`;
  }
  return undefined;
}

export function checkRepo(repo: string): string | undefined {
  const value = repo.trim();
  if (!value) return "must not be empty";
  if (value.length > 96 || !HF_REPO_RE.test(value)) {
    return `'${value}' is not a Hugging Face repository id: use 'org/name' or 'name'`;
  }
  return undefined;
}

export function checkRevision(revision: string): string | undefined {
  const value = revision.trim();
  if (value && (value.length > 200 || /\s/.test(value))) {
    return "must be a branch, tag or commit id without spaces (at most 200 chars)";
  }
  return undefined;
}

/** A valid model name suggested from a repo id: "BAAI/bge-small-en-v1.5" -> "bge-small-en-v1-5". */
export function suggestName(repo: string): string {
  const last = repo.trim().split("/").pop() ?? "";
  return last
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, "-")
    .replace(/-{2,}/g, "-")
    .slice(0, 63)
    .replace(/^-+|-+$/g, "");
}

/** The scopes a new API key can get (backend/auth/scopes.py), each with what it grants. */
export const KEY_SCOPES = [
  { scope: "admin", help: "everything, including API keys, secrets and the audit log" },
  { scope: "deploy", help: "read, plus deploying, scaling and deleting models" },
  { scope: "read", help: "list models, deployments, replicas and events" },
  { scope: "invoke", help: "call predict (no listing: suited to keys in product code)" },
] as const;
export type KeyScope = (typeof KEY_SCOPES)[number]["scope"];

export type ScopeDraft = {
  checked: Record<KeyScope, boolean>;
  /** "all": `invoke`; "models": `invoke:NAME` for each name in `models`. */
  invokeOn: "all" | "models";
  /** Model names separated by commas or spaces. */
  models: string;
};

/**
 * The scope strings for `draft` as `parse_scopes` accepts them, or errors at "scopes" (none
 * chosen) and "models" (invoke on named models without valid names).
 */
export function checkScopes(draft: ScopeDraft): { scopes: string[]; errors: FieldErrors } {
  const scopes: string[] = [];
  const errors: FieldErrors = {};
  for (const { scope } of KEY_SCOPES) {
    if (!draft.checked[scope]) continue;
    if (scope !== "invoke" || draft.invokeOn === "all") {
      scopes.push(scope);
      continue;
    }
    const names = [...new Set(draft.models.split(/[\s,]+/).filter(Boolean))];
    if (names.length === 0) {
      errors.models = "name at least one model, or choose all models";
      continue;
    }
    const bad = names.find((n) => checkName(n) !== undefined);
    if (bad !== undefined) {
      errors.models = `'${bad}' is not a valid model name: use lowercase letters, digits and '-', starting and ending with a letter or digit`;
      continue;
    }
    scopes.push(...names.map((n) => `invoke:${n}`));
  }
  if (!Object.values(draft.checked).some(Boolean)) errors.scopes = "choose at least one scope";
  return { scopes, errors };
}

/** The autoscaling policies a model can use (serving/autoscaling/policies), each in one line. */
export const AUTOSCALING_POLICIES = [
  {
    policy: "plinth",
    label: "Plinth (default)",
    help: "Sizes replicas from measured load and service time (Little's law), with cold-start headroom; removes them one at a time after the scale-down delay.",
  },
  {
    policy: "ray_serve",
    label: "Ray Serve",
    help: "Ray Serve's rule: ongoing requests per replica against the concurrency target, with its upscale/downscale delays.",
  },
  {
    policy: "knative_kpa",
    label: "Knative KPA",
    help: "Knative's pod autoscaler: a stable 60 s window plus a 6 s panic window that scales up fast on bursts.",
  },
  {
    policy: "k8s_hpa",
    label: "Kubernetes HPA",
    help: "The Horizontal Pod Autoscaler's ratio rule with its 10% tolerance and 5-minute scale-down stabilisation.",
  },
] as const;
export type AutoscalingPolicy = (typeof AUTOSCALING_POLICIES)[number]["policy"];
export const DEFAULT_POLICY: AutoscalingPolicy = "plinth";

export function policyHelp(policy: string): string {
  return (
    AUTOSCALING_POLICIES.find((p) => p.policy === policy)?.help ??
    `'${policy}' is not a policy this console knows; pick one of the list.`
  );
}
