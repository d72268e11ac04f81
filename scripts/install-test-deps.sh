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
#                runtime/events/verify's tests check Membrane against them;
#                and Standard Webhooks' verifier (pinned in
#                runtime/delivery/testdata/package-lock.json), which receives
#                runtime/delivery's signed deliveries.
#   prism        Stoplight Prism from npm (pinned in
#                connectors/testdata/prism/package-lock.json); connectors'
#                tests serve each vendor's own OpenAPI description with it
#                and run every catalogue action against it.
#   @modelcontextprotocol/sdk  the official MCP TypeScript SDK from npm (pinned
#                in runtime/mcp/testdata/package-lock.json): its client drives
#                Membrane's MCP server over stdio and Streamable HTTP.
#   prometheus   Debian's Prometheus (scripts/install-prometheus.sh);
#                runtime/telemetry/metrics' test starts one on loopback to
#                scrape a server's /metrics and query a rate. The Debian
#                service is not left running.
#   TypeScript client  openapi-typescript, openapi-fetch, jose and tsc from
#                npm (pinned in clients/typescript/package-lock.json): the
#                client's tests run against a real `membrane serve`, and
#                CI checks its generated types against the OpenAPI document.
#   nats-server  NATS with JetStream at 127.0.0.1:4222, for runtime/delivery's
#                NATS destination: when nothing listens there, the pinned
#                nats-server is installed and started (-js, its store in a
#                temporary directory), and left running.
set -euo pipefail
# go.mod asks for Go 1.27.3; a machine whose go env says GOTOOLCHAIN=local
# would refuse it rather than fetch it.
export GOTOOLCHAIN="${GOTOOLCHAIN:-go1.27.3}"

STRIPE_MOCK_VERSION=v0.203.0
NATS_SERVER_VERSION=v2.15.2

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
"$(dirname "$0")/../runtime/delivery/testdata/install.sh"
"$(dirname "$0")/../connectors/testdata/prism/install.sh"
"$(dirname "$0")/../runtime/mcp/testdata/install.sh"
"$(dirname "$0")/../clients/typescript/install.sh"
"$(dirname "$0")/install-browser.sh"
"$(dirname "$0")/install-prometheus.sh"

# listening PORT: whether something accepts connections at 127.0.0.1:PORT.
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

if listening 4222; then
  echo "nats-server: something already listens at 127.0.0.1:4222; using it"
else
  if installed nats-server github.com/nats-io/nats-server/v2 "$NATS_SERVER_VERSION"; then
    echo "nats-server $NATS_SERVER_VERSION: already in $bin"
  else
    echo "nats-server $NATS_SERVER_VERSION: installing into $bin"
    GOBIN="$bin" go install "github.com/nats-io/nats-server/v2@$NATS_SERVER_VERSION"
  fi
  store_dir=$(mktemp -d "${TMPDIR:-/tmp}/membrane-nats.XXXXXX")
  nohup "$bin/nats-server" -a 127.0.0.1 -p 4222 -js -sd "$store_dir" >"$store_dir/nats-server.log" 2>&1 &
  for _ in $(seq 1 100); do
    listening 4222 && break
    sleep 0.1
  done
  if ! listening 4222; then
    echo "nats-server: did not start; its log:" >&2
    cat "$store_dir/nats-server.log" >&2
    exit 1
  fi
  echo "nats-server $NATS_SERVER_VERSION: started at 127.0.0.1:4222 with JetStream (pid $!, store and log in $store_dir)"
fi
