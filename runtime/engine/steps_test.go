package engine_test

import (
	"context"
	"net/http"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/membrane-dev/membrane"
	"github.com/membrane-dev/membrane/runtime/engine"
)

const getContact = `kind: Action
connector: test
key: get-contact
inputSchema:
  type: object
  required: [id]
  properties: {id: {type: string}}
request: {path: "/contacts/${ input.id }"}
output:
  name: ${ response.body.name }
`

func TestSteps(t *testing.T) {
	srv := newAPI(t, func(w http.ResponseWriter, r *http.Request, n int) {
		switch {
		case r.URL.Path == "/account":
			writeJSON(w, 200, map[string]any{"id": "acc_1", "plan": "free"})
		case r.URL.Path == "/accounts/acc_1/upgrade":
			writeJSON(w, 200, map[string]any{"plan": "pro"})
		case strings.HasPrefix(r.URL.Path, "/items/"):
			writeJSON(w, 200, map[string]any{"id": strings.TrimPrefix(r.URL.Path, "/items/")})
		case r.URL.Path == "/contacts/acc_1":
			writeJSON(w, 200, map[string]any{"name": "Ada"})
		default:
			writeJSON(w, 404, map[string]any{"error": "no route " + r.URL.Path})
		}
	})
	e := load(t, srv.URL, map[string]string{
		"connector.yaml": connector(""),
		"contact.yaml":   getContact,
		"sync.yaml": `kind: Action
connector: test
key: sync
inputSchema:
  type: object
  properties:
    ids: {type: array, items: {type: string}}
    notify: {type: boolean}
steps:
  - name: account
    request: {path: /account}
    output: {id: "${ response.body.id }", plan: "${ response.body.plan }"}
  - name: upgrade
    when: ${ steps.account.output.plan == 'free' }
    request: {method: POST, path: "/accounts/${ steps.account.output.id }/upgrade"}
  - name: notify
    when: ${ input.notify }
    request: {method: POST, path: /notify}
  - name: fetch
    forEach: ${ input.ids }
    concurrency: 2
    request: {path: "/items/${ item }", query: {i: "${ index }"}}
    output: {id: "${ response.body.id }", index: "${ index }", account: "${ steps.account.output.id }"}
  - name: contact
    action: get-contact
    input: {id: "${ steps.account.output.id }"}
    output: ${ result.name }
output:
  account: ${ steps.account.output }
  upgraded: ${ steps.upgrade.output.plan }
  notified: ${ steps.notify.output }
  items: ${ steps.fetch.output }
  contact: ${ steps.contact.output }
`,
	})
	res, err := e.run(t, membrane.RunRequest{Action: "sync", Input: map[string]any{"ids": []any{"a", "b", "c"}, "notify": false}})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"account":  map[string]any{"id": "acc_1", "plan": "free"},
		"upgraded": "pro",
		"notified": nil,
		"items": []any{
			map[string]any{"id": "a", "index": int64(0), "account": "acc_1"},
			map[string]any{"id": "b", "index": int64(1), "account": "acc_1"},
			map[string]any{"id": "c", "index": int64(2), "account": "acc_1"},
		},
		"contact": "Ada",
	}
	if !reflect.DeepEqual(res.Output, want) {
		t.Errorf("output = %#v\nwant     %#v", res.Output, want)
	}
	for _, r := range srv.requests() {
		if r.Path == "/notify" {
			t.Errorf("a step whose when: is false was sent")
		}
	}
	if n := srv.n(); n != 6 || len(res.Log) != 6 {
		t.Errorf("requests = %d, log = %d; want 6 (account, upgrade, 3 items, contact)", n, len(res.Log))
	}
}

func TestForEachConcurrencyIsBounded(t *testing.T) {
	const limit, total = 2, 6
	var inflight, peak atomic.Int64
	arrived := make(chan string, total)
	release := make(chan struct{})
	srv := newAPI(t, func(w http.ResponseWriter, r *http.Request, n int) {
		cur := inflight.Add(1)
		for {
			p := peak.Load()
			if cur <= p || peak.CompareAndSwap(p, cur) {
				break
			}
		}
		arrived <- r.URL.Path
		select {
		case <-release:
		case <-r.Context().Done():
		}
		inflight.Add(-1) // before answering: the engine starts the next item only after
		writeJSON(w, 200, map[string]any{"path": r.URL.Path})
	})
	e := load(t, srv.URL, map[string]string{
		"connector.yaml": connector(""),
		"fan.yaml": `kind: Action
connector: test
key: fan
steps:
  - name: each
    forEach: ${ input.ids }
    concurrency: 2
    request: {path: "/items/${ item }"}
    output: ${ response.body.path }
output: ${ steps.each.output }
`,
	})
	type result struct {
		res *engine.Result
		err error
	}
	done := make(chan result, 1)
	go func() {
		res, err := e.run(t, membrane.RunRequest{Action: "fan", Input: map[string]any{"ids": []any{"1", "2", "3", "4", "5", "6"}}})
		done <- result{res, err}
	}()
	// Every step below is signalled; a run stuck waiting for a request
	// ends at the run's deadline (e.run), reported as ending early.
	wait := func() {
		t.Helper()
		select {
		case <-arrived:
		case r := <-done:
			t.Fatalf("the run ended early: %v", r.err)
		}
	}
	// Two requests in flight and none released: both items run at once.
	for range limit {
		wait()
	}
	// Each answer lets exactly one more item start.
	for range total - limit {
		release <- struct{}{}
		wait()
	}
	for range limit {
		release <- struct{}{}
	}
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	if got := peak.Load(); got != limit {
		t.Errorf("peak concurrent requests = %d, want %d", got, limit)
	}
	if asJSON(t, r.res.Output) != `["/items/1","/items/2","/items/3","/items/4","/items/5","/items/6"]` {
		t.Errorf("outputs are not in item order: %s", asJSON(t, r.res.Output))
	}
}

func TestFailingItemStopsTheRun(t *testing.T) {
	srv := newAPI(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if r.URL.Path == "/items/bad" {
			writeJSON(w, 404, map[string]any{"error": "no item bad"})
			return
		}
		writeJSON(w, 200, map[string]any{"ok": true})
	})
	e := load(t, srv.URL, map[string]string{
		"connector.yaml": connector(""),
		"fan.yaml": `kind: Action
connector: test
key: fan
steps:
  - name: first
    request: {path: /first}
  - name: fetch
    forEach: ${ input.ids }
    concurrency: 1
    request: {path: "/items/${ item }"}
  - name: after
    request: {path: /after}
`,
	})
	got := e.runErr(t, membrane.RunRequest{Action: "fan", Input: map[string]any{"ids": []any{"ok", "bad", "never"}}}, engine.ErrNotFound)
	msg := got.Error()
	for _, want := range []string{`step "fetch"`, "item 1", "no item bad"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q lacks %q", msg, want)
		}
	}
	var paths []string
	for _, r := range srv.requests() {
		paths = append(paths, r.Path)
	}
	if want := []string{"/first", "/items/ok", "/items/bad"}; !reflect.DeepEqual(paths, want) {
		t.Errorf("requests = %v, want %v (nothing after the failure)", paths, want)
	}
}

func TestFailingCalledActionNamesTheStep(t *testing.T) {
	srv := newAPI(t, func(w http.ResponseWriter, r *http.Request, n int) {
		writeJSON(w, 200, map[string]any{"name": "Ada"})
	})
	e := load(t, srv.URL, map[string]string{
		"connector.yaml": connector(""),
		"contact.yaml":   getContact,
		"wrap.yaml": `kind: Action
connector: test
key: wrap
steps:
  - name: lookup
    action: get-contact
    input: {id: "${ input.?id.orValue(null) }"}
`,
	})
	// The called action's own input schema refuses a null id.
	got := e.runErr(t, membrane.RunRequest{Action: "wrap"}, engine.ErrInvalidInput)
	if !strings.Contains(got.Error(), `step "lookup"`) {
		t.Errorf("error %q does not name the step", got.Error())
	}
	if srv.n() != 0 {
		t.Errorf("requests = %d", srv.n())
	}
}

func TestCanceledForEachIsNotASuccess(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv := newAPI(t, func(w http.ResponseWriter, r *http.Request, n int) {
		cancel() // the caller gives up while the first item is answered
		writeJSON(w, 200, map[string]any{"ok": true})
	})
	e := load(t, srv.URL, map[string]string{
		"connector.yaml": connector(""),
		"fan.yaml": `kind: Action
connector: test
key: fan
steps:
  - name: each
    forEach: ${ input.ids }
    concurrency: 1
    request: {path: "/items/${ item }"}
`,
	})
	res, err := e.ws.Run(ctx, membrane.RunRequest{Connector: "test", Action: "fan", Connection: engine.Connection{ID: "c1"}, Input: map[string]any{"ids": []any{"1", "2", "3"}}})
	if err == nil {
		t.Fatalf("a canceled run succeeded with %s", asJSON(t, res.Output))
	}
	got := mustType(t, err, engine.ErrCanceled)
	if !strings.Contains(got.Message, `step "each"`) {
		t.Errorf("error %q does not name the step", got.Message)
	}
	if srv.n() != 1 {
		t.Errorf("requests = %d, want 1", srv.n())
	}
}
