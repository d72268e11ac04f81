#!/usr/bin/env bash
# Checks the code for known vulnerabilities it reaches, in its modules and
# in the Go standard library, with govulncheck.
#
# The public Go vulnerability database (vuln.go.dev) cannot be reached
# from every machine that builds Membrane, the Go module proxy can: the
# database is built from the golang.org/x/vulndb module (its OSV files and
# its cmd/indexdb) and cached, one directory per version, so only the
# first run of a version builds it. Bump VULNDB_VERSION to learn of newer
# vulnerabilities (`go list -m golang.org/x/vulndb@latest`).
#
#   scripts/govulncheck.sh            check ./...
#   scripts/govulncheck.sh ARGS...    pass ARGS to govulncheck instead
#
# VULNDB_CACHE overrides where databases are kept (default
# $(go env GOPATH)/pkg/vulndb). Exit status: govulncheck's (3 when it
# finds a vulnerability the code calls).
set -euo pipefail
cd "$(dirname "$0")/.."
export GOTOOLCHAIN="${GOTOOLCHAIN:-go1.27.3}"

VULNDB_VERSION=v0.0.0-20261105234957-e22db6528018
GOVULNCHECK_VERSION=v1.9.0

cache="${VULNDB_CACHE:-$(go env GOPATH)/pkg/vulndb}"
db="$cache/$VULNDB_VERSION"
if [ ! -f "$db/index/db.json" ]; then
  echo "govulncheck: building the vulnerability database golang.org/x/vulndb@$VULNDB_VERSION into $db" >&2
  src=$(go mod download -json "golang.org/x/vulndb@$VULNDB_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",*$/\1/p')
  if [ ! -d "$src/data/osv" ]; then
    echo "govulncheck: golang.org/x/vulndb@$VULNDB_VERSION has no data/osv (in '$src')" >&2
    exit 2
  fi
  mkdir -p "$cache"
  tmp=$(mktemp -d "$cache/.build-XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  go run "golang.org/x/vulndb/cmd/indexdb@$VULNDB_VERSION" -vulns "$src/data/osv" -out "$tmp/db"
  # Renamed into place whole: a run stopped halfway leaves no database
  # that a later run would trust.
  if ! mv -T "$tmp/db" "$db" 2>/dev/null && [ ! -f "$db/index/db.json" ]; then
    echo "govulncheck: cannot move the database into $db; remove it and run again" >&2
    exit 2
  fi
fi

# Installed rather than run with `go run`, which would turn govulncheck's
# exit status into 1; one binary per toolchain, as it reads the standard
# library of the toolchain it checks.
bin="$cache/bin/$GOVULNCHECK_VERSION-$(go env GOVERSION)"
GOBIN="$bin" go install "golang.org/x/vuln/cmd/govulncheck@$GOVULNCHECK_VERSION"

args=("$@")
if [ ${#args[@]} -eq 0 ]; then
  args=(./...)
fi
exec "$bin/govulncheck" -db "file://$db" "${args[@]}"
