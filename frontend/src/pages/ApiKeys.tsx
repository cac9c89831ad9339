/**
 * The API keys page (`#/keys`, admin only): create a key (shown once), list every key with its
 * scopes, expiry, last use and revocation, and revoke one after a confirmation.
 *
 * Contract: the list comes from `apiKeys` (refreshed every 10 s and after each change); a
 * FORBIDDEN answer to any of the three operations replaces the page with `ADMIN_NEEDED` instead
 * of the raw error. Revoking the key you are signed in with signs you out on the next request
 * (the client's 401 handling), and the confirmation says so beforehand.
 */
import { useState, type FormEvent } from "react";
import { ApiError } from "../api/client";
import { ApiKeysDocument, RevokeApiKeyDocument, type ApiKeyFieldsFragment } from "../api/generated";
import { useAuth } from "../auth";
import { Banner, EmptyState, Spinner, formatTime } from "../components";
import { usePoll } from "../usePoll";
import { ADMIN_NEEDED, CreateKeyForm, NewKeyPanel, type CreatedKey } from "./CreateKey";

export const KEYS_POLL_MS = 10_000;

type Key = ApiKeyFieldsFragment;

function isForbidden(error: unknown): boolean {
  return error instanceof ApiError && error.kind === "forbidden";
}

/** Whether the signed-in key is `key` (keys are `pl_<prefix>_<secret>`). */
function isOwnKey(signedIn: string | null, key: Key): boolean {
  return !!signedIn && signedIn.startsWith(`${key.prefix}_`);
}

function KeyStatus({ apiKey }: { apiKey: Key }) {
  if (apiKey.revokedAt) {
    return (
      <>
        <span className="badge badge-bad">revoked</span>
        <div className="help">{formatTime(apiKey.revokedAt)}</div>
      </>
    );
  }
  if (apiKey.expiresAt && new Date(apiKey.expiresAt).getTime() <= Date.now()) {
    return <span className="badge badge-muted">expired</span>;
  }
  return <span className="badge badge-ok">active</span>;
}

function ConfirmRevoke({
  apiKey,
  own,
  onRevoked,
  onCancel,
  onForbidden,
}: {
  apiKey: Key;
  own: boolean;
  onRevoked: (key: Key) => Promise<void>;
  onCancel: () => void;
  onForbidden: () => void;
}) {
  const { client } = useAuth();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const revoke = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const { revokeApiKey } = await client.request(RevokeApiKeyDocument, { id: apiKey.id });
      if (revokeApiKey.__typename === "NotFoundError") {
        setError(`${revokeApiKey.message}. It may have been removed; the list is refreshed.`);
        setBusy(false);
        return;
      }
      await onRevoked(revokeApiKey);
    } catch (caught) {
      if (isForbidden(caught)) onForbidden();
      else setError(caught instanceof Error ? caught.message : String(caught));
      setBusy(false);
    }
  };

  const label = apiKey.name ? `${apiKey.prefix} (${apiKey.name})` : apiKey.prefix;
  return (
    <form className="card confirm" onSubmit={(e) => void revoke(e)} aria-label="Confirm revoke">
      <p>
        Revoke <strong className="mono">{label}</strong>? Anything using it is refused at once.
        This cannot be undone.
      </p>
      {own && (
        <Banner tone="warning">
          This is the key you are signed in with: the console will sign you out.
        </Banner>
      )}
      {error && <Banner tone="error">{error}</Banner>}
      <div className="actions">
        <button type="submit" className="button-danger" disabled={busy} autoFocus>
          {busy ? (
            <>
              <Spinner label="Revoking" /> Revoking…
            </>
          ) : (
            "Revoke key"
          )}
        </button>
        <button type="button" disabled={busy} onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}

export function ApiKeys() {
  const { client, apiKey: signedIn } = useAuth();
  const poll = usePoll(() => client.request(ApiKeysDocument, {}), KEYS_POLL_MS);
  const [created, setCreated] = useState<CreatedKey | null>(null);
  const [confirming, setConfirming] = useState<Key | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [denied, setDenied] = useState(false);
  const keys = poll.data?.apiKeys;

  const header = (
    <header className="page-header">
      <div>
        <h1>API keys</h1>
        <p className="muted">
          Keys authenticate the console, the <code>plinth</code> CLI and calls to your models.
        </p>
      </div>
    </header>
  );

  if (denied || isForbidden(poll.error)) {
    return (
      <section>
        {header}
        <Banner tone="error">{ADMIN_NEEDED}</Banner>
      </section>
    );
  }

  const onCreated = (value: CreatedKey) => {
    setCreated(value);
    setNotice(null);
    void poll.refresh();
  };

  const onRevoked = async (key: Key) => {
    setConfirming(null);
    setNotice(`Revoked ${key.prefix}${key.name ? ` (${key.name})` : ""}.`);
    await poll.refresh();
  };

  return (
    <section className="stack">
      {header}
      {created ? (
        <NewKeyPanel created={created} onDone={() => setCreated(null)} />
      ) : (
        <CreateKeyForm onCreated={onCreated} onForbidden={() => setDenied(true)} />
      )}
      {notice && <Banner tone="success">{notice}</Banner>}
      {confirming && (
        <ConfirmRevoke
          key={confirming.id}
          apiKey={confirming}
          own={isOwnKey(signedIn, confirming)}
          onRevoked={onRevoked}
          onCancel={() => setConfirming(null)}
          onForbidden={() => setDenied(true)}
        />
      )}
      {poll.error && (
        <Banner tone={keys ? "warning" : "error"}>
          {keys ? "Showing the last known list. " : ""}
          {poll.error.message}
        </Banner>
      )}
      {poll.loading && !keys && (
        <p className="muted">
          <Spinner /> Loading keys…
        </p>
      )}
      {keys && keys.length === 0 && (
        <EmptyState title="No keys yet">
          <p>Create one above.</p>
        </EmptyState>
      )}
      {keys && keys.length > 0 && (
        <table className="table" aria-label="API keys">
          <thead>
            <tr>
              <th>Key</th>
              <th>Name</th>
              <th>Scopes</th>
              <th>Created</th>
              <th>Expires</th>
              <th>Last used</th>
              <th>Status</th>
              <th>
                <span className="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {keys.map((key) => (
              <tr key={key.id}>
                <td className="mono">
                  {key.prefix}
                  {isOwnKey(signedIn, key) && <div className="help">you are using this key</div>}
                </td>
                <td>{key.name ?? <span className="muted">—</span>}</td>
                <td>
                  {key.scopes.map((scope) => (
                    <span key={scope} className="scope-chip">
                      {scope}
                    </span>
                  ))}
                </td>
                <td className="num">{formatTime(key.createdAt)}</td>
                <td className="num">{key.expiresAt ? formatTime(key.expiresAt) : "never"}</td>
                <td className="num">{key.lastUsedAt ? formatTime(key.lastUsedAt) : "never"}</td>
                <td>
                  <KeyStatus apiKey={key} />
                </td>
                <td>
                  {!key.revokedAt && (
                    <button
                      type="button"
                      className="button-small button-danger-outline"
                      aria-label={`Revoke ${key.prefix}`}
                      onClick={() => {
                        setNotice(null);
                        setConfirming(key);
                      }}
                    >
                      Revoke…
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
