#!/usr/bin/env bash
# The REST API under load: 100 concurrent clients run a one-request action
# through the API on loopback, against the same action run in process
# (connections.Service.Run), on SQLite and on PostgreSQL (127.0.0.1:5432,
# or MEMBRANE_TEST_POSTGRES). Rounds are interleaved so that the machine's
# drift hits both sides alike; prints every round, then the medians and
# the REST/in-process throughput ratio.
#
#   scripts/bench-serve.sh [ROUNDS] [BENCHTIME]     (5 rounds of 4s by default)
set -euo pipefail
# go.mod asks for Go 1.27.3; a machine whose go env says GOTOOLCHAIN=local
# would refuse it rather than fetch it.
export GOTOOLCHAIN="${GOTOOLCHAIN:-go1.27.3}"
cd "$(dirname "$0")/.."
rounds=${1:-5}
benchtime=${2:-4s}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go test -c -o "$tmp/server.test" ./runtime/server/
for i in $(seq "$rounds"); do
  (cd runtime/server && "$tmp/server.test" -test.run '^$' -test.bench BenchmarkRunAction -test.benchtime "$benchtime") \
    | grep '^BenchmarkRunAction' | tee -a "$tmp/all"
done

# name ns/op p50 p99 → medians per name, then ratios.
awk '
  { name = $1; sub(/-[0-9]+$/, "", name); sub(/^BenchmarkRunAction\//, "", name)
    n[name]++; ns[name, n[name]] = $3; p50[name, n[name]] = $5; p99[name, n[name]] = $7 }
  function median(arr, name, k,   i, j, t, v) {
    for (i = 1; i <= k; i++) v[i] = arr[name, i]
    for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
    return (k % 2) ? v[(k + 1) / 2] : (v[k / 2] + v[k / 2 + 1]) / 2
  }
  END {
    printf "\n%-22s %12s %10s %10s %10s\n", "median of " n["sqlite/in-process"], "ns/op", "runs/s", "p50 ms", "p99 ms"
    split("sqlite/in-process sqlite/rest postgres/in-process postgres/rest", order, " ")
    for (o = 1; o <= 4; o++) { name = order[o]; if (!(name in n)) continue
      m[name] = median(ns, name, n[name])
      printf "%-22s %12.0f %10.0f %10.2f %10.2f\n", name, m[name], 1e9 / m[name], median(p50, name, n[name]), median(p99, name, n[name]) }
    for (o = 1; o <= 2; o++) { e = (o == 1) ? "sqlite" : "postgres"
      if ((e "/rest") in m) printf "%s: REST reaches %.2fx the in-process throughput\n", e, m[e "/in-process"] / m[e "/rest"] }
  }' "$tmp/all"
