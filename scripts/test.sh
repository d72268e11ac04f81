#!/usr/bin/env bash
# Runs Membrane's whole test suite: installs the test peers it needs (at
# pinned versions), then every package's tests.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-test-deps.sh
export PATH="$(go env GOPATH)/bin:$PATH"
go test -count=1 "$@" ./...
