/** Small shared pieces: status badges, spinners, labelled fields, banners, copy buttons. */
import { useState, type ReactNode } from "react";
import type { DeploymentStatus, ReplicaState } from "./api/generated";
import {
  AUTOSCALING_POLICIES,
  SCALING_FIELDS,
  policyHelp,
  type FieldErrors,
  type ScalingDraft,
  type ScalingKey,
} from "./validation";

export function Spinner({ label }: { label?: string }) {
  return <span className="spinner" role="status" aria-label={label ?? "Loading"} />;
}

const STATUS_TONE: Record<string, string> = {
  ACTIVE: "ok",
  READY: "ok",
  PENDING: "wait",
  DEPLOYING: "wait",
  STARTING: "wait",
  STOPPING: "muted",
  SUPERSEDED: "muted",
  FAILED: "bad",
};

export function StatusBadge({ status }: { status: DeploymentStatus | ReplicaState | "NONE" }) {
  const tone = STATUS_TONE[status] ?? "muted";
  const busy = tone === "wait";
  return (
    <span className={`badge badge-${tone}`}>
      {busy && <span className="dot-pulse" aria-hidden />}
      {status === "NONE" ? "no deployment" : status.toLowerCase()}
    </span>
  );
}

export function Banner({
  tone,
  children,
}: {
  tone: "error" | "warning" | "info" | "success";
  children: ReactNode;
}) {
  return (
    <div className={`banner banner-${tone}`} role={tone === "error" ? "alert" : "status"}>
      {children}
    </div>
  );
}

/** A labelled input with its one-line help and its error (linked by aria-describedby). */
export function Field({
  id,
  label,
  help,
  error,
  children,
}: {
  id: string;
  label: string;
  help?: ReactNode;
  error?: string | undefined;
  children: ReactNode;
}) {
  return (
    <div className={`field${error ? " field-invalid" : ""}`}>
      <label htmlFor={id}>{label}</label>
      {children}
      {help && (
        <p className="help" id={`${id}-help`}>
          {help}
        </p>
      )}
      {error && (
        <p className="field-error" id={`${id}-error`} role="alert">
          {error}
        </p>
      )}
    </div>
  );
}

export function describedBy(id: string, error: string | undefined, help = true): string {
  return [help ? `${id}-help` : null, error ? `${id}-error` : null].filter(Boolean).join(" ");
}

export function ScalingFieldset({
  idPrefix,
  draft,
  errors,
  disabled,
  onChange,
}: {
  idPrefix: string;
  draft: ScalingDraft;
  errors: FieldErrors;
  disabled?: boolean;
  onChange: (key: ScalingKey, value: string) => void;
}) {
  return (
    <div className="scaling-grid">
      {SCALING_FIELDS.map((field) => {
        const id = `${idPrefix}-${field.key}`;
        const error = errors[field.key];
        return (
          <Field
            key={field.key}
            id={id}
            label={field.unit ? `${field.label} (${field.unit})` : field.label}
            help={field.help}
            error={error}
          >
            <input
              id={id}
              name={field.key}
              type="number"
              inputMode={field.integer ? "numeric" : "decimal"}
              step={field.integer ? 1 : "any"}
              value={draft[field.key]}
              disabled={disabled}
              aria-invalid={error ? true : undefined}
              aria-describedby={describedBy(id, error)}
              onChange={(event) => onChange(field.key, event.target.value)}
            />
          </Field>
        );
      })}
    </div>
  );
}

/** The autoscaling policy select, with the chosen policy's one-line explanation as its help. */
export function PolicyField({
  id,
  value,
  error,
  disabled,
  onChange,
}: {
  id: string;
  value: string;
  error?: string | undefined;
  disabled?: boolean;
  onChange: (policy: string) => void;
}) {
  return (
    <Field id={id} label="Autoscaling policy" help={policyHelp(value)} error={error}>
      <select
        id={id}
        name="autoscalingPolicy"
        value={value}
        disabled={disabled}
        aria-describedby={describedBy(id, error)}
        onChange={(event) => onChange(event.target.value)}
      >
        {AUTOSCALING_POLICIES.map((p) => (
          <option key={p.policy} value={p.policy}>
            {p.label}
          </option>
        ))}
      </select>
    </Field>
  );
}

export function CopyButton({ text, label = "Copy" }: { text: string; label?: string }) {
  const [state, setState] = useState<"idle" | "copied" | "failed">("idle");
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(text);
      setState("copied");
    } catch {
      setState("failed");
    }
    setTimeout(() => setState("idle"), 1500);
  };
  return (
    <button type="button" className="button-small" onClick={() => void copy()}>
      {state === "copied" ? "Copied" : state === "failed" ? "Select and copy" : label}
    </button>
  );
}

export function formatTime(iso: string | null): string {
  if (!iso) return "—";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return date.toLocaleString(undefined, {
    month: "short",
    day: "numeric",
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
  });
}

export function EmptyState({ title, children }: { title: string; children?: ReactNode }) {
  return (
    <div className="empty">
      <h2>{title}</h2>
      {children}
    </div>
  );
}
