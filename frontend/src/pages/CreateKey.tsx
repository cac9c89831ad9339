/**
 * Creating an API key: the form (name, scopes, expiry) and the panel that shows the new key once.
 *
 * Contract: `CreateKeyForm` checks the draft as the server would (`checkScopes`, `checkName`),
 * sends `createApiKey`, shows a ValidationError at the field it names, and hands the created key
 * to `onCreated`. `NewKeyPanel` shows that key with a copy button until `onDone`; the key lives
 * only in the parent's React state, so leaving the page forgets it for good (the server keeps
 * only a hash, and no query returns it again).
 */
import { useRef, useState, type FormEvent } from "react";
import { ApiError } from "../api/client";
import { CreateApiKeyDocument, type ApiKeyFieldsFragment } from "../api/generated";
import { useAuth } from "../auth";
import { Banner, CopyButton, Field, Spinner, describedBy, formatTime } from "../components";
import {
  KEY_SCOPES,
  checkName,
  checkScopes,
  type FieldErrors,
  type KeyScope,
  type ScopeDraft,
} from "../validation";

export const ADMIN_NEEDED =
  "Managing keys needs an admin key. Sign in with a key that has the `admin` scope (such as the one `plinth up` printed) to create, list or revoke keys.";

export type CreatedKey = { key: string; apiKey: ApiKeyFieldsFragment };

const DAY_S = 24 * 3600;
/** Expiry choices: value is seconds from now ("" = never). */
const EXPIRY_CHOICES = [
  { value: "", label: "Never" },
  { value: String(DAY_S), label: "In 1 day" },
  { value: String(7 * DAY_S), label: "In 7 days" },
  { value: String(30 * DAY_S), label: "In 30 days" },
  { value: String(90 * DAY_S), label: "In 90 days" },
  { value: String(365 * DAY_S), label: "In 1 year" },
];

/** Server field name -> the form control that shows its error. */
const FIELD_CONTROL: Record<string, string> = {
  name: "name",
  scopes: "scope-admin",
  models: "models",
  expiresInSeconds: "expiresInSeconds",
};
const FIELD_ORDER = ["name", "scopes", "models", "expiresInSeconds"];

const EMPTY_SCOPES: ScopeDraft = {
  checked: { admin: false, deploy: false, read: false, invoke: false },
  invokeOn: "all",
  models: "",
};

export function CreateKeyForm({
  onCreated,
  onForbidden,
}: {
  onCreated: (created: CreatedKey) => void;
  onForbidden: () => void;
}) {
  const { client } = useAuth();
  const [name, setName] = useState("");
  const [scopes, setScopes] = useState<ScopeDraft>(EMPTY_SCOPES);
  const [expiry, setExpiry] = useState("");
  const [errors, setErrors] = useState<FieldErrors>({});
  const [formError, setFormError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const formRef = useRef<HTMLFormElement>(null);

  const clearError = (...fields: string[]) =>
    setErrors((prev) => {
      if (!fields.some((f) => prev[f])) return prev;
      const next = { ...prev };
      for (const f of fields) delete next[f];
      return next;
    });

  const focusField = (field: string) => {
    const control = FIELD_CONTROL[field] ?? field;
    setTimeout(() => formRef.current?.querySelector<HTMLElement>(`[name="${control}"]`)?.focus(), 0);
  };

  const showErrors = (found: FieldErrors): boolean => {
    setErrors(found);
    const first = FIELD_ORDER.find((f) => found[f]);
    if (first) focusField(first);
    return first !== undefined;
  };

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setFormError(null);
    const trimmed = name.trim();
    const checked = checkScopes(scopes);
    const found: FieldErrors = {
      ...(trimmed ? { name: checkName(trimmed) } : {}),
      ...checked.errors,
    };
    if (showErrors(found)) return;
    setBusy(true);
    try {
      const { createApiKey } = await client.request(CreateApiKeyDocument, {
        input: {
          name: trimmed || null,
          scopes: checked.scopes,
          expiresInSeconds: expiry ? Number(expiry) : null,
        },
      });
      if (createApiKey.__typename === "ValidationError") {
        if (FIELD_ORDER.includes(createApiKey.field)) {
          showErrors({ [createApiKey.field]: createApiKey.message });
        } else {
          setFormError(`${createApiKey.field}: ${createApiKey.message}`);
        }
        setBusy(false);
        return;
      }
      onCreated({ key: createApiKey.key, apiKey: createApiKey.apiKey });
    } catch (caught) {
      if (caught instanceof ApiError && caught.kind === "forbidden") {
        onForbidden();
      } else {
        setFormError(caught instanceof Error ? caught.message : String(caught));
      }
      setBusy(false);
    }
  };

  const toggle = (scope: KeyScope, on: boolean) => {
    setScopes((prev) => ({ ...prev, checked: { ...prev.checked, [scope]: on } }));
    clearError("scopes", ...(scope === "invoke" ? ["models"] : []));
  };

  const scopeError = errors.scopes;
  const modelsError = errors.models;
  return (
    <form
      ref={formRef}
      className="card form"
      onSubmit={(e) => void submit(e)}
      noValidate
      aria-label="Create an API key"
    >
      <h2>Create a key</h2>
      {formError && <Banner tone="error">{formError}</Banner>}
      <fieldset disabled={busy}>
        <div className="row">
          <Field
            id="key-name"
            label="Name (optional)"
            help="To tell keys apart, e.g. ci-deployer: lowercase letters, digits and '-'."
            error={errors.name}
          >
            <input
              id="key-name"
              name="name"
              value={name}
              autoComplete="off"
              spellCheck={false}
              aria-invalid={errors.name ? true : undefined}
              aria-describedby={describedBy("key-name", errors.name)}
              onChange={(e) => {
                setName(e.target.value);
                clearError("name");
              }}
            />
          </Field>
          <Field
            id="key-expiry"
            label="Expires"
            help="After this the key stops working; you can revoke it any time before."
            error={errors.expiresInSeconds}
          >
            <select
              id="key-expiry"
              name="expiresInSeconds"
              value={expiry}
              aria-invalid={errors.expiresInSeconds ? true : undefined}
              aria-describedby={describedBy("key-expiry", errors.expiresInSeconds)}
              onChange={(e) => {
                setExpiry(e.target.value);
                clearError("expiresInSeconds");
              }}
            >
              {EXPIRY_CHOICES.map((c) => (
                <option key={c.value} value={c.value}>
                  {c.label}
                </option>
              ))}
            </select>
          </Field>
        </div>
        <fieldset
          className={`scopes${scopeError ? " field-invalid" : ""}`}
          aria-describedby={scopeError ? "key-scopes-error" : undefined}
        >
          <legend>Scopes</legend>
          {KEY_SCOPES.map(({ scope, help }) => (
            <div className="scope-choice" key={scope}>
              <input
                type="checkbox"
                id={`key-scope-${scope}`}
                name={`scope-${scope}`}
                checked={scopes.checked[scope]}
                aria-describedby={`key-scope-${scope}-help`}
                onChange={(e) => toggle(scope, e.target.checked)}
              />
              <label htmlFor={`key-scope-${scope}`}>{scope}</label>
              <span className="help" id={`key-scope-${scope}-help`}>
                {help}
              </span>
            </div>
          ))}
          {scopeError && (
            <p className="field-error" id="key-scopes-error" role="alert">
              {scopeError}
            </p>
          )}
          {scopes.checked.invoke && (
            <div className="invoke-on">
              <div role="radiogroup" aria-label="Invoke on">
                <label>
                  <input
                    type="radio"
                    name="invokeOn"
                    checked={scopes.invokeOn === "all"}
                    onChange={() => {
                      setScopes((prev) => ({ ...prev, invokeOn: "all" }));
                      clearError("models");
                    }}
                  />{" "}
                  All models
                </label>
                <label>
                  <input
                    type="radio"
                    name="invokeOn"
                    checked={scopes.invokeOn === "models"}
                    onChange={() => setScopes((prev) => ({ ...prev, invokeOn: "models" }))}
                  />{" "}
                  Only these models
                </label>
              </div>
              {scopes.invokeOn === "models" && (
                <Field
                  id="key-models"
                  label="Model names"
                  help="Separated by commas or spaces, e.g. minilm, bge-small. The models need not exist yet."
                  error={modelsError}
                >
                  <input
                    id="key-models"
                    name="models"
                    value={scopes.models}
                    autoComplete="off"
                    spellCheck={false}
                    aria-invalid={modelsError ? true : undefined}
                    aria-describedby={describedBy("key-models", modelsError)}
                    onChange={(e) => {
                      const models = e.target.value;
                      setScopes((prev) => ({ ...prev, models }));
                      clearError("models");
                    }}
                  />
                </Field>
              )}
            </div>
          )}
        </fieldset>
      </fieldset>
      <div className="actions">
        <button type="submit" className="button-primary" disabled={busy}>
          {busy ? (
            <>
              <Spinner label="Creating" /> Creating…
            </>
          ) : (
            "Create key"
          )}
        </button>
      </div>
    </form>
  );
}

export function NewKeyPanel({ created, onDone }: { created: CreatedKey; onDone: () => void }) {
  const { apiKey } = created;
  return (
    <section className="card new-key" aria-labelledby="new-key-title">
      <h2 id="new-key-title">Copy your new key now</h2>
      <Banner tone="warning">
        You will not see it again: Plinth keeps only a hash of it. If you lose it, revoke it and
        create another.
      </Banner>
      <p>
        {apiKey.name ? <strong>{apiKey.name}</strong> : "Unnamed key"} ({apiKey.prefix}), scopes{" "}
        {apiKey.scopes.join(", ")}, expires {apiKey.expiresAt ? formatTime(apiKey.expiresAt) : "never"}.
      </p>
      <label htmlFor="new-key">New API key</label>
      <div className="new-key-row">
        <input
          id="new-key"
          className="mono"
          readOnly
          value={created.key}
          onFocus={(e) => e.target.select()}
        />
        <CopyButton text={created.key} label="Copy key" />
      </div>
      <p className="help">
        Send it as <code>Authorization: Bearer {apiKey.prefix}_…</code>, or pass it to{" "}
        <code>plinth</code> as <code>PLINTH_API_KEY</code>.
      </p>
      <div className="actions">
        <button type="button" className="button-primary" onClick={onDone}>
          Done
        </button>
      </div>
    </section>
  );
}
