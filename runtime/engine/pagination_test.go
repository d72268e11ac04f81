package engine_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/membrane-dev/membrane"
	"github.com/membrane-dev/membrane/runtime/engine"
)

// items is the data set the paginated test APIs serve: i1…in.
func items(n int) []map[string]any {
	out := make([]map[string]any, n)
	for i := range out {
		out[i] = map[string]any{"id": fmt.Sprintf("i%d", i+1), "n": i + 1}
	}
	return out
}

// param lists one query parameter across the requests a server saw
// ("-" when absent).
func param(reqs []seen, name string) []string {
	var out []string
	for _, r := range reqs {
		if v, ok := r.Query[name]; ok {
			out = append(out, strings.Join(v, ","))
		} else {
			out = append(out, "-")
		}
	}
	return out
}

func ids(t *testing.T, v any) []string {
	t.Helper()
	list, ok := v.([]any)
	if !ok {
		t.Fatalf("%#v is not a list", v)
	}
	var out []string
	for _, it := range list {
		out = append(out, fmt.Sprint(it.(map[string]any)["id"]))
	}
	return out
}

func TestCursorPagination(t *testing.T) {
	data := items(7)
	srv := newAPI(t, func(w http.ResponseWriter, r *http.Request, n int) {
		limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
		start := 0
		if after := r.URL.Query().Get("starting_after"); after != "" {
			for i, it := range data {
				if it["id"] == after {
					start = i + 1
				}
			}
		}
		end := min(start+limit, len(data))
		page := data[start:end]
		writeJSON(w, 200, map[string]any{"data": page, "has_more": end < len(data), "next": page[len(page)-1]["id"]})
	})
	e := load(t, srv.URL, map[string]string{
		"connector.yaml": connector(""),
		"list.yaml": `kind: Action
connector: test
key: list
request:
  path: /customers
  query: {status: active}
pagination:
  type: cursor
  items: ${ response.body.data }
  hasMore: ${ response.body.has_more }
  nextCursor: ${ response.body.next }
  param: starting_after
  limitParam: limit
  pageSize: 2
record:
  id: ${ record.id }
  double: ${ record.n * 2 }
  label: "${ input.prefix }-${ record.id }"
output:
  count: ${ size(records) }
  items: ${ records }
`,
	})
	out := e.mustRun(t, membrane.RunRequest{Action: "list", Input: map[string]any{"prefix": "p"}})
	m := out.(map[string]any)
	if m["count"] != int64(7) {
		t.Errorf("count = %v", m["count"])
	}
	if got := ids(t, m["items"]); !reflect.DeepEqual(got, []string{"i1", "i2", "i3", "i4", "i5", "i6", "i7"}) {
		t.Errorf("ids = %v", got)
	}
	first := m["items"].([]any)[0].(map[string]any)
	if !reflect.DeepEqual(first, map[string]any{"id": "i1", "double": int64(2), "label": "p-i1"}) {
		t.Errorf("record mapping gave %#v", first)
	}
	reqs := srv.requests()
	if got := param(reqs, "starting_after"); !reflect.DeepEqual(got, []string{"-", "i2", "i4", "i6"}) {
		t.Errorf("cursors sent = %v", got)
	}
	if got := param(reqs, "limit"); !reflect.DeepEqual(got, []string{"2", "2", "2", "2"}) {
		t.Errorf("limits sent = %v", got)
	}
	if got := param(reqs, "status"); !reflect.DeepEqual(got, []string{"active", "active", "active", "active"}) {
		t.Errorf("the action's own query was lost on later pages: %v", got)
	}
}

func TestCursorPaginationEndsOnNullCursor(t *testing.T) {
	srv := newAPI(t, func(w http.ResponseWriter, r *http.Request, n int) {
		var next any = fmt.Sprintf("c%d", n)
		if n == 3 {
			next = nil
		}
		writeJSON(w, 200, map[string]any{"results": []any{map[string]any{"id": n}}, "paging": map[string]any{"next": next}})
	})
	e := load(t, srv.URL, map[string]string{
		"connector.yaml": connector(""),
		"list.yaml": `kind: Action
connector: test
key: list
request: {path: /x}
pagination:
  type: cursor
  items: ${ response.body.results }
  nextCursor: ${ response.body.paging.next }
  param: after
`,
	})
	out := e.mustRun(t, membrane.RunRequest{Action: "list"})
	if asJSON(t, out) != `[{"id":1},{"id":2},{"id":3}]` {
		t.Errorf("output = %s", asJSON(t, out))
	}
	if got := param(srv.requests(), "after"); !reflect.DeepEqual(got, []string{"-", "c1", "c2"}) {
		t.Errorf("cursors sent = %v", got)
	}
}

func TestOffsetPagination(t *testing.T) {
	data := items(8)
	srv := newAPI(t, func(w http.ResponseWriter, r *http.Request, n int) {
		off, _ := strconv.Atoi(r.URL.Query().Get("offset"))
		limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
		writeJSON(w, 200, map[string]any{"rows": data[min(off, len(data)):min(off+limit, len(data))]})
	})
	e := load(t, srv.URL, map[string]string{
		"connector.yaml": connector(""),
		"list.yaml": `kind: Action
connector: test
key: list
request: {path: /rows}
pagination: {type: offset, items: "${ response.body.rows }", param: offset, limitParam: limit, pageSize: 3}
`,
	})
	out := e.mustRun(t, membrane.RunRequest{Action: "list"})
	if got := ids(t, out); len(got) != 8 || got[7] != "i8" {
		t.Errorf("ids = %v", got)
	}
	// The third page is short: it is the last.
	if got := param(srv.requests(), "offset"); !reflect.DeepEqual(got, []string{"0", "3", "6"}) {
		t.Errorf("offsets sent = %v", got)
	}
}

func TestPageNumberPagination(t *testing.T) {
	data := items(5)
	srv := newAPI(t, func(w http.ResponseWriter, r *http.Request, n int) {
		p, _ := strconv.Atoi(r.URL.Query().Get("page"))
		per, _ := strconv.Atoi(r.URL.Query().Get("per_page"))
		start := (p - 1) * per
		writeJSON(w, 200, data[min(start, len(data)):min(start+per, len(data))])
	})
	e := load(t, srv.URL, map[string]string{
		"connector.yaml": connector(""),
		"list.yaml": `kind: Action
connector: test
key: list
request: {path: /things}
pagination: {type: page, items: "${ response.body }", param: page, limitParam: per_page, pageSize: 2}
output: {total: "${ size(records) }"}
`,
	})
	out := e.mustRun(t, membrane.RunRequest{Action: "list"})
	if asJSON(t, out) != `{"total":5}` {
		t.Errorf("output = %s", asJSON(t, out))
	}
	if got := param(srv.requests(), "page"); !reflect.DeepEqual(got, []string{"1", "2", "3"}) {
		t.Errorf("pages sent = %v", got)
	}
}

func TestLinkPagination(t *testing.T) {
	srv := newAPI(t, func(w http.ResponseWriter, r *http.Request, n int) {
		p, _ := strconv.Atoi(r.URL.Query().Get("p"))
		if p == 0 {
			p = 1
		}
		switch p {
		case 1: // an absolute URL, with another link first
			w.Header().Set("Link", fmt.Sprintf(`<http://%s/api/items?p=9>; rel="last", <http://%s/api/items?p=2&size=2>; rel="next"`, r.Host, r.Host))
		case 2: // a reference relative to the request, as RFC 8288 allows
			w.Header().Set("Link", `</api/items?p=3&size=2>; rel=next`)
		}
		writeJSON(w, 200, []any{map[string]any{"id": fmt.Sprintf("p%d-a", p)}, map[string]any{"id": fmt.Sprintf("p%d-b", p)}})
	})
	e := load(t, srv.URL+"/api", map[string]string{
		"connector.yaml": connector(""),
		"list.yaml": `kind: Action
connector: test
key: list
request: {path: /items, query: {size: 2}}
pagination: {type: link, items: "${ response.body }"}
`,
	})
	out := e.mustRun(t, membrane.RunRequest{Action: "list"})
	if got := ids(t, out); !reflect.DeepEqual(got, []string{"p1-a", "p1-b", "p2-a", "p2-b", "p3-a", "p3-b"}) {
		t.Errorf("ids = %v", got)
	}
	reqs := srv.requests()
	var got []string
	for _, r := range reqs {
		got = append(got, r.Path+"?"+r.Query.Encode())
	}
	want := []string{"/api/items?size=2", "/api/items?p=2&size=2", "/api/items?p=3&size=2"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("requests = %v, want %v", got, want)
	}
}

func TestLinkToAnotherHostIsRefused(t *testing.T) {
	other := newAPI(t, func(w http.ResponseWriter, r *http.Request, n int) { writeJSON(w, 200, []any{}) })
	srv := newAPI(t, func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Link", "<"+other.URL+"/steal>; rel=next")
		writeJSON(w, 200, []any{map[string]any{"id": 1}})
	})
	e := load(t, srv.URL, map[string]string{
		"connector.yaml": connector("auth: {type: bearer}\n"),
		"list.yaml":      "kind: Action\nconnector: test\nkey: list\nrequest: {path: /items}\npagination: {type: link, items: '${ response.body }'}\n",
	})
	e.runErr(t, membrane.RunRequest{Action: "list", Connection: engine.Connection{ID: "c1", Credentials: map[string]any{"token": "tok-not-for-others"}}}, engine.ErrHostNotAllowed)
	if other.n() != 0 {
		t.Errorf("the credentials went to another host")
	}
}

func TestMaxPagesStopsAnEndlessAPI(t *testing.T) {
	srv := newAPI(t, func(w http.ResponseWriter, r *http.Request, n int) {
		writeJSON(w, 200, map[string]any{"data": []any{n}, "more": true, "next": fmt.Sprintf("c%d", n)})
	})
	e := load(t, srv.URL, map[string]string{
		"connector.yaml": connector(""),
		"list.yaml": `kind: Action
connector: test
key: list
request: {path: /x}
pagination: {type: cursor, items: "${ response.body.data }", hasMore: "${ response.body.more }", nextCursor: "${ response.body.next }", param: c, maxPages: 3}
`,
	})
	out := e.mustRun(t, membrane.RunRequest{Action: "list"})
	if asJSON(t, out) != `[1,2,3]` {
		t.Errorf("output = %s", asJSON(t, out))
	}
	if srv.n() != 3 {
		t.Errorf("requests = %d, want maxPages (3)", srv.n())
	}
}

func TestRepeatedCursorIsAnUpstreamError(t *testing.T) {
	srv := newAPI(t, func(w http.ResponseWriter, r *http.Request, n int) {
		next := map[int]string{1: "c1", 2: "c2", 3: "c1"}[n] // c1 again
		writeJSON(w, 200, map[string]any{"data": []any{n}, "next": next})
	})
	e := load(t, srv.URL, map[string]string{
		"connector.yaml": connector(""),
		"list.yaml": `kind: Action
connector: test
key: list
request: {path: /x}
pagination: {type: cursor, items: "${ response.body.data }", nextCursor: "${ response.body.next }", param: c}
`,
	})
	got := e.runErr(t, membrane.RunRequest{Action: "list"}, engine.ErrUpstream)
	if !strings.Contains(got.Message, `"c1"`) {
		t.Errorf("message %q does not name the cursor", got.Message)
	}
	if srv.n() != 3 {
		t.Errorf("requests = %d, want 3 (c1 twice stops it)", srv.n())
	}
}

func TestCursorInBody(t *testing.T) {
	srv := newAPI(t, func(w http.ResponseWriter, r *http.Request, n int) {
		var in map[string]any
		json.NewDecoder(r.Body).Decode(&in)
		var next any
		if n < 3 {
			next = fmt.Sprintf("tok%d", n)
		}
		writeJSON(w, 200, map[string]any{"hits": []any{n}, "next": next})
	})
	e := load(t, srv.URL, map[string]string{
		"connector.yaml": connector(""),
		"search.yaml": `kind: Action
connector: test
key: search
request:
  method: POST
  path: /search
  body: {query: "${ input.q }"}
pagination: {type: cursor, in: body, items: "${ response.body.hits }", nextCursor: "${ response.body.next }", param: cursor, limitParam: size, pageSize: 10}
`,
	})
	out := e.mustRun(t, membrane.RunRequest{Action: "search", Input: map[string]any{"q": "ada"}})
	if asJSON(t, out) != `[1,2,3]` {
		t.Errorf("output = %s", asJSON(t, out))
	}
	var bodies []string
	for _, r := range srv.requests() {
		bodies = append(bodies, r.Body)
		if len(r.Query) != 0 {
			t.Errorf("body pagination put %v in the query", r.Query)
		}
	}
	want := []string{`{"query":"ada","size":10}`, `{"cursor":"tok1","query":"ada","size":10}`, `{"cursor":"tok2","query":"ada","size":10}`}
	if !reflect.DeepEqual(bodies, want) {
		t.Errorf("bodies = %v\nwant     %v", bodies, want)
	}
}

func TestBodyPaginationStartsAfreshEachRun(t *testing.T) {
	srv := newAPI(t, func(w http.ResponseWriter, r *http.Request, n int) {
		var in map[string]any
		json.NewDecoder(r.Body).Decode(&in)
		var next any = "tok"
		if in["cursor"] == "tok" {
			next = nil
		}
		writeJSON(w, 200, map[string]any{"hits": []any{n}, "next": next})
	})
	e := load(t, srv.URL, map[string]string{
		"connector.yaml": connector(""),
		"search.yaml": `kind: Action
connector: test
key: search
request:
  method: POST
  path: /search
  body: {filter: all}
pagination: {type: cursor, in: body, items: "${ response.body.hits }", nextCursor: "${ response.body.next }", param: cursor}
`,
	})
	for run := range 2 {
		before := srv.n()
		out := e.mustRun(t, membrane.RunRequest{Action: "search"})
		if got := len(out.([]any)); got != 2 {
			t.Errorf("run %d: %d records, want 2", run, got)
		}
		reqs := srv.requests()[before:]
		if len(reqs) == 0 || reqs[0].Body != `{"filter":"all"}` {
			t.Errorf("run %d: first page body = %+v, want no cursor", run, reqs)
		}
	}
}
