#!/usr/bin/env bash
# Installs the third-party validators the tests hold Membrane's JSON to
# (ajv, ajv-formats, ajv-draft-04 and the SARIF 2.1.0 schema, at the
# versions package-lock.json pins) into testdata/ajv/node_modules.
# Idempotent: it does nothing when the lock file has not changed since the
# last install.
set -euo pipefail
cd "$(dirname "$0")"
if ! command -v npm >/dev/null; then
  echo "install.sh: npm not found; the strict-validator tests will be skipped" >&2
  exit 0
fi
stamp=node_modules/.membrane-lock.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -d node_modules/ajv ]; then
  exit 0
fi
npm ci --no-audit --no-fund --loglevel=error
echo "$want" >"$stamp"
