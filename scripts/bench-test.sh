#!/usr/bin/env bash
# Times `membrane test` of a generated workspace of 1,000 ConnectorTest
# cases: 10 connectors × 5 actions × 20 cases, with pagination, retries and
# error cases (see runtime/conntest/internal/testgen). Each run is a fresh
# process, start-up and loading included, as in CI. Prints each run's wall
# time, CPU time (user + system) and peak memory, then the medians.
#
#   scripts/bench-test.sh [RUNS]     (5 by default)
set -euo pipefail
# go.mod asks for Go 1.27.3; a machine whose go env says GOTOOLCHAIN=local
# would refuse it rather than fetch it.
export GOTOOLCHAIN="${GOTOOLCHAIN:-go1.27.3}"
cd "$(dirname "$0")/.."
runs=${1:-5}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

go build -o "$tmp/membrane" ./cmd/membrane
MEMBRANE_TESTGEN_DIR="$tmp/ws" go test ./runtime/conntest -run '^TestWriteBenchWorkspace$' -count=1 >/dev/null
echo "workspace: $(find "$tmp/ws" -name '*.yaml' | wc -l) files; $(nproc) CPUs"

walls=() cpus=() rss=()
for i in $(seq "$runs"); do
  /usr/bin/time -v "$tmp/membrane" test "$tmp/ws" >"$tmp/out" 2>"$tmp/time" || {
    echo "membrane test failed:"; cat "$tmp/out" "$tmp/time"; exit 1
  }
  # "Elapsed (wall clock) time (h:mm:ss or m:ss): 0:00.41"
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {n = split($2, t, ":"); s = 0; for (j = 1; j <= n; j++) s = s * 60 + t[j]; print s}' "$tmp/time")
  cpu=$(awk -F': ' '/(User|System) time \(seconds\)/ {s += $2} END {print s}' "$tmp/time")
  kb=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$tmp/time")
  walls+=("$wall") cpus+=("$cpu") rss+=("$kb")
  printf 'run %d: %.2f s wall, %.2f s CPU, %d MiB max RSS — %s\n' "$i" "$wall" "$cpu" $((kb / 1024)) "$(tail -1 "$tmp/out")"
done

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
printf 'median: %.2f s wall, %.2f s CPU, %d MiB max RSS (load average %s)\n' "$(median "${walls[@]}")" "$(median "${cpus[@]}")" \
  $(($(median "${rss[@]}") / 1024)) "$(cut -d' ' -f1-3 /proc/loadavg)"
