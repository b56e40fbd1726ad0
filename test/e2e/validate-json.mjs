#!/usr/bin/env node
// Validates that stdin is exactly one JSON document conforming to the published schema.
// Used by the e2e tests on real CLI output. Exit 0 when valid; otherwise prints why, exit 1.
import { readFileSync } from "node:fs";
import { Ajv2020 } from "ajv/dist/2020.js";

const schema = JSON.parse(
  readFileSync(new URL("../../schema/nemoclaw-output.schema.json", import.meta.url), "utf8"),
);
const input = readFileSync(0, "utf8");
let document;
try {
  document = JSON.parse(input);
} catch (error) {
  console.error(`not one JSON document: ${error.message}\n--- stdout was ---\n${input.slice(0, 2000)}`);
  process.exit(1);
}
const ajv = new Ajv2020({ allErrors: true, strict: false });
const validate = ajv.compile(schema);
if (!validate(document)) {
  console.error(JSON.stringify(validate.errors, null, 2));
  process.exit(1);
}
