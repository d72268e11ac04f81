#!/usr/bin/env bash
# Runs Membrane's whole test suite: installs the test peers it needs (at
# pinned versions), then every package's tests.
set -euo pipefail
# go.mod asks for Go 1.27.3; a machine whose go env says GOTOOLCHAIN=local
# would refuse it rather than fetch it.
export GOTOOLCHAIN="${GOTOOLCHAIN:-go1.27.3}"
cd "$(dirname "$0")/.."
scripts/install-test-deps.sh
export PATH="$(go env GOPATH)/bin:$PATH"
go test -count=1 "$@" ./...
