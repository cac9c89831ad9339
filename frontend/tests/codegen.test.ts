// @vitest-environment node
// The typed operations stay generated from schema.graphql, and the generator refuses what would
// make them lie.
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
// @ts-expect-error: plain ESM build script without type declarations
import { generate } from "../scripts/codegen.mjs";
// @ts-expect-error: plain ESM build script without type declarations
import { differences, normalize } from "../scripts/schema-check.mjs";

const root = fileURLToPath(new URL("..", import.meta.url));
const schema = readFileSync(resolve(root, "schema.graphql"), "utf8");
const operations = readFileSync(resolve(root, "src/api/operations.graphql"), "utf8");

describe("codegen", () => {
  it("generated.ts is what the generator makes from the committed schema and operations", () => {
    const committed = readFileSync(resolve(root, "src/api/generated.ts"), "utf8");
    expect(generate(schema, operations)).toBe(committed);
  });

  it("rejects an operation that does not validate against the schema", () => {
    expect(() => generate(schema, "query Q { models { nmae } }")).toThrow(
      /Cannot query field "nmae" on type "Model"/,
    );
  });

  it("requires __typename on a union so results can be told apart", () => {
    const op = 'mutation D { deleteModel(name: "x") { ... on DeletedModel { name } } }';
    expect(() => generate(schema, op)).toThrow(/must select __typename/);
  });

  it("types nullable fields as nullable and unions as discriminated members", () => {
    const out = generate(schema, operations) as string;
    expect(out).toContain('__typename: "ValidationError";\n    field: string;');
    expect(out).toMatch(/export type ModelQuery = \{\n  model: \{[\s\S]*\} \| null;/);
  });
});

describe("schema check", () => {
  it("ignores line endings and trailing blank lines but not content", () => {
    expect(normalize("type A {\r\n  x: Int\r\n}\r\n\r\n")).toBe(normalize("type A {\n  x: Int\n}"));
    expect(normalize("type A { x: Int }")).not.toBe(normalize("type A { x: Int! }"));
  });

  it("points at the lines that drifted", () => {
    expect(differences("a\nb\nc\n", "a\nB\nc\n")).toEqual(["  line 2:\n    - b\n    + B"]);
  });
});
