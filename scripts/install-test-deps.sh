#!/usr/bin/env bash
# Installs the peers Membrane's tests run against, at pinned versions, into
# $(go env GOPATH)/bin. Idempotent: a peer already there at the pinned
# version is left alone.
#
#   stripe-mock  Stripe's API mock; connectors/stripe_test.go runs every
#                Stripe action against it (it checks each request against
#                Stripe's OpenAPI spec).
#   oauth2-mock-server  an OAuth2 authorization server from npm (pinned in
#                runtime/oauth/testdata/package-lock.json); runtime/oauth's
#                tests run the authorization-code, refresh and
#                client-credentials flows against it, and against go-oauth2
#                in process (a Go module: nothing to install here).
#   chromium     Debian's browser; runtime/connect's tests click through the
#                connect page in it (scripts/install-browser.sh).
#   ajv          third-party JSON Schema validators from npm (pinned in
#                schemas/testdata/ajv/package-lock.json): the editor schemas
#                must compile in ajv's strict mode, and `validate --format
#                sarif` must pass the SARIF 2.1.0 schema.
#   webhook signers  the vendors' own webhook signing and verifying code from
#                npm (pinned in runtime/events/verify/testdata/package-lock.json):
#                GitHub's, Standard Webhooks', Twilio's, HubSpot's and Slack's;
#                runtime/events/verify's tests check Membrane against them.
set -euo pipefail
# go.mod asks for Go 1.27.3; a machine whose go env says GOTOOLCHAIN=local
# would refuse it rather than fetch it.
export GOTOOLCHAIN="${GOTOOLCHAIN:-go1.27.3}"

STRIPE_MOCK_VERSION=v0.203.0

bin="$(go env GOPATH)/bin"

# installed NAME MODULE VERSION: whether bin/NAME was built from MODULE@VERSION.
installed() {
  [ -x "$bin/$1" ] && go version -m "$bin/$1" 2>/dev/null | grep -Eq "^[[:space:]]+mod[[:space:]]+$2[[:space:]]+$3([[:space:]]|\$)"
}

if installed stripe-mock github.com/stripe/stripe-mock "$STRIPE_MOCK_VERSION"; then
  echo "stripe-mock $STRIPE_MOCK_VERSION: already in $bin"
else
  echo "stripe-mock $STRIPE_MOCK_VERSION: installing into $bin"
  GOBIN="$bin" go install "github.com/stripe/stripe-mock@$STRIPE_MOCK_VERSION"
fi

"$(dirname "$0")/../runtime/oauth/testdata/install.sh"
"$(dirname "$0")/../schemas/testdata/ajv/install.sh"
"$(dirname "$0")/../runtime/events/verify/testdata/install.sh"
"$(dirname "$0")/install-browser.sh"
