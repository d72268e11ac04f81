package engine_test

import (
	"context"
	"fmt"
	"net/http"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/membrane-dev/membrane"
	"github.com/membrane-dev/membrane/runtime/engine"
)

// crm is a small CRM on loopback: contacts (one email conflicts), deals,
// associations that fail on demand, and notes.
type crm struct {
	*api
	mu      sync.Mutex
	deleted []string
}

func newCRM(t *testing.T, failAssoc, failDelete bool) *crm {
	c := &crm{}
	c.api = newAPI(t, func(w http.ResponseWriter, r *http.Request, n int) {
		switch {
		case r.Method == "POST" && r.URL.Path == "/contacts":
			body := readBody(r)
			if strings.Contains(body, "taken@") {
				writeJSON(w, 409, map[string]any{"message": "email already exists"})
				return
			}
			if strings.Contains(body, "flaky@") {
				writeJSON(w, 500, map[string]any{"message": "try again"})
				return
			}
			writeJSON(w, 201, map[string]any{"id": "c-" + strings.TrimSuffix(strings.TrimPrefix(body, `{"email":"`), `"}`)})
		case r.Method == "POST" && r.URL.Path == "/deals":
			writeJSON(w, 201, map[string]any{"id": "d-1"})
		case r.Method == "PUT" && strings.HasPrefix(r.URL.Path, "/deals/"):
			if failAssoc {
				writeJSON(w, 500, map[string]any{"message": "association service down"})
				return
			}
			writeJSON(w, 200, map[string]any{"ok": true})
		case r.Method == "DELETE":
			if failDelete {
				writeJSON(w, 503, map[string]any{"message": "cannot delete now"})
				return
			}
			c.mu.Lock()
			c.deleted = append(c.deleted, r.URL.Path)
			c.mu.Unlock()
			w.WriteHeader(204)
		default:
			writeJSON(w, 200, map[string]any{"path": r.URL.Path})
		}
	})
	return c
}

func readBody(r *http.Request) string {
	var b strings.Builder
	buf := make([]byte, 512)
	for {
		n, err := r.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			return b.String()
		}
	}
}

func (c *crm) paths() []string {
	var out []string
	for _, r := range c.requests() {
		out = append(out, r.Method+" "+r.Path)
	}
	return out
}

const importAction = `kind: Action
connector: test
key: import
inputSchema:
  type: object
  properties: {emails: {type: array, items: {type: string}}}
steps:
  - name: create
    forEach: ${ input.emails }
    concurrency: 3
    onItemError: continue
    request:
      method: POST
      path: /contacts
      body: {email: "${ item }"}
    output: {id: "${ response.body.id }"}
output:
  status: ${ steps.create.status }
  results: ${ steps.create.output }
  created: ${ steps.create.output.filter(r, r.ok).map(r, r.output.id) }
`

func TestForEachPerItemResults(t *testing.T) {
	c := newCRM(t, false, false)
	e := load(t, c.URL, map[string]string{"connector.yaml": connector(""), "import.yaml": importAction})
	out := e.mustRun(t, membrane.RunRequest{Action: "import", Input: map[string]any{"emails": []any{"a@x", "taken@x", "b@x", "flaky@x", "c@x"}}})
	m := out.(map[string]any)
	if m["status"] != "partial" {
		t.Errorf("status = %v, want partial", m["status"])
	}
	if got := asJSON(t, m["created"]); got != `["c-a@x","c-b@x","c-c@x"]` {
		t.Errorf("created = %s", got)
	}
	results := m["results"].([]any)
	if len(results) != 5 {
		t.Fatalf("results = %d, want one per item", len(results))
	}
	conflict := results[1].(map[string]any)
	if conflict["ok"] != false {
		t.Fatalf("item 1 = %s, want a failure", asJSON(t, conflict))
	}
	ce := conflict["error"].(map[string]any)
	if ce["type"] != "conflict" || ce["status"] != int64(409) || ce["attempts"] != int64(1) {
		t.Errorf("item 1's error = %s, want conflict, 409, 1 attempt", asJSON(t, ce))
	}
	// A 500 is retried (the connector's default policy, 3 attempts), then
	// reported with what it cost.
	fe := results[3].(map[string]any)["error"].(map[string]any)
	if fe["type"] != "upstream" || fe["status"] != int64(500) {
		t.Errorf("item 3's error = %s, want upstream 500", asJSON(t, fe))
	}
	if ok := results[0].(map[string]any); ok["ok"] != true || asJSON(t, ok["output"]) != `{"id":"c-a@x"}` {
		t.Errorf("item 0 = %s", asJSON(t, ok))
	}
}

func TestMaxFailuresStopsStartingItems(t *testing.T) {
	c := newCRM(t, false, false)
	e := load(t, c.URL, map[string]string{"connector.yaml": connector(""), "import.yaml": strings.Replace(importAction, "concurrency: 3", "maxFailures: 2", 1)})
	got := e.runErr(t, membrane.RunRequest{Action: "import", Input: map[string]any{"emails": []any{"a@x", "taken@x", "b@x", "taken@y", "never@x", "never@y"}}}, engine.ErrConflict)
	if got.Step != "create" || got.Item == nil || *got.Item != 1 {
		t.Errorf("error names step %q item %v, want create, 1 (the first failure)", got.Step, got.Item)
	}
	for _, want := range []string{"maxFailures 2", "2 of 6 items were not started"} {
		if !strings.Contains(got.Message, want) {
			t.Errorf("message %q lacks %q", got.Message, want)
		}
	}
	partial, _ := got.Partial["create"].([]any)
	if len(partial) != 4 {
		t.Fatalf("partial = %s, want the 4 results of the items that ran", asJSON(t, got.Partial))
	}
	if p := partial[2].(map[string]any); p["ok"] != true {
		t.Errorf("partial[2] = %s, want b@x created", asJSON(t, p))
	}
	for _, p := range c.paths() {
		if p != "POST /contacts" {
			t.Errorf("unexpected request %s", p)
		}
	}
	if c.n() != 4 {
		t.Errorf("requests = %d, want 4: none after the second failure", c.n())
	}
}

const dealAction = `kind: Action
connector: test
key: create-deal
steps:
  - name: deal
    request: {method: POST, path: /deals, body: {name: "${ input.name }"}}
    output: {id: "${ response.body.id }"}
  - name: associate
    retry: {maxAttempts: 2}
    request: {method: PUT, path: "/deals/${ steps.deal.output.id }/contacts/${ input.contact }"}
    onError:
      steps:
        - name: undo
          request: {method: DELETE, path: "/deals/${ steps.deal.output.id }"}
output: {id: "${ steps.deal.output.id }"}
`

func TestCompensationUndoesAndFailsWithTheOriginalError(t *testing.T) {
	c := newCRM(t, true, false)
	e := load(t, c.URL, map[string]string{"connector.yaml": connector(""), "deal.yaml": dealAction})
	got := e.runErr(t, membrane.RunRequest{Action: "create-deal", Input: map[string]any{"name": "Big", "contact": "c-1"}}, engine.ErrUpstream)
	if got.Step != "associate" || got.Item != nil || got.Status != 500 {
		t.Errorf("error = step %q item %v status %d, want associate, no item, 500", got.Step, got.Item, got.Status)
	}
	if asJSON(t, got.Partial) != `{"deal":{"id":"d-1"}}` {
		t.Errorf("partial = %s, want the deal's output", asJSON(t, got.Partial))
	}
	want := []string{"POST /deals", "PUT /deals/d-1/contacts/c-1", "PUT /deals/d-1/contacts/c-1", "DELETE /deals/d-1"}
	if !reflect.DeepEqual(c.paths(), want) {
		t.Errorf("requests = %v, want %v (the step's retry, then the undo)", c.paths(), want)
	}
}

func TestCompensationThatFailsKeepsBothErrors(t *testing.T) {
	c := newCRM(t, true, true)
	e := load(t, c.URL, map[string]string{"connector.yaml": connector(`retry: {maxAttempts: 1}
`), "deal.yaml": dealAction})
	got := e.runErr(t, membrane.RunRequest{Action: "create-deal", Input: map[string]any{"name": "Big", "contact": "c-1"}}, engine.ErrCompensationFailed)
	if got.Step != "undo" || got.Cause == nil || got.Cause.Type != engine.ErrUpstream || got.Cause.Step != "associate" {
		t.Fatalf("error = %s, want the undo step named and the association's failure as cause", asJSON(t, got))
	}
	for _, want := range []string{`compensating step "undo"`, `step "associate"`, "association service down", "cannot delete now"} {
		if !strings.Contains(got.Message+got.Body+got.Cause.Message+got.Cause.Body, want) {
			t.Errorf("error %q (cause %q) lacks %q", got.Message, got.Cause.Message, want)
		}
	}
	if asJSON(t, got.Partial) != `{"deal":{"id":"d-1"}}` {
		t.Errorf("partial = %s", asJSON(t, got.Partial))
	}
}

func TestActionOnErrorReturnsAValue(t *testing.T) {
	c := newCRM(t, true, false)
	e := load(t, c.URL, map[string]string{"connector.yaml": connector(""), "deal.yaml": `kind: Action
connector: test
key: create-deal
steps:
  - name: deal
    request: {method: POST, path: /deals}
    output: {id: "${ response.body.id }"}
  - name: associate
    request: {method: PUT, path: "/deals/${ steps.deal.output.id }/contacts/1"}
  - name: note
    request: {method: POST, path: /notes}
onError:
  steps:
    - name: undo
      when: ${ steps.deal.status == 'ok' && steps.note.skipped }
      request: {method: DELETE, path: "/deals/${ steps.deal.output.id }"}
  return:
    ok: false
    failedStep: ${ error.step }
    type: ${ error.type }
    status: ${ error.status }
    undone: ${ steps.undo.status }
`})
	out := e.mustRun(t, membrane.RunRequest{Action: "create-deal"})
	if got := asJSON(t, out); got != `{"failedStep":"associate","ok":false,"status":500,"type":"upstream","undone":"ok"}` {
		t.Errorf("output = %s", got)
	}
	if !reflect.DeepEqual(c.deleted, []string{"/deals/d-1"}) {
		t.Errorf("deleted = %v", c.deleted)
	}
}

func TestLetReturnAndStepMetadata(t *testing.T) {
	c := newCRM(t, false, false)
	e := load(t, c.URL, map[string]string{"connector.yaml": connector(""), "flow.yaml": `kind: Action
connector: test
key: flow
inputSchema:
  type: object
  properties: {first: {type: string}, last: {type: string}, quick: {type: boolean}}
steps:
  - name: skipped
    when: ${ false }
    request: {path: /never}
  - name: named
    let:
      full: ${ input.first + ' ' + input.last }
      shout: ${ vars.full.upperAscii() }
    request: {path: "/people/${ vars.shout }"}
  - name: done
    when: ${ input.quick }
    return: {early: true, who: "${ vars.full }", attempts: "${ steps.named.attempts }"}
  - name: each
    forEach: ${ [1, 2, 3, 4] }
    when: ${ item % 2 == 0 }
    let: {n: "${ item * 10 }"}
    request: {path: "/n/${ vars.n }"}
    output: ${ vars.n }
output:
  early: false
  who: ${ vars.full }
  skipped: ${ steps.skipped.skipped }
  skippedStatus: ${ steps.skipped.status }
  status: ${ steps.named.status }
  each: ${ steps.each.output }
`})
	quick := e.mustRun(t, membrane.RunRequest{Action: "flow", Input: map[string]any{"first": "Ada", "last": "Lovelace", "quick": true}})
	if got := asJSON(t, quick); got != `{"attempts":1,"early":true,"who":"Ada Lovelace"}` {
		t.Errorf("early return = %s", got)
	}
	full := e.mustRun(t, membrane.RunRequest{Action: "flow", Input: map[string]any{"first": "Ada", "last": "Lovelace", "quick": false}})
	if got := asJSON(t, full); got != `{"each":[null,20,null,40],"early":false,"skipped":true,"skippedStatus":"skipped","status":"ok","who":"Ada Lovelace"}` {
		t.Errorf("output = %s", got)
	}
	var paths []string
	for _, r := range c.requests() {
		paths = append(paths, r.Path)
	}
	want := []string{"/people/ADA LOVELACE", "/people/ADA LOVELACE", "/n/20", "/n/40"}
	if !reflect.DeepEqual(paths, want) {
		t.Errorf("requests = %q, want %q", paths, want)
	}
}

func TestForEachOverANonList(t *testing.T) {
	c := newCRM(t, false, false)
	e := load(t, c.URL, map[string]string{"connector.yaml": connector(""), "each.yaml": `kind: Action
connector: test
key: each
steps:
  - name: first
    request: {path: /first}
  - name: each
    forEach: ${ input.items }
    request: {path: /x}
`})
	got := e.runErr(t, membrane.RunRequest{Action: "each", Input: map[string]any{"items": map[string]any{"a": 1}}}, engine.ErrExpression)
	if got.Step != "each" || !strings.Contains(got.Message, "forEach gave an object, not a list") {
		t.Errorf("error = %s", asJSON(t, got))
	}
	if asJSON(t, got.Partial) != `{"first":{"path":"/first"}}` {
		t.Errorf("partial = %s", asJSON(t, got.Partial))
	}
}

// TestForEachHugeListIsBounded runs 100,000 items: the goroutines stay at
// the step's concurrency, and the results are one per item.
func TestForEachHugeListIsBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("100,000 items")
	}
	const items, conc = 100_000, 8
	var peakG atomic.Int64
	c := newAPI(t, func(w http.ResponseWriter, r *http.Request, n int) {
		g := int64(runtime.NumGoroutine())
		for p := peakG.Load(); g > p && !peakG.CompareAndSwap(p, g); p = peakG.Load() {
		}
		writeJSON(w, 200, map[string]any{"ok": true})
	})
	e := load(t, c.URL, map[string]string{"connector.yaml": connector(""), "big.yaml": fmt.Sprintf(`kind: Action
connector: test
key: big
steps:
  - name: each
    forEach: ${ input.items }
    concurrency: %d
    onItemError: continue
    when: ${ item %% 1000 == 0 }
    request: {path: "/items/${ item }"}
    output: ${ index }
output:
  n: ${ size(steps.each.output) }
  sent: ${ steps.each.output.filter(r, !r.?skipped.orValue(false)).size() }
`, conc)})
	list := make([]any, items)
	for i := range list {
		list[i] = int64(i)
	}
	before := runtime.NumGoroutine()
	out := e.mustRun(t, membrane.RunRequest{Action: "big", Input: map[string]any{"items": list}})
	if got := asJSON(t, out); got != `{"n":100000,"sent":100}` {
		t.Errorf("output = %s", got)
	}
	// The server's and the client's goroutines, plus at most conc workers
	// and the connections they use: never one per item.
	if grew := peakG.Load() - int64(before); grew > 10*conc {
		t.Errorf("goroutines grew by %d during the run, want about %d", grew, conc)
	}
}

func TestDefaultForEachRunsOneItemAtATime(t *testing.T) {
	var inflight, peak atomic.Int64
	srv := newAPI(t, func(w http.ResponseWriter, r *http.Request, n int) {
		cur := inflight.Add(1)
		for p := peak.Load(); cur > p && !peak.CompareAndSwap(p, cur); p = peak.Load() {
		}
		inflight.Add(-1)
		writeJSON(w, 200, map[string]any{"path": r.URL.Path})
	})
	e := load(t, srv.URL, map[string]string{"connector.yaml": connector(""), "fan.yaml": `kind: Action
connector: test
key: fan
steps:
  - name: each
    forEach: ${ input.ids }
    request: {path: "/items/${ item }"}
`})
	e.mustRun(t, membrane.RunRequest{Action: "fan", Input: map[string]any{"ids": []any{"1", "2", "3", "4", "5", "6"}}})
	var paths []string
	for _, r := range srv.requests() {
		paths = append(paths, r.Path)
	}
	if want := []string{"/items/1", "/items/2", "/items/3", "/items/4", "/items/5", "/items/6"}; !reflect.DeepEqual(paths, want) {
		t.Errorf("requests = %v, want them in item order", paths)
	}
	if peak.Load() != 1 {
		t.Errorf("peak concurrent requests = %d, want 1", peak.Load())
	}
	if engine.DefaultStepConcurrency != 1 {
		t.Errorf("DefaultStepConcurrency = %d; the schema and README say 1", engine.DefaultStepConcurrency)
	}
}

// flaky answers 500 to the first fails requests of each path, then 201.
func flaky(t *testing.T, fails int) *api {
	var mu sync.Mutex
	seen := map[string]int{}
	return newAPI(t, func(w http.ResponseWriter, r *http.Request, n int) {
		mu.Lock()
		seen[r.URL.Path]++
		k := seen[r.URL.Path]
		mu.Unlock()
		if k <= fails {
			writeJSON(w, 500, map[string]any{"message": "boom"})
			return
		}
		writeJSON(w, 201, map[string]any{"id": "x"})
	})
}

func TestRetryWrittenByTheAuthorRetriesPOST(t *testing.T) {
	create := `kind: Action
connector: test
key: create
request: {method: POST, path: /things}
`
	cases := []struct {
		name, files string
		action      string
		want        int
		typ         string
	}{
		// The connector's default policy does not repeat a POST.
		{"connector default", "", "create", 1, engine.ErrUpstream},
		// The action's author asked for retries of this request.
		{"action retry", "retry: {maxAttempts: 3}\n", "create", 3, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := flaky(t, 2)
			e := load(t, srv.URL, map[string]string{"connector.yaml": connector(""), "create.yaml": create + c.files})
			res, err := e.run(t, membrane.RunRequest{Action: c.action})
			if c.typ == "" && err != nil {
				t.Fatalf("run: %v", err)
			}
			if c.typ != "" {
				mustType(t, err, c.typ)
			}
			if srv.n() != c.want {
				t.Errorf("requests = %d, want %d (output %v)", srv.n(), c.want, res)
			}
		})
	}
}

func TestCallerRetryReachesCalledActions(t *testing.T) {
	files := func(calleeRetry string) map[string]string {
		return map[string]string{
			"connector.yaml": connector(""),
			"create.yaml": `kind: Action
connector: test
key: create
request: {method: POST, path: /things}
` + calleeRetry,
			"outer.yaml": `kind: Action
connector: test
key: outer
retry: {maxAttempts: 3}
steps:
  - name: make
    action: create
`,
			"step.yaml": `kind: Action
connector: test
key: step-retry
steps:
  - name: make
    action: create
    retry: {maxAttempts: 4}
`,
		}
	}
	t.Run("action retry", func(t *testing.T) {
		srv := flaky(t, 2)
		e := load(t, srv.URL, files(""))
		e.mustRun(t, membrane.RunRequest{Action: "outer"})
		if srv.n() != 3 {
			t.Errorf("requests = %d, want 3: the caller's retry reaches the called POST", srv.n())
		}
	})
	t.Run("step retry", func(t *testing.T) {
		srv := flaky(t, 3)
		e := load(t, srv.URL, files(""))
		e.mustRun(t, membrane.RunRequest{Action: "step-retry"})
		if srv.n() != 4 {
			t.Errorf("requests = %d, want 4", srv.n())
		}
	})
	t.Run("callee's own wins", func(t *testing.T) {
		srv := flaky(t, 2)
		e := load(t, srv.URL, files("retry: {maxAttempts: 1}\n"))
		e.runErr(t, membrane.RunRequest{Action: "outer"}, engine.ErrUpstream)
		if srv.n() != 1 {
			t.Errorf("requests = %d, want 1: the called action sets its own retry", srv.n())
		}
	})
}

func TestIdempotencyKeyIsStableAcrossRetries(t *testing.T) {
	var mu sync.Mutex
	tries := map[string]int{}
	srv := newAPI(t, func(w http.ResponseWriter, r *http.Request, n int) {
		k := r.Header.Get("Idempotency-Key")
		mu.Lock()
		tries[k]++
		first := tries[k] == 1
		mu.Unlock()
		if first {
			writeJSON(w, 500, map[string]any{"message": "lost"})
			return
		}
		writeJSON(w, 201, map[string]any{"key": k})
	})
	e := load(t, srv.URL, map[string]string{"connector.yaml": connector(""), "pay.yaml": `kind: Action
connector: test
key: pay
steps:
  - name: charge
    forEach: ${ input.orders }
    concurrency: 2
    request:
      method: POST
      path: /charges
      idempotencyKey: ${ 'charge-' + item }
    output: ${ response.body.key }
output: ${ steps.charge.output }
`})
	out := e.mustRun(t, membrane.RunRequest{Action: "pay", Input: map[string]any{"orders": []any{"o1", "o2"}}})
	if got := asJSON(t, out); got != `["charge-o1","charge-o2"]` {
		t.Errorf("output = %s", got)
	}
	if !reflect.DeepEqual(tries, map[string]int{"charge-o1": 2, "charge-o2": 2}) {
		t.Errorf("attempts by key = %v, want each item's POST retried once under its own key", tries)
	}
}

func TestCallDepthIsBounded(t *testing.T) {
	srv := newAPI(t, func(w http.ResponseWriter, r *http.Request, n int) {
		writeJSON(w, 200, map[string]any{})
	})
	files := map[string]string{"connector.yaml": connector("")}
	const n = engine.MaxCallDepth + 2
	for i := range n {
		body := "request: {path: /leaf}\n"
		if i < n-1 {
			body = fmt.Sprintf("steps:\n  - name: next\n    action: a%d\n", i+1)
		}
		files[fmt.Sprintf("a%d.yaml", i)] = fmt.Sprintf("kind: Action\nconnector: test\nkey: a%d\n%s", i, body)
	}
	e := load(t, srv.URL, files)
	got := e.runErr(t, membrane.RunRequest{Action: "a0"}, engine.ErrCallDepth)
	if !strings.Contains(got.Message, "a0 → a1 → a2") || srv.n() != 0 {
		t.Errorf("error %q (requests %d), want the chain named and nothing sent", got.Message, srv.n())
	}
}

func TestCanceledContinuingForEachEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv := newAPI(t, func(w http.ResponseWriter, r *http.Request, n int) {
		cancel()
		writeJSON(w, 500, map[string]any{})
	})
	e := load(t, srv.URL, map[string]string{"connector.yaml": connector("retry: {maxAttempts: 1}\n"), "fan.yaml": `kind: Action
connector: test
key: fan
steps:
  - name: each
    forEach: ${ input.ids }
    onItemError: continue
    request: {path: "/items/${ item }"}
`})
	_, err := e.ws.Run(ctx, membrane.RunRequest{Connector: "test", Action: "fan", Connection: engine.Connection{ID: "c1"}, Input: map[string]any{"ids": []any{"1", "2", "3"}}})
	got := mustType(t, err, engine.ErrCanceled)
	if got.Step != "each" {
		t.Errorf("error = %s", asJSON(t, got))
	}
}

// A failure inside a called action is the calling step's: error.step and
// the partial output are the caller's, and its compensation sees them.
func TestFailureInACalledActionIsTheCallersStep(t *testing.T) {
	c := newCRM(t, true, false)
	e := load(t, c.URL, map[string]string{"connector.yaml": connector("retry: {maxAttempts: 1}\n"), "inner.yaml": `kind: Action
connector: test
key: inner
steps:
  - name: first
    request: {path: /inner-first}
  - name: link
    request: {method: PUT, path: /deals/d-1/contacts/1}
`, "outer.yaml": `kind: Action
connector: test
key: outer
steps:
  - name: deal
    request: {method: POST, path: /deals}
    output: {id: "${ response.body.id }"}
  - name: call
    action: inner
    onError:
      steps:
        - name: undo
          when: ${ error.step == 'call' && error.item == null }
          request: {method: DELETE, path: "/deals/${ steps.deal.output.id }"}
`})
	got := e.runErr(t, membrane.RunRequest{Action: "outer"}, engine.ErrUpstream)
	if got.Step != "call" || asJSON(t, got.Partial) != `{"deal":{"id":"d-1"}}` {
		t.Errorf("error = step %q, partial %s; want the caller's step and outputs", got.Step, asJSON(t, got.Partial))
	}
	if !strings.Contains(got.Message, `step "call": step "link"`) {
		t.Errorf("message %q does not name the chain of steps", got.Message)
	}
	if !reflect.DeepEqual(c.deleted, []string{"/deals/d-1"}) {
		t.Errorf("deleted = %v, want the deal undone", c.deleted)
	}
}
