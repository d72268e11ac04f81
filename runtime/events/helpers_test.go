package events_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/membrane-dev/membrane/layers"
	"github.com/membrane-dev/membrane/runtime/engine"
	"github.com/membrane-dev/membrane/runtime/events"
	"github.com/membrane-dev/membrane/runtime/httpx"
	"github.com/membrane-dev/membrane/runtime/store"
	"github.com/membrane-dev/membrane/runtime/store/crypt"
	"github.com/membrane-dev/membrane/runtime/store/storetest"
)

// forEachStore runs fn on SQLite, and on PostgreSQL when it is reachable
// (storetest skips it otherwise, and fails in CI without it).
func forEachStore(t *testing.T, fn func(t *testing.T, open storetest.Opener)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, storetest.SQLite(t)(t)) })
	t.Run("postgres", func(t *testing.T) { fn(t, storetest.Postgres(t)(t)) })
}

// contact is a record of the fake app.
type contact struct {
	ID        any    `json:"id,omitempty"`
	Name      any    `json:"name"`
	UpdatedAt string `json:"updated_at"`
	Archived  bool   `json:"archived,omitempty"`
}

// app is the connected app: GET /contacts lists its contacts by
// updated_at, then id, in pages (cursor `after`, an index), the ones
// updated after `since` when given.
type app struct {
	srv *httptest.Server

	mu       sync.Mutex
	contacts map[string]*contact
	order    []string // insertion order of ids without one
	pageSize int
	clock    time.Time
	// hook, when set, runs before a page is answered (page from 1); it may
	// answer itself and return true.
	hook func(w http.ResponseWriter, r *http.Request, page int) bool
	// next, when set, replaces the next cursor of a page.
	next     map[int]string
	requests int
}

func newApp(t *testing.T, n, pageSize int) *app {
	a := &app{contacts: map[string]*contact{}, pageSize: pageSize, clock: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	for i := 1; i <= n; i++ {
		a.put(strconv.Itoa(i), fmt.Sprintf("Contact %d", i))
	}
	a.srv = httptest.NewServer(http.HandlerFunc(a.serve))
	t.Cleanup(a.srv.Close)
	return a
}

// tick is the app's clock: each change is a second later.
func (a *app) tick() string {
	a.clock = a.clock.Add(time.Second)
	return a.clock.Format(time.RFC3339)
}

func (a *app) put(id, name string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, ok := a.contacts[id]; !ok {
		a.order = append(a.order, id)
	}
	a.contacts[id] = &contact{ID: id, Name: name, UpdatedAt: a.tick()}
}

func (a *app) archive(id string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	c := a.contacts[id]
	c.Archived, c.UpdatedAt = true, a.tick()
}

func (a *app) remove(id string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.contacts, id)
	a.order = slices.DeleteFunc(a.order, func(x string) bool { return x == id })
}

func (a *app) set(fn func(a *app)) {
	a.mu.Lock()
	defer a.mu.Unlock()
	fn(a)
}

func (a *app) serve(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	a.requests++
	since := r.URL.Query().Get("since")
	var list []*contact
	for _, id := range a.order {
		if c := a.contacts[id]; c.UpdatedAt > since {
			cp := *c
			list = append(list, &cp)
		}
	}
	sort.SliceStable(list, func(i, j int) bool { return list[i].UpdatedAt < list[j].UpdatedAt })
	after, _ := strconv.Atoi(r.URL.Query().Get("after"))
	page := after/a.pageSize + 1
	hook := a.hook
	size := a.pageSize
	forced, force := a.next[page]
	a.mu.Unlock()
	if hook != nil && hook(w, r, page) {
		return
	}
	end := min(after+size, len(list))
	next := ""
	if end < len(list) {
		next = strconv.Itoa(end)
	}
	if force {
		next = forced
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"data": list[min(after, len(list)):end], "next": next})
}

// workspace is the acme connector with its contact events.
const workspace = `kind: Connector
key: acme
baseUrl: {{BASE}}
---
kind: UniversalEvent
key: contact-changed
record:
  type: object
  required: [id, name]
  properties:
    id: {type: string}
    name: {type: string}
---
kind: Event
connector: acme
key: contacts-scan
implements: contact-changed
polling:
  request: {path: /contacts}
  pagination: {type: cursor, param: after, items: "${ response.body.data == null ? [] : response.body.data }", nextCursor: "${ response.body.next }"}
  id: ${ record.?id.orValue(null) }
  updatedAt: ${ record.updated_at }
  deleted: ${ record.?archived.orValue(false) }
record:
  id: ${ record.?id.orValue('') }
  name: ${ record.name }
---
kind: Event
connector: acme
key: contacts-scan-all
implements: contact-changed
polling:
  mode: fullScan
  baseline: false
  request: {path: /contacts}
  pagination: {type: cursor, param: after, items: "${ response.body.data == null ? [] : response.body.data }", nextCursor: "${ response.body.next }"}
  id: ${ record.id }
record:
  id: ${ record.id }
  name: ${ record.name }
---
kind: Event
connector: acme
key: contacts-since
implements: contact-changed
polling:
  request: {path: /contacts, query: {since: "${ state.?cursor.orValue('') }"}}
  pagination: {type: cursor, param: after, items: "${ response.body.data == null ? [] : response.body.data }", nextCursor: "${ response.body.next }"}
  id: ${ record.id }
  updatedAt: ${ record.updated_at }
  deleted: ${ record.?archived.orValue(false) }
  cursor: ${ records.map(r, r.updated_at).sort()[size(records) - 1] }
record:
  id: ${ record.id }
  name: ${ record.name }
`

// env is one subscription of one connection on a real store.
type env struct {
	t      *testing.T
	app    *app
	st     store.Store
	ts     store.TenantStore
	conn   *store.Connection
	sub    *store.Subscription
	plan   *events.Plan
	poller *events.Poller
	// outbox holds every entry claimed so far, by id.
	outbox map[string]store.Event
}

func newEnv(t *testing.T, open storetest.Opener, a *app, event string) *env {
	t.Helper()
	keys, err := crypt.New(crypt.Generate())
	if err != nil {
		t.Fatal(err)
	}
	st := open(store.WithKeyring(keys), store.WithLogger(storetest.Quiet()))
	ctx := context.Background()
	ts := st.Tenant("acme-corp")
	c, err := ts.Connections().Create(ctx, store.Connection{Connector: "acme", Name: "Acme"})
	if err != nil {
		t.Fatal(err)
	}
	sub, err := ts.Subscriptions().Create(ctx, store.Subscription{ConnectionID: c.ID, Event: event})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "acme.yaml"), []byte(strings.ReplaceAll(workspace, "{{BASE}}", a.srv.URL)), 0o644); err != nil {
		t.Fatal(err)
	}
	ws, diags := layers.Load(dir)
	if diags.HasErrors() {
		t.Fatalf("load: %v", diags)
	}
	r, diags := layers.ResolveEvent(ws, "acme", event)
	if r == nil {
		t.Fatalf("resolve: %v", diags)
	}
	plan, err := events.NewPlan(r)
	if err != nil {
		t.Fatal(err)
	}
	client := httpx.New(httpx.Config{AllowPrivate: true, Sleep: func(ctx context.Context, _ time.Duration) error { return ctx.Err() }})
	t.Cleanup(client.CloseIdleConnections)
	return &env{t: t, app: a, st: st, ts: ts, conn: c, sub: sub, plan: plan,
		poller: &events.Poller{Engine: engine.New(engine.Options{HTTP: client}), SweepBatch: 3}, outbox: map[string]store.Event{}}
}

// poll polls the subscription as the store holds it, as a scheduler would.
func (e *env) poll(ctx context.Context) (*events.PollResult, error) {
	e.t.Helper()
	sub, err := e.ts.Subscriptions().Get(context.Background(), e.sub.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	e.sub = sub
	return e.poller.Poll(ctx, events.PollRequest{Store: e.ts, Subscription: sub, Plan: e.plan,
		Connection: &engine.Connection{ID: e.conn.ID, Name: e.conn.Name, Tenant: "acme-corp"}})
}

func (e *env) mustPoll() *events.PollResult {
	e.t.Helper()
	res, err := e.poll(context.Background())
	if err != nil {
		e.t.Fatalf("poll: %v", err)
	}
	return res
}

// changes claims the outbox entries enqueued since the last call and
// returns them as "change recordId" lines, sorted; an entry claimed twice
// fails the test.
func (e *env) changes() []string {
	e.t.Helper()
	var ds []store.Event
	for {
		batch, err := e.st.Deliveries().Route(context.Background(), 1000, func(*store.Event) []string { return nil })
		if err != nil {
			e.t.Fatal(err)
		}
		ds = append(ds, batch...)
		if len(batch) < 1000 {
			break
		}
	}
	var out []string
	for _, d := range ds {
		if _, dup := e.outbox[d.ID]; dup {
			e.t.Fatalf("outbox entry %s claimed twice", d.ID)
		}
		e.outbox[d.ID] = d
		var p events.Payload
		if err := json.Unmarshal(d.Payload, &p); err != nil {
			e.t.Fatal(err)
		}
		if p.ID != d.ID || d.Type != "contact-changed."+string(p.Change) || p.Subscription != e.sub.ID || p.Connection != e.conn.ID ||
			d.ConnectionID != e.conn.ID || d.Connector != e.conn.Connector {
			e.t.Errorf("entry %s: type %s, connection %s (%s), payload %s", d.ID, d.Type, d.ConnectionID, d.Connector, d.Payload)
		}
		out = append(out, string(p.Change)+" "+p.RecordID)
	}
	sort.Strings(out)
	return out
}

func (e *env) wantChanges(want ...string) {
	e.t.Helper()
	got := e.changes()
	sort.Strings(want)
	if !slices.Equal(got, want) {
		e.t.Errorf("changes = %q, want %q", got, want)
	}
}
