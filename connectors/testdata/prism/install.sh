#!/usr/bin/env bash
# Installs Stoplight Prism (@stoplight/prism-cli, at the version
# package-lock.json pins) into testdata/prism/node_modules: the connector
# tests serve each vendor's own OpenAPI description with it, as a mock that
# refuses a request breaking the description. Idempotent: it does nothing
# when the lock file has not changed since the last install.
set -euo pipefail
cd "$(dirname "$0")"
if ! command -v npm >/dev/null; then
  echo "install.sh: npm not found; the connector tests against Prism will be skipped" >&2
  exit 0
fi
stamp=node_modules/.membrane-lock.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x node_modules/.bin/prism ]; then
  exit 0
fi
npm ci --no-audit --no-fund --loglevel=error
echo "$want" >"$stamp"
