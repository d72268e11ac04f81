#!/usr/bin/env bash
# Times `membrane validate` of a generated workspace: 100 connectors × 10
# actions, 10 universal actions and 50 connection overrides (1,160 files;
# see spec/internal/wsgen). Each run is a fresh process, start-up included,
# as in CI. Prints each run's wall time, CPU time (user + system) and peak
# memory (max RSS), then the medians. On a busy machine the wall time waits
# for a CPU; the CPU time does not.
#
#   scripts/bench-validate.sh [RUNS]     (5 by default)
set -euo pipefail
# go.mod asks for Go 1.27.3; a machine whose go env says GOTOOLCHAIN=local
# would refuse it rather than fetch it.
export GOTOOLCHAIN="${GOTOOLCHAIN:-go1.27.3}"
cd "$(dirname "$0")/.."
runs=${1:-5}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

go build -o "$tmp/membrane" ./cmd/membrane
MEMBRANE_WSGEN_DIR="$tmp/ws" go test ./spec -run '^TestWriteBenchWorkspace$' -count=1 >/dev/null
files=$(find "$tmp/ws" -name '*.yaml' | wc -l)
echo "workspace: $files files; $(nproc) CPUs"

walls=() cpus=() rss=()
for i in $(seq "$runs"); do
  /usr/bin/time -v "$tmp/membrane" validate --strict "$tmp/ws" >"$tmp/out" 2>"$tmp/time" || {
    echo "membrane validate failed:"; cat "$tmp/out" "$tmp/time"; exit 1
  }
  # "Elapsed (wall clock) time (h:mm:ss or m:ss): 0:00.41"
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {n = split($2, t, ":"); s = 0; for (j = 1; j <= n; j++) s = s * 60 + t[j]; print s}' "$tmp/time")
  cpu=$(awk -F': ' '/(User|System) time \(seconds\)/ {s += $2} END {print s}' "$tmp/time")
  kb=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$tmp/time")
  walls+=("$wall") cpus+=("$cpu") rss+=("$kb")
  printf 'run %d: %.2f s wall, %.2f s CPU, %d MiB max RSS\n' "$i" "$wall" "$cpu" $((kb / 1024))
done

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
printf 'median: %.2f s wall, %.2f s CPU, %d MiB max RSS (load average %s)\n' "$(median "${walls[@]}")" "$(median "${cpus[@]}")" \
  $(($(median "${rss[@]}") / 1024)) "$(cut -d' ' -f1-3 /proc/loadavg)"
