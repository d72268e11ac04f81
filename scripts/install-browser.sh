#!/usr/bin/env bash
# Installs Debian's chromium, which runtime/connect's browser tests drive
# (through chromedp) to click through the connect page. Idempotent: an
# installed /usr/bin/chromium is left alone.
set -euo pipefail

if [ -x /usr/bin/chromium ]; then
  echo "chromium: already at /usr/bin/chromium"
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  sudo="sudo"
fi

echo "chromium: installing from Debian's packages"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends chromium
