/**
 * Who the console acts as: the API key kept in localStorage ("plinth.apiKey") and the client
 * that sends it.
 *
 * `signIn(key)` checks the key against the server before keeping it (the `read` scope is the
 * least the console needs); "" is accepted when the server runs with auth disabled. Any 401 later
 * on (revoked or expired key) calls `signOut(message)`: the key is forgotten and the sign-in page
 * shows why.
 */
import { createContext, useCallback, useContext, useMemo, useState, type ReactNode } from "react";
import { ApiError, GraphQLClient } from "./api/client";
import { SignInCheckDocument } from "./api/generated";

const STORAGE_KEY = "plinth.apiKey";

type AuthState = {
  /** null: signed out; "" signed in without a key (auth disabled). */
  apiKey: string | null;
  notice: string | null;
  client: GraphQLClient;
  signIn: (key: string) => Promise<void>;
  signOut: (notice?: string) => void;
};

const AuthContext = createContext<AuthState | null>(null);

function readStoredKey(): string | null {
  try {
    return window.localStorage.getItem(STORAGE_KEY);
  } catch {
    return null; // storage disabled: sign in every visit
  }
}

/** The message the sign-in page shows for a failed check of `key`. */
export function signInFailure(error: unknown, key: string): string {
  if (error instanceof ApiError) {
    if (error.kind === "unauthenticated") {
      return key
        ? "That key was not accepted: it is unknown, revoked or expired. Check for a typo, or create a new one with `plinth keys create --scope deploy`."
        : "This server requires an API key. Create one with `plinth keys create --scope deploy` (or use the admin key `plinth up` printed) and paste it here.";
    }
    if (error.kind === "forbidden") {
      return "That key is valid but cannot list models. The console needs a key with the `read`, `deploy` or `admin` scope.";
    }
    return error.message;
  }
  return error instanceof Error ? error.message : String(error);
}

export function AuthProvider({ children }: { children: ReactNode }) {
  const [apiKey, setApiKey] = useState<string | null>(readStoredKey);
  const [notice, setNotice] = useState<string | null>(null);

  const signOut = useCallback((message?: string) => {
    try {
      window.localStorage.removeItem(STORAGE_KEY);
    } catch {
      // nothing stored
    }
    setNotice(message ?? null);
    setApiKey(null);
  }, []);

  const client = useMemo(
    () =>
      new GraphQLClient({
        apiKey: apiKey ?? "",
        onUnauthenticated: () =>
          signOut("Your API key is no longer accepted (revoked or expired?). Sign in again."),
      }),
    [apiKey, signOut],
  );

  const signIn = useCallback(async (raw: string) => {
    const key = raw.trim();
    const probe = new GraphQLClient({ apiKey: key });
    try {
      await probe.request(SignInCheckDocument, {});
    } catch (error) {
      throw new Error(signInFailure(error, key));
    }
    try {
      window.localStorage.setItem(STORAGE_KEY, key);
    } catch {
      // kept for this tab only
    }
    setNotice(null);
    setApiKey(key);
  }, []);

  const value = useMemo(
    () => ({ apiKey, notice, client, signIn, signOut }),
    [apiKey, notice, client, signIn, signOut],
  );
  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>;
}

export function useAuth(): AuthState {
  const auth = useContext(AuthContext);
  if (!auth) throw new Error("useAuth outside AuthProvider");
  return auth;
}
