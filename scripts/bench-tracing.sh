#!/usr/bin/env bash
# Action throughput with tracing off and on, side by side against the plain
# path: 100 concurrent clients run a one-request action through the REST
# API on loopback (SQLite), three ways in each round — plain (the API
# handler alone), off (the server as served by default: request ids,
# tracing off) and on (every span exported over OTLP/HTTP to a real
# collector receiver on loopback) — plus the in-process run with tracing
# off and on. Rounds are separate processes, so drift in the machine's load
# hits every side alike; prints every round, then the medians and the
# ratios to plain.
#
#   scripts/bench-tracing.sh [ROUNDS] [BENCHTIME]     (5 rounds of 3s by default)
set -euo pipefail
export GOTOOLCHAIN="${GOTOOLCHAIN:-go1.27.3}"
cd "$(dirname "$0")/.."
rounds=${1:-5}
benchtime=${2:-3s}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go test -c -o "$tmp/server.test" ./runtime/server/
for i in $(seq "$rounds"); do
  (cd runtime/server && "$tmp/server.test" -test.run '^$' -test.bench BenchmarkTracing -test.benchtime "$benchtime") \
    | grep '^BenchmarkTracing' | tee -a "$tmp/all"
done

# name ns/op cpu-µs p50 p99 B/op allocs/op → medians per name, then ratios.
awk '
  { name = $1; sub(/-[0-9]+$/, "", name); sub(/^BenchmarkTracing\//, "", name)
    n[name]++; ns[name, n[name]] = $3; cpu[name, n[name]] = $5; p50[name, n[name]] = $7; p99[name, n[name]] = $9; al[name, n[name]] = $13 }
  function median(arr, name, k,   i, j, t, v) {
    for (i = 1; i <= k; i++) v[i] = arr[name, i]
    for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
    return (k % 2) ? v[(k + 1) / 2] : (v[k / 2] + v[k / 2 + 1]) / 2
  }
  END {
    printf "\n%-18s %12s %10s %10s %10s %12s %10s\n", "median of " n["plain"], "ns/op", "runs/s", "p50 ms", "p99 ms", "CPU µs/run", "allocs/op"
    split("plain off on in-process-off in-process-on", order, " ")
    for (o = 1; o <= 5; o++) { name = order[o]; if (!(name in n)) continue
      m[name] = median(ns, name, n[name]); c[name] = median(cpu, name, n[name])
      printf "%-18s %12.0f %10.0f %10.2f %10.2f %12.0f %10.0f\n", name, m[name], 1e9 / m[name], median(p50, name, n[name]), median(p99, name, n[name]), c[name], median(al, name, n[name]) }
    printf "wall: tracing off reaches %.2fx the plain throughput; on, %.2fx (in process, on reaches %.2fx off)\n", m["plain"] / m["off"], m["plain"] / m["on"], m["in-process-off"] / m["in-process-on"]
    printf "CPU:  tracing off reaches %.2fx the plain throughput; on, %.2fx (in process, on reaches %.2fx off)\n", c["plain"] / c["off"], c["plain"] / c["on"], c["in-process-off"] / c["in-process-on"]
  }' "$tmp/all"
