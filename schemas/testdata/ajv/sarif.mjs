// Validates a SARIF log read from stdin against the SARIF 2.1.0 JSON
// schema (sarif-2.1.0-rtm.5.json, as @microsoft/jest-sarif ships it; the
// schema is draft-04, and its formats, uri-reference among them, are
// checked by ajv-formats).
//
//   membrane validate --format sarif DIR | node sarif.mjs
//
// Prints each violation and exits 1 when there is any.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import Ajv04 from "ajv-draft-04";
import addFormats from "ajv-formats";

const require = createRequire(import.meta.url);
const schema = JSON.parse(readFileSync(require.resolve("@microsoft/jest-sarif/lib/schemas/sarif-2.1.0-rtm.5.json"), "utf8"));
// The schema is the standard's, not ours: only the log is held strictly.
// (unicodeRegExp off: one of its patterns, for a language tag, is not a
// valid regular expression in unicode mode.)
const ajv = new Ajv04({ strict: false, allErrors: true, unicodeRegExp: false });
addFormats(ajv);
const validate = ajv.compile(schema);
const log = JSON.parse(readFileSync(0, "utf8"));
if (!validate(log)) {
  for (const e of validate.errors) console.log(`${e.instancePath || "/"}: ${e.message} (${e.schemaPath})`);
  process.exit(1);
}
