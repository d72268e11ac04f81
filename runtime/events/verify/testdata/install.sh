#!/usr/bin/env bash
# Installs the vendors' webhook signing and verifying code that the tests of
# runtime/events/verify hold Membrane's signature checks to
# (@octokit/webhooks-methods, standardwebhooks, twilio, @hubspot/api-client
# and @slack/bolt, at the versions package-lock.json pins) into
# testdata/node_modules. Idempotent: it does nothing when the lock file has
# not changed since the last install.
set -euo pipefail
cd "$(dirname "$0")"
if ! command -v npm >/dev/null; then
  echo "install.sh: npm not found; the vendor signature tests will be skipped" >&2
  exit 0
fi
stamp=node_modules/.membrane-lock.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -d node_modules/standardwebhooks ]; then
  exit 0
fi
npm ci --no-audit --no-fund --loglevel=error
echo "$want" >"$stamp"
