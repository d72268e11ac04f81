package schedule_test

import (
	"context"
	"errors"
	"fmt"
	mathrand "math/rand/v2"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/membrane-dev/membrane/runtime/events/schedule"
	"github.com/membrane-dev/membrane/runtime/store"
	"github.com/membrane-dev/membrane/runtime/store/crypt"
	"github.com/membrane-dev/membrane/runtime/store/storetest"
)

// forEachStore runs test on SQLite and on PostgreSQL.
func forEachStore(t *testing.T, test func(t *testing.T, open storetest.Opener)) {
	t.Helper()
	engines := []struct {
		name  string
		newDB func(*testing.T) storetest.NewDB
	}{{"sqlite", storetest.SQLite}, {"postgres", storetest.Postgres}}
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			t.Parallel()
			test(t, e.newDB(t)(t))
		})
	}
}

// clock is a hand-driven Clock: Advance moves it and fires the waits it
// passes. waitFor blocks until someone waits for a given duration, so a
// test advances only once the scheduler is listening.
type clock struct {
	mu      sync.Mutex
	cond    *sync.Cond
	now     time.Time
	waiters []waiter
}

type waiter struct {
	at time.Time
	d  time.Duration
	ch chan time.Time
}

func newClock() *clock {
	c := &clock{now: time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)}
	c.cond = sync.NewCond(&c.mu)
	return c
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	if d <= 0 {
		ch <- c.now
		return ch
	}
	c.waiters = append(c.waiters, waiter{at: c.now.Add(d), d: d, ch: ch})
	c.cond.Broadcast()
	return ch
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.waiters[:0]
	for _, w := range c.waiters {
		if w.at.After(c.now) {
			kept = append(kept, w)
			continue
		}
		w.ch <- c.now
	}
	c.waiters = kept
}

// waitFor blocks until a wait of d is pending (fails the test after 10 s).
func (c *clock) waitFor(t *testing.T, d time.Duration) {
	t.Helper()
	stop := time.AfterFunc(10*time.Second, func() {
		c.mu.Lock()
		c.cond.Broadcast()
		c.mu.Unlock()
	})
	defer stop.Stop()
	deadline := time.Now().Add(10 * time.Second)
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		for _, w := range c.waiters {
			if w.d == d {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing waits for %s", d)
		}
		c.cond.Wait()
	}
}

// env is one test's store, clock and tenant.
type env struct {
	t     *testing.T
	ctx   context.Context
	clock *clock
	st    store.Store
	open  func() store.Store
}

func newEnv(t *testing.T, open storetest.Opener) *env {
	c := newClock()
	e := &env{t: t, ctx: t.Context(), clock: c}
	keys := keyring(t)
	e.open = func() store.Store {
		return open(store.WithClock(c.Now), store.WithKeyring(keys), store.WithLogger(storetest.Quiet()))
	}
	e.st = e.open()
	return e
}

// connection creates a connection of tenant acme.
func (e *env) connection() string {
	e.t.Helper()
	c, err := e.st.Tenant("acme").Connections().Create(e.ctx, store.Connection{Connector: "crm"})
	if err != nil {
		e.t.Fatal(err)
	}
	return c.ID
}

// subscribe subscribes a connection to an event, due at next.
func (e *env) subscribe(conn, event string, next time.Time, mod ...func(*store.Subscription)) *store.Subscription {
	e.t.Helper()
	s := store.Subscription{ConnectionID: conn, Event: event, Interval: 5 * time.Minute, NextRunAt: next}
	for _, m := range mod {
		m(&s)
	}
	sub, err := e.st.Tenant("acme").Subscriptions().Create(e.ctx, s)
	if err != nil {
		e.t.Fatal(err)
	}
	return sub
}

func (e *env) get(id string) *store.Subscription {
	e.t.Helper()
	s, err := e.st.Tenant("acme").Subscriptions().Get(e.ctx, id)
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

// scheduler makes a scheduler on the env's store and clock.
func (e *env) scheduler(p schedule.Poller, mod ...func(*schedule.Options)) *schedule.Scheduler {
	o := schedule.Options{
		Store: e.st, Record: true, Poller: p, Clock: e.clock, Worker: "w1", Workers: 4, Lease: 3 * time.Minute,
		Rand: mathrand.New(mathrand.NewPCG(1, 2)), Logger: storetest.Quiet(),
	}
	for _, m := range mod {
		m(&o)
	}
	return schedule.New(o)
}

// recorder is a Poller that records what it polled, in order.
type recorder struct {
	mu     sync.Mutex
	polled []string
	fn     func(ctx context.Context, sub *store.Subscription) error
}

func (r *recorder) Poll(ctx context.Context, sub *store.Subscription) error {
	r.mu.Lock()
	r.polled = append(r.polled, sub.ID)
	r.mu.Unlock()
	if r.fn != nil {
		return r.fn(ctx, sub)
	}
	return nil
}

func (r *recorder) last() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.polled) == 0 {
		return ""
	}
	return r.polled[len(r.polled)-1]
}

func (r *recorder) ids() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := append([]string(nil), r.polled...)
	sort.Strings(out)
	return out
}

// watched wraps Polls to tell the test about extensions and releases, and
// to fail extensions on demand.
type watched struct {
	store.Polls
	extended  chan string
	released  chan string
	extendErr func(id string) error
}

func watch(p store.Polls) *watched {
	return &watched{Polls: p, extended: make(chan string, 100), released: make(chan string, 100)}
}

func (w *watched) Extend(ctx context.Context, worker, id string, lease time.Duration) error {
	if w.extendErr != nil {
		if err := w.extendErr(id); err != nil {
			w.extended <- id
			return err
		}
	}
	err := w.Polls.Extend(ctx, worker, id, lease)
	w.extended <- id
	return err
}

func (w *watched) Release(ctx context.Context, worker, id string, next time.Time) error {
	err := w.Polls.Release(ctx, worker, id, next)
	w.released <- id
	return err
}

// receive waits for a value on ch (fails after 10 s).
func receive[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

func within(t *testing.T, what string, got, want time.Duration, spread float64) {
	t.Helper()
	lo := time.Duration(float64(want) * (1 - spread))
	hi := time.Duration(float64(want) * (1 + spread))
	if got < lo || got > hi {
		t.Fatalf("%s: %s, want %s ±%.0f%%", what, got, want, spread*100)
	}
}

var errUpstream = errors.New("upstream answered 500")

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// keyring is the key replicas share to seal secrets.
func keyring(t testing.TB) *crypt.Keyring {
	k, err := crypt.New(crypt.Generate())
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func name(i int) string { return fmt.Sprintf("event-%d", i) }
