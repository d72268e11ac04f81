#!/usr/bin/env bash
# Installs Debian's prometheus, which runtime/telemetry/metrics' test starts
# on a loopback port of its own to scrape a real server. Idempotent: an
# installed /usr/bin/prometheus is left alone. The Debian service the
# package would start (a Prometheus on :9090 scraping nothing of ours) is
# kept from starting, and stopped and disabled if it did.
set -euo pipefail

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  sudo="sudo"
fi

stop_service() {
  if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
    $sudo systemctl disable --now prometheus.service >/dev/null 2>&1 || true
  elif command -v service >/dev/null; then
    $sudo service prometheus stop >/dev/null 2>&1 || true
  fi
}

if [ -x /usr/bin/prometheus ]; then
  echo "prometheus: already at /usr/bin/prometheus"
  stop_service
  exit 0
fi

echo "prometheus: installing from Debian's packages"
export DEBIAN_FRONTEND=noninteractive
# policy-rc.d answering 101 keeps the package's service from starting
# (unless the machine already has one, which is then left as it is).
policy=/usr/sbin/policy-rc.d
added_policy=""
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
  $sudo chmod 755 "$policy"
  added_policy=1
fi
cleanup() { if [ -n "$added_policy" ]; then $sudo rm -f "$policy"; fi; }
trap cleanup EXIT
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends prometheus
stop_service
