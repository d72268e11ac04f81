// Compiles JSON Schemas as a strict third-party validator does: ajv in its
// default strict mode (draft 2020-12, with ajv-formats for the standard
// formats), which refuses a keyword it does not know, such as the
// editor-specific patternErrorMessage.
//
//   node strict.mjs FILE...
//
// Prints one line per schema ajv refuses and exits 1 when there is any.
// What ajv's default mode only logs (strictTypes: a union type such as
// ["object", "boolean"]) goes to stderr, for information.
import { readFileSync } from "node:fs";
import Ajv2020 from "ajv/dist/2020.js";
import addFormats from "ajv-formats";

let refused = 0;
for (const file of process.argv.slice(2)) {
  const note = (...args) => console.error(`${file}: ajv logs: ${args.join(" ")}`);
  const ajv = new Ajv2020({ logger: { log() {}, warn: note, error: note } });
  addFormats(ajv);
  try {
    ajv.compile(JSON.parse(readFileSync(file, "utf8")));
  } catch (e) {
    console.log(`${file}: ${e.message}`);
    refused++;
  }
}
process.exit(refused > 0 ? 1 : 0);
