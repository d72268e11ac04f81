#!/usr/bin/env bash
# Writes the client's types from the REST API's OpenAPI document:
# runtime/api/openapi.json -> src/openapi.ts (or the file given), with
# openapi-typescript at the version package-lock.json pins.
#   --default-non-nullable false  a field with a default is optional to
#                                 send (RunRequest's log, for one)
#   --empty-objects-unknown       a free-form object (parameters,
#                                 credentials) is Record<string, unknown>,
#                                 not an object that must be empty
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-src/openapi.ts}
exec node_modules/.bin/openapi-typescript ../../runtime/api/openapi.json --output "$out" \
  --default-non-nullable false --empty-objects-unknown --silent
