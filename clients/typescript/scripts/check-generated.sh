#!/usr/bin/env bash
# Fails when src/openapi.ts is not what scripts/generate.sh makes of
# runtime/api/openapi.json now: the API changed and the client's types
# were not regenerated.
set -euo pipefail
cd "$(dirname "$0")/.."
./install.sh
if [ ! -x node_modules/.bin/openapi-typescript ]; then
  echo "check-generated.sh: openapi-typescript is not installed (npm is needed: Node.js 20 or later)" >&2
  exit 1
fi
fresh=$(mktemp "${TMPDIR:-/tmp}/membrane-openapi.XXXXXX.ts")
trap 'rm -f "$fresh"' EXIT
scripts/generate.sh "$fresh"
if ! cmp -s src/openapi.ts "$fresh"; then
  diff -u src/openapi.ts "$fresh" | head -60 >&2 || true
  echo "clients/typescript/src/openapi.ts is stale: runtime/api/openapi.json changed. Run 'npm run generate' in clients/typescript and commit the result." >&2
  exit 1
fi
echo "clients/typescript/src/openapi.ts matches runtime/api/openapi.json"
