package engine_test

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/membrane-dev/membrane/layers"
	"github.com/membrane-dev/membrane/runtime/engine"
	"github.com/membrane-dev/membrane/runtime/httpx"
)

// pollPlan loads a workspace with the test connector and one event, and
// returns the plan of its poll.
func pollPlan(t *testing.T, base, polling string) *engine.Plan {
	t.Helper()
	dir := writeWorkspace(t, base, map[string]string{
		"connector.yaml": connector(""),
		"event.yaml":     "kind: Event\nconnector: test\nkey: changed\npolling:\n" + polling,
	})
	ws, diags := layers.Load(dir)
	if diags.HasErrors() {
		t.Fatalf("load: %v", diags)
	}
	r, diags := layers.ResolveEvent(ws, "test", "changed")
	if r == nil {
		t.Fatalf("resolve: %v", diags)
	}
	p, err := engine.NewEventPlan(r)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func pollEngine(t *testing.T) *engine.Engine {
	c := httpx.New(httpx.Config{AllowPrivate: true, Sleep: (&sleeps{}).sleep})
	t.Cleanup(c.CloseIdleConnections)
	return engine.New(engine.Options{HTTP: c})
}

// TestPollStreamsEveryPage: a poll walks far past an action's page cap,
// one page at a time, and sends the state it is given.
func TestPollStreamsEveryPage(t *testing.T) {
	const pages = engine.DefaultPollMaxLog + 50 // past an action's cap (engine.DefaultMaxPages) too
	srv := newAPI(t, func(w http.ResponseWriter, r *http.Request, n int) {
		next := ""
		if n < pages {
			next = "c" + strconv.Itoa(n)
		}
		writeJSON(w, 200, map[string]any{"items": []any{map[string]any{"id": n}}, "next": next, "since": r.URL.Query().Get("since")})
	})
	p := pollPlan(t, srv.URL, `  request: {path: /items, query: {since: "${ state.cursor }"}}
  pagination: {type: cursor, param: after, items: "${ response.body.items }", nextCursor: "${ response.body.next }"}
  id: ${ string(record.id) }
`)
	got := 0
	res, err := pollEngine(t).Poll(context.Background(), p, &engine.Connection{ID: "conn_1"}, map[string]any{"cursor": "T1"}, engine.PollOptions{}, func(_ context.Context, pg engine.PollPage) error {
		got += len(pg.Records)
		if pg.Number != got {
			return fmt.Errorf("page %d after %d records", pg.Number, got)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got != pages || srv.n() != pages {
		t.Errorf("records = %d, requests = %d, want %d", got, srv.n(), pages)
	}
	if q := srv.requests()[3].Query; q.Get("since") != "T1" || q.Get("after") != "c3" {
		t.Errorf("4th request query = %v", q)
	}
	if len(res.Log) != engine.DefaultPollMaxLog || res.Dropped != pages-engine.DefaultPollMaxLog {
		t.Errorf("log = %d, dropped = %d", len(res.Log), res.Dropped)
	}
}

func TestPollEndlessPagesNameTheLimit(t *testing.T) {
	srv := newAPI(t, func(w http.ResponseWriter, r *http.Request, n int) {
		writeJSON(w, 200, map[string]any{"items": []any{n}, "next": "c" + strconv.Itoa(n)})
	})
	p := pollPlan(t, srv.URL, `  request: {path: /items}
  pagination: {type: cursor, param: after, items: "${ response.body.items }", nextCursor: "${ response.body.next }", maxPages: 7}
  id: ${ string(record) }
`)
	_, err := pollEngine(t).Poll(context.Background(), p, &engine.Connection{ID: "c"}, nil, engine.PollOptions{}, func(context.Context, engine.PollPage) error { return nil })
	e := mustType(t, err, engine.ErrUpstream)
	if !strings.Contains(e.Message, "did not end after 7 pages (polling.pagination.maxPages)") {
		t.Errorf("error = %v", e)
	}
	if srv.n() != 7 {
		t.Errorf("requests = %d", srv.n())
	}
	_, err = pollEngine(t).Poll(context.Background(), p, &engine.Connection{ID: "c"}, nil, engine.PollOptions{MaxPages: 3}, func(context.Context, engine.PollPage) error { return nil })
	if e := mustType(t, err, engine.ErrUpstream); !strings.Contains(e.Message, "after 3 pages") {
		t.Errorf("error = %v", e)
	}
}

func TestPollPaginationLoop(t *testing.T) {
	for name, c := range map[string]struct{ pagination, want string }{
		"cursor": {`{type: cursor, param: after, items: "${ response.body.items }", nextCursor: "${ response.body.next }"}`, `the API gave cursor "c1" twice`},
		"link":   {`{type: link, items: "${ response.body.items }", nextCursor: "${ response.body.link }"}`, "the API linked the same page twice"},
	} {
		t.Run(name, func(t *testing.T) {
			srv := newAPI(t, func(w http.ResponseWriter, r *http.Request, n int) {
				next := map[int]string{1: "c1", 2: "c2", 3: "c1"}[n]
				writeJSON(w, 200, map[string]any{"items": []any{n}, "next": next, "link": "/items?p=" + next})
			})
			p := pollPlan(t, srv.URL, "  request: {path: /items}\n  pagination: "+c.pagination+"\n  id: ${ string(record) }\n")
			pages := 0
			_, err := pollEngine(t).Poll(context.Background(), p, &engine.Connection{ID: "c"}, nil, engine.PollOptions{}, func(context.Context, engine.PollPage) error { pages++; return nil })
			if e := mustType(t, err, engine.ErrUpstream); !strings.Contains(e.Message, "pagination loops: "+c.want) {
				t.Errorf("error = %v", e)
			}
			if pages != 3 {
				t.Errorf("pages handed over = %d, want 3", pages)
			}
		})
	}
}

func TestPollUpstreamHTMLAnd500(t *testing.T) {
	srv := newAPI(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if r.URL.Path == "/html" {
			w.Header().Set("Content-Type", "text/html")
			_, _ = w.Write([]byte("<html><body>Maintenance</body></html>"))
			return
		}
		writeJSON(w, 500, map[string]any{"error": "down"})
	})
	for path, typ := range map[string]string{"/html": engine.ErrUpstream, "/fail": engine.ErrUpstream} {
		p := pollPlan(t, srv.URL, "  request: {path: "+path+"}\n  items: ${ response.body.items }\n  id: ${ string(record) }\n")
		called := false
		_, err := pollEngine(t).Poll(context.Background(), p, &engine.Connection{ID: "c"}, nil, engine.PollOptions{}, func(context.Context, engine.PollPage) error { called = true; return nil })
		e := mustType(t, err, typ)
		if called {
			t.Errorf("%s: a page was handed over", path)
		}
		if path == "/fail" && e.Status != 500 {
			t.Errorf("%s: status = %d", path, e.Status)
		}
	}
}
