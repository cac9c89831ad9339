#!/usr/bin/env node
// Keeps frontend/schema.graphql equal to the SDL the backend prints.
//
//   npm run schema:check -- FRESH.graphql   exit 1 (with the first differences) when they differ
//   npm run schema:update -- FRESH.graphql  copy FRESH over schema.graphql (then `npm run codegen`)
//
// FRESH is the backend's SDL, printed by
//   .venv/bin/python -c "from backend.graphql.schema import build_schema; print(build_schema().as_str())"
// ("-" reads it from stdin). The check also says whether the console's operations still validate
// against the fresh schema, so a drift that breaks the console is told apart from one that does not.
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { buildSchema, parse, validate } from "graphql";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const COMMITTED = resolve(root, "schema.graphql");
const OPERATIONS = resolve(root, "src/api/operations.graphql");

/** Line endings and trailing blank lines are not drift. */
export function normalize(sdl) {
  return `${sdl.replace(/\r\n/g, "\n").replace(/[ \t]+$/gm, "").trimEnd()}\n`;
}

/** Up to `limit` differing lines as "line N: - old / + new". */
export function differences(committed, fresh, limit = 8) {
  const a = committed.split("\n");
  const b = fresh.split("\n");
  const out = [];
  for (let i = 0; i < Math.max(a.length, b.length) && out.length < limit; i++) {
    if (a[i] !== b[i]) {
      out.push(`  line ${i + 1}:\n    - ${a[i] ?? "(end of file)"}\n    + ${b[i] ?? "(end of file)"}`);
    }
  }
  return out;
}

function main() {
  const args = process.argv.slice(2);
  const write = args.includes("--write");
  const source = args.find((a) => a !== "--write");
  if (!source) {
    console.error("usage: schema-check.mjs [--write] FRESH_SDL_FILE|-");
    process.exit(2);
  }
  const fresh = normalize(readFileSync(source === "-" ? 0 : source, "utf8"));
  if (write) {
    writeFileSync(COMMITTED, fresh);
    console.log("schema: wrote schema.graphql; now run `npm run codegen`");
    return;
  }
  const committed = normalize(readFileSync(COMMITTED, "utf8"));
  if (committed === fresh) {
    console.log("schema: frontend/schema.graphql matches the backend's schema");
    return;
  }
  console.error("schema: frontend/schema.graphql differs from the backend's schema:");
  console.error(differences(committed, fresh).join("\n"));
  let verdict;
  try {
    const errors = validate(buildSchema(fresh), parse(readFileSync(OPERATIONS, "utf8")));
    verdict =
      errors.length === 0
        ? "the console's operations still validate against the new schema"
        : `the console's operations break against the new schema:\n${errors.map((e) => `  ${e.message}`).join("\n")}`;
  } catch (error) {
    verdict = `the new schema does not parse: ${error.message}`;
  }
  console.error(verdict);
  console.error(
    "Update it: (cd frontend && npm run schema:update -- FRESH.graphql && npm run codegen), then commit both.",
  );
  process.exit(1);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main();
