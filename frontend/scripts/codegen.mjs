#!/usr/bin/env node
// Typed GraphQL operations for the console, generated from schema.graphql and
// src/api/operations.graphql into src/api/generated.ts.
//
// Contract: every operation must validate against schema.graphql (else exit 1 with the errors);
// each becomes `<Name>Document` (query text + operationName, branded with its result and
// variables types), `<Name><Kind>` and `<Name><Kind>Variables`; each fragment becomes
// `<Name>Fragment`; every enum and input type of the schema becomes a TS type. A selection on a
// union must select `__typename`, so results are discriminated unions the compiler narrows.
// `--check` writes nothing and exits 1 when generated.ts differs from what would be written.
//
// Written here (about 200 lines over the `graphql` package) instead of graphql-codegen, whose
// CLI brings in a few hundred packages for the same result.
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import {
  Kind,
  buildSchema,
  isAbstractType,
  isEnumType,
  isInputObjectType,
  isListType,
  isNonNullType,
  isScalarType,
  parse,
  print,
  validate,
  visit,
} from "graphql";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const SCHEMA = resolve(root, "schema.graphql");
const OPERATIONS = resolve(root, "src/api/operations.graphql");
const OUTPUT = resolve(root, "src/api/generated.ts");

const SCALARS = {
  ID: "string",
  String: "string",
  Int: "number",
  Float: "number",
  Boolean: "boolean",
  DateTime: "string", // ISO 8601, as strawberry serialises datetime
};
const KIND_SUFFIX = { query: "Query", mutation: "Mutation", subscription: "Subscription" };

/** The generated module's text, or throws Error listing what is wrong. */
export function generate(schemaText, operationsText) {
  const schema = buildSchema(schemaText);
  const document = parse(operationsText);
  const errors = validate(schema, document);
  if (errors.length > 0) {
    const lines = errors.map((e) => {
      const at = e.locations?.map((l) => `${l.line}:${l.column}`).join(", ");
      return `  operations.graphql${at ? `:${at}` : ""}: ${e.message}`;
    });
    throw new Error(`operations do not validate against schema.graphql:\n${lines.join("\n")}`);
  }
  const fragments = new Map();
  for (const def of document.definitions) {
    if (def.kind === Kind.FRAGMENT_DEFINITION) fragments.set(def.name.value, def);
  }

  const pad = (depth) => "  ".repeat(depth);

  function scalarType(type) {
    if (isScalarType(type)) {
      const mapped = SCALARS[type.name];
      if (!mapped) throw new Error(`no TS type for scalar ${type.name}: add it to SCALARS`);
      return mapped;
    }
    return type.name; // enums and input objects are named exports
  }

  function applies(condition, objectType) {
    return (
      condition === objectType ||
      (isAbstractType(condition) && schema.isSubType(condition, objectType))
    );
  }

  function collectFields(objectType, selectionSet, out = new Map()) {
    for (const sel of selectionSet.selections) {
      if (sel.kind === Kind.FIELD) {
        const key = sel.alias?.value ?? sel.name.value;
        out.set(key, [...(out.get(key) ?? []), sel]);
      } else {
        const fragment = sel.kind === Kind.FRAGMENT_SPREAD ? fragments.get(sel.name.value) : sel;
        const condition = fragment.typeCondition
          ? schema.getType(fragment.typeCondition.name.value)
          : objectType;
        if (applies(condition, objectType)) collectFields(objectType, fragment.selectionSet, out);
      }
    }
    return out;
  }

  function outputType(type, selections, depth) {
    if (isNonNullType(type)) return innerOutput(type.ofType, selections, depth);
    return `${innerOutput(type, selections, depth)} | null`;
  }

  function innerOutput(type, selections, depth) {
    if (isListType(type)) return `Array<${outputType(type.ofType, selections, depth)}>`;
    if (isScalarType(type) || isEnumType(type)) return scalarType(type);
    return selectionType(type, { kind: Kind.SELECTION_SET, selections }, depth);
  }

  function selectionType(type, selectionSet, depth) {
    if (!isAbstractType(type)) return objectShape(type, collectFields(type, selectionSet), depth);
    const members = schema.getPossibleTypes(type).map((member) => {
      const fields = collectFields(member, selectionSet);
      if (!fields.has("__typename")) {
        throw new Error(`a selection on ${type.name} must select __typename`);
      }
      return objectShape(member, fields, depth);
    });
    return members.join(" | ");
  }

  function objectShape(objectType, fields, depth) {
    const lines = [];
    for (const [key, nodes] of fields) {
      const name = nodes[0].name.value;
      if (name === "__typename") {
        lines.push(`${pad(depth + 1)}__typename: "${objectType.name}";`);
        continue;
      }
      const field = objectType.getFields()[name];
      const selections = nodes.flatMap((n) => n.selectionSet?.selections ?? []);
      lines.push(`${pad(depth + 1)}${key}: ${outputType(field.type, selections, depth + 1)};`);
    }
    return `{\n${lines.join("\n")}\n${pad(depth)}}`;
  }

  function inputType(type) {
    if (isNonNullType(type)) return { required: true, ts: innerInput(type.ofType) };
    return { required: false, ts: `${innerInput(type)} | null` };
  }

  function innerInput(type) {
    if (isListType(type)) return `Array<${inputType(type.ofType).ts}>`;
    return scalarType(type);
  }

  function variableTs(node) {
    if (node.kind === Kind.NON_NULL_TYPE) return variableInner(node.type);
    return `${variableInner(node)} | null`;
  }

  function variableInner(node) {
    if (node.kind === Kind.LIST_TYPE) return `Array<${variableTs(node.type)}>`;
    return scalarType(schema.getType(node.name.value));
  }

  function usedFragments(node, found = new Set()) {
    visit(node, {
      FragmentSpread(spread) {
        const name = spread.name.value;
        if (!found.has(name)) {
          found.add(name);
          usedFragments(fragments.get(name), found);
        }
      },
    });
    return found;
  }

  const out = [
    "// Generated by scripts/codegen.mjs from schema.graphql and src/api/operations.graphql.",
    "// Do not edit: change the operations or the schema, then run `npm run codegen`.",
    "",
    "/** A GraphQL document carrying its result and variables types. */",
    "export type TypedDocument<TResult, TVariables> = {",
    "  readonly query: string;",
    "  readonly operationName: string;",
    '  readonly kind: "query" | "mutation" | "subscription";',
    "  readonly __types?: [TResult, TVariables];",
    "};",
    "",
  ];

  const typeMap = schema.getTypeMap();
  for (const name of Object.keys(typeMap).sort()) {
    const type = typeMap[name];
    if (name.startsWith("__")) continue;
    if (isEnumType(type)) {
      const values = type.getValues().map((v) => `"${v.name}"`);
      out.push(`export type ${name} = ${values.join(" | ")};`, "");
    } else if (isInputObjectType(type)) {
      out.push(`export type ${name} = {`);
      for (const field of Object.values(type.getFields())) {
        const { required, ts } = inputType(field.type);
        const optional = !required || field.defaultValue !== undefined;
        out.push(`  ${field.name}${optional ? "?" : ""}: ${ts};`);
      }
      out.push("};", "");
    }
  }

  for (const def of document.definitions) {
    if (def.kind === Kind.FRAGMENT_DEFINITION) {
      const type = schema.getType(def.typeCondition.name.value);
      out.push(`export type ${def.name.value}Fragment = ${selectionType(type, def.selectionSet, 0)};`, "");
    }
  }

  for (const def of document.definitions) {
    if (def.kind !== Kind.OPERATION_DEFINITION) continue;
    if (!def.name) throw new Error("every operation needs a name");
    const name = def.name.value;
    const typeName = `${name}${KIND_SUFFIX[def.operation]}`;
    const rootType = schema.getRootType(def.operation);
    out.push(`export type ${typeName} = ${selectionType(rootType, def.selectionSet, 0)};`, "");
    const variables = def.variableDefinitions ?? [];
    if (variables.length === 0) {
      out.push(`export type ${typeName}Variables = Record<string, never>;`, "");
    } else {
      out.push(`export type ${typeName}Variables = {`);
      for (const v of variables) {
        const optional = v.type.kind !== Kind.NON_NULL_TYPE || v.defaultValue !== undefined;
        out.push(`  ${v.variable.name.value}${optional ? "?" : ""}: ${variableTs(v.type)};`);
      }
      out.push("};", "");
    }
    const text = [def, ...[...usedFragments(def)].sort().map((f) => fragments.get(f))]
      .map((node) => print(node))
      .join("\n\n");
    out.push(
      `export const ${name}Document: TypedDocument<${typeName}, ${typeName}Variables> = {`,
      `  query: ${JSON.stringify(text)},`,
      `  operationName: ${JSON.stringify(name)},`,
      `  kind: ${JSON.stringify(def.operation)},`,
      "};",
      "",
    );
  }
  return out.join("\n");
}

function main() {
  const check = process.argv.includes("--check");
  let text;
  try {
    text = generate(readFileSync(SCHEMA, "utf8"), readFileSync(OPERATIONS, "utf8"));
  } catch (error) {
    console.error(`codegen: ${error.message}`);
    process.exit(1);
  }
  if (check) {
    let current = "";
    try {
      current = readFileSync(OUTPUT, "utf8");
    } catch {
      // a missing file is stale too
    }
    if (current !== text) {
      console.error(
        "codegen: src/api/generated.ts is out of date with schema.graphql or operations.graphql;" +
          " run `npm run codegen` and commit the result",
      );
      process.exit(1);
    }
    console.log("codegen: src/api/generated.ts is up to date");
    return;
  }
  writeFileSync(OUTPUT, text);
  console.log("codegen: wrote src/api/generated.ts");
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main();
