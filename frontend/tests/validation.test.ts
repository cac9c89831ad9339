// @vitest-environment node
import { describe, expect, it } from "vitest";
import {
  DEFAULT_SCALING,
  checkName,
  checkRepo,
  checkScaling,
  scalingDraft,
  suggestName,
} from "../src/validation";

describe("scaling checks mirror plinth.types.Scaling.check", () => {
  it("accepts the server's defaults", () => {
    expect(checkScaling(scalingDraft(DEFAULT_SCALING)).errors).toEqual({});
  });

  it.each([
    [{ minReplicas: "-1" }, "minReplicas", "must be 0 or more"],
    [{ maxReplicas: "0", minReplicas: "0" }, "maxReplicas", "must be 1 or more"],
    [{ maxReplicas: "65" }, "maxReplicas", "must be 64 or fewer"],
    [{ maxConcurrency: "0", concurrencyTarget: "0.5" }, "maxConcurrency", "must be 1 or more"],
    [{ concurrencyTarget: "0" }, "concurrencyTarget", "must be greater than 0"],
    [{ scaleDownDelaySeconds: "-5" }, "scaleDownDelaySeconds", "must be 0 or more"],
    [{ autoscalingWindowSeconds: "0" }, "autoscalingWindowSeconds", "must be greater than 0"],
    [{ maxQueue: "" }, "maxQueue", "enter a number"],
    [{ minReplicas: "1.5" }, "minReplicas", "must be a whole number"],
  ])("%o -> %s: %s", (changes, key, message) => {
    const draft = { ...scalingDraft(DEFAULT_SCALING), ...changes };
    expect(checkScaling(draft).errors[key]).toBe(message);
  });

  it("allows a fractional concurrency target", () => {
    const draft = { ...scalingDraft(DEFAULT_SCALING), concurrencyTarget: "1.5" };
    expect(checkScaling(draft)).toMatchObject({ errors: {}, values: { concurrencyTarget: 1.5 } });
  });
});

describe("names and repos", () => {
  it("suggests names the server accepts", () => {
    for (const repo of ["BAAI/bge-small-en-v1.5", "sentence-transformers/all-MiniLM-L6-v2", "gpt2", "Org/__x__"]) {
      const name = suggestName(repo);
      expect(checkName(name), `${repo} -> ${name}`).toBeUndefined();
    }
    expect(suggestName("sentence-transformers/all-MiniLM-L6-v2")).toBe("all-minilm-l6-v2");
  });

  it("accepts 'name' and 'org/name' repo ids only", () => {
    expect(checkRepo("gpt2")).toBeUndefined();
    expect(checkRepo(" org/model.v1 ")).toBeUndefined();
    expect(checkRepo("a/b/c")).toMatch(/not a Hugging Face repository id/);
    expect(checkRepo("")).toBe("must not be empty");
  });
});
