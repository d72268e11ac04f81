package engine_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/membrane-dev/membrane"
	"github.com/membrane-dev/membrane/runtime/engine"
	"github.com/membrane-dev/membrane/runtime/httpx"
	"github.com/membrane-dev/membrane/spec"
)

const createThing = `
kind: Action
connector: test
key: create-thing
inputSchema:
  type: object
  required: [name, count]
  properties:
    name: {type: string}
    count: {type: integer}
    price: {type: number}
    active: {type: boolean}
    tags: {type: array, items: {type: string}}
    note: {type: string}
request:
  method: POST
  path: /things/${ input.name }
  query:
    tag: ${ input.tags }
    note: ${ input.?note.orValue(null) }
    plain: fixed
    mixed: n=${ input.count }
  headers:
    X-Count: ${ input.count }
  body:
    name: ${ input.name }
    count: ${ input.count }
    double: ${ input.count * 2 }
    price: ${ input.price }
    active: ${ input.active }
    tags: ${ input.tags }
    note: ${ input.?note.orValue(null) }
    label: "${ input.name } x${ input.count } at ${ input.price }"
    nested: {a: [1, "${ input.name }", "${ input.?note.orValue(null) }"], b: {c: true, d: "${ input.?note.orValue(null) }"}}
    literal: $${ kept }
    cleared: null
    reset: ${ null }
    whole: '${ {"x": input.?note.orValue(null)} }'
output:
  id: ${ response.body.id }
  created: ${ response.body.created }
  score: ${ response.body.score }
  tags: ${ response.body.tags }
  none: ${ response.body.none }
  summary: "id=${ response.body.id } score=${ response.body.score }"
  status: ${ response.status }
  server: ${ response.headers['x-server'] }
`

func TestHappyPathJSON(t *testing.T) {
	srv := newAPI(t, func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("X-Server", "fake")
		writeJSON(w, 201, map[string]any{"id": "th_1", "created": true, "score": 4.5, "tags": []string{"x", "y"}, "none": nil})
	})
	e := load(t, srv.URL+"/v1", map[string]string{
		"connector.yaml": connector("headers:\n  X-Client: membrane-tests\n  X-Tenant: ${ tenant.key }\n"),
		"create.yaml":    createThing,
	})
	out := e.mustRun(t, membrane.RunRequest{
		Action:     "create-thing",
		Connection: engine.Connection{ID: "c1", Tenant: "acme"},
		Input:      map[string]any{"name": "ada", "count": 3, "price": 9.5, "active": false, "tags": []any{"a", "b c"}},
	})

	want := map[string]any{
		"id": "th_1", "created": true, "score": 4.5, "tags": []any{"x", "y"}, "none": nil,
		"summary": "id=th_1 score=4.5", "status": int64(201), "server": "fake",
	}
	if !reflect.DeepEqual(out, want) {
		t.Errorf("output = %#v\nwant     %#v", out, want)
	}

	reqs := srv.requests()
	if len(reqs) != 1 {
		t.Fatalf("server saw %d requests, want 1", len(reqs))
	}
	r := reqs[0]
	if r.Method != "POST" || r.Path != "/v1/things/ada" {
		t.Errorf("request = %s %s, want POST /v1/things/ada", r.Method, r.Path)
	}
	wantQuery := url.Values{"tag": {"a", "b c"}, "plain": {"fixed"}, "mixed": {"n=3"}}
	if !reflect.DeepEqual(r.Query, wantQuery) {
		t.Errorf("query = %v, want %v (a list repeats, null is left out)", r.Query, wantQuery)
	}
	for k, v := range map[string]string{
		"X-Client": "membrane-tests", "X-Tenant": "acme", "X-Count": "3",
		"Content-Type": "application/json", "Accept": "application/json",
	} {
		if got := r.Header.Get(k); got != v {
			t.Errorf("header %s = %q, want %q", k, got, v)
		}
	}
	var body map[string]any
	if err := json.Unmarshal([]byte(r.Body), &body); err != nil {
		t.Fatalf("body %q: %v", r.Body, err)
	}
	wantBody := map[string]any{
		"name": "ada", "count": 3.0, "double": 6.0, "price": 9.5, "active": false,
		"tags": []any{"a", "b c"}, "label": "ada x3 at 9.5",
		"nested":  map[string]any{"a": []any{1.0, "ada", nil}, "b": map[string]any{"c": true}},
		"literal": "${ kept }",
		"cleared": nil, "reset": nil, "whole": map[string]any{"x": nil},
	}
	if !reflect.DeepEqual(body, wantBody) {
		t.Errorf("body = %#v\nwant   %#v (an absent value is left out, a written null is sent)", body, wantBody)
	}
	// Integers stay integers on the wire.
	if !strings.Contains(r.Body, `"count":3,`) || !strings.Contains(r.Body, `"double":6,`) {
		t.Errorf("integers were not written as integers: %s", r.Body)
	}
}

func TestNoteGivenGoesToQueryAndBody(t *testing.T) {
	srv := newAPI(t, func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("X-Server", "fake")
		writeJSON(w, 200, map[string]any{"id": "x", "created": false, "score": 1, "tags": []any{}, "none": nil})
	})
	e := load(t, srv.URL, map[string]string{"connector.yaml": connector(""), "create.yaml": createThing})
	e.mustRun(t, membrane.RunRequest{Action: "create-thing", Input: map[string]any{"name": "n", "count": 1, "note": "hi", "price": 1, "active": true, "tags": []any{}}})
	r := srv.requests()[0]
	if got := r.Query.Get("note"); got != "hi" {
		t.Errorf("query note = %q, want hi", got)
	}
	if !strings.Contains(r.Body, `"note":"hi"`) {
		t.Errorf("body %s lacks the note", r.Body)
	}
}

func TestFormAndTextBodies(t *testing.T) {
	srv := newAPI(t, func(w http.ResponseWriter, r *http.Request, n int) {
		writeJSON(w, 200, map[string]any{"ok": true})
	})
	e := load(t, srv.URL, map[string]string{
		"connector.yaml": connector(""),
		"form.yaml": `
kind: Action
connector: test
key: form
request:
  method: POST
  path: /form
  encoding: form
  body:
    email: ${ input.email }
    gone: ${ null }
    metadata:
      plan: ${ input.plan }
      seats: ${ 2 + 3 }
    items: [a, "${ input.plan }"]
`,
		"text.yaml": `
kind: Action
connector: test
key: text
request:
  method: PUT
  path: /text
  encoding: text
  body: "Hello ${ input.who }, you are ${ input.age }"
`,
	})
	e.mustRun(t, membrane.RunRequest{Action: "form", Input: map[string]any{"email": "a+b@x.io", "plan": "pro & co"}})
	e.mustRun(t, membrane.RunRequest{Action: "text", Input: map[string]any{"who": "Ada", "age": 36}})

	reqs := srv.requests()
	if len(reqs) != 2 {
		t.Fatalf("server saw %d requests", len(reqs))
	}
	form := reqs[0]
	if ct := form.Header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
		t.Errorf("form content type = %q", ct)
	}
	got, err := url.ParseQuery(form.Body)
	if err != nil {
		t.Fatal(err)
	}
	want := url.Values{
		"email": {"a+b@x.io"}, "metadata[plan]": {"pro & co"}, "metadata[seats]": {"5"},
		"items[0]": {"a"}, "items[1]": {"pro & co"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("form body %q = %v, want %v", form.Body, got, want)
	}
	// Keys come sorted, so the same input gives the same bytes.
	if !strings.HasPrefix(form.Body, "email=") {
		t.Errorf("form body is not in key order: %q", form.Body)
	}

	text := reqs[1]
	if text.Method != "PUT" || text.Body != "Hello Ada, you are 36" {
		t.Errorf("text request = %s %q", text.Method, text.Body)
	}
	if ct := text.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("text content type = %q", ct)
	}
}

// formLists writes a form body's lists the way the API reads them: a
// list sent indexed to an API that wants the key repeated (Twilio's
// MediaUrl) is read as no list at all.
func TestFormLists(t *testing.T) {
	srv := newAPI(t, func(w http.ResponseWriter, r *http.Request, n int) {
		writeJSON(w, 200, map[string]any{"ok": true})
	})
	action := func(key, lists string) string {
		s := "kind: Action\nconnector: test\nkey: " + key + "\nrequest:\n  method: POST\n  path: /form\n  encoding: form\n"
		if lists != "" {
			s += "  formLists: " + lists + "\n"
		}
		return s + "  body:\n    MediaUrl: ${ input.urls }\n    meta: {tags: [x, y]}\n"
	}
	e := load(t, srv.URL, map[string]string{
		"connector.yaml": connector(""),
		"indexed.yaml":   action("indexed", ""),
		"brackets.yaml":  action("brackets", "brackets"),
		"repeat.yaml":    action("repeat", "repeat"),
	})
	urls := []any{"https://a.example/1.png", "https://a.example/2.png"}
	for _, key := range []string{"indexed", "brackets", "repeat"} {
		e.mustRun(t, membrane.RunRequest{Action: key, Input: map[string]any{"urls": urls}})
	}
	want := map[string]string{
		"indexed":  "MediaUrl%5B0%5D=https%3A%2F%2Fa.example%2F1.png&MediaUrl%5B1%5D=https%3A%2F%2Fa.example%2F2.png&meta%5Btags%5D%5B0%5D=x&meta%5Btags%5D%5B1%5D=y",
		"brackets": "MediaUrl%5B%5D=https%3A%2F%2Fa.example%2F1.png&MediaUrl%5B%5D=https%3A%2F%2Fa.example%2F2.png&meta%5Btags%5D%5B%5D=x&meta%5Btags%5D%5B%5D=y",
		"repeat":   "MediaUrl=https%3A%2F%2Fa.example%2F1.png&MediaUrl=https%3A%2F%2Fa.example%2F2.png&meta%5Btags%5D=x&meta%5Btags%5D=y",
	}
	reqs := srv.requests()
	if len(reqs) != 3 {
		t.Fatalf("server saw %d requests", len(reqs))
	}
	for i, key := range []string{"indexed", "brackets", "repeat"} {
		if reqs[i].Body != want[key] {
			t.Errorf("%s: body\n %s\nwant\n %s", key, reqs[i].Body, want[key])
		}
	}
}

func TestInvalidInputListsEveryViolationAndSendsNothing(t *testing.T) {
	srv := newAPI(t, func(w http.ResponseWriter, r *http.Request, n int) { writeJSON(w, 200, map[string]any{}) })
	e := load(t, srv.URL, map[string]string{"connector.yaml": connector(""), "create.yaml": createThing})
	err := e.runErr(t, membrane.RunRequest{
		Action: "create-thing",
		Input:  map[string]any{"count": "three", "price": "cheap", "tags": []any{"ok", 7}},
	}, engine.ErrInvalidInput)

	pointers := map[string]bool{}
	for _, v := range err.Violations {
		pointers[v.Pointer] = true
		if v.Message == "" {
			t.Errorf("violation at %q has no message", v.Pointer)
		}
	}
	// name is missing (reported at the object), count and price have the
	// wrong type, and the second tag is not a string.
	for _, p := range []string{"", "/count", "/price", "/tags/1"} {
		if !pointers[p] {
			t.Errorf("no violation at %q; got %+v", p, err.Violations)
		}
	}
	if !strings.Contains(err.Error(), "name") {
		t.Errorf("error does not name the missing field: %v", err)
	}
	if n := srv.n(); n != 0 {
		t.Errorf("the server received %d requests for an invalid input", n)
	}
}

func TestExpressionErrorsNameTheExpressionAndPlace(t *testing.T) {
	srv := newAPI(t, func(w http.ResponseWriter, r *http.Request, n int) {
		writeJSON(w, 200, map[string]any{"id": "x", "zero": 0})
	})
	e := load(t, srv.URL, map[string]string{
		"connector.yaml": connector(""),
		"actions/missing.yaml": `kind: Action
connector: test
key: missing
request: {path: /x}
output:
  name: ${ response.body.missing }
`,
		"actions/divide.yaml": `kind: Action
connector: test
key: divide
request:
  path: /x
  query:
    per: ${ 10 / input.n }
`,
	})

	err := e.runErr(t, membrane.RunRequest{Action: "missing"}, engine.ErrExpression)
	for _, want := range []string{"response.body.missing", "actions/missing.yaml:6:12", "missing"} {
		if !strings.Contains(err.Message, want) {
			t.Errorf("message %q lacks %q", err.Message, want)
		}
	}

	before := srv.n()
	err = e.runErr(t, membrane.RunRequest{Action: "divide", Input: map[string]any{"n": 0}}, engine.ErrExpression)
	for _, want := range []string{"10 / input.n", "actions/divide.yaml:7:13", "division by zero"} {
		if !strings.Contains(err.Message, want) {
			t.Errorf("message %q lacks %q", err.Message, want)
		}
	}
	if srv.n() != before {
		t.Errorf("a request was sent although building it failed")
	}
}

func TestExpressionErrorFromOverrideNamesTheLayer(t *testing.T) {
	srv := newAPI(t, func(w http.ResponseWriter, r *http.Request, n int) {
		writeJSON(w, 200, map[string]any{"id": "x"})
	})
	e := load(t, srv.URL, map[string]string{
		"connector.yaml": connector(""),
		"get.yaml":       "kind: Action\nconnector: test\nkey: get\nrequest: {path: /x}\noutput:\n  id: ${ response.body.id }\n",
	})
	o := loadOverride(t, "acme.yaml", `kind: ConnectionOverride
connector: test
actions:
  get:
    output:
      color: ${ response.body.custom.color }
`)
	err := e.runErr(t, membrane.RunRequest{Action: "get", Overrides: []*spec.ConnectionOverride{o}}, engine.ErrExpression)
	for _, want := range []string{"response.body.custom.color", "acme.yaml:6:", "connection layer"} {
		if !strings.Contains(err.Message, want) {
			t.Errorf("message %q lacks %q", err.Message, want)
		}
	}
}

func TestOutputValidatedAgainstSchema(t *testing.T) {
	srv := newAPI(t, func(w http.ResponseWriter, r *http.Request, n int) {
		writeJSON(w, 200, map[string]any{"id": 42, "name": "ada"})
	})
	e := load(t, srv.URL, map[string]string{
		"connector.yaml": connector(""),
		"get.yaml": `kind: Action
connector: test
key: get
outputSchema:
  type: object
  required: [id]
  properties:
    id: {type: string}
    name: {type: string}
request: {path: /x}
output:
  id: ${ response.body.id }
  name: ${ response.body.name }
`,
	})
	err := e.runErr(t, membrane.RunRequest{Action: "get"}, engine.ErrInvalidOutput)
	if len(err.Violations) != 1 || err.Violations[0].Pointer != "/id" {
		t.Errorf("violations = %+v, want one at /id", err.Violations)
	}
}

func TestLoopbackRefusedWithoutAllowPrivate(t *testing.T) {
	srv := newAPI(t, func(w http.ResponseWriter, r *http.Request, n int) { writeJSON(w, 200, map[string]any{}) })
	sl := &sleeps{}
	e := loadWith(t, srv.URL, map[string]string{
		"connector.yaml": connector(""),
		"get.yaml":       "kind: Action\nconnector: test\nkey: get\nrequest: {path: /x}\n",
	}, httpx.New(httpx.Config{Sleep: sl.sleep}), sl)
	e.runErr(t, membrane.RunRequest{Action: "get"}, engine.ErrRefused)
	if n := srv.n(); n != 0 {
		t.Errorf("the server received %d requests", n)
	}
}

func TestConnectionOverrideAndPlanCaching(t *testing.T) {
	old := newAPI(t, func(w http.ResponseWriter, r *http.Request, n int) { writeJSON(w, 200, map[string]any{"id": "old"}) })
	srv := newAPI(t, func(w http.ResponseWriter, r *http.Request, n int) { writeJSON(w, 200, map[string]any{"id": "new"}) })
	e := load(t, old.URL, map[string]string{
		"connector.yaml": connector(""),
		"create.yaml": `kind: Action
connector: test
key: create
inputSchema:
  type: object
  properties: {email: {type: string}}
request:
  method: POST
  path: /contacts
  body:
    email: ${ input.email }
output:
  id: ${ response.body.id }
`,
	})
	text := `kind: ConnectionOverride
connector: test
tenant: acme
connectorPatch:
  baseUrl: ` + srv.URL + `/api
actions:
  create:
    inputSchema:
      properties:
        color: {type: string}
    request:
      body:
        favorite_color: ${ input.?color.orValue(null) }
`
	o1 := loadOverride(t, "acme.yaml", text)
	out := e.mustRun(t, membrane.RunRequest{Action: "create", Overrides: []*spec.ConnectionOverride{o1}, Input: map[string]any{"email": "a@x.io", "color": "teal"}})
	if asJSON(t, out) != `{"id":"new"}` {
		t.Errorf("output = %s", asJSON(t, out))
	}
	if old.n() != 0 {
		t.Errorf("the connector's own base URL got %d requests", old.n())
	}
	r := srv.requests()[0]
	if r.Path != "/api/contacts" || r.Body != `{"email":"a@x.io","favorite_color":"teal"}` {
		t.Errorf("request = %s %s", r.Path, r.Body)
	}

	// Without the override, the connector's own base URL and body.
	e.mustRun(t, membrane.RunRequest{Action: "create", Input: map[string]any{"email": "b@x.io"}})
	if rs := old.requests(); len(rs) != 1 || rs[0].Body != `{"email":"b@x.io"}` {
		t.Errorf("without override: %+v", rs)
	}

	// The same override content, read again, reuses the plan.
	o2 := loadOverride(t, "acme.yaml", text)
	p1, err := e.ws.Plan("test", "create", o1)
	if err != nil {
		t.Fatal(err)
	}
	p2, err := e.ws.Plan("test", "create", o2)
	if err != nil {
		t.Fatal(err)
	}
	if p1 != p2 {
		t.Errorf("the same override content built two plans")
	}
	base, _ := e.ws.Plan("test", "create")
	if base == p1 {
		t.Errorf("the plan with an override is the plan without")
	}
	// Changed content builds a new plan.
	o3 := loadOverride(t, "acme.yaml", strings.Replace(text, "favorite_color", "fav_color", 1))
	p3, _ := e.ws.Plan("test", "create", o3)
	if p3 == p1 {
		t.Errorf("an edited override reused the old plan")
	}
}

func TestInputIsNotModifiedAndRunsAreConcurrent(t *testing.T) {
	srv := newAPI(t, func(w http.ResponseWriter, r *http.Request, n int) {
		writeJSON(w, 200, map[string]any{"id": "x", "created": true, "score": 1, "tags": []any{}, "none": nil})
	})
	e := load(t, srv.URL, map[string]string{
		"connector.yaml": connector(""),
		"create.yaml":    strings.Replace(createThing, "  server: ${ response.headers['x-server'] }\n", "", 1),
	})
	// One input, shared by concurrent runs, as a caller may well do.
	mk := func() map[string]any {
		return map[string]any{"name": "ada", "count": 3, "price": 2, "active": true, "tags": []any{"a"}, "nested": map[string]any{"n": 1.0}}
	}
	input := mk()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			_, err := e.run(t, membrane.RunRequest{Action: "create-thing", Input: input})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if !reflect.DeepEqual(input, mk()) {
		t.Errorf("the run changed the caller's input: %#v", input)
	}
	if srv.n() != 8 {
		t.Errorf("requests = %d", srv.n())
	}
}

func TestLiteralsAreNotShared(t *testing.T) {
	srv := newAPI(t, func(w http.ResponseWriter, r *http.Request, n int) {
		writeJSON(w, 200, map[string]any{"ok": true})
	})
	e := load(t, srv.URL, map[string]string{
		"connector.yaml": connector(""),
		"get.yaml":       "kind: Action\nconnector: test\nkey: get\nrequest: {path: /x}\noutput: {kind: fixed, list: [1, 2]}\n",
	})
	out := e.mustRun(t, membrane.RunRequest{Action: "get"}).(map[string]any)
	out["kind"] = "changed by the caller"
	out["list"].([]any)[0] = "changed"
	again := e.mustRun(t, membrane.RunRequest{Action: "get"})
	if asJSON(t, again) != `{"kind":"fixed","list":[1,2]}` {
		t.Errorf("a caller's change to one output leaked into the next run: %s", asJSON(t, again))
	}
}

func TestRateLimitPerConnection(t *testing.T) {
	srv := newAPI(t, func(w http.ResponseWriter, r *http.Request, n int) { writeJSON(w, 200, map[string]any{}) })
	// The limiter's clock stands still and the test's sleeper records the
	// waits instead of sleeping, so the waits are exact whatever the
	// machine's speed.
	sl := &sleeps{}
	still := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	client := httpx.New(httpx.Config{AllowPrivate: true, Sleep: sl.sleep, Now: func() time.Time { return still }})
	e := loadWith(t, srv.URL, map[string]string{
		"connector.yaml": connector("rateLimit: {requestsPerSecond: 2, burst: 1}\n"),
		"get.yaml":       "kind: Action\nconnector: test\nkey: get\nrequest: {path: /x}\n",
	}, client, sl)
	// Three requests on one connection at the same instant: the second's
	// slot is half a second on, the third's a second.
	for range 3 {
		e.mustRun(t, membrane.RunRequest{Action: "get", Connection: engine.Connection{ID: "a"}})
	}
	if waits := e.sleeps.got(); !slices.Equal(waits, []time.Duration{500 * time.Millisecond, time.Second}) {
		t.Errorf("waits = %v, want 500ms and 1s", waits)
	}
	// Another connection has its own bucket.
	e.mustRun(t, membrane.RunRequest{Action: "get", Connection: engine.Connection{ID: "b"}})
	if got := e.sleeps.got(); len(got) != 2 {
		t.Errorf("another connection waited: %v", got)
	}
}

func TestInterpolatedPathSegmentsAreEscaped(t *testing.T) {
	srv := newAPI(t, func(w http.ResponseWriter, r *http.Request, n int) { writeJSON(w, 200, map[string]any{}) })
	e := load(t, srv.URL+"/v1", map[string]string{
		"connector.yaml": connector(""),
		"get.yaml":       "kind: Action\nconnector: test\nkey: get\nrequest: {path: '/contacts/${ input.id }/notes', query: {a: b}}\n",
		"raw.yaml":       "kind: Action\nconnector: test\nkey: raw\nrequest: {path: '${ input.path }'}\n",
		"search.yaml":    "kind: Action\nconnector: test\nkey: search\nrequest: {path: '/search/${ input.kind }?q=${ input.q }'}\n",
	})
	// A value put into a path is one segment, whatever it holds: it can
	// neither add segments, climb out, nor start a query.
	for _, tc := range []struct{ id, raw string }{
		{"cus_123", "/v1/contacts/cus_123/notes"},
		{"a/b", "/v1/contacts/a%2Fb/notes"},
		{"x?admin=1", "/v1/contacts/x%3Fadmin=1/notes"},
		{"..", "/v1/contacts/%2E%2E/notes"},
		{"a b#c", "/v1/contacts/a%20b%23c/notes"},
		{"100%", "/v1/contacts/100%25/notes"},
	} {
		before := srv.n()
		e.mustRun(t, membrane.RunRequest{Action: "get", Input: map[string]any{"id": tc.id}})
		r := srv.requests()[before]
		if r.RawPath != tc.raw || !reflect.DeepEqual(r.Query, url.Values{"a": {"b"}}) {
			t.Errorf("id %q: sent %s ?%v, want %s ?a=b", tc.id, r.RawPath, r.Query, tc.raw)
		}
	}
	// After a literal `?`, a value is escaped as a query value.
	before0 := srv.n()
	e.mustRun(t, membrane.RunRequest{Action: "search", Input: map[string]any{"kind": "a/b", "q": "x&admin=1 #y"}})
	if r := srv.requests()[before0]; r.RawPath != "/v1/search/a%2Fb" || !reflect.DeepEqual(r.Query, url.Values{"q": {"x&admin=1 #y"}}) {
		t.Errorf("search sent %s ?%v", r.RawPath, r.Query)
	}
	// A path that is one expression is the author's whole path.
	before := srv.n()
	e.mustRun(t, membrane.RunRequest{Action: "raw", Input: map[string]any{"path": "/things/1/parts"}})
	if r := srv.requests()[before]; r.RawPath != "/v1/things/1/parts" {
		t.Errorf("raw path sent as %s", r.RawPath)
	}
}

// An override's body fields merge into a body the connector wrote as one
// expression, on the wire as in layers: the request carries both.
func TestOverrideMergesIntoExpressionBodyOnTheWire(t *testing.T) {
	srv := newAPI(t, func(w http.ResponseWriter, r *http.Request, n int) {
		writeJSON(w, 200, map[string]any{"id": "c1"})
	})
	e := load(t, srv.URL, map[string]string{
		"connector.yaml": connector(""),
		"update.yaml": `kind: Action
connector: test
key: update
inputSchema:
  type: object
  properties: {name: {type: string}, color: {type: string}}
request:
  method: PATCH
  path: /contacts/1
  body: >-
    ${ {?"name": input.?name, "properties": {"source": "membrane"}} }
output:
  id: ${ response.body.id }
`,
	})
	o := loadOverride(t, "acme.yaml", `kind: ConnectionOverride
connector: test
tenant: acme
actions:
  update:
    request:
      body:
        properties:
          favorite_color: ${ input.?color.orValue(null) }
`)
	e.mustRun(t, membrane.RunRequest{Action: "update", Overrides: []*spec.ConnectionOverride{o}, Input: map[string]any{"color": "teal"}})
	e.mustRun(t, membrane.RunRequest{Action: "update", Overrides: []*spec.ConnectionOverride{o}, Input: map[string]any{"name": "Ada"}})
	rs := srv.requests()
	want := []string{
		`{"properties":{"favorite_color":"teal","source":"membrane"}}`,
		`{"name":"Ada","properties":{"source":"membrane"}}`,
	}
	for i, w := range want {
		if rs[i].Body != w {
			t.Errorf("request %d body = %s, want %s", i+1, rs[i].Body, w)
		}
	}
}

// A run-time failure inside a block scalar names the line of the failing
// text, not the line of its key.
func TestRunTimeErrorInBlockScalarNamesItsLine(t *testing.T) {
	srv := newAPI(t, func(w http.ResponseWriter, r *http.Request, n int) {
		writeJSON(w, 200, map[string]any{})
	})
	e := load(t, srv.URL, map[string]string{
		"connector.yaml": connector(""),
		"send.yaml": `kind: Action
connector: test
key: send
inputSchema:
  type: object
  properties: {ids: {type: array, items: {type: string}}}
request:
  method: POST
  path: /send
  body: >-
    ${ {
      "first": input.ids[0],
      "second": input.ids[1]
    } }
output:
  ok: ${ true }
`,
	})
	res, err := e.run(t, membrane.RunRequest{Action: "send", Input: map[string]any{"ids": []any{"a"}}})
	if err == nil {
		t.Fatalf("want an error, got %v", res.Output)
	}
	// "second": input.ids[1] is line 13, its index bracket column 26.
	if want := "send.yaml:13:26"; !strings.Contains(err.Error(), want) {
		t.Errorf("error = %v, want it at %s", err, want)
	}
	if srv.n() != 0 {
		t.Errorf("a request was sent")
	}
}
