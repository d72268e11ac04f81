#!/usr/bin/env bash
# Builds a release snapshot, as .goreleaser.yaml describes a release but
# published nowhere, with the pinned GoReleaser, into dist/; then checks
# what a user would download:
#
#   - one archive for each of linux, darwin and windows on amd64 and arm64
#     (tar.gz; zip for Windows), and checksums.txt naming exactly those;
#   - `sha256sum -c checksums.txt` passes;
#   - each archive holds LICENSE, README.md and a binary for its platform,
#     built by this toolchain with CGO_ENABLED=0, -trimpath and the
#     snapshot's version stamped;
#   - the host's binary runs and `membrane version` prints the snapshot's
#     version and this commit.
#
#   scripts/release-snapshot.sh
#
# GoReleaser is installed once per version and Go toolchain, under
# $(go env GOPATH)/pkg/goreleaser (GORELEASER_CACHE overrides): its first
# install compiles it, which takes minutes. RELEASE_PARALLELISM sets how
# many targets build at once (GoReleaser's default: one per CPU).
set -euo pipefail
cd "$(dirname "$0")/.."
# go.mod names Go 1.27.3; the machine's older go fetches it from the module
# proxy. GoReleaser runs `go build` with this environment, so the release
# is built with that toolchain.
export GOTOOLCHAIN="${GOTOOLCHAIN:-go1.27.3}"

GORELEASER_VERSION=v2.15.1
ALL_PLATFORMS="linux_amd64 linux_arm64 darwin_amd64 darwin_arm64 windows_amd64 windows_arm64"
# RELEASE_TARGETS builds and checks some of them only (CI builds one per
# operating system and both architectures: each platform compiles the
# standard library and every dependency anew, about two CPU-minutes from
# a cold cache). A release builds all six.
PLATFORMS="${RELEASE_TARGETS:-$ALL_PLATFORMS}"

fail() {
  echo "release-snapshot: $*" >&2
  exit 1
}

goversion=$(go env GOVERSION)
cache="${GORELEASER_CACHE:-$(go env GOPATH)/pkg/goreleaser}"
bin="$cache/$GORELEASER_VERSION-$goversion"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if [ ! -x "$bin/goreleaser" ]; then
  echo "release-snapshot: installing GoReleaser $GORELEASER_VERSION into $bin" >&2
  mkdir -p "$cache"
  GOBIN="$tmp/install" go install "github.com/goreleaser/goreleaser/v2@$GORELEASER_VERSION"
  mkdir -p "$bin"
  # Moved into place whole: a stopped install leaves nothing a later run
  # would trust.
  mv "$tmp/install/goreleaser" "$bin/goreleaser.new"
  mv "$bin/goreleaser.new" "$bin/goreleaser"
fi

# GoReleaser reads the commit only where `git ls-remote --get-url` answers;
# in a clone without a remote it stamps "none". The project's address is
# given for this run alone, not written to the clone's configuration.
if ! git ls-remote --get-url >/dev/null 2>&1; then
  export GIT_CONFIG_COUNT=1 GIT_CONFIG_KEY_0=remote.origin.url \
    GIT_CONFIG_VALUE_0=https://github.com/membrane-dev/membrane.git
fi

args=(release --snapshot --clean)
for p in $PLATFORMS; do
  case " $ALL_PLATFORMS " in
    *" $p "*) ;;
    *) fail "RELEASE_TARGETS names $p; the release builds: $ALL_PLATFORMS" ;;
  esac
done
if [ "$PLATFORMS" != "$ALL_PLATFORMS" ]; then
  # The release's configuration with the platforms not asked for ignored.
  config="$tmp/goreleaser.yaml"
  ignore=""
  for p in $ALL_PLATFORMS; do
    case " $PLATFORMS " in
      *" $p "*) ;;
      *) ignore+="      - {goos: ${p%_*}, goarch: ${p#*_}}"$'\n' ;;
    esac
  done
  awk -v ignore="$ignore" '{ print } /^    goarch: / { printf "    ignore:\n%s", ignore }' .goreleaser.yaml >"$config"
  grep -q '^    ignore:' "$config" || fail ".goreleaser.yaml has no '    goarch:' line to add the ignored platforms after"
  args+=(--config "$config")
fi
if [ -n "${RELEASE_PARALLELISM:-}" ]; then
  args+=(--parallelism "$RELEASE_PARALLELISM")
fi
"$bin/goreleaser" "${args[@]}"

# The snapshot's version, as GoReleaser stamped it: 1.2.1-snapshot-<commit>.
version=$(sed -n 's/.*"version":"\([^"]*\)".*/\1/p' dist/metadata.json)
commit=$(git rev-parse HEAD)
case "$version" in
  *-snapshot-"$(git rev-parse --short HEAD)") ;;
  *) fail "dist/metadata.json gives version '$version', want one ending -snapshot-$(git rev-parse --short HEAD)" ;;
esac

cd dist
archives=()
for p in $PLATFORMS; do
  ext=tar.gz
  [ "${p%_*}" = windows ] && ext=zip
  archives+=("membrane_${version}_$p.$ext")
done
for a in "${archives[@]}"; do
  [ -f "$a" ] || fail "dist/$a is missing (dist/ has: $(ls | tr '\n' ' '))"
done
listed=$(awk '{print $2}' checksums.txt | sort)
want=$(printf '%s\n' "${archives[@]}" | sort)
[ "$listed" = "$want" ] || fail "dist/checksums.txt names:
$listed
want exactly:
$want"
sha256sum --strict -c checksums.txt

for p in $PLATFORMS; do
  goos=${p%_*} goarch=${p#*_}
  dir="$tmp/$p"
  mkdir -p "$dir"
  exe=membrane
  if [ "$goos" = windows ]; then
    exe=membrane.exe
    python3 -m zipfile -e "membrane_${version}_$p.zip" "$dir"
  else
    tar -xzf "membrane_${version}_$p.tar.gz" -C "$dir"
  fi
  for f in "$exe" LICENSE README.md; do
    [ -f "$dir/$f" ] || fail "the $p archive has no $f (it has: $(ls "$dir" | tr '\n' ' '))"
  done
  # What the toolchain recorded in the binary: its platform and flags
  # (with -trimpath it records no -ldflags: the stamp is looked for in
  # the binary itself).
  info=$(go version -m "$dir/$exe")
  for w in "$dir/$exe: $goversion" "GOOS=$goos" "GOARCH=$goarch" "CGO_ENABLED=0" "-trimpath=true"; do
    grep -qF -- "$w" <<<"$info" || fail "the $p binary's build information has no '$w':
$info"
  done
  grep -qaF -- "v$version" "$dir/$exe" || fail "the $p binary has no version v$version stamped"
done

# The host's binary runs and says what it is.
host="$(go env GOHOSTOS)_$(go env GOHOSTARCH)"
case " $PLATFORMS " in
  *" $host "*) ;;
  *) fail "no archive is built for this host ($host) to run" ;;
esac
exe=membrane
[ "${host%_*}" = windows ] && exe=membrane.exe
out=$("$tmp/$host/$exe" version)
echo "$out"
first=$(sed -n 1p <<<"$out")
[ "$first" = "membrane v$version" ] || fail "membrane version says '$first', want 'membrane v$version'"
grep -q "^revision $commit (" <<<"$out" || fail "membrane version gives no 'revision $commit (…)' line"
last=$(tail -n 1 <<<"$out")
[ "$last" = "$goversion ${host/_//}" ] || fail "membrane version ends '$last', want '$goversion ${host/_//}'"
echo "release-snapshot: ok: ${#archives[@]} archives of membrane v$version in dist/, checksums verified"
