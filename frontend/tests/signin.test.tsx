import { screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { UNAUTHENTICATED, data, mockServer, renderApp } from "./helpers";

const MODELS = { models: [] };

beforeEach(() => {
  localStorage.clear();
  window.location.hash = "";
});
afterEach(() => localStorage.clear());

describe("sign in", () => {
  it("checks the key, keeps it and sends it as Bearer on every request", async () => {
    const calls = mockServer((call) =>
      call.authorization === "Bearer pl_good" ? data(MODELS) : UNAUTHENTICATED,
    );
    renderApp();
    await userEvent.type(screen.getByLabelText("API key"), "pl_good");
    await userEvent.click(screen.getByRole("button", { name: "Sign in" }));

    expect(await screen.findByRole("heading", { name: "Models" })).toBeTruthy();
    expect(localStorage.getItem("plinth.apiKey")).toBe("pl_good");
    await screen.findByText("No models yet");
    expect(calls.map((c) => c.authorization)).toEqual(["Bearer pl_good", "Bearer pl_good"]);
  });

  it("refuses a key the server does not accept, saying what to do", async () => {
    mockServer(() => UNAUTHENTICATED);
    renderApp();
    await userEvent.type(screen.getByLabelText("API key"), "pl_typo");
    await userEvent.click(screen.getByRole("button", { name: "Sign in" }));

    const error = await screen.findByRole("alert");
    expect(error.textContent).toContain("not accepted");
    expect(error.textContent).toContain("plinth keys create");
    expect(screen.queryByRole("heading", { name: "Models" })).toBeNull();
    expect(localStorage.getItem("plinth.apiKey")).toBeNull();
    // The form is usable again for the next try.
    expect((screen.getByRole("button", { name: "Sign in" }) as HTMLButtonElement).disabled).toBe(false);
  });

  it("signs in with an empty key when the server runs with auth disabled", async () => {
    const calls = mockServer(() => data(MODELS));
    renderApp();
    await userEvent.click(screen.getByRole("button", { name: "Sign in" }));

    expect(await screen.findByRole("heading", { name: "Models" })).toBeTruthy();
    expect(calls[0]?.authorization).toBeNull();
    expect(screen.getByText("auth disabled")).toBeTruthy();
  });

  it("explains that a key is required when an empty key is refused", async () => {
    mockServer(() => UNAUTHENTICATED);
    renderApp();
    await userEvent.click(screen.getByRole("button", { name: "Sign in" }));
    expect((await screen.findByRole("alert")).textContent).toContain("requires an API key");
  });

  it("refuses a key without the read scope, naming the scopes that work", async () => {
    mockServer(() => ({
      status: 403,
      body: {
        error: { type: "forbidden", message: "key lacks scope read", required_scope: "read" },
        errors: [{ message: "key lacks scope read", extensions: { code: "FORBIDDEN" } }],
      },
    }));
    renderApp();
    await userEvent.type(screen.getByLabelText("API key"), "pl_invoke_only");
    await userEvent.click(screen.getByRole("button", { name: "Sign in" }));
    expect((await screen.findByRole("alert")).textContent).toContain("`read`, `deploy` or `admin`");
  });

  it("says when the server cannot be reached", async () => {
    mockServer(() => {
      throw new TypeError("Failed to fetch");
    });
    renderApp();
    await userEvent.click(screen.getByRole("button", { name: "Sign in" }));
    expect((await screen.findByRole("alert")).textContent).toContain("Cannot reach the Plinth server");
  });

  it("sends you back to sign-in with a message when the key stops working", async () => {
    localStorage.setItem("plinth.apiKey", "pl_revoked");
    mockServer(() => UNAUTHENTICATED);
    renderApp();

    expect(await screen.findByRole("button", { name: "Sign in" })).toBeTruthy();
    expect(screen.getByText(/no longer accepted/)).toBeTruthy();
    await waitFor(() => expect(localStorage.getItem("plinth.apiKey")).toBeNull());
  });

  it("signs out on request", async () => {
    localStorage.setItem("plinth.apiKey", "pl_good");
    mockServer(() => data(MODELS));
    renderApp();
    await userEvent.click(await screen.findByRole("button", { name: "Sign out" }));
    expect(screen.getByRole("button", { name: "Sign in" })).toBeTruthy();
    expect(localStorage.getItem("plinth.apiKey")).toBeNull();
  });
});
