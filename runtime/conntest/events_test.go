package conntest_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/membrane-dev/membrane/layers"
	"github.com/membrane-dev/membrane/spec"
)

// shopEvents adds events to the shop: a full scan of orders with an
// archived flag, and signed pushes.
const shopEvents = `
---
kind: Event
connector: shop
key: order-changed
polling:
  request: {path: /orders}
  items: ${ response.body.items }
  id: ${ record.id }
  updatedAt: ${ record.updated }
  deleted: ${ record.?archived.orValue(false) }
record:
  id: ${ record.id }
  total: ${ record.total }
---
kind: Event
connector: shop
key: order-pushed
webhook:
  signature:
    header: X-Shop-Signature
    prefix: "sha256="
    secret: ${ credentials.apiKey }
  handshake:
    when: ${ request.body.?challenge.hasValue() }
    body: {challenge: "${ request.body.challenge }"}
  records: ${ request.body.orders }
  id: ${ record.id }
  type: ${ record.change }
record:
  id: ${ record.id }
---
kind: Action
connector: shop
key: get-order
request: {path: "/orders/${ input.id }"}
output: {id: "${ response.body.id }", total: "${ response.body.total }"}
---
kind: Event
connector: shop
key: order-fetched
webhook:
  records: ${ request.body.ids }
  id: ${ record }
  type: updated
  enrich: {action: get-order, input: {id: "${ record }"}}
record:
  id: ${ record.id }
  total: ${ record.total }
`

func eventWorkspace(t *testing.T, tests string) *spec.Workspace {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "shop.yaml"), []byte(shop+shopEvents), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tests.yaml"), []byte(tests), 0o644); err != nil {
		t.Fatal(err)
	}
	ws, diags := layers.Load(dir)
	if diags.HasErrors() {
		t.Fatalf("load: %v", diags)
	}
	return ws
}

const eventHeader = `kind: ConnectorTest
connector: shop
event: order-changed
connection: {credentials: {apiKey: k_123}}
cases:
`

// scan is a full scan case: a baseline, then a created, an updated, a
// vanished (deleted) and an archived (deleted) order.
const scan = `  - name: CASE
    polls:
      - requests: [{method: GET, path: /orders}]
        responses:
          - body: {items: [{id: o1, updated: "1", total: 1}, {id: o2, updated: "1", total: 2}, {id: o3, updated: "1", total: 3}]}
        changes: []
      - responses:
          - body: {items: [{id: o1, updated: "2", total: 10}, {id: o3, updated: "1", total: 3, archived: true}, {id: o4, updated: "1", total: 4}]}
        changes:
          - {type: updated, id: o1, record: {id: o1, total: 10}}
          - {type: deleted, id: o3}
          - {type: created, id: o4, record: {id: o4, total: 4}}
          - {type: deleted, id: o2}
      - responses:
          - body: {items: [{id: o1, updated: "2", total: 10}, {id: o3, updated: "1", total: 3, archived: true}, {id: o4, updated: "1", total: 4}]}
        changes: []
`

func TestEventCasesPass(t *testing.T) {
	ws := eventWorkspace(t, eventHeader+strings.ReplaceAll(scan, "CASE", "full scan")+`
  - name: no baseline
    baseline: false
    polls:
      - responses: [{body: {items: [{id: o1, updated: "1", total: 1}]}}]
        changes: [{type: created, id: o1, record: {total: 1}, recordMatch: partial}]
  - name: a failing poll
    polls:
      - responses: [{status: 404, body: {message: no shop}}]
        error: {type: not-found, message: no shop}
`)
	for _, r := range run(t, ws) {
		if !r.Passed() {
			t.Errorf("%s failed:\n%s", r.Case.Name, strings.Join(r.Failures, "\n"))
		}
		if !strings.HasPrefix(r.Case.Name, "shop/order-changed/") {
			t.Errorf("case name %q, want shop/order-changed/…", r.Case.Name)
		}
	}
}

func TestEventCasesFail(t *testing.T) {
	// The scan case with its expectations broken: each poll reports its
	// own mismatches.
	broken := strings.NewReplacer(
		"{type: updated, id: o1, record: {id: o1, total: 10}}", "{type: created, id: o1}",
		"{type: deleted, id: o2}", "{type: deleted, id: o2}\n          - {type: deleted, id: o9}",
		"requests: [{method: GET, path: /orders}]", "requests: [{method: GET, path: /order}]",
	).Replace(strings.ReplaceAll(scan, "CASE", "broken"))
	ws := eventWorkspace(t, eventHeader+broken+`
  - name: a poll that wants an error
    polls:
      - responses: [{body: {items: []}}]
        error: {type: not-found}
        state: {cursor: x}
`)
	results := run(t, ws)
	want := map[string][]string{
		"shop/order-changed/broken": {
			`poll 1: request 1 path: want "/order", got "/orders"`,
			"poll 2: changes: want 5 changes, got 4 changes: updated o1, deleted o3, created o4, deleted o2",
			"poll 2: change 1: want created o1, got updated o1",
		},
		"shop/order-changed/a poll that wants an error": {
			"poll 1: error: want not-found, got a poll that succeeded",
			`poll 1: state: want {"cursor":"x"}, got null`,
		},
	}
	for _, r := range results {
		if got := strings.Join(r.Failures, "\n"); got != strings.Join(want[r.Case.Name], "\n") {
			t.Errorf("%s:\n got %s\nwant %s", r.Case.Name, got, strings.Join(want[r.Case.Name], "\n"))
		}
	}
}
