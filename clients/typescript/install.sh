#!/usr/bin/env bash
# Installs the TypeScript client's packages (openapi-typescript,
# openapi-fetch, jose and tsc, at the versions package-lock.json pins)
# into node_modules: the client's tests (serve_test.go) and the check of
# its generated types need them. Idempotent: it does nothing when the
# lock file has not changed since the last install.
set -euo pipefail
cd "$(dirname "$0")"
if ! command -v npm >/dev/null; then
  echo "install.sh: npm not found; the TypeScript client's tests will be skipped" >&2
  exit 0
fi
stamp=node_modules/.membrane-lock.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x node_modules/.bin/tsc ] && [ -x node_modules/.bin/openapi-typescript ]; then
  exit 0
fi
npm ci --no-audit --no-fund --loglevel=error
echo "$want" >"$stamp"
