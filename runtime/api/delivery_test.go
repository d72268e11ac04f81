package api_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/membrane-dev/membrane/internal/apitest"
	"github.com/membrane-dev/membrane/runtime/api"
	"github.com/membrane-dev/membrane/runtime/store"
	"github.com/membrane-dev/membrane/runtime/store/storetest"
)

// newDeliveryTC is a test's API with its options adjusted.
func newDeliveryTC(t *testing.T, newDB storetest.NewDB, tweak func(*api.Options)) *tc {
	return &tc{Env: apitest.NewWithAPI(t, newDB(t), nil, tweak), t: t}
}

var eventSeq atomic.Int64

// enqueue adds an event of tenant to the outbox and returns its id.
func enqueue(t *testing.T, st store.Store, tenant, typ string) string {
	t.Helper()
	id := fmt.Sprintf("evt_%s_%d", strings.TrimPrefix(tenant, "_"), eventSeq.Add(1))
	if err := st.Tenant(tenant).Outbox().Enqueue(t.Context(), store.Event{ID: id, Type: typ, Connector: "crm",
		Payload: json.RawMessage(`{"tenant":"` + tenant + `"}`)}); err != nil {
		t.Fatal(err)
	}
	return id
}

// route moves every enqueued event into the log, each with a delivery to
// each of dests.
func route(t *testing.T, st store.Store, dests ...string) []store.Event {
	t.Helper()
	var all []store.Event
	for {
		evs, err := st.Deliveries().Route(t.Context(), 100, func(*store.Event) []string { return dests })
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) == 0 {
			return all
		}
		all = append(all, evs...)
	}
}

func TestDestinationsLifecycle(t *testing.T) {
	forEachStore(t, func(t *testing.T, newDB storetest.NewDB) {
		c := newTC(t, newDB)
		admin := c.AdminToken("ops")
		r := c.post("/v1/destinations", admin, map[string]any{"name": "backend", "url": "https://api.example.com/hooks",
			"events": []string{"connection.*"}, "timeout": "5s"})
		wantStatus(t, r, http.StatusCreated)
		created := r.object(t)
		id, secret := created["id"].(string), created["secret"].(string)
		if !strings.HasPrefix(id, "dst_") || !strings.HasPrefix(secret, "whsec_") || created["status"] != "active" || created["source"] != "api" {
			t.Fatalf("created %s", r.Body)
		}
		if loc := r.Header.Get("Location"); loc != "/v1/destinations/"+id {
			t.Errorf("Location %q", loc)
		}
		// The secret is never shown again.
		for _, r := range []*response{c.get("/v1/destinations/"+id, admin), c.get("/v1/destinations", admin)} {
			wantStatus(t, r, http.StatusOK)
			if strings.Contains(string(r.Body), secret) || strings.Contains(string(r.Body), `"secret"`) {
				t.Fatalf("a secret is shown: %s", r.Body)
			}
		}
		r = c.do(req{method: "PATCH", path: "/v1/destinations/" + id, token: admin, body: map[string]any{"name": "backend-2", "tenants": []string{"acme"}}})
		wantStatus(t, r, http.StatusOK)
		if o := r.object(t); o["name"] != "backend-2" || fmt.Sprint(o["tenants"]) != "[acme]" || fmt.Sprint(o["events"]) != "[connection.*]" || o["timeout"] != "5s" {
			t.Fatalf("patched %s", r.Body)
		}

		// Rotation: a new secret, answered once; the old one signs on for
		// the grace period, stored as the previous secret.
		r = c.post("/v1/destinations/"+id+"/rotate-secret", admin, nil)
		wantStatus(t, r, http.StatusOK)
		rotated := r.object(t)
		secret2 := rotated["secret"].(string)
		if secret2 == secret || !strings.HasPrefix(secret2, "whsec_") || rotated["previousSecretUntil"] == nil {
			t.Fatalf("rotated %s", r.Body)
		}
		d, err := c.Store.Destinations().Get(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		if d.Secret != secret2 || d.PreviousSecret != secret {
			t.Fatal("the store does not keep the new secret and the previous one")
		}
		if g := d.PreviousUntil.Sub(d.UpdatedAt); g < api.DefaultRotationGrace-time.Minute || g > api.DefaultRotationGrace+time.Minute {
			t.Errorf("the previous secret signs for %v after the rotation, want %v", g, api.DefaultRotationGrace)
		}
		// A grace of 0s stops the previous secret at once.
		r = c.post("/v1/destinations/"+id+"/rotate-secret", admin, map[string]any{"grace": "0s"})
		wantStatus(t, r, http.StatusOK)
		if _, ok := r.object(t)["previousSecretUntil"]; ok {
			t.Fatalf("no grace, yet a previous secret: %s", r.Body)
		}
		if d, _ = c.Store.Destinations().Get(t.Context(), id); d.PreviousSecret != "" {
			t.Fatal("a grace of 0s kept the previous secret")
		}
		wantProblem(t, c.post("/v1/destinations/"+id+"/rotate-secret", admin, map[string]any{"grace": "forever"}), http.StatusUnprocessableEntity, "validation")

		r = c.post("/v1/destinations/"+id+"/disable", admin, map[string]any{"reason": "backend migration"})
		wantStatus(t, r, http.StatusOK)
		if o := r.object(t); o["status"] != "disabled" || o["disabledReason"] != "backend migration" || o["disabledAt"] == nil {
			t.Fatalf("disabled %s", r.Body)
		}
		r = c.post("/v1/destinations/"+id+"/enable", admin, nil)
		wantStatus(t, r, http.StatusOK)
		if o := r.object(t); o["status"] != "active" || o["disabledReason"] != nil || o["failingSince"] != nil {
			t.Fatalf("enabled %s", r.Body)
		}

		wantStatus(t, c.do(req{method: "DELETE", path: "/v1/destinations/" + id, token: admin}), http.StatusNoContent)
		for _, r := range []*response{c.get("/v1/destinations/"+id, admin), c.do(req{method: "DELETE", path: "/v1/destinations/" + id, token: admin}),
			c.post("/v1/destinations/"+id+"/disable", admin, nil)} {
			wantProblem(t, r, http.StatusNotFound, "not-found")
		}
		// Secrets never reach the log.
		if logs := c.Logs(); strings.Contains(logs, secret) || strings.Contains(logs, secret2) {
			t.Fatal("the log shows a secret")
		}
	})
}

func TestDestinationValidation(t *testing.T) {
	c := newDeliveryTC(t, sqliteOnly(t), func(o *api.Options) {
		o.AllowPrivateNetworks = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	})
	admin := c.AdminToken("ops")
	for _, tt := range []struct {
		body map[string]any
		want []string
	}{
		{map[string]any{"name": "a", "url": "http://api.example.com/hooks"}, []string{"/url"}},
		{map[string]any{"name": "a", "url": "https://user:pw@api.example.com/hooks"}, []string{"/url"}},
		{map[string]any{"name": "a", "url": "https://10.0.0.7/hooks"}, []string{"/url"}},
		{map[string]any{"name": "a", "url": "ftp://api.example.com/"}, []string{"/url"}},
		{map[string]any{"name": "Bad Name", "url": "", "events": []string{"ok.*", "a*b"}, "concurrency": -1, "timeout": "1ms"},
			[]string{"/name", "/url", "/events/1", "/concurrency", "/timeout"}},
		{map[string]any{"name": "n", "kind": "nats", "url": "nats://127.0.0.1:4222"}, []string{"/subject"}},
		{map[string]any{"name": "n", "kind": "carrier-pigeon", "url": "https://x.example"}, []string{"/kind"}},
		{map[string]any{"name": "n", "url": "https://x.example", "tenants": []string{"_workspace"}}, []string{"/tenants/0"}},
	} {
		p := wantProblem(t, c.post("/v1/destinations", admin, tt.body), http.StatusUnprocessableEntity, "validation")
		if got := pointers(p); !slices.Equal(got, tt.want) {
			t.Errorf("%v: errors at %v, want %v", tt.body, got, tt.want)
		}
	}
	// http is allowed to the networks allowPrivateNetworks names; a nats
	// destination has no secret.
	r := c.post("/v1/destinations", admin, map[string]any{"name": "local", "url": "http://127.0.0.1:9999/hooks"})
	wantStatus(t, r, http.StatusCreated)
	r = c.post("/v1/destinations", admin, map[string]any{"name": "bus", "kind": "nats", "url": "nats://127.0.0.1:4222", "subject": "membrane.events"})
	wantStatus(t, r, http.StatusCreated)
	if _, ok := r.object(t)["secret"]; ok {
		t.Fatalf("a nats destination with a secret: %s", r.Body)
	}
	wantProblem(t, c.post("/v1/destinations/"+r.object(t)["id"].(string)+"/rotate-secret", admin, nil), http.StatusConflict, "not-a-webhook")
	// A patch is checked the same way, and changes nothing when refused.
	id := c.get("/v1/destinations", admin).object(t)["items"].([]any)[0].(map[string]any)["id"].(string)
	p := wantProblem(t, c.do(req{method: "PATCH", path: "/v1/destinations/" + id, token: admin, body: map[string]any{"url": "http://api.example.com/"}}),
		http.StatusUnprocessableEntity, "validation")
	if !slices.Equal(pointers(p), []string{"/url"}) {
		t.Fatalf("patch errors %v", pointers(p))
	}
	if o := c.get("/v1/destinations/"+id, admin).object(t); o["url"] != "http://127.0.0.1:9999/hooks" {
		t.Fatalf("a refused patch changed the destination: %v", o)
	}
	wantProblem(t, c.do(req{method: "PATCH", path: "/v1/destinations/" + id, token: admin, body: map[string]any{"secret": "whsec_x"}}),
		http.StatusBadRequest, "malformed-json")
}

// TestFileDestinationsReadOnly: a destination of membrane.yaml is changed
// there, not through the API; disabling and enabling it work.
func TestFileDestinationsReadOnly(t *testing.T) {
	c := newTC(t, sqliteOnly(t))
	admin := c.AdminToken("ops")
	if err := c.Store.Destinations().Sync(t.Context(), []store.Destination{{ID: "file:backend", Source: "file", Name: "backend",
		Kind: "webhook", URL: "https://backend.example/hooks"}}); err != nil {
		t.Fatal(err)
	}
	path := "/v1/destinations/file:backend"
	for _, r := range []*response{
		c.do(req{method: "PATCH", path: path, token: admin, body: map[string]any{"name": "x"}}),
		c.do(req{method: "DELETE", path: path, token: admin}),
		c.post(path+"/rotate-secret", admin, nil),
	} {
		p := wantProblem(t, r, http.StatusConflict, "file-destination")
		if !strings.Contains(p["detail"].(string), "membrane.yaml") {
			t.Errorf("the problem does not name membrane.yaml: %s", r.Body)
		}
	}
	r := c.post(path+"/disable", admin, nil)
	wantStatus(t, r, http.StatusOK)
	if o := r.object(t); o["status"] != "disabled" || o["source"] != "file" {
		t.Fatalf("disabled %s", r.Body)
	}
	wantStatus(t, c.post(path+"/enable", admin, nil), http.StatusOK)
}

// deadLetter makes every pending delivery dead after one failed attempt.
func deadLetter(t *testing.T, st store.Store) int {
	t.Helper()
	tasks, err := st.Deliveries().Claim(t.Context(), "test-worker", 100, time.Minute, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, task := range tasks {
		if err := st.Deliveries().Record(t.Context(), "test-worker", store.Attempt{EventID: task.ID, Destination: task.Destination,
			Tenant: task.Tenant, Attempt: task.Attempts, At: time.Now(), Status: 500, Latency: 12 * time.Millisecond,
			Error: "the destination answered 500", Excerpt: `{"error":"boom"}`}, store.Outcome{Dead: true}); err != nil {
			t.Fatal(err)
		}
	}
	return len(tasks)
}

func TestDeliveriesAndReplay(t *testing.T) {
	forEachStore(t, func(t *testing.T, newDB storetest.NewDB) {
		var woken atomic.Int64
		c := newDeliveryTC(t, newDB, func(o *api.Options) { o.Wake = func() { woken.Add(1) } })
		admin := c.AdminToken("ops")
		r := c.post("/v1/destinations", admin, map[string]any{"name": "backend", "url": "https://api.example.com/hooks"})
		wantStatus(t, r, http.StatusCreated)
		dst := r.object(t)["id"].(string)
		before := time.Now().Add(-time.Hour)
		e1 := enqueue(t, c.Store, "acme", "connection.created")
		e2 := enqueue(t, c.Store, "globex", "connection.created")
		route(t, c.Store, dst)
		if n := deadLetter(t, c.Store); n != 2 {
			t.Fatalf("%d deliveries claimed, want 2", n)
		}

		r = c.get("/v1/deliveries?status=dead&destination="+dst, admin)
		wantStatus(t, r, http.StatusOK)
		var page struct {
			Items []struct {
				EventID, Destination, Tenant, Status, LastError string
				Attempts, LastStatus                            int
			}
		}
		r.decode(t, &page)
		if len(page.Items) != 2 || page.Items[0].EventID != e1 || page.Items[1].EventID != e2 || page.Items[0].Status != "dead" ||
			page.Items[0].Attempts != 1 || page.Items[0].LastStatus != 500 {
			t.Fatalf("dead letters %s", r.Body)
		}
		r = c.get("/v1/deliveries?tenant=globex", admin)
		if r.decode(t, &page); len(page.Items) != 1 || page.Items[0].EventID != e2 {
			t.Fatalf("globex's deliveries %s", r.Body)
		}
		r = c.get("/v1/deliveries/attempts?event="+e1, admin)
		wantStatus(t, r, http.StatusOK)
		var attempts struct {
			Items []struct {
				EventID, Error, Excerpt string
				Attempt, Status         int
				LatencyMs               float64
			}
		}
		if r.decode(t, &attempts); len(attempts.Items) != 1 || attempts.Items[0].Status != 500 || attempts.Items[0].Attempt != 1 ||
			attempts.Items[0].LatencyMs != 12 || attempts.Items[0].Excerpt != `{"error":"boom"}` {
			t.Fatalf("attempts %s", r.Body)
		}

		// Clear 4xx: each names what is wrong.
		for q, param := range map[string]string{"status=lost": "status", "from=yesterday": "from", "to=2026-13-01": "to", "cursor=nope": "cursor", "limit=0": "limit"} {
			p := wantProblem(t, c.get("/v1/deliveries?"+q, admin), http.StatusBadRequest, "invalid-query")
			if errs := p["errors"].([]any); errs[0].(map[string]any)["parameter"] != param {
				t.Errorf("?%s: %v", q, p["errors"])
			}
		}
		wantProblem(t, c.get("/v1/deliveries?destination=dst_nope", admin), http.StatusNotFound, "not-found")
		wantProblem(t, c.post("/v1/deliveries/replay", admin, map[string]any{"eventId": "evt_nope"}), http.StatusNotFound, "not-found")
		wantProblem(t, c.post("/v1/deliveries/replay", admin, map[string]any{"eventId": e1, "destination": "dst_nope"}), http.StatusNotFound, "not-found")
		p := wantProblem(t, c.post("/v1/deliveries/replay", admin, map[string]any{"destination": dst}), http.StatusUnprocessableEntity, "validation")
		if got := pointers(p); !slices.Equal(got, []string{"/from", "/to"}) {
			t.Errorf("replay without a range: %v", got)
		}
		p = wantProblem(t, c.post("/v1/deliveries/replay", admin, map[string]any{"destination": dst, "from": "2020-01-01T00:00:00Z", "to": "2020-02-01T00:00:00Z"}),
			http.StatusUnprocessableEntity, "no-match")
		if d := p["detail"].(string); !strings.Contains(d, dst) || !strings.Contains(d, "2020-01-01T00:00:00Z") {
			t.Errorf("no-match does not name the filter: %s", d)
		}

		// Replay one event, then the rest of the range.
		r = c.post("/v1/deliveries/replay", admin, map[string]any{"eventId": e1})
		wantStatus(t, r, http.StatusOK)
		if n := r.object(t)["replayed"]; n != 1.0 {
			t.Fatalf("replayed %v, want 1", n)
		}
		r = c.post("/v1/deliveries/replay", admin, map[string]any{"destination": dst, "from": before, "to": time.Now().Add(time.Hour)})
		wantStatus(t, r, http.StatusOK)
		if n := r.object(t)["replayed"]; n != 1.0 {
			t.Fatalf("replayed %v of the range, want 1 (the other is pending already)", n)
		}
		// The workers were woken by each replay that made a delivery due.
		if n := woken.Load(); n != 2 {
			t.Errorf("the workers were woken %d times, want 2", n)
		}
		r = c.get("/v1/deliveries?status=pending", admin)
		if r.decode(t, &page); len(page.Items) != 2 || page.Items[0].Attempts != 0 {
			t.Fatalf("after replay %s", r.Body)
		}
	})
}

// pullAll reads GET /v1/events from the start, limit at a time.
func pullAll(t *testing.T, c *tc, token, query string, limit int) []map[string]any {
	t.Helper()
	var out []map[string]any
	after := ""
	for {
		r := c.get(fmt.Sprintf("/v1/events?limit=%d&after=%s%s", limit, after, query), token)
		wantStatus(t, r, http.StatusOK)
		var page struct {
			Items []map[string]any
			Next  string
		}
		r.decode(t, &page)
		if page.Next == "" {
			t.Fatalf("no next: %s", r.Body)
		}
		if len(page.Items) == 0 {
			if after != "" && page.Next != after {
				t.Fatalf("an empty page moved the cursor from %s to %s", after, page.Next)
			}
			return out
		}
		out = append(out, page.Items...)
		after = page.Next
	}
}

func idsOf(items []map[string]any) []string {
	var ids []string
	for _, it := range items {
		ids = append(ids, it["id"].(string))
	}
	return ids
}

// TestPullIsolation: a tenant pulls its own events only, an admin every
// tenant's and the workspace's.
func TestPullIsolation(t *testing.T) {
	forEachStore(t, func(t *testing.T, newDB storetest.NewDB) {
		c := newTC(t, newDB)
		var acme, globex, all []string
		for i := range 3 {
			a := enqueue(t, c.Store, "acme", "connection.created")
			g := enqueue(t, c.Store, "globex", "contact-changed.updated")
			acme, globex, all = append(acme, a), append(globex, g), append(all, a, g)
			if i == 1 {
				all = append(all, enqueue(t, c.Store, store.WorkspaceTenant, "endpoint.disabled"))
			}
		}
		route(t, c.Store)
		got := pullAll(t, c, c.Token("acme"), "", 2)
		if ids := idsOf(got); !slices.Equal(ids, acme) {
			t.Fatalf("acme pulled %v, want %v", ids, acme)
		}
		for _, it := range got {
			if it["tenant"] != "acme" || it["type"] != "connection.created" || it["connector"] != "crm" || it["cursor"] == "" || it["detectedAt"] == nil {
				t.Fatalf("item %v", it)
			}
		}
		if ids := idsOf(pullAll(t, c, c.Token("globex"), "", 100)); !slices.Equal(ids, globex) {
			t.Fatalf("globex pulled %v, want %v", ids, globex)
		}
		if ids := idsOf(pullAll(t, c, c.AdminToken("ops"), "", 3)); !slices.Equal(ids, all) {
			t.Fatalf("admin pulled %v, want %v", ids, all)
		}
		if ids := idsOf(pullAll(t, c, c.AdminToken("ops"), "&tenant=globex", 3)); !slices.Equal(ids, globex) {
			t.Fatalf("admin pulled %v of globex, want %v", ids, globex)
		}
		wantProblem(t, c.get("/v1/events?tenant=globex", c.Token("acme")), http.StatusForbidden, "forbidden")
		// No token names the workspace's reserved tenant, admin or not.
		for _, admin := range []bool{false, true} {
			cl := claims(store.WorkspaceTenant, apitest.Workspace, time.Now().Add(time.Hour))
			cl["isAdmin"] = admin
			wantStatus(t, c.get("/v1/events", handToken(t, "HS256", cl, apitest.Secret)), http.StatusUnauthorized)
		}
		p := wantProblem(t, c.get("/v1/events?after=abc", c.Token("acme")), http.StatusBadRequest, "invalid-query")
		if p["errors"].([]any)[0].(map[string]any)["parameter"] != "after" {
			t.Fatalf("bad after: %v", p)
		}
	})
}

// sse is one connection to GET /v1/events/stream, read line by line.
type sse struct {
	t   *testing.T
	res *http.Response
	sc  *bufio.Scanner
}

type message struct{ id, event, data string }

func openStream(t *testing.T, c *tc, token string, header map[string]string, query string) *sse {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	t.Cleanup(cancel)
	hr, err := http.NewRequestWithContext(ctx, "GET", c.URL+"/v1/events/stream"+query, nil)
	if err != nil {
		t.Fatal(err)
	}
	hr.Header.Set("Authorization", "Bearer "+token)
	for k, v := range header {
		hr.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { res.Body.Close() })
	if res.StatusCode != http.StatusOK {
		t.Fatalf("stream: %d", res.StatusCode)
	}
	checkDocumented(t, hr, &response{Status: res.StatusCode, Header: res.Header, Body: []byte("…")})
	s := &sse{t: t, res: res, sc: bufio.NewScanner(res.Body)}
	// The first block says how long to wait before reconnecting: the
	// stream has read the log and waits for it to grow.
	if line := s.line(); line != "retry: 2000" {
		t.Fatalf("the stream begins with %q", line)
	}
	return s
}

// line is the next line; the test fails at the end of the stream.
func (s *sse) line() string {
	s.t.Helper()
	if !s.sc.Scan() {
		s.t.Fatalf("the stream ended: %v", s.sc.Err())
	}
	return s.sc.Text()
}

// next is the next message, comments skipped.
func (s *sse) next() message {
	s.t.Helper()
	var m message
	for {
		line := s.line()
		switch {
		case line == "" && m.id != "":
			return m
		case strings.HasPrefix(line, "id: "):
			m.id = strings.TrimPrefix(line, "id: ")
		case strings.HasPrefix(line, "event: "):
			m.event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			m.data = strings.TrimPrefix(line, "data: ")
		}
	}
}

func (s *sse) close() { s.res.Body.Close() }

// TestStreamResumeAndIsolation: a tenant's stream carries its events
// only, each as id (its cursor), event (its type) and data (its
// envelope); one resumed after Last-Event-ID loses nothing and repeats
// nothing, and new events wake it.
func TestStreamResumeAndIsolation(t *testing.T) {
	forEachStore(t, func(t *testing.T, newDB storetest.NewDB) {
		// A poll far away: only the store's Routed signal wakes a stream.
		c := newDeliveryTC(t, newDB, func(o *api.Options) { o.StreamPoll = time.Hour })
		acme := c.Token("acme")
		var want []string
		for range 5 {
			want = append(want, enqueue(t, c.Store, "acme", "connection.created"))
			enqueue(t, c.Store, "globex", "connection.created")
		}
		route(t, c.Store)
		s := openStream(t, c, acme, nil, "")
		var got []message
		for range 3 {
			got = append(got, s.next())
		}
		s.close()
		for _, m := range got {
			var env map[string]any
			if err := json.Unmarshal([]byte(m.data), &env); err != nil {
				t.Fatal(err)
			}
			if env["tenant"] != "acme" || m.event != "connection.created" || env["type"] != m.event {
				t.Fatalf("message %+v", m)
			}
		}
		// Resume after the third: the two others, then new ones as they
		// are routed (globex's in between never show).
		s = openStream(t, c, acme, map[string]string{"Last-Event-ID": got[2].id}, "?after=0")
		got = append(got, s.next(), s.next())
		for range 2 {
			enqueue(t, c.Store, "globex", "connection.created")
			want = append(want, enqueue(t, c.Store, "acme", "connection.updated"))
			route(t, c.Store)
			got = append(got, s.next())
		}
		var ids, cursors []string
		for _, m := range got {
			var env struct{ ID string }
			if err := json.Unmarshal([]byte(m.data), &env); err != nil {
				t.Fatal(err)
			}
			ids, cursors = append(ids, env.ID), append(cursors, m.id)
		}
		if !slices.Equal(ids, want) {
			t.Fatalf("the stream gave %v, want %v (each once, in order)", ids, want)
		}
		// The pull API gives the same cursors.
		pulled := pullAll(t, c, acme, "", 100)
		var pc []string
		for _, it := range pulled {
			pc = append(pc, it["cursor"].(string))
		}
		if !slices.Equal(pc, cursors) {
			t.Fatalf("stream ids %v, pull cursors %v", cursors, pc)
		}
		// ?after= resumes too.
		s2 := openStream(t, c, acme, nil, "?after="+cursors[5])
		if m := s2.next(); m.id != cursors[6] {
			t.Fatalf("after %s: %s, want %s", cursors[5], m.id, cursors[6])
		}
		// The admin's stream has every tenant's.
		sa := openStream(t, c, c.AdminToken("ops"), nil, "")
		tenants := map[string]bool{}
		for range 4 {
			var env struct{ Tenant string }
			json.Unmarshal([]byte(sa.next().data), &env)
			tenants[env.Tenant] = true
		}
		if !tenants["acme"] || !tenants["globex"] {
			t.Fatalf("the admin's stream has %v", tenants)
		}
	})
}

// TestStreamHeartbeatAndShutdown: a quiet stream gets comments, and ends
// cleanly when the server shuts down.
func TestStreamHeartbeatAndShutdown(t *testing.T) {
	shutdown := make(chan struct{})
	c := newDeliveryTC(t, sqliteOnly(t), func(o *api.Options) {
		o.StreamHeartbeat, o.Shutdown = 10*time.Millisecond, shutdown
	})
	s := openStream(t, c, c.Token("acme"), nil, "")
	for s.line() != ": heartbeat" {
	}
	close(shutdown)
	var last string
	for s.sc.Scan() {
		if l := s.sc.Text(); l != "" {
			last = l
		}
	}
	if err := s.sc.Err(); err != nil {
		t.Fatalf("the stream broke rather than ended: %v", err)
	}
	if !strings.Contains(last, "shutting down") {
		t.Fatalf("the stream's last line is %q", last)
	}
	// Bad cursors are refused before the stream starts.
	for _, h := range []map[string]string{{"Last-Event-ID": "x"}, {"Last-Event-ID": "-1"}} {
		r := c.do(req{method: "GET", path: "/v1/events/stream", token: c.Token("acme"), header: h})
		p := wantProblem(t, r, http.StatusBadRequest, "invalid-query")
		if p["errors"].([]any)[0].(map[string]any)["parameter"] != "Last-Event-ID" {
			t.Fatalf("bad Last-Event-ID: %s", r.Body)
		}
	}
}
