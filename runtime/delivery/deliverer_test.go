package delivery

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/membrane-dev/membrane/runtime/store"
	"github.com/membrane-dev/membrane/runtime/store/crypt"
	"github.com/membrane-dev/membrane/runtime/store/storetest"
)

// clock is the time of a test, starting now (the vendors' verifiers hold
// the webhook-timestamp to their own clock, within minutes).
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// recorded is one attempt as the deliverer recorded it.
type recorded struct {
	a store.Attempt
	o store.Outcome
}

type env struct {
	t     *testing.T
	ctx   context.Context
	open  storetest.Opener
	keys  *crypt.Keyring
	clock *clock
	st    store.Store
}

func newEnv(t *testing.T, newDB storetest.NewDB) *env {
	keys, err := crypt.New(crypt.Generate())
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, ctx: t.Context(), open: newDB(t), keys: keys, clock: &clock{now: time.Now().UTC().Truncate(time.Second)}}
	e.st = e.store()
	return e
}

// store opens another instance on the test's database (a replica).
func (e *env) store() store.Store {
	return e.open(store.WithKeyring(e.keys), store.WithClock(e.clock.Now), store.WithLogger(storetest.Quiet()))
}

// start runs a deliverer on st until the test ends; its recorded attempts
// arrive on the returned channel.
func (e *env) start(st store.Store, mod func(c *Config)) (*Deliverer, chan recorded) {
	e.t.Helper()
	cfg := Config{
		Store: st, Clock: e.clock.Now, Logger: storetest.Quiet(),
		AllowPrivate: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")},
	}
	if mod != nil {
		mod(&cfg)
	}
	d, err := New(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	got := make(chan recorded, 1000)
	d.observe = func(a store.Attempt, o store.Outcome) { got <- recorded{a, o} }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	e.t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			e.t.Errorf("Run: %v", err)
		}
	})
	return d, got
}

func (e *env) dest(d store.Destination) *store.Destination {
	e.t.Helper()
	if d.Kind == "" {
		d.Kind = store.DestinationWebhook
	}
	if d.Kind == store.DestinationWebhook && d.Secret == "" {
		d.Secret = NewSecret()
	}
	out, err := e.st.Destinations().Create(e.ctx, d)
	if err != nil {
		e.t.Fatal(err)
	}
	return out
}

func (e *env) enqueue(tenant, typ string, n int) []string {
	e.t.Helper()
	var evs []store.Event
	var ids []string
	for i := range n {
		id := fmt.Sprintf("evt_%s_%s_%d_%s", tenant, strings.ReplaceAll(typ, ".", "_"), i, randomHex(4))
		ids = append(ids, id)
		evs = append(evs, store.Event{
			ID: id, Tenant: tenant, Type: typ, Connector: "hubspot", ConnectionID: "conn_1",
			Payload: json.RawMessage(fmt.Sprintf(`{"n":%d,"name":"Zoë"}`, i)), CreatedAt: e.clock.Now(),
		})
	}
	if err := e.st.Tenant(tenant).Outbox().Enqueue(e.ctx, evs...); err != nil {
		e.t.Fatal(err)
	}
	return ids
}

// next waits for the next recorded attempt (the test's timeout catches a
// hang).
func next(t *testing.T, got chan recorded) recorded {
	t.Helper()
	select {
	case r := <-got:
		return r
	case <-t.Context().Done():
		t.Fatal("no attempt recorded")
	}
	return recorded{}
}

func (e *env) state(eventID, dest string) *store.DeliveryState {
	e.t.Helper()
	p, err := e.st.Deliveries().List(e.ctx, store.DeliveryFilter{EventID: eventID, Destination: dest})
	if err != nil || len(p.Items) != 1 {
		e.t.Fatalf("delivery of %s to %s: %v %v", eventID, dest, p.Items, err)
	}
	return p.Items[0]
}

// Deliveries arrive signed, and pass Standard Webhooks' own verifiers, Go
// and npm; during a rotation both secrets' signatures verify, after it
// only the current one is sent.
func TestSignedDeliveriesPassVendorVerifiers(t *testing.T) {
	t.Parallel()
	eachVerifier(t, func(t *testing.T, start func(t *testing.T, secrets ...string) *receiver) {
		e := newEnv(t, storetest.SQLite(t))
		cur, prev := NewSecret(), NewSecret()
		both := start(t, cur, prev)
		only := start(t, cur)
		rot := e.dest(store.Destination{Name: "rotating", URL: both.URL, Secret: cur, PreviousSecret: prev,
			PreviousUntil: e.clock.Now().Add(time.Second), EventTypes: []string{"contact.*"}})
		e.dest(store.Destination{Name: "current", URL: only.URL, Secret: cur, EventTypes: []string{"deal.created"}})
		_, rec := e.start(e.st, nil)
		ids := e.enqueue("acme", "contact.updated", 3)
		seen := map[string]bool{}
		for range ids {
			r := <-both.Got
			if !r.OK {
				t.Fatalf("the vendor's verifier refused %s: %s", r.ID, r.Reason)
			}
			var env Envelope
			if err := json.Unmarshal([]byte(r.Body), &env); err != nil || env.Tenant != "acme" || env.Connector != "hubspot" || env.ID != r.ID {
				t.Fatalf("envelope %s: %v", r.Body, err)
			}
			seen[r.ID] = true
		}
		for range ids {
			if r := next(t, rec); !r.o.Delivered || r.a.Destination != rot.ID || r.a.Status != 204 {
				t.Fatalf("recorded %+v", r)
			}
		}
		for _, id := range ids {
			if !seen[id] || e.state(id, rot.ID).Status != store.Delivered {
				t.Fatalf("%s not delivered", id)
			}
		}
		// The rotation's grace period over, one signature, which the
		// receiver knowing only the current secret accepts.
		e.clock.Advance(2 * time.Second)
		id := e.enqueue("acme", "deal.created", 1)[0]
		if r := <-only.Got; !r.OK || r.ID != id {
			t.Fatalf("after the rotation: %+v", r)
		}
		next(t, rec)
	})
}

// A failing delivery is retried on the schedule; a Retry-After raises the
// wait; the attempts are kept newest first; after the last scheduled
// attempt the delivery is dead.
func TestRetryScheduleAndRetryAfter(t *testing.T) {
	t.Parallel()
	e := newEnv(t, storetest.SQLite(t))
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch calls.Add(1) {
		case 1:
			http.Error(w, "boom", http.StatusInternalServerError)
		case 2:
			w.Header().Set("Retry-After", "3600")
			w.WriteHeader(http.StatusServiceUnavailable)
		default:
			w.WriteHeader(http.StatusOK)
		}
	}))
	defer srv.Close()
	dst := e.dest(store.Destination{Name: "flaky", URL: srv.URL})
	d, rec := e.start(e.st, nil)
	id := e.enqueue("acme", "contact.created", 1)[0]

	r := next(t, rec)
	t0 := r.a.At
	if r.a.Attempt != 1 || r.a.Status != 500 || r.o.Delivered || r.o.Dead ||
		r.o.Next.Before(t0.Add(4*time.Second)) || r.o.Next.After(t0.Add(6*time.Second)) || r.a.Excerpt != "boom\n" {
		t.Fatalf("attempt 1: %+v", r)
	}
	if st := e.state(id, dst.ID); st.Status != store.Pending || !st.NextAttemptAt.Equal(r.o.Next) || st.Attempts != 1 {
		t.Fatalf("after attempt 1: %+v", st)
	}
	e.clock.Advance(6 * time.Second)
	d.Kick()
	r = next(t, rec)
	if r.a.Attempt != 2 || r.a.Status != 503 || !r.o.Next.Equal(r.a.At.Add(time.Hour)) {
		t.Fatalf("attempt 2 (Retry-After 3600 over a 5m step): %+v", r)
	}
	e.clock.Advance(time.Hour)
	d.Kick()
	if r = next(t, rec); r.a.Attempt != 3 || !r.o.Delivered {
		t.Fatalf("attempt 3: %+v", r)
	}
	if st := e.state(id, dst.ID); st.Status != store.Delivered {
		t.Fatalf("after attempt 3: %+v", st)
	}
	p, err := e.st.Deliveries().Attempts(e.ctx, store.AttemptFilter{EventID: id})
	if err != nil || len(p.Items) != 3 || p.Items[0].Status != 200 || p.Items[1].Status != 503 || p.Items[2].Status != 500 {
		t.Fatalf("attempts: %v %v", p.Items, err)
	}
}

func TestDeadAfterTheLastAttempt(t *testing.T) {
	t.Parallel()
	e := newEnv(t, storetest.SQLite(t))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadGateway)
	}))
	defer srv.Close()
	dst := e.dest(store.Destination{Name: "down", URL: srv.URL})
	d, rec := e.start(e.st, func(c *Config) { c.Schedule = []time.Duration{0, time.Minute, time.Minute} })
	id := e.enqueue("acme", "contact.created", 1)[0]
	for n := 1; n <= 3; n++ {
		r := next(t, rec)
		if r.a.Attempt != n || r.o.Dead != (n == 3) || (n < 3) == r.o.Next.IsZero() {
			t.Fatalf("attempt %d: %+v", n, r)
		}
		e.clock.Advance(2 * time.Minute)
		d.Kick()
	}
	if st := e.state(id, dst.ID); st.Status != store.Dead || st.Attempts != 3 {
		t.Fatalf("after the last attempt: %+v", st)
	}
}

// 410 disables the destination (reason "gone"), kills the delivery and
// raises endpoint.disabled, which reaches the other destinations; a
// disabled destination gets nothing more.
func Test410DisablesAndRaisesEndpointDisabled(t *testing.T) {
	t.Parallel()
	e := newEnv(t, storetest.SQLite(t))
	var goneCalls atomic.Int32
	gone := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		goneCalls.Add(1)
		w.WriteHeader(http.StatusGone)
	}))
	defer gone.Close()
	watcher := goReceiver(t, "whsec_"+strings.Repeat("QUJD", 8))
	g := e.dest(store.Destination{Name: "gone", URL: gone.URL, EventTypes: []string{"contact.*"}})
	e.dest(store.Destination{Name: "ops", URL: watcher.URL, Secret: "whsec_" + strings.Repeat("QUJD", 8), EventTypes: []string{EndpointDisabled}})
	_, rec := e.start(e.st, nil)
	id := e.enqueue("acme", "contact.created", 1)[0]
	if r := next(t, rec); r.a.Status != 410 || !r.o.Dead || r.a.Destination != g.ID {
		t.Fatalf("410: %+v", r)
	}
	got, err := e.st.Destinations().Get(e.ctx, g.ID)
	if err != nil || got.Status != store.DestinationDisabled || got.DisabledReason != "gone" || got.DisabledAt.IsZero() {
		t.Fatalf("destination after 410: %+v %v", got, err)
	}
	if st := e.state(id, g.ID); st.Status != store.Dead {
		t.Fatalf("delivery after 410: %+v", st)
	}
	ev := <-watcher.Got
	var env Envelope
	var p DisabledPayload
	if err := json.Unmarshal([]byte(ev.Body), &env); err != nil || env.Type != EndpointDisabled || env.Tenant != store.WorkspaceTenant {
		t.Fatalf("endpoint.disabled: %s %v", ev.Body, err)
	}
	if err := json.Unmarshal(env.Data, &p); err != nil || p.Destination != g.ID || p.Name != "gone" || p.Reason != "gone" || p.DisabledAt.IsZero() {
		t.Fatalf("endpoint.disabled payload: %s %v", env.Data, err)
	}
	next(t, rec) // the watcher's delivery
	// Disabled: a new event is not routed to it.
	id2 := e.enqueue("acme", "contact.created", 1)[0]
	if evs := waitLog(t, e.st, id2); len(evs) == 0 {
		t.Fatal("not routed")
	}
	if p, _ := e.st.Deliveries().List(e.ctx, store.DeliveryFilter{EventID: id2}); len(p.Items) != 0 || goneCalls.Load() != 1 {
		t.Fatalf("a disabled destination got a delivery: %v, %d calls", p.Items, goneCalls.Load())
	}
}

// waitLog waits until id is routed (the router's Routed signal) and
// returns the log up to it.
func waitLog(t *testing.T, st store.Store, id string) []store.Event {
	t.Helper()
	for {
		routed := st.Deliveries().Routed()
		evs, err := st.Deliveries().Log(t.Context(), "", 0, 1000)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range evs {
			if e.ID == id {
				return evs
			}
		}
		select {
		case <-routed:
		case <-t.Context().Done():
			t.Fatalf("%s never routed", id)
		}
	}
}

// A destination failing for DisableAfter is disabled, reason "failing".
func TestFailingTooLongDisables(t *testing.T) {
	t.Parallel()
	e := newEnv(t, storetest.SQLite(t))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
	}))
	defer srv.Close()
	dst := e.dest(store.Destination{Name: "failing", URL: srv.URL})
	d, rec := e.start(e.st, func(c *Config) { c.DisableAfter = time.Hour })
	e.enqueue("acme", "contact.created", 1)
	next(t, rec)
	if got, _ := e.st.Destinations().Get(e.ctx, dst.ID); got.FailingSince.IsZero() || got.Status != store.DestinationActive {
		t.Fatalf("after a first failure: %+v", got)
	}
	e.clock.Advance(2 * time.Hour)
	d.Kick()
	next(t, rec)
	got, _ := e.st.Destinations().Get(e.ctx, dst.ID)
	if got.Status != store.DestinationDisabled || got.DisabledReason != "failing" {
		t.Fatalf("after failing 2h: %+v", got)
	}
	evs, err := e.st.Tenant(store.WorkspaceTenant).Outbox().Recent(e.ctx, 10)
	if err != nil || len(evs) != 1 || evs[0].Type != EndpointDisabled {
		t.Fatalf("workspace events: %+v %v", evs, err)
	}
}

// One slow destination never holds up a healthy one: while the slow one's
// attempt hangs (as many as its concurrency), every delivery to the
// healthy one completes.
func TestSlowDestinationDoesNotHoldUpOthers(t *testing.T) {
	t.Parallel()
	e := newEnv(t, storetest.SQLite(t))
	entered := make(chan string, 100)
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered <- r.Header.Get(HeaderID)
		<-release
	}))
	defer slow.Close()
	defer close(release)
	healthy := goReceiver(t, "whsec_"+strings.Repeat("QUJD", 8))
	s := e.dest(store.Destination{Name: "slow", URL: slow.URL, Concurrency: 2, Timeout: time.Hour})
	h := e.dest(store.Destination{Name: "healthy", URL: healthy.URL, Secret: "whsec_" + strings.Repeat("QUJD", 8)})
	_, rec := e.start(e.st, func(c *Config) { c.Batch = 3 })
	const n = 20
	ids := e.enqueue("acme", "contact.created", n)
	<-entered
	<-entered
	for i := 0; i < n; {
		r := next(t, rec)
		if r.a.Destination != h.ID || !r.o.Delivered {
			t.Fatalf("while the slow one hangs: %+v", r)
		}
		i++
	}
	select {
	case id := <-entered:
		t.Fatalf("a third attempt (%s) reached the slow destination of concurrency 2", id)
	default:
	}
	for _, id := range ids {
		if st := e.state(id, h.ID); st.Status != store.Delivered {
			t.Fatalf("healthy %s: %+v", id, st)
		}
	}
	_ = s
}

// Bad targets are failed attempts with a clear error, and retried.
func TestBadTargetsAreFailedAttemptsAndRetried(t *testing.T) {
	t.Parallel()
	e := newEnv(t, storetest.SQLite(t))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	hold := make(chan struct{})
	defer close(hold)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 4096)
				n, _ := c.Read(buf)
				switch {
				case strings.Contains(string(buf[:n]), "/silent"):
					<-hold
				default:
					c.Write([]byte("\x16\x03\x01garbage, not HTTP\r\n\r\n"))
				}
			}()
		}
	}()
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/redirect":
			http.Redirect(w, r, "https://elsewhere.example.org/in", http.StatusFound)
		case "/huge":
			buf := make([]byte, 64<<10)
			for range 32 * 1024 { // 2 GB, if anyone read it
				if _, err := w.Write(buf); err != nil {
					return
				}
			}
		}
	}))
	defer web.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	cases := map[string]struct{ url, want string }{
		"private":  {"http://127.0.0.2:" + port + "/x", "refused to connect to 127.0.0.2, a loopback address"},
		"redirect": {web.URL + "/redirect", "redirecting to elsewhere.example.org"},
		"huge":     {web.URL + "/huge", "a body over 65536 bytes"},
		"silent":   {"http://" + ln.Addr().String() + "/silent", "no answer within 300ms"},
		"garbage":  {"http://" + ln.Addr().String() + "/garbage", "unreadable answer"},
	}
	byID := map[string]string{}
	for name, c := range cases {
		timeout := 10 * time.Second // only the silent peer waits it out
		if name == "silent" {
			timeout = 300 * time.Millisecond
		}
		dst := e.dest(store.Destination{Name: name, URL: c.url, Timeout: timeout})
		byID[dst.ID] = name
	}
	d, rec := e.start(e.st, nil)
	e.enqueue("acme", "contact.created", 1)
	for round := 1; round <= 2; round++ {
		seen := map[string]bool{}
		for range cases {
			r := next(t, rec)
			name := byID[r.a.Destination]
			if r.a.Attempt != round || r.o.Delivered || r.o.Dead || r.o.Next.IsZero() || !strings.Contains(r.a.Error, cases[name].want) {
				t.Fatalf("%s attempt %d: %+v, want an error with %q and a retry", name, round, r, cases[name].want)
			}
			seen[name] = true
		}
		if len(seen) != len(cases) {
			t.Fatalf("round %d: attempts of %v", round, seen)
		}
		e.clock.Advance(10 * time.Second)
		d.Kick()
	}
}

// Several replicas on one PostgreSQL database deliver each event once and
// route them in one order.
func TestReplicasShareTheWork(t *testing.T) {
	t.Parallel()
	e := newEnv(t, storetest.Postgres(t))
	var mu sync.Mutex
	got := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got[r.Header.Get(HeaderID)]++
		mu.Unlock()
	}))
	defer srv.Close()
	e.dest(store.Destination{Name: "backend", URL: srv.URL})
	recs := make(chan recorded, 1000)
	for i := range 3 {
		_, rec := e.start(e.store(), func(c *Config) { c.Worker = fmt.Sprintf("replica-%d", i); c.Batch = 7 })
		go func() {
			for r := range rec {
				recs <- r
			}
		}()
	}
	const n = 60
	var ids []string
	for i := range 3 {
		ids = append(ids, e.enqueue(fmt.Sprintf("t%d", i), "contact.created", n/3)...)
	}
	for range n {
		if r := next(t, recs); !r.o.Delivered || r.a.Attempt != 1 {
			t.Fatalf("recorded %+v", r)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for _, id := range ids {
		if got[id] != 1 {
			t.Fatalf("%s delivered %d times", id, got[id])
		}
	}
	evs, err := e.st.Deliveries().Log(e.ctx, "", 0, 1000)
	if err != nil || len(evs) != n {
		t.Fatalf("log: %d %v", len(evs), err)
	}
	for i := 1; i < len(evs); i++ {
		if evs[i].Seq <= evs[i-1].Seq {
			t.Fatalf("log out of order at %d: %d after %d", i, evs[i].Seq, evs[i-1].Seq)
		}
	}
}

// Stopping waits for the attempts in flight: what was sent is recorded.
func TestStopRecordsAttemptsInFlight(t *testing.T) {
	t.Parallel()
	e := newEnv(t, storetest.SQLite(t))
	entered := make(chan struct{})
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
	}))
	defer srv.Close()
	dst := e.dest(store.Destination{Name: "slow", URL: srv.URL})
	st := e.store()
	d, err := New(Config{Store: st, Clock: e.clock.Now, Logger: storetest.Quiet(),
		AllowPrivate: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	id := e.enqueue("acme", "contact.created", 1)[0]
	<-entered
	cancel()
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	st.Close()
	if s := e.state(id, dst.ID); s.Status != store.Delivered {
		t.Fatalf("after the stop: %+v", s)
	}
}

// A delivery claimed by a replica that died is delivered by another once
// the lease runs out.
func TestLeaseOfADeadReplicaRunsOut(t *testing.T) {
	t.Parallel()
	e := newEnv(t, storetest.Postgres(t))
	rcv := goReceiver(t, "whsec_"+strings.Repeat("QUJD", 8))
	dst := e.dest(store.Destination{Name: "backend", URL: rcv.URL, Secret: "whsec_" + strings.Repeat("QUJD", 8)})
	id := e.enqueue("acme", "contact.created", 1)[0]
	// The dead replica routed and claimed it, and was never heard of again.
	if _, err := e.st.Deliveries().Route(e.ctx, 10, func(*store.Event) []string { return []string{dst.ID} }); err != nil {
		t.Fatal(err)
	}
	if got, err := e.st.Deliveries().Claim(e.ctx, "dead-replica", 10, time.Minute, nil); err != nil || len(got) != 1 {
		t.Fatalf("claim: %v %v", got, err)
	}
	d, rec := e.start(e.store(), nil)
	e.clock.Advance(2 * time.Minute)
	d.Kick()
	r := next(t, rec)
	if !r.o.Delivered || r.a.EventID != id || r.a.Attempt != 2 {
		t.Fatalf("after the lease: %+v", r)
	}
	if got := <-rcv.Got; !got.OK || got.ID != id {
		t.Fatalf("received %+v", got)
	}
}

// Replicas meeting 410s at once raise endpoint.disabled once.
func TestEndpointDisabledRaisedOnceAcrossReplicas(t *testing.T) {
	t.Parallel()
	e := newEnv(t, storetest.Postgres(t))
	const n = 4
	entered := make(chan struct{}, n)
	release := make(chan struct{})
	gone := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-release
		w.WriteHeader(http.StatusGone)
	}))
	defer gone.Close()
	e.dest(store.Destination{Name: "gone", URL: gone.URL, EventTypes: []string{"contact.*"}})
	recs := make(chan recorded, 100)
	for i := range 2 {
		_, rec := e.start(e.store(), func(c *Config) { c.Worker = fmt.Sprintf("replica-%d", i); c.Batch = 1 })
		go func() {
			for r := range rec {
				recs <- r
			}
		}()
	}
	e.enqueue("acme", "contact.created", n)
	// Every delivery in flight before any answer: then all answer 410.
	for range n {
		<-entered
	}
	close(release)
	for range n {
		if r := next(t, recs); r.a.Status != 410 || !r.o.Dead {
			t.Fatalf("recorded %+v", r)
		}
	}
	evs, err := e.st.Tenant(store.WorkspaceTenant).Outbox().Recent(e.ctx, 10)
	if err != nil || len(evs) != 1 || evs[0].Type != EndpointDisabled {
		t.Fatalf("workspace events after %d concurrent 410s: %+v %v", n, evs, err)
	}
}

// A claim never hands a destination more than it can start: a slow
// destination with a backlog next to one with room gets its own room's
// worth, not the sum of both (what it cannot start before the lease
// lapses would count attempts never made, and burn its retries).
func TestClaimNeverExceedsADestinationsRoom(t *testing.T) {
	t.Parallel()
	e := newEnv(t, storetest.SQLite(t))
	entered := make(chan struct{}, 100)
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-release
	}))
	defer slow.Close()
	defer close(release)
	s := e.dest(store.Destination{Name: "slow", URL: slow.URL, Concurrency: 1, Timeout: time.Hour, EventTypes: []string{"slow.*"}})
	e.dest(store.Destination{Name: "idle", URL: slow.URL, EventTypes: []string{"other.*"}})
	e.enqueue("acme", "slow.created", 30)
	e.start(e.st, nil)
	<-entered
	p, err := e.st.Deliveries().List(e.ctx, store.DeliveryFilter{Destination: s.ID, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	claimed := 0
	for _, d := range p.Items {
		if d.Attempts > 0 {
			claimed++
		}
	}
	// Concurrency 1, and one claimed behind it for a destination whose
	// latency is not known yet.
	if len(p.Items) != 30 || claimed > 2 {
		t.Fatalf("the slow destination has %d of %d deliveries claimed; it can start 2", claimed, len(p.Items))
	}
}
