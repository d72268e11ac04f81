package delivery_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/membrane-dev/membrane/runtime/store"
	"github.com/membrane-dev/membrane/runtime/store/storetest"
)

// perfClock is the simulated time of a test: the store and the Deliverer
// read it, the test moves it.
type perfClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *perfClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *perfClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// quiet waits until nothing of destination dst is in flight and nothing
// due at the clock's time is left unclaimed: every attempt the store
// counted (claims count one) reached the receiver and was recorded, and
// every pending delivery is due later. It returns the pending ones.
func perfQuiet(t *testing.T, st store.Store, dst string, recv *perfReceiver, now time.Time) []*store.DeliveryState {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var claimed, pendingDue int
		var pending []*store.DeliveryState
		for cursor := ""; ; {
			page, err := st.Deliveries().List(ctx, store.DeliveryFilter{Destination: dst, Cursor: cursor, Limit: 500})
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range page.Items {
				claimed += s.Attempts
				if s.Status == store.Pending {
					pending = append(pending, s)
					if !s.NextAttemptAt.After(now) {
						pendingDue++
					}
				}
			}
			if cursor = page.Next; cursor == "" {
				break
			}
		}
		recorded := 0
		for cursor := ""; ; {
			page, err := st.Deliveries().Attempts(ctx, store.AttemptFilter{Destination: dst, Cursor: cursor, Limit: 500})
			if err != nil {
				t.Fatal(err)
			}
			recorded += len(page.Items)
			if cursor = page.Next; cursor == "" {
				break
			}
		}
		if claimed == recorded && recorded == recv.requests() && pendingDue == 0 {
			return pending
		}
		if time.Now().After(deadline) {
			t.Fatalf("destination %s never settled: %d attempts claimed, %d recorded, %d requests at its receiver, %d pending due", dst, claimed, recorded, recv.requests(), pendingDue)
		}
		select {
		case <-recv.seen:
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// TestDeliveryReceiverDownTenMinutes: one destination's backend answers
// 503 for ten minutes of simulated time while a second one is healthy.
// The healthy one gets every event without the clock moving (nothing
// waits behind the failing one), including events enqueued during the
// outage; once the first backend is back, each of its events arrives at
// the first step of the clock past the retry time the store holds for
// it (retry order), and every event arrives.
func TestDeliveryReceiverDownTenMinutes(t *testing.T) {
	t.Parallel()
	clock := &perfClock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	st := perfOpenSQLite(t, store.WithClock(clock.Now))
	down, healthy := newPerfReceiver(t), newPerfReceiver(t)
	down.key, healthy.key = perfKey, perfKey
	down.status.Store(503)
	dDown := perfDestination(t, st, "down", down.URL, 4)
	dHealthy := perfDestination(t, st, "healthy", healthy.URL, 4)
	cfg := perfConfig(st, "replica")
	cfg.Clock = clock.Now
	cfg.Lease = 2 * time.Hour // longer than the simulated run: no lease runs out while the clock jumps
	d, _ := perfRun(t, cfg)

	const first, second = 20, 10
	start := clock.Now()
	done := healthy.expect(first)
	perfEnqueue(t, st, perfEvents("before", first), 10)
	perfWait(t, "the healthy destination to get the first events", done, time.Minute, func() string { return fmt.Sprint(healthy.received(), " received") })
	if !clock.Now().Equal(start) {
		t.Fatal("the clock moved")
	}

	// Ten minutes down, in steps of a minute.
	const step = time.Minute
	for now := start; now.Sub(start) < 10*time.Minute; {
		perfQuiet(t, st, dDown.ID, down, now)
		if now.Sub(start) == 5*time.Minute {
			// Events of the outage reach the healthy destination at once.
			done := healthy.expect(second)
			perfEnqueue(t, st, perfEvents("during", second), 3)
			perfWait(t, "the healthy destination to get the events of the outage", done, time.Minute, func() string { return fmt.Sprint(healthy.received(), " received") })
			perfQuiet(t, st, dDown.ID, down, now)
		}
		now = now.Add(step)
		clock.Set(now)
		d.Kick()
	}
	if healthy.requests() != first+second || healthy.duplicates() != 0 {
		t.Errorf("the healthy destination got %d requests for %d events", healthy.requests(), first+second)
	}
	// Back: each event arrives at the first step past its due time.
	now := clock.Now()
	pending := perfQuiet(t, st, dDown.ID, down, now)
	t.Logf("the failing backend got %d attempts in 10 minutes for %d events", down.requests(), first+second)
	if len(pending) != first+second {
		t.Fatalf("%d deliveries pending at the failing destination, want %d", len(pending), first+second)
	}
	due := map[string]time.Time{}
	for _, p := range pending {
		due[p.EventID] = p.NextAttemptAt
	}
	down.status.Store(200)
	arrivedAt := map[string]time.Time{} // event → the clock when it arrived
	all := down.expect(first + second)
	for steps := 0; len(arrivedAt) < first+second; steps++ {
		if steps > 100 {
			t.Fatalf("after 100 minutes of simulated time %d of %d events arrived", len(arrivedAt), first+second)
		}
		now = now.Add(step)
		clock.Set(now)
		d.Kick()
		perfQuiet(t, st, dDown.ID, down, now)
		for id := range down.arrived() {
			if _, ok := arrivedAt[id]; !ok {
				arrivedAt[id] = now
			}
		}
	}
	<-all
	var late, early []string
	for id, at := range arrivedAt {
		switch want := due[id]; {
		case want.After(at):
			early = append(early, fmt.Sprintf("%s due %v arrived at %v", id, want.Sub(start), at.Sub(start)))
		case !want.After(at.Add(-step)):
			late = append(late, fmt.Sprintf("%s due %v arrived at %v", id, want.Sub(start), at.Sub(start)))
		}
	}
	slices.Sort(early)
	slices.Sort(late)
	for _, s := range early {
		t.Errorf("before its retry time: %s", s)
	}
	for _, s := range late {
		t.Errorf("a step after its retry time: %s", s)
	}
	if p := append(down.problems(), healthy.problems()...); len(p) > 0 {
		t.Errorf("%d bad requests, the first: %s", len(p), p[0])
	}
	last := start
	for _, at := range arrivedAt {
		if at.After(last) {
			last = at
		}
	}
	t.Logf("back after 10 minutes: all %d events arrived by %v of simulated time, %d attempts in all", first+second, last.Sub(start), down.requests())
	_ = dHealthy
}

// TestDeliveryTwoReplicasPostgres: two Deliverers, each on its own store
// handle with its own worker name, share one PostgreSQL database while
// events are enqueued through both. Every event reaches the receiver, and
// none twice: with no crash and a lease longer than the run, the
// at-least-once bound on duplicates is zero. The log holds every event
// once, with strictly increasing Seq.
func TestDeliveryTwoReplicasPostgres(t *testing.T) {
	t.Parallel()
	open := storetest.Postgres(t)(t)
	keys := perfKeyring(t)
	a := open(store.WithLogger(storetest.Quiet()), store.WithKeyring(keys))
	b := open(store.WithLogger(storetest.Quiet()), store.WithKeyring(keys))
	recv := newPerfReceiver(t)
	recv.key = perfKey
	perfDestination(t, a, "backend", recv.URL, 4)

	const n = 300
	done := recv.expect(n)
	cfgA, cfgB := perfConfig(a, "replica-a"), perfConfig(b, "replica-b")
	cfgA.Lease, cfgB.Lease = 10*time.Minute, 10*time.Minute
	_, stopA := perfRun(t, cfgA)
	_, stopB := perfRun(t, cfgB)
	events := perfEvents("replicas", n)
	var wg sync.WaitGroup
	for i, st := range []store.Store{a, b} {
		wg.Go(func() {
			var mine []store.Event
			for k := i; k < n; k += 2 {
				mine = append(mine, events[k])
			}
			perfEnqueue(t, st, mine, 7)
		})
	}
	wg.Wait()
	perfWait(t, "every event at the receiver", done, 5*time.Minute, func() string { return fmt.Sprint(recv.received(), " received") })
	for _, stop := range []func() error{stopA, stopB} {
		if err := stop(); err != nil {
			t.Errorf("Run: %v", err)
		}
	}
	if dup := recv.duplicates(); dup != 0 {
		t.Errorf("%d duplicate deliveries; with no crash and a lease longer than the run the bound is 0", dup)
	}
	if p := recv.problems(); len(p) > 0 {
		t.Errorf("%d bad requests, the first: %s", len(p), p[0])
	}
	var log []store.Event
	for after := int64(0); ; {
		page, err := a.Deliveries().Log(context.Background(), "", after, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		log = append(log, page...)
		after = page[len(page)-1].Seq
	}
	if len(log) != n {
		t.Errorf("the log holds %d events, want %d", len(log), n)
	}
	for i := 1; i < len(log); i++ {
		if log[i].Seq <= log[i-1].Seq {
			t.Errorf("Seq %d after %d (%s after %s)", log[i].Seq, log[i-1].Seq, log[i].ID, log[i-1].ID)
		}
	}
	t.Logf("%d events, %d requests at the receiver, 0 duplicates allowed", n, recv.requests())
}
