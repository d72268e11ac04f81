package main

import (
	"strings"
	"testing"

	"github.com/membrane-dev/membrane/internal/testkit"
)

// crashWorkspaceKey names the workspace of the reliability tests; tenant
// tokens are minted for it.
const crashWorkspaceKey = "crash"

// crashWorkspace is a workspace whose connector `up` is the loopback app
// at UPSTREAM: item-changes polls its change feed incrementally,
// item-scan lists every record (a full scan with diff), and item-pushed
// takes its signed webhooks. Every poll runs every 200ms.
func crashWorkspace(t *testing.T, upstreamURL string) string {
	t.Helper()
	return testkit.Workspace(t, map[string]string{
		"membrane.yaml": `kind: Workspace
key: crash
`,
		"connector.yaml": `kind: Connector
key: up
name: Upstream
baseUrl: UPSTREAM
parameters:
  type: object
  required: [account]
  properties:
    account: {type: string}
    webhookSecret: {type: string}
auth:
  type: apiKey
  in: header
  name: X-Api-Key
headers:
  X-Account: ${ connection.parameters.account }
`,
		"events/item-changes.yaml": `kind: Event
connector: up
key: item-changes
description: Every change of the app's change feed, each once, in order.
recordSchema:
  type: object
  required: [id, version, name]
  properties:
    id: {type: string}
    version: {type: integer}
    name: {type: string}
polling:
  mode: incremental
  request:
    path: /changes
    query: {since: "${ string(state.?cursor.orValue(0)) }"}
  pagination:
    type: cursor
    items: ${ response.body.items }
    hasMore: ${ response.body.hasMore }
    param: after
    nextCursor: "${ size(response.body.items) == 0 ? '' : string(response.body.items[size(response.body.items) - 1].seq) }"
    limitParam: limit
    pageSize: 5
  id: ${ record.id }
  updatedAt: ${ record.updatedAt }
  deleted: ${ record.type == 'deleted' }
  created: ${ record.type == 'created' }
  cursor: "${ size(records) == 0 ? state.?cursor.orValue(0) : math.greatest(records.map(r, r.seq)) }"
  baseline: false
  interval: 200ms
record:
  id: ${ record.id }
  version: ${ record.version }
  name: ${ record.name }
`,
		"events/item-scan.yaml": `kind: Event
connector: up
key: item-scan
description: Every live record, listed each time and compared with the last listing.
recordSchema:
  type: object
  required: [id, version, name]
  properties:
    id: {type: string}
    version: {type: integer}
    name: {type: string}
polling:
  mode: fullScan
  request:
    path: /records
  pagination:
    type: cursor
    items: ${ response.body.items }
    hasMore: ${ response.body.hasMore }
    param: after
    nextCursor: "${ size(response.body.items) == 0 ? null : response.body.items[size(response.body.items) - 1].id }"
    limitParam: limit
    pageSize: 7
  id: ${ record.id }
  updatedAt: ${ record.updatedAt }
  baseline: false
  interval: 200ms
record:
  id: ${ record.id }
  version: ${ record.version }
  name: ${ record.name }
`,
		"events/item-pushed.yaml": `kind: Event
connector: up
key: item-pushed
description: The app's signed pushes, one or more changes each.
recordSchema:
  type: object
  required: [id, version, name]
  properties:
    id: {type: string}
    version: {type: integer}
    name: {type: string}
webhook:
  signature:
    header: X-Up-Signature
    algorithm: hmac-sha256
    encoding: hex
    prefix: "v1="
    secret: ${ connection.parameters.webhookSecret }
    timestamp: ${ int(request.headers['x-up-timestamp']) }
    payload: "${ request.headers['x-up-timestamp'] + '.' + request.rawBody }"
    tolerance: 5m
  connectionKey: ${ request.body.account }
  match: ${ connection.parameters.account }
  contentTypes: [application/json]
  records: ${ request.body.events }
  id: ${ record.id }
  type: ${ record.type }
  updatedAt: ${ record.updatedAt }
record:
  id: ${ record.id }
  version: ${ record.version }
  name: ${ record.name }
`,
	}, map[string]string{"UPSTREAM": upstreamURL})
}

// The reliability tests' workspace loads without a diagnostic.
func TestCrashWorkspaceValid(t *testing.T) {
	ws := crashWorkspace(t, "http://127.0.0.1:1")
	r := runCmdLine(t, "", "validate", ws)
	if r.code != exitOK || !strings.Contains(r.stdout+r.stderr, "0 errors, 0 warnings") {
		t.Fatalf("validate: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}
