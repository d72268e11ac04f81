package schedule_test

import (
	"context"
	"errors"
	mathrand "math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/membrane-dev/membrane/runtime/events/schedule"
	"github.com/membrane-dev/membrane/runtime/store"
	"github.com/membrane-dev/membrane/runtime/store/storetest"
)

// Due active subscriptions are polled, paused and not yet due ones are
// not; a poll that worked is due again one interval (±10%) after it
// started, and a webhook-only subscription (no due time) never is.
func TestDuePolled(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, open storetest.Opener) {
		e := newEnv(t, open)
		now := e.clock.Now()
		due := e.subscribe(e.connection(), "contact-changed", now.Add(-time.Second))
		dueToo := e.subscribe(e.connection(), "contact-changed", now)
		paused := e.subscribe(e.connection(), "contact-changed", now.Add(-time.Minute), func(s *store.Subscription) {
			s.Status = store.SubscriptionPaused
		})
		later := e.subscribe(e.connection(), "contact-changed", now.Add(time.Second))
		webhook := e.subscribe(e.connection(), "contact-changed", time.Time{})

		r := &recorder{}
		s := e.scheduler(r)
		if n := s.RunDue(e.ctx); n != 2 {
			t.Fatalf("ran %d polls, want 2", n)
		}
		want := []string{due.ID, dueToo.ID}
		slices.Sort(want)
		if got := r.ids(); !slices.Equal(got, want) {
			t.Fatalf("polled %v, want %v (paused %s, later %s, webhook %s)", got, want, paused.ID, later.ID, webhook.ID)
		}
		for _, id := range want {
			got := e.get(id)
			within(t, "next due after a poll", got.NextRunAt.Sub(now), 5*time.Minute, schedule.Jitter)
			if got.Failures != 0 || got.LastError != "" {
				t.Fatalf("failures %d %q", got.Failures, got.LastError)
			}
		}
		if n := s.RunDue(e.ctx); n != 0 {
			t.Fatalf("ran %d polls again at once", n)
		}
		// A second later the one due then runs; the paused one never does.
		e.clock.Advance(time.Second)
		if n := s.RunDue(e.ctx); n != 1 || r.last() != later.ID {
			t.Fatalf("ran %d polls: %v, want %s", n, r.ids(), later.ID)
		}
		if got := e.get(webhook.ID); !got.NextRunAt.IsZero() {
			t.Fatalf("a webhook-only subscription got a due time %s", got.NextRunAt)
		}
		if st := s.Stats(); st.Polled != 3 || st.Failed != 0 || st.Errors != 0 {
			t.Fatalf("stats %+v", st)
		}
	})
}

// The jitter spreads next due times by ±10% and is the same under the
// same seed.
func TestJitterSeeded(t *testing.T) {
	t.Parallel()
	run := func(seed uint64) []time.Duration {
		e := newEnv(t, storetest.SQLite(t)(t))
		now := e.clock.Now()
		var ids []string
		for range 40 {
			ids = append(ids, e.subscribe(e.connection(), "contact-changed", now).ID)
		}
		s := e.scheduler(&recorder{}, func(o *schedule.Options) {
			o.Rand = mathrand.New(mathrand.NewPCG(seed, 0))
			o.Workers = 50
		})
		if n := s.RunDue(e.ctx); n != 40 {
			t.Fatalf("ran %d", n)
		}
		var out []time.Duration
		for _, id := range ids {
			out = append(out, e.get(id).NextRunAt.Sub(now))
		}
		slices.Sort(out)
		return out
	}
	a, b, c := run(7), run(7), run(8)
	if !slices.Equal(a, b) {
		t.Fatalf("same seed, different jitter:\n%v\n%v", a, b)
	}
	if slices.Equal(a, c) {
		t.Fatal("another seed gave the same jitter")
	}
	for _, d := range a {
		within(t, "jittered interval", d, 5*time.Minute, schedule.Jitter)
	}
	// Spread, not a constant: the 40 draws cover most of ±10%.
	if a[len(a)-1]-a[0] < 40*time.Second {
		t.Fatalf("jitter spread %s of 60 s", a[len(a)-1]-a[0])
	}
}

// A failing poll backs off: due again after 2, 4, 8... intervals up to
// BackoffMax, with its failures and last error on the subscription; a poll
// that works resets both.
func TestBackoff(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, open storetest.Opener) {
		e := newEnv(t, open)
		sub := e.subscribe(e.connection(), "contact-changed", e.clock.Now(), func(s *store.Subscription) {
			s.Interval = time.Minute
		})
		var mu sync.Mutex
		fail := true
		r := &recorder{fn: func(context.Context, *store.Subscription) error {
			mu.Lock()
			defer mu.Unlock()
			if fail {
				return errUpstream
			}
			return nil
		}}
		s := e.scheduler(r, func(o *schedule.Options) { o.BackoffMax = 10 * time.Minute })
		for i, want := range []time.Duration{2, 4, 8, 10, 10} {
			start := e.clock.Now()
			if n := s.RunDue(e.ctx); n != 1 {
				t.Fatalf("failure %d: ran %d", i+1, n)
			}
			got := e.get(sub.ID)
			if got.Failures != i+1 || !strings.Contains(got.LastError, "500") {
				t.Fatalf("failure %d: failures %d, last error %q", i+1, got.Failures, got.LastError)
			}
			within(t, "backoff", got.NextRunAt.Sub(start), want*time.Minute, schedule.Jitter)
			e.clock.Advance(got.NextRunAt.Sub(start))
		}
		mu.Lock()
		fail = false
		mu.Unlock()
		start := e.clock.Now()
		if n := s.RunDue(e.ctx); n != 1 {
			t.Fatalf("ran %d", n)
		}
		got := e.get(sub.ID)
		if got.Failures != 0 || got.LastError != "" {
			t.Fatalf("after a poll that worked: failures %d, last error %q", got.Failures, got.LastError)
		}
		within(t, "interval after recovery", got.NextRunAt.Sub(start), time.Minute, schedule.Jitter)
		if st := s.Stats(); st.Failed != 5 || st.Polled != 1 {
			t.Fatalf("stats %+v", st)
		}
	})
}

// A Poller that keeps Failures itself and updates the subscription in
// place (as the connection service's does) is not counted twice.
func TestBackoffPollerKeepsFailures(t *testing.T) {
	t.Parallel()
	e := newEnv(t, storetest.SQLite(t)(t))
	sub := e.subscribe(e.connection(), "contact-changed", e.clock.Now(), func(s *store.Subscription) {
		s.Interval = time.Minute
	})
	r := &recorder{fn: func(ctx context.Context, s *store.Subscription) error {
		got, err := e.st.Tenant("acme").Subscriptions().Update(ctx, s.ID, func(cur *store.Subscription) error {
			cur.Failures++
			cur.LastError = "upstream answered 500"
			return nil
		})
		if err != nil {
			return err
		}
		*s = *got
		return errUpstream
	}}
	s := e.scheduler(r, func(o *schedule.Options) { o.Record = false })
	for i, want := range []time.Duration{2, 4, 8} {
		start := e.clock.Now()
		if n := s.RunDue(e.ctx); n != 1 {
			t.Fatalf("ran %d", n)
		}
		got := e.get(sub.ID)
		if got.Failures != i+1 {
			t.Fatalf("failure %d: failures %d", i+1, got.Failures)
		}
		within(t, "backoff", got.NextRunAt.Sub(start), want*time.Minute, schedule.Jitter)
		e.clock.Advance(got.NextRunAt.Sub(start))
	}
}

func TestBackoffFormula(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		interval, max time.Duration
		failures      int
		want          time.Duration
	}{
		{5 * time.Minute, time.Hour, 0, 5 * time.Minute},
		{5 * time.Minute, time.Hour, 1, 10 * time.Minute},
		{5 * time.Minute, time.Hour, 3, 40 * time.Minute},
		{5 * time.Minute, time.Hour, 4, time.Hour},
		{5 * time.Minute, time.Hour, 1000, time.Hour},
		{2 * time.Hour, time.Hour, 3, 2 * time.Hour}, // never below the interval
		{time.Second, 24 * time.Hour, 100, 24 * time.Hour},
	} {
		if got := schedule.Backoff(c.interval, c.failures, c.max); got != c.want {
			t.Errorf("Backoff(%s, %d, %s) = %s, want %s", c.interval, c.failures, c.max, got, c.want)
		}
	}
}

// A worker that dies holding a claim (it never releases) blocks the
// subscription for the lease only: then another worker polls it.
func TestLeaseLapses(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, open storetest.Opener) {
		e := newEnv(t, open)
		sub := e.subscribe(e.connection(), "contact-changed", e.clock.Now())
		// The dead worker: another store handle, as another replica.
		claimed, err := e.open().Polls().ClaimDue(e.ctx, "dead", e.clock.Now(), 10, 3*time.Minute)
		must(t, err)
		if len(claimed) != 1 || claimed[0].ID != sub.ID {
			t.Fatalf("claimed %v", claimed)
		}
		r := &recorder{}
		s := e.scheduler(r)
		if n := s.RunDue(e.ctx); n != 0 {
			t.Fatalf("polled %d under another worker's live lease", n)
		}
		e.clock.Advance(3*time.Minute - time.Second)
		if n := s.RunDue(e.ctx); n != 0 {
			t.Fatalf("polled %d before the lease ran out", n)
		}
		e.clock.Advance(2 * time.Second)
		if n := s.RunDue(e.ctx); n != 1 {
			t.Fatalf("polled %d once the lease ran out, want 1", n)
		}
		// The dead worker's late release changes nothing.
		if err := e.st.Polls().Release(e.ctx, "dead", sub.ID, e.clock.Now()); !errors.Is(err, store.ErrLeaseLost) {
			t.Fatalf("release by the dead worker: %v", err)
		}
		within(t, "next due", e.get(sub.ID).NextRunAt.Sub(e.clock.Now()), 5*time.Minute, schedule.Jitter)
	})
}

// A poll longer than the lease keeps it: the scheduler renews it every
// Lease/3, so no other replica takes the connection meanwhile.
func TestLeaseKept(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, open storetest.Opener) {
		e := newEnv(t, open)
		conn := e.connection()
		sub := e.subscribe(conn, "contact-changed", e.clock.Now())
		other := e.subscribe(conn, "deal-changed", e.clock.Now())
		started, finish := make(chan string, 2), make(chan struct{})
		r := &recorder{fn: func(ctx context.Context, s *store.Subscription) error {
			started <- s.ID
			<-finish
			return ctx.Err()
		}}
		w := watch(e.st.Polls())
		s := e.scheduler(r, func(o *schedule.Options) { o.Polls = w; o.Tick = time.Hour })
		ctx, cancel := context.WithCancel(e.ctx)
		ran := make(chan error)
		go func() { ran <- s.Run(ctx) }()
		first := receive(t, started, "the poll to start")
		if first != sub.ID && first != other.ID {
			t.Fatalf("polled %s", first)
		}
		replica := e.open().Polls()
		for i := range 6 { // 6 minutes: twice the lease
			e.clock.waitFor(t, time.Minute)
			e.clock.Advance(time.Minute)
			receive(t, w.extended, "an extension")
			got, err := replica.ClaimDue(e.ctx, "w2", e.clock.Now(), 10, 3*time.Minute)
			must(t, err)
			if len(got) != 0 {
				t.Fatalf("minute %d: another replica claimed %s while the poll runs", i+1, got[0].ID)
			}
		}
		close(finish)
		receive(t, w.released, "the release")
		// The connection is free again: its other subscription runs next.
		s.Kick()
		second := receive(t, started, "the other subscription's poll")
		if second == first {
			t.Fatalf("polled %s twice", first)
		}
		receive(t, w.released, "the second release")
		cancel()
		must(t, <-ran)
		if st := s.Stats(); st.Polled != 2 || st.LeaseLost != 0 || st.Errors != 0 {
			t.Fatalf("stats %+v", st)
		}
	})
}

// A poll whose lease is lost is cancelled and releases nothing; while it
// winds down, a claim of another subscription of its connection (the
// store freed the connection when the lease ran out) is handed back, not
// run: never two polls of one connection at once in one process.
func TestLeaseLostCancels(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, open storetest.Opener) {
		e := newEnv(t, open)
		conn := e.connection()
		a := e.subscribe(conn, "contact-changed", e.clock.Now())
		b := e.subscribe(conn, "deal-changed", e.clock.Now().Add(time.Second))
		cancelled, finish := make(chan struct{}), make(chan struct{})
		var mu sync.Mutex
		running := 0
		r := &recorder{fn: func(ctx context.Context, s *store.Subscription) error {
			mu.Lock()
			running++
			n := running
			mu.Unlock()
			defer func() { mu.Lock(); running--; mu.Unlock() }()
			if n > 1 {
				t.Errorf("%d polls of one connection at once", n)
			}
			if s.ID == a.ID {
				<-ctx.Done()
				close(cancelled)
				<-finish // winds down slowly
			}
			return ctx.Err()
		}}
		w := watch(e.st.Polls())
		w.extendErr = func(id string) error {
			if id == a.ID {
				return store.ErrLeaseLost
			}
			return nil
		}
		s := e.scheduler(r, func(o *schedule.Options) { o.Polls = w; o.Tick = time.Hour })
		ctx, cancel := context.WithCancel(e.ctx)
		ran := make(chan error)
		go func() { ran <- s.Run(ctx) }()
		e.clock.waitFor(t, time.Minute)
		e.clock.Advance(time.Minute)
		receive(t, w.extended, "the failed extension")
		receive(t, cancelled, "the poll's cancellation")
		// The lease runs out in the store: b's connection is free there.
		e.clock.Advance(3 * time.Minute)
		s.Kick()
		handed := receive(t, w.released, "the claim handed back")
		if handed != a.ID && handed != b.ID {
			t.Fatalf("released %s", handed)
		}
		if st := s.Stats(); st.Skipped != 1 {
			t.Fatalf("stats %+v", st)
		}
		close(finish)
		cancel()
		must(t, <-ran)
		if st := s.Stats(); st.LeaseLost != 1 || st.Polled != 0 {
			t.Fatalf("stats %+v", st)
		}
		// What was handed back is still due, for whoever claims next.
		if got := e.get(handed); got.NextRunAt.After(e.clock.Now()) {
			t.Fatalf("%s due at %s, now %s", handed, got.NextRunAt, e.clock.Now())
		}
	})
}

// One connection with two due subscriptions: they are polled one after
// the other, never at once, with plenty of free workers.
func TestOneConnectionAtATime(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, open storetest.Opener) {
		e := newEnv(t, open)
		conn := e.connection()
		var subs []string
		for i := range 3 {
			subs = append(subs, e.subscribe(conn, name(i), e.clock.Now()).ID)
		}
		solo := e.subscribe(e.connection(), "contact-changed", e.clock.Now())
		var mu sync.Mutex
		running := map[string]int{}
		r := &recorder{fn: func(_ context.Context, s *store.Subscription) error {
			mu.Lock()
			running[s.ConnectionID]++
			n := running[s.ConnectionID]
			mu.Unlock()
			defer func() { mu.Lock(); running[s.ConnectionID]--; mu.Unlock() }()
			if n > 1 {
				t.Errorf("%d polls of connection %s at once", n, s.ConnectionID)
			}
			return nil
		}}
		s := e.scheduler(r, func(o *schedule.Options) { o.Workers = 8 })
		for pass := range 3 {
			want := 1
			if pass == 0 {
				want = 2 // one of conn's and solo
			}
			if n := s.RunDue(e.ctx); n != want {
				t.Fatalf("pass %d ran %d, want %d", pass, n, want)
			}
		}
		want := append(subs, solo.ID)
		slices.Sort(want)
		if got := r.ids(); !slices.Equal(got, want) {
			t.Fatalf("polled %v, want %v", got, want)
		}
	})
}

// A poll that panics or fails is logged and counted; the others run and
// the loop goes on.
func TestPanicsAndErrorsDoNotStall(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, open storetest.Opener) {
		e := newEnv(t, open)
		panics := e.subscribe(e.connection(), "contact-changed", e.clock.Now())
		fails := e.subscribe(e.connection(), "contact-changed", e.clock.Now())
		works := e.subscribe(e.connection(), "contact-changed", e.clock.Now())
		r := &recorder{fn: func(_ context.Context, s *store.Subscription) error {
			switch s.ID {
			case panics.ID:
				panic("a bug in the poll")
			case fails.ID:
				return errUpstream
			}
			return nil
		}}
		s := e.scheduler(r)
		if n := s.RunDue(e.ctx); n != 3 {
			t.Fatalf("ran %d", n)
		}
		if st := s.Stats(); st.Panicked != 1 || st.Failed != 2 || st.Polled != 1 || st.Errors != 0 {
			t.Fatalf("stats %+v", st)
		}
		if got := e.get(panics.ID); got.Failures != 1 || !strings.Contains(got.LastError, "panicked") {
			t.Fatalf("after a panic: failures %d, %q", got.Failures, got.LastError)
		}
		if got := e.get(works.ID); got.Failures != 0 {
			t.Fatalf("failures %d", got.Failures)
		}
		// Backed off, every one released: nothing is due now, all are later.
		e.clock.Advance(11 * time.Minute)
		if n := s.RunDue(e.ctx); n != 3 {
			t.Fatalf("ran %d after backoff", n)
		}
	})
}

// Kick wakes the scheduler at once: a new subscription does not wait for
// the next tick.
func TestKick(t *testing.T) {
	t.Parallel()
	e := newEnv(t, storetest.SQLite(t)(t))
	polled := make(chan string, 1)
	s := e.scheduler(&recorder{fn: func(_ context.Context, sub *store.Subscription) error {
		polled <- sub.ID
		return nil
	}}, func(o *schedule.Options) { o.Tick = time.Hour })
	ctx, cancel := context.WithCancel(e.ctx)
	ran := make(chan error)
	go func() { ran <- s.Run(ctx) }()
	e.clock.waitFor(t, time.Hour) // idle, waiting for its tick
	sub := e.subscribe(e.connection(), "contact-changed", e.clock.Now())
	s.Kick()
	if got := receive(t, polled, "the kicked poll"); got != sub.ID {
		t.Fatalf("polled %s", got)
	}
	cancel()
	must(t, <-ran)
}

// Stopping: polls in flight get StopGrace to finish, then are cancelled
// and release their subscription still due, for the next replica.
func TestStop(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, open storetest.Opener) {
		e := newEnv(t, open)
		quick := e.subscribe(e.connection(), "contact-changed", e.clock.Now())
		slow := e.subscribe(e.connection(), "contact-changed", e.clock.Now())
		started, quickGo := make(chan string, 2), make(chan struct{})
		r := &recorder{fn: func(ctx context.Context, s *store.Subscription) error {
			started <- s.ID
			if s.ID == quick.ID {
				<-quickGo
				return nil
			}
			<-ctx.Done()
			return ctx.Err()
		}}
		w := watch(e.st.Polls())
		s := e.scheduler(r, func(o *schedule.Options) { o.Polls = w; o.Tick = time.Hour; o.StopGrace = 7 * time.Second })
		ctx, cancel := context.WithCancel(e.ctx)
		ran := make(chan error)
		go func() { ran <- s.Run(ctx) }()
		receive(t, started, "a poll")
		receive(t, started, "the other poll")
		cancel()
		e.clock.waitFor(t, 7*time.Second) // stopping: the grace runs
		close(quickGo)
		if got := receive(t, w.released, "the quick poll's release"); got != quick.ID {
			t.Fatalf("released %s", got)
		}
		e.clock.Advance(7 * time.Second)
		if got := receive(t, w.released, "the cancelled poll's release"); got != slow.ID {
			t.Fatalf("released %s", got)
		}
		must(t, <-ran)
		// The cancelled poll is due at once, for any replica.
		got, err := e.open().Polls().ClaimDue(e.ctx, "w2", e.clock.Now(), 10, time.Minute)
		must(t, err)
		if len(got) != 1 || got[0].ID != slow.ID {
			t.Fatalf("claimed %v after the stop, want the cancelled poll", got)
		}
		if st := s.Stats(); st.Polled != 1 || st.Failed != 0 {
			t.Fatalf("stats %+v", st)
		}
	})
}
