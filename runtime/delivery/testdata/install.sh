#!/usr/bin/env bash
# Installs Standard Webhooks' own verifier (the standardwebhooks npm package,
# at the version package-lock.json pins) into testdata/node_modules: the
# tests of runtime/delivery receive Membrane's signed deliveries with it.
# Idempotent: it does nothing when the lock file has not changed since the
# last install.
set -euo pipefail
cd "$(dirname "$0")"
if ! command -v npm >/dev/null; then
  echo "install.sh: npm not found; the delivery tests with the npm verifier will be skipped" >&2
  exit 0
fi
stamp=node_modules/.membrane-lock.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -d node_modules/standardwebhooks ]; then
  exit 0
fi
npm ci --no-audit --no-fund --loglevel=error
echo "$want" >"$stamp"
