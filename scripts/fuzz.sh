#!/usr/bin/env bash
# Runs every fuzz target for a short while (FUZZTIME, 10s by default):
# long enough to catch a regression in a parser or decoder on new inputs,
# short enough for every CI run. The targets are found, not listed, so a
# new `func FuzzX` in a test file is fuzzed without editing this script.
# A failure leaves the input under the package's testdata/fuzz/, where
# `go test` replays it as a regression case once committed.
set -euo pipefail
cd "$(dirname "$0")/.."
export GOTOOLCHAIN="${GOTOOLCHAIN:-go1.27.3}"
fuzztime="${FUZZTIME:-10s}"

targets=$(git grep -E '^func Fuzz[A-Za-z0-9_]*\(' -- '*_test.go' |
  sed -E 's|^(.*)/[^/]*_test\.go:func (Fuzz[A-Za-z0-9_]*)\(.*|\1 \2|' | sort)
if [ -z "$targets" ]; then
  echo "no fuzz targets found"; exit 1
fi
while read -r dir name; do
  echo "-- $name (./$dir, $fuzztime)"
  go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" "./$dir"
done <<<"$targets"
