import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { data, mockServer, renderApp, type GraphQLCall, type Reply } from "./helpers";

const SIGNED_IN = "pl_own00000_signedinsecret";
const NEW_SECRET = "pl_new11111_thisIsTheSecretPartOfTheNewKey";

type Key = {
  id: string;
  name: string | null;
  prefix: string;
  scopes: string[];
  createdAt: string;
  expiresAt: string | null;
  lastUsedAt: string | null;
  revokedAt: string | null;
};

function key(id: string, prefix: string, name: string | null, scopes: string[]): Key {
  return {
    id,
    name,
    prefix,
    scopes,
    createdAt: "2025-01-01T00:00:00+00:00",
    expiresAt: null,
    lastUsedAt: "2025-01-02T00:00:00+00:00",
    revokedAt: null,
  };
}

const FORBIDDEN: Reply = {
  body: {
    data: null,
    errors: [
      {
        message: "API key pl_read0000_... lacks the scope 'admin' (it has: read)",
        extensions: { code: "FORBIDDEN", requiredScope: "admin" },
      },
    ],
  },
};

/** A fake server keeping its keys, so the page's refreshes see what mutations changed. */
function keyServer(overrides: Partial<Record<string, (call: GraphQLCall) => Reply>> = {}) {
  const keys: Key[] = [
    key("k-own", "pl_own00000", "console", ["admin"]),
    key("k-ci", "pl_ci222222", "ci", ["deploy"]),
  ];
  const calls = mockServer((call) => {
    const override = overrides[call.operationName];
    if (override) return override(call);
    switch (call.operationName) {
      case "ApiKeys":
        return data({ apiKeys: keys.map((k) => ({ ...k })) });
      case "CreateApiKey": {
        const input = call.variables.input as { name: string | null; scopes: string[] };
        const created = key("k-new", "pl_new11111", input.name, input.scopes);
        keys.unshift(created);
        return data({ createApiKey: { __typename: "CreatedApiKey", key: NEW_SECRET, apiKey: created } });
      }
      case "RevokeApiKey": {
        const found = keys.find((k) => k.id === call.variables.id);
        if (!found) return data({ revokeApiKey: { __typename: "NotFoundError", message: "no such key" } });
        found.revokedAt = "2025-01-03T00:00:00+00:00";
        return data({ revokeApiKey: { __typename: "ApiKey", ...found } });
      }
      case "Models":
        return data({ models: [] });
      default:
        throw new Error(`unexpected operation ${call.operationName}`);
    }
  });
  return { calls, keys };
}

function ops(calls: GraphQLCall[], name: string) {
  return calls.filter((c) => c.operationName === name);
}

function errorOf(control: HTMLElement): string | null {
  const ids = (control.getAttribute("aria-describedby") ?? "").split(" ");
  const error = ids.map((id) => document.getElementById(id)).find((el) => el?.className === "field-error");
  return error?.textContent ?? null;
}

async function rowOf(prefix: string) {
  const table = await screen.findByRole("table", { name: "API keys" });
  const row = within(table).getByText(prefix).closest("tr");
  if (!row) throw new Error(`no row for ${prefix}`);
  return within(row);
}

beforeEach(() => {
  localStorage.setItem("plinth.apiKey", SIGNED_IN);
  window.location.hash = "#/keys";
});
afterEach(() => localStorage.clear());

describe("API keys page", () => {
  it("is linked from the top bar", async () => {
    keyServer();
    window.location.hash = "#/models";
    renderApp();
    await userEvent.click(screen.getByRole("link", { name: "API keys" }));
    expect(await screen.findByRole("heading", { name: "API keys" })).toBeTruthy();
  });

  it("lists keys with prefix, name, scopes, dates and status", async () => {
    keyServer();
    renderApp();
    const ci = await rowOf("pl_ci222222");
    expect(ci.getByText("ci")).toBeTruthy();
    expect(ci.getByText("deploy")).toBeTruthy();
    expect(ci.getByText("never")).toBeTruthy(); // expires
    expect(ci.getByText("active")).toBeTruthy();
    expect((await rowOf("pl_own00000")).getByText("you are using this key")).toBeTruthy();
  });

  it("shows a created key once, with a copy button, and never again after leaving", async () => {
    const user = userEvent.setup();
    const { calls } = keyServer();
    renderApp();
    await screen.findByRole("table", { name: "API keys" });
    await user.type(screen.getByLabelText("Name (optional)"), "nightly");
    await user.click(screen.getByLabelText("deploy"));
    await user.selectOptions(screen.getByLabelText("Expires"), "In 7 days");
    await user.click(screen.getByRole("button", { name: "Create key" }));

    const shown = (await screen.findByLabelText("New API key")) as HTMLInputElement;
    expect(shown.value).toBe(NEW_SECRET);
    expect(screen.getByText(/You will not see it again/)).toBeTruthy();
    expect(ops(calls, "CreateApiKey")[0]?.variables).toEqual({
      input: { name: "nightly", scopes: ["deploy"], expiresInSeconds: 7 * 24 * 3600 },
    });
    await user.click(screen.getByRole("button", { name: "Copy key" }));
    expect(await navigator.clipboard.readText()).toBe(NEW_SECRET);
    expect(screen.getByRole("button", { name: "Copied" })).toBeTruthy();
    // The list picks up the new key, by prefix only.
    expect((await rowOf("pl_new11111")).getByText("nightly")).toBeTruthy();

    await user.click(screen.getByRole("link", { name: "Models" }));
    expect(await screen.findByText("No models yet")).toBeTruthy();
    await user.click(screen.getByRole("link", { name: "API keys" }));
    await rowOf("pl_new11111");
    expect(screen.queryByLabelText("New API key")).toBeNull();
    expect(screen.getByRole("button", { name: "Create key" })).toBeTruthy();
    expect(document.body.innerHTML).not.toContain(NEW_SECRET);
    expect(JSON.stringify({ ...localStorage })).not.toContain(NEW_SECRET);
    expect(JSON.stringify({ ...sessionStorage })).not.toContain(NEW_SECRET);
  });

  it("'Done' hides the key and brings the form back", async () => {
    const user = userEvent.setup();
    keyServer();
    renderApp();
    await user.click(await screen.findByLabelText("read"));
    await user.click(screen.getByRole("button", { name: "Create key" }));
    await screen.findByLabelText("New API key");
    await user.click(screen.getByRole("button", { name: "Done" }));
    expect(screen.queryByLabelText("New API key")).toBeNull();
    expect(document.body.innerHTML).not.toContain(NEW_SECRET);
    expect((screen.getByLabelText("read") as HTMLInputElement).checked).toBe(false);
  });

  it("needs at least one scope, and valid model names for invoke on named models", async () => {
    const user = userEvent.setup();
    const { calls } = keyServer();
    renderApp();
    await screen.findByRole("table", { name: "API keys" });
    await user.click(screen.getByRole("button", { name: "Create key" }));
    expect((await screen.findByRole("alert")).textContent).toBe("choose at least one scope");

    await user.click(screen.getByLabelText("invoke"));
    expect(screen.queryByRole("alert")).toBeNull(); // choosing a scope clears the error
    await user.click(screen.getByLabelText("Only these models"));
    const models = screen.getByLabelText("Model names");
    await user.click(screen.getByRole("button", { name: "Create key" }));
    expect(errorOf(models)).toMatch(/name at least one model/);
    await user.type(models, "minilm, Big_Model");
    await user.click(screen.getByRole("button", { name: "Create key" }));
    expect(errorOf(models)).toMatch(/'Big_Model' is not a valid model name/);
    await waitFor(() => expect(document.activeElement).toBe(models));

    await user.type(screen.getByLabelText("Name (optional)"), "Bad Name");
    await user.clear(models);
    await user.type(models, "minilm bge-small");
    await user.click(screen.getByRole("button", { name: "Create key" }));
    expect(errorOf(screen.getByLabelText("Name (optional)"))).toMatch(/is not a valid name/);
    expect(ops(calls, "CreateApiKey")).toHaveLength(0);

    await user.clear(screen.getByLabelText("Name (optional)"));
    await user.click(screen.getByRole("button", { name: "Create key" }));
    await screen.findByLabelText("New API key");
    expect(ops(calls, "CreateApiKey")[0]?.variables).toEqual({
      input: { name: null, scopes: ["invoke:minilm", "invoke:bge-small"], expiresInSeconds: null },
    });
  });

  it("shows the server's ValidationError at the field it names", async () => {
    const user = userEvent.setup();
    keyServer({
      CreateApiKey: () =>
        data({
          createApiKey: {
            __typename: "ValidationError",
            field: "expiresInSeconds",
            message: "the expiry must be in the future",
          },
        }),
    });
    renderApp();
    await user.click(await screen.findByLabelText("admin"));
    await user.click(screen.getByRole("button", { name: "Create key" }));
    await waitFor(() =>
      expect(errorOf(screen.getByLabelText("Expires"))).toBe("the expiry must be in the future"),
    );
    expect(screen.queryByLabelText("New API key")).toBeNull();
  });

  it("revokes only after confirmation, then shows the key as revoked", async () => {
    const user = userEvent.setup();
    const { calls } = keyServer();
    renderApp();
    await user.click((await rowOf("pl_ci222222")).getByRole("button", { name: "Revoke pl_ci222222" }));
    const confirm = screen.getByRole("form", { name: "Confirm revoke" });
    expect(confirm.textContent).toMatch(/pl_ci222222 \(ci\)/);
    expect(confirm.textContent).not.toMatch(/signed in with/);
    await user.click(within(confirm).getByRole("button", { name: "Cancel" }));
    expect(screen.queryByRole("form", { name: "Confirm revoke" })).toBeNull();
    expect(ops(calls, "RevokeApiKey")).toHaveLength(0);

    await user.click((await rowOf("pl_ci222222")).getByRole("button", { name: "Revoke pl_ci222222" }));
    await user.click(screen.getByRole("button", { name: "Revoke key" }));
    await waitFor(() => expect((screen.getByText("pl_ci222222").closest("tr") as HTMLElement).textContent).toContain("revoked"));
    expect(ops(calls, "RevokeApiKey")[0]?.variables).toEqual({ id: "k-ci" });
    const ci = await rowOf("pl_ci222222");
    expect(ci.queryByRole("button", { name: "Revoke pl_ci222222" })).toBeNull();
    expect(screen.getByText("Revoked pl_ci222222 (ci).")).toBeTruthy();
    expect(screen.queryByRole("form", { name: "Confirm revoke" })).toBeNull();
  });

  it("warns before revoking the key you are signed in with", async () => {
    const user = userEvent.setup();
    keyServer();
    renderApp();
    await user.click((await rowOf("pl_own00000")).getByRole("button", { name: "Revoke pl_own00000" }));
    expect(screen.getByRole("form", { name: "Confirm revoke" }).textContent).toMatch(
      /the key you are signed in with: the console will sign you out/,
    );
  });

  it("says an admin key is needed instead of showing a raw FORBIDDEN error", async () => {
    keyServer({ ApiKeys: () => FORBIDDEN });
    renderApp();
    const banner = await screen.findByText(/Managing keys needs an admin key/);
    expect(banner.getAttribute("role")).toBe("alert");
    expect(screen.queryByText(/lacks the scope/)).toBeNull();
    expect(screen.queryByRole("button", { name: "Create key" })).toBeNull();
    expect(screen.queryByRole("table", { name: "API keys" })).toBeNull();
  });
});
