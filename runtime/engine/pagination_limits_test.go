package engine_test

import (
	"fmt"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/membrane-dev/membrane"
	"github.com/membrane-dev/membrane/runtime/engine"
)

// An API that filters records out of a page may answer an empty page
// that still has a next cursor: the walk goes on through it.
func TestCursorPaginationGoesOnThroughEmptyPages(t *testing.T) {
	pages := map[string]map[string]any{
		"":   {"data": []any{"a"}, "next": "c1"},
		"c1": {"data": []any{}, "next": "c2"},
		"c2": {"data": []any{}, "next": "c3"},
		"c3": {"data": []any{"b"}, "next": nil},
	}
	for _, tc := range []struct{ name, hasMore string }{
		{"by next cursor", ""},
		{"by hasMore", `hasMore: "${ response.body.next != null }"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newAPI(t, func(w http.ResponseWriter, r *http.Request, n int) {
				writeJSON(w, 200, pages[r.URL.Query().Get("c")])
			})
			e := load(t, srv.URL, map[string]string{
				"connector.yaml": connector(""),
				"list.yaml": `kind: Action
connector: test
key: list
request: {path: /x}
pagination:
  type: cursor
  items: "${ response.body.data }"
  nextCursor: "${ response.body.next }"
  param: c
  ` + tc.hasMore + "\n",
			})
			out := e.mustRun(t, membrane.RunRequest{Action: "list"})
			if asJSON(t, out) != `["a","b"]` {
				t.Errorf("output = %s, want the records on both sides of the empty pages", asJSON(t, out))
			}
			if got := param(srv.requests(), "c"); !reflect.DeepEqual(got, []string{"-", "c1", "c2", "c3"}) {
				t.Errorf("cursors sent = %v", got)
			}
		})
	}
}

// An empty page whose API says there is no more ends the walk even with a
// cursor: has_more is the API's word.
func TestEmptyPageWithHasMoreFalseEnds(t *testing.T) {
	srv := newAPI(t, func(w http.ResponseWriter, r *http.Request, n int) {
		writeJSON(w, 200, map[string]any{"data": []any{}, "more": false, "next": "c1"})
	})
	e := load(t, srv.URL, map[string]string{
		"connector.yaml": connector(""),
		"list.yaml": `kind: Action
connector: test
key: list
request: {path: /x}
pagination: {type: cursor, items: "${ response.body.data }", hasMore: "${ response.body.more }", nextCursor: "${ response.body.next }", param: c}
`,
	})
	if out := e.mustRun(t, membrane.RunRequest{Action: "list"}); asJSON(t, out) != `[]` {
		t.Errorf("output = %s", asJSON(t, out))
	}
	if srv.n() != 1 {
		t.Errorf("requests = %d, want 1", srv.n())
	}
}

// cursorAPI serves 10 records by `limit` and `after`.
func cursorAPI(t *testing.T) *api {
	data := items(10)
	return newAPI(t, func(w http.ResponseWriter, r *http.Request, n int) {
		limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
		start, _ := strconv.Atoi(r.URL.Query().Get("after"))
		end := min(start+limit, len(data))
		var next any
		if end < len(data) {
			next = strconv.Itoa(end)
		}
		writeJSON(w, 200, map[string]any{"results": data[start:end], "next": next})
	})
}

const resumableList = `kind: Action
connector: test
key: list
inputSchema:
  type: object
  properties:
    limit: {type: integer}
    maxPages: {type: integer}
    cursor: {type: string}
request: {path: /contacts}
pagination:
  type: cursor
  items: ${ response.body.results }
  nextCursor: ${ response.body.next }
  param: after
  limitParam: limit
  pageSize: ${ input.?limit.orValue(4) }
  maxPages: ${ input.?maxPages.orValue(100) }
  startCursor: ${ input.?cursor.orValue(null) }
record: {id: "${ record.id }"}
output:
  items: ${ records }
  truncated: ${ pagination.truncated }
  nextCursor: ${ pagination.nextCursor }
  pages: ${ pagination.pages }
`

// The caller sets the page size and the page limit; a walk stopped by the
// limit says so in the output and the result, with the cursor that
// resumes it, and a second run resumes there.
func TestPageSizeAndLimitFromInputAndTruncationIsVisible(t *testing.T) {
	srv := cursorAPI(t)
	e := load(t, srv.URL, map[string]string{"connector.yaml": connector(""), "list.yaml": resumableList})

	res, err := e.run(t, membrane.RunRequest{Action: "list", Input: map[string]any{"limit": 3, "maxPages": 2}})
	if err != nil {
		t.Fatal(err)
	}
	m := res.Output.(map[string]any)
	if got := ids(t, m["items"]); !reflect.DeepEqual(got, []string{"i1", "i2", "i3", "i4", "i5", "i6"}) {
		t.Errorf("ids = %v", got)
	}
	if m["truncated"] != true || m["nextCursor"] != "6" || m["pages"] != int64(2) {
		t.Errorf("output says truncated=%v nextCursor=%v pages=%v, want true, 6, 2", m["truncated"], m["nextCursor"], m["pages"])
	}
	if p := res.Pagination; p == nil || !p.Truncated || p.NextCursor != "6" || p.Pages != 2 {
		t.Errorf("result pagination = %+v, want truncated at cursor 6 after 2 pages", p)
	}
	if got := param(srv.requests(), "limit"); !reflect.DeepEqual(got, []string{"3", "3"}) {
		t.Errorf("limits sent = %v, want the input's 3", got)
	}

	res, err = e.run(t, membrane.RunRequest{Action: "list", Input: map[string]any{"limit": 3, "cursor": "6"}})
	if err != nil {
		t.Fatal(err)
	}
	m = res.Output.(map[string]any)
	if got := ids(t, m["items"]); !reflect.DeepEqual(got, []string{"i7", "i8", "i9", "i10"}) {
		t.Errorf("resumed ids = %v", got)
	}
	if m["truncated"] != false || m["nextCursor"] != nil || res.Pagination.Truncated {
		t.Errorf("a walk that reached the end says truncated=%v nextCursor=%v", m["truncated"], m["nextCursor"])
	}

	// Defaults: page size 4, no page limit to speak of.
	out := e.mustRun(t, membrane.RunRequest{Action: "list"})
	if got := len(out.(map[string]any)["items"].([]any)); got != 10 {
		t.Errorf("default walk gave %d records, want 10", got)
	}
	reqs := srv.requests()
	if got := param(reqs[len(reqs)-3:], "limit"); !reflect.DeepEqual(got, []string{"4", "4", "4"}) {
		t.Errorf("default limits sent = %v", got)
	}
}

// A page limit the caller gives as 0 is refused, naming the field and
// its place, before anything is sent.
func TestPageLimitBelowOneIsAnError(t *testing.T) {
	srv := cursorAPI(t)
	e := load(t, srv.URL, map[string]string{"connector.yaml": connector(""), "list.yaml": resumableList})
	got := e.runErr(t, membrane.RunRequest{Action: "list", Input: map[string]any{"maxPages": 0}}, engine.ErrExpression)
	if !strings.Contains(got.Message, "list.yaml:18:") || !strings.Contains(got.Message, "maxPages gave 0") {
		t.Errorf("message %q does not name maxPages and its line", got.Message)
	}
	if srv.n() != 0 {
		t.Errorf("%d requests sent", srv.n())
	}
}

// items giving null is an error at its place, not an empty last page: a
// misspelt field would otherwise end every walk after one page, quietly.
func TestPaginationItemsNullIsAnError(t *testing.T) {
	srv := newAPI(t, func(w http.ResponseWriter, r *http.Request, n int) {
		writeJSON(w, 200, map[string]any{"results": nil, "next": "c"})
	})
	e := load(t, srv.URL, map[string]string{
		"connector.yaml": connector(""),
		"list.yaml": `kind: Action
connector: test
key: list
request: {path: /x}
pagination: {type: cursor, items: "${ response.body.results }", nextCursor: "${ response.body.next }", param: c}
`,
	})
	got := e.runErr(t, membrane.RunRequest{Action: "list"}, engine.ErrUpstream)
	const advice = "${ response.body.results == null ? [] : response.body.results }"
	if !strings.Contains(got.Message, "list.yaml:5:") || !strings.Contains(got.Message, "gave null, not a list") || !strings.Contains(got.Message, advice) {
		t.Errorf("message = %q", got.Message)
	}

	// The expression the error suggests reads the null page as empty.
	srv2 := newAPI(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n == 1 {
			writeJSON(w, 200, map[string]any{"results": []any{map[string]any{"id": 1}}, "next": "c"})
			return
		}
		writeJSON(w, 200, map[string]any{"results": nil, "next": nil})
	})
	e = load(t, srv2.URL, map[string]string{
		"connector.yaml": connector(""),
		"list.yaml": `kind: Action
connector: test
key: list
request: {path: /x}
pagination: {type: cursor, items: "` + advice + `", nextCursor: "${ response.body.next }", param: c}
`,
	})
	out := e.mustRun(t, membrane.RunRequest{Action: "list"})
	if items, _ := out.([]any); len(items) != 1 || srv2.n() != 2 {
		t.Errorf("with the suggested items: output %v after %d requests, want one item after 2", out, srv2.n())
	}
}

// items giving something other than a list names its JSON kind.
func TestPaginationItemsObjectIsAnError(t *testing.T) {
	srv := newAPI(t, func(w http.ResponseWriter, r *http.Request, n int) {
		writeJSON(w, 200, map[string]any{"results": map[string]any{"a": 1}})
	})
	e := load(t, srv.URL, map[string]string{
		"connector.yaml": connector(""),
		"list.yaml": `kind: Action
connector: test
key: list
request: {path: /x}
pagination: {type: cursor, items: "${ response.body.results }", nextCursor: "${ null }", param: c}
`,
	})
	got := e.runErr(t, membrane.RunRequest{Action: "list"}, engine.ErrUpstream)
	if !strings.Contains(got.Message, "list.yaml:5:") || !strings.Contains(got.Message, "gave an object, not a list") {
		t.Errorf("message = %q", got.Message)
	}
}

// A truncated page-number walk resumes at the next page number.
func TestTruncatedPageWalkGivesTheNextPage(t *testing.T) {
	srv := newAPI(t, func(w http.ResponseWriter, r *http.Request, n int) {
		writeJSON(w, 200, map[string]any{"data": []any{r.URL.Query().Get("p")}})
	})
	e := load(t, srv.URL, map[string]string{
		"connector.yaml": connector(""),
		"list.yaml": `kind: Action
connector: test
key: list
request: {path: /x}
pagination: {type: page, items: "${ response.body.data }", param: p, pageSize: 1, maxPages: 2}
`,
	})
	res, err := e.run(t, membrane.RunRequest{Action: "list"})
	if err != nil {
		t.Fatal(err)
	}
	if p := res.Pagination; p == nil || !p.Truncated || fmt.Sprint(p.NextCursor) != "3" {
		t.Errorf("pagination = %+v, want truncated with page 3 next", p)
	}
}
