package conntest_test

import (
	"bytes"
	"context"
	"encoding/xml"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/membrane-dev/membrane/layers"
	"github.com/membrane-dev/membrane/runtime/conntest"
	"github.com/membrane-dev/membrane/spec"
)

// shop is a workspace under test: its host does not resolve (.invalid),
// so a case that passes never touched the network.
const shop = `kind: Connector
key: shop
baseUrl: https://api.shop.invalid
auth: {type: apiKey, in: header, name: X-Key, value: "${ credentials.apiKey }"}
retry: {maxAttempts: 3, initialBackoff: 2s}
errors:
  - status: [404]
    type: not-found
    message: ${ response.body.?message.orValue('gone') }
---
kind: Action
connector: shop
key: create-order
inputSchema: {type: object, required: [email], properties: {email: {type: string}, qty: {type: integer}}}
request:
  method: POST
  path: /orders
  query: {source: api}
  body: {email: "${ input.email }", qty: "${ input.?qty.orValue(1) }", at: "${ string(now) }"}
output: {id: "${ response.body.id }", total: "${ response.body.total }"}
---
kind: Action
connector: shop
key: list-orders
request: {path: /orders}
pagination: {type: page, items: "${ response.body.items }", param: page, hasMore: "${ response.body.more }"}
output: {ids: "${ records.map(r, r.id) }"}
`

// workspace writes shop and the given test file into a directory and
// loads it.
func workspace(t *testing.T, tests string) (*spec.Workspace, string) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "shop.yaml"), []byte(shop), 0o644); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "tests.yaml")
	if err := os.WriteFile(file, []byte(tests), 0o644); err != nil {
		t.Fatal(err)
	}
	ws, diags := layers.Load(dir)
	if diags.HasErrors() {
		t.Fatalf("load: %v", diags)
	}
	return ws, file
}

func run(t *testing.T, ws *spec.Workspace) []conntest.Result {
	t.Helper()
	r := conntest.New(ws, conntest.Options{})
	defer r.Close()
	return r.Run(context.Background(), conntest.Cases(ws, nil))
}

const header = `kind: ConnectorTest
connector: shop
action: create-order
connection: {credentials: {apiKey: k_123}}
cases:
`

// good is a case that passes; the failing cases below each break it one way.
const good = `  - name: CASE
    input: {email: a@b.c, qty: 2}
    requests:
      - method: POST
        path: /orders
        query: {source: api}
        headers: {X-Key: k_123, X-Other: null}
        body: {email: a@b.c, qty: 2, at: "2024-01-01T00:00:00Z"}
    responses:
      - {status: 201, body: {id: o_1, total: 9.5}}
    output: {id: o_1, total: 9.5}
`

func TestPasses(t *testing.T) {
	ws, _ := workspace(t, header+strings.ReplaceAll(good, "CASE", "creates an order")+`
  - name: partial matching
    input: {email: a@b.c}
    requests:
      - {method: POST, body: {email: a@b.c, nope: null}, query: {}, match: partial}
    responses:
      - {body: {id: o_2, total: 1, extra: [1, 2]}}
    output: {id: o_2}
    outputMatch: partial
  - name: a 404 is not-found
    now: "2030-05-01T00:00:00Z"
    input: {email: a@b.c}
    requests:
      - body: {email: a@b.c, qty: 1, at: "2030-05-01T00:00:00Z"}
    responses:
      - {status: 404, body: {message: no such shop}}
    error: {type: not-found, status: 404, message: such}
  - name: invalid input sends nothing
    input: {qty: 1}
    error: {type: invalid-input, message: email}
  - name: pages and retries without waiting
    action: list-orders
    requests:
      - {path: /orders, query: {page: "1"}}
      - {path: /orders, query: {page: "1"}}
      - {path: /orders, query: {page: "2"}}
    responses:
      - {status: 503, body: busy}
      - {body: {items: [{id: a}], more: true}}
      - {body: {items: [{id: b}], more: false}}
    output: {ids: [a, b]}
`)
	results := run(t, ws)
	for _, r := range results {
		if !r.Passed() {
			t.Errorf("%s failed:\n%s", r.Case.Name, strings.Join(r.Failures, "\n"))
		}
	}
	if len(results) != 5 {
		t.Fatalf("%d results, want 5", len(results))
	}
	// The retry's backoff (up to 2s, jittered) ran on the case's own
	// clock, which skipped it; no other case waited at all.
	for _, r := range results {
		retried := strings.HasSuffix(r.Case.Name, "/pages and retries without waiting")
		if retried && (r.Waited <= 0 || r.Waited > 2*time.Second) || !retried && r.Waited != 0 {
			t.Errorf("%s: the case's clock skipped %s", r.Case.Name, r.Waited)
		}
		t.Logf("%s: %s (skipped %s)", r.Case.Name, r.Duration, r.Waited)
	}
}

// TestFailures checks the exact report of each way a case can fail.
func TestFailures(t *testing.T) {
	for _, tc := range []struct {
		name, from, to string
		want           []string
	}{
		{"wrong body", "body: {email: a@b.c, qty: 2,", "body: {email: x@y.z, qty: \"2\",", []string{
			`request 1 body /email: want "x@y.z", got "a@b.c"`,
			`request 1 body /qty: want "2", got 2`,
		}},
		{"extra body field", "body: {email: a@b.c, qty: 2, at: \"2024-01-01T00:00:00Z\"}", "body: {email: a@b.c, qty: 2}", []string{
			`request 1 body /at: want (absent), got "2024-01-01T00:00:00Z"`,
		}},
		{"wrong method, path, query and header", "method: POST\n        path: /orders\n        query: {source: api}\n        headers: {X-Key: k_123, X-Other: null}",
			"method: PUT\n        path: /order\n        query: {source: web, v: \"1\"}\n        headers: {X-Key: k_999, Accept: text/csv}", []string{
				`request 1 method: want PUT, got POST`,
				`request 1 path: want "/order", got "/orders"`,
				`request 1 query /source: want "web", got "api"`,
				`request 1 query /v: want "1", got (absent)`,
				`request 1 header Accept: want "text/csv", got "application/json"`,
				`request 1 header X-Key: want "k_999", got "k_123"`,
			}},
		{"wrong output", "output: {id: o_1, total: 9.5}", "output: {id: o_9, total: 9.5, currency: EUR}", []string{
			`output /currency: want "EUR", got (absent)`,
			`output /id: want "o_9", got "o_1"`,
		}},
		{"unexpected request", "    responses:\n      - {status: 201, body: {id: o_1, total: 9.5}}", "    responses: []", []string{
			`request 1 has no response: POST /orders?source=api; add one under responses: (or run membrane test --record)`,
		}},
		{"missing request", "    responses:", "      - {method: GET, path: /orders/o_1}\n    responses:", []string{
			`request 2 was never sent: want GET /orders/o_1; the action sent 1 request`,
		}},
		{"unused response", "      - {status: 201, body: {id: o_1, total: 9.5}}", "      - {status: 201, body: {id: o_1, total: 9.5}}\n      - {body: {}}", []string{
			`response 2 was never requested: the action sent 1 request; remove it or fix the action`,
		}},
		{"wrong error", "output: {id: o_1, total: 9.5}", "error: {type: conflict, status: 409}", []string{
			`error: want conflict, got success with output {"id":"o_1","total":9.5}`,
		}},
		{"error expected, another came", "      - {status: 201, body: {id: o_1, total: 9.5}}\n    output: {id: o_1, total: 9.5}",
			"      - {status: 404, body: {message: no such order}}\n    error: {type: auth, status: 401, message: denied}", []string{
				`error type: want "auth", got "not-found" (no such order)`,
				`error status: want 401, got 404`,
				`error message: want it to contain "denied", got "not-found: no such order (status 404) [POST https://api.shop.invalid/orders]\n  response: {\"message\":\"no such order\"}"`,
			}},
		{"unexpected error", "{status: 201, body: {id: o_1, total: 9.5}}", "{status: 404, body: {message: no such order}}", []string{
			`error: want success, got not-found (status 404): no such order`,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := strings.ReplaceAll(good, "CASE", tc.name)
			if !strings.Contains(body, tc.from) {
				t.Fatalf("the case has no %q", tc.from)
			}
			ws, _ := workspace(t, header+strings.Replace(body, tc.from, tc.to, 1))
			res := run(t, ws)
			if len(res) != 1 {
				t.Fatalf("%d results", len(res))
			}
			if !slices.Equal(res[0].Failures, tc.want) {
				t.Errorf("failures:\n%s\nwant:\n%s", strings.Join(res[0].Failures, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

func TestUnexpectedRequest(t *testing.T) {
	ws, _ := workspace(t, header+`  - name: two pages, one response
    action: list-orders
    responses:
      - {body: {items: [{id: a}], more: true}}
    output: {ids: [a]}
`)
	res := run(t, ws)
	want := []string{"request 2 was not expected: GET /orders?page=2; the case gives 1 response, add a response (and a request to check it) or fix the action"}
	if !slices.Equal(res[0].Failures, want) {
		t.Errorf("failures:\n%s\nwant:\n%s", strings.Join(res[0].Failures, "\n"), strings.Join(want, "\n"))
	}
}

func TestReports(t *testing.T) {
	ws, file := workspace(t, header+strings.ReplaceAll(good, "CASE", "passes")+
		strings.ReplaceAll(strings.Replace(good, "id: o_1, total: 9.5}\n", "id: o_2, total: 9.5}\n", 1), "CASE", "fails"))
	results := run(t, ws)

	var text bytes.Buffer
	if err := conntest.WriteText(&text, results, false, 1500*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	name := results[0].Case.Pos.File
	want := "FAIL  shop/create-order/fails (" + name + ":17:11)\n" +
		"      output /id: want \"o_2\", got \"o_1\"\n" +
		"FAIL: 1 passed, 1 failed, 2 cases in 1.50s\n"
	if text.String() != want {
		t.Errorf("text report:\n%s\nwant:\n%s", text.String(), want)
	}

	var out bytes.Buffer
	if err := conntest.WriteJUnit(&out, results, time.Second); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Tests    int `xml:"tests,attr"`
		Failures int `xml:"failures,attr"`
		Suites   []struct {
			Name  string `xml:"name,attr"`
			Cases []struct {
				Name      string `xml:"name,attr"`
				Classname string `xml:"classname,attr"`
				Line      int    `xml:"line,attr"`
				Failure   *struct {
					Message string `xml:"message,attr"`
					Text    string `xml:",chardata"`
				} `xml:"failure"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatalf("junit: %v\n%s", err, out.String())
	}
	if doc.Tests != 2 || doc.Failures != 1 || len(doc.Suites) != 1 || len(doc.Suites[0].Cases) != 2 {
		t.Fatalf("junit: %+v", doc)
	}
	if doc.Suites[0].Name != name || !strings.HasSuffix(file, filepath.Base(name)) {
		t.Errorf("suite %q, want %q", doc.Suites[0].Name, name)
	}
	c := doc.Suites[0].Cases
	if c[0].Name != "passes" || c[0].Failure != nil || c[1].Classname != "shop/create-order" || c[1].Line != 17 {
		t.Errorf("junit cases: %+v", c)
	}
	if c[1].Failure == nil || c[1].Failure.Message != `output /id: want "o_2", got "o_1"` || !strings.Contains(c[1].Failure.Text, name+":17:11") {
		t.Errorf("junit failure: %+v", c[1].Failure)
	}
}

func TestRunFilter(t *testing.T) {
	ws, _ := workspace(t, header+strings.ReplaceAll(good, "CASE", "one")+strings.ReplaceAll(good, "CASE", "two"))
	cases := conntest.Cases(ws, regexp.MustCompile(`create-order/tw`))
	if len(cases) != 1 || cases[0].Name != "shop/create-order/two" {
		t.Errorf("cases %+v", cases)
	}
}
