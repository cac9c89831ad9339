/** Sign in with an API key; shows why the previous session ended, if it did. */
import { useState, type FormEvent } from "react";
import { useAuth } from "../auth";
import { Banner, Field, Spinner } from "../components";

export function SignIn() {
  const { signIn, notice } = useAuth();
  const [key, setKey] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await signIn(key);
    } catch (caught) {
      setError(caught instanceof Error ? caught.message : String(caught));
      setBusy(false);
    }
  };

  return (
    <main className="signin">
      <form className="card signin-card" onSubmit={(e) => void submit(e)} noValidate>
        <h1>
          <span className="logo" aria-hidden /> Plinth
        </h1>
        <p className="muted">Sign in with an API key to deploy and watch your models.</p>
        {notice && <Banner tone="warning">{notice}</Banner>}
        <Field
          id="api-key"
          label="API key"
          help={
            <>
              Create one with <code>plinth keys create --scope deploy</code>. Leave it empty if the
              server runs with <code>PLINTH_AUTH=disabled</code>.
            </>
          }
          error={error ?? undefined}
        >
          <input
            id="api-key"
            type="password"
            autoComplete="off"
            spellCheck={false}
            value={key}
            placeholder="pl_…"
            disabled={busy}
            aria-describedby={error ? "api-key-help api-key-error" : "api-key-help"}
            aria-invalid={error ? true : undefined}
            onChange={(e) => setKey(e.target.value)}
          />
        </Field>
        <button type="submit" className="button-primary" disabled={busy}>
          {busy ? (
            <>
              <Spinner label="Checking the key" /> Checking…
            </>
          ) : (
            "Sign in"
          )}
        </button>
        <p className="help">The key stays in this browser (local storage) until you sign out.</p>
      </form>
    </main>
  );
}
