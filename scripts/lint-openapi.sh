#!/usr/bin/env bash
# Lints the REST API's OpenAPI document (runtime/api/openapi.json) with
# Redocly CLI, at the version runtime/api/testdata/package-lock.json pins,
# under the rules of runtime/api/testdata/redocly.yaml. Errors and warnings
# both fail. The install is idempotent: it is skipped while the lock file
# is unchanged since the last one.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=runtime/api/testdata
if ! command -v npm >/dev/null; then
  echo "lint-openapi.sh: npm is needed (Node.js 20.19 or later)" >&2
  exit 1
fi
stamp=$dir/node_modules/.membrane-lock.sha256
want=$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ] || [ ! -x "$dir/node_modules/.bin/redocly" ]; then
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
  echo "$want" >"$stamp"
fi
export REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true
exec "$dir/node_modules/.bin/redocly" lint --config "$dir/redocly.yaml" --max-problems 1000 runtime/api/openapi.json
