package schedule_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/membrane-dev/membrane/runtime/events/schedule"
	"github.com/membrane-dev/membrane/runtime/store"
	"github.com/membrane-dev/membrane/runtime/store/storetest"
)

// upstream is a local app that counts the polls it gets: when each
// subscription was polled, and how many polls of one connection ran at
// once.
type upstream struct {
	*httptest.Server
	mu       sync.Mutex
	at       map[string][]time.Time // subscription → request times
	inflight map[string]int         // connection → requests in flight
	overlaps int
	// enough closes once every one of want subscriptions was polled
	// rounds times.
	want, rounds, reached int
	enough                chan struct{}
}

func newUpstream(t *testing.T) *upstream {
	u := &upstream{at: map[string][]time.Time{}, inflight: map[string]int{}, enough: make(chan struct{})}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sub, conn := r.URL.Query().Get("subscription"), r.URL.Query().Get("connection")
		u.mu.Lock()
		u.at[sub] = append(u.at[sub], time.Now())
		if len(u.at[sub]) == u.rounds {
			if u.reached++; u.reached == u.want {
				close(u.enough)
			}
		}
		u.inflight[conn]++
		if u.inflight[conn] > 1 {
			u.overlaps++
		}
		u.mu.Unlock()
		time.Sleep(2 * time.Millisecond) // the app takes a while to answer
		u.mu.Lock()
		u.inflight[conn]--
		u.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"data":[]}`)
	}))
	t.Cleanup(u.Close)
	return u
}

// poller polls the upstream over HTTP.
func (u *upstream) poller() schedule.Poller {
	client := u.Client()
	return schedule.PollerFunc(func(ctx context.Context, sub *store.Subscription) error {
		req, err := http.NewRequestWithContext(ctx, "GET", u.URL+"/events?subscription="+sub.ID+"&connection="+sub.ConnectionID, nil)
		if err != nil {
			return err
		}
		res, err := client.Do(req)
		if err != nil {
			return err
		}
		res.Body.Close()
		if res.StatusCode != 200 {
			return fmt.Errorf("upstream answered %s", res.Status)
		}
		return nil
	})
}

// Two replicas on one PostgreSQL database, each with its own store
// handle, poll 80 subscriptions (20 connections with two) every 400 ms
// until each was polled 4 times: the upstream never sees a subscription
// polled twice within one interval, nor two polls of one connection at
// once, and both replicas share the work.
func TestTwoReplicasPostgres(t *testing.T) {
	t.Parallel()
	open := storetest.Postgres(t)(t)
	const interval = 400 * time.Millisecond
	up := newUpstream(t)
	up.want, up.rounds = 80, 4
	quiet := storetest.Quiet()
	keys := keyring(t)
	a, b := open(store.WithLogger(quiet), store.WithKeyring(keys)), open(store.WithLogger(quiet), store.WithKeyring(keys))

	ts := a.Tenant("acme")
	ctx := t.Context()
	start := time.Now()
	var subs []string
	for i := range 60 {
		c, err := ts.Connections().Create(ctx, store.Connection{Connector: "crm"})
		must(t, err)
		events := []string{"contact-changed"}
		if i < 20 {
			events = append(events, "deal-changed")
		}
		for _, ev := range events {
			s, err := ts.Subscriptions().Create(ctx, store.Subscription{
				ConnectionID: c.ID, Event: ev, Interval: interval,
				NextRunAt: start.Add(time.Duration(len(subs)) * interval / 80),
			})
			must(t, err)
			subs = append(subs, s.ID)
		}
	}

	run := func(st store.Store, worker string) (*schedule.Scheduler, func()) {
		s := schedule.New(schedule.Options{
			Store: st, Poller: up.poller(), Worker: worker, Workers: 8, Tick: 10 * time.Millisecond,
			Lease: 5 * time.Second, Logger: quiet,
		})
		ctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { s.Run(ctx); close(done) }()
		return s, func() { cancel(); <-done }
	}
	sa, stopA := run(a, "replica-a")
	sb, stopB := run(b, "replica-b")
	select {
	case <-up.enough:
	case <-time.After(time.Minute):
		t.Error("not every subscription was polled 4 times within a minute")
	}
	stopA()
	stopB()

	up.mu.Lock()
	defer up.mu.Unlock()
	if up.overlaps > 0 {
		t.Errorf("%d polls of a connection ran while another of it did", up.overlaps)
	}
	slack := 20 * time.Millisecond // between the poll's start and its request
	total := 0
	for _, id := range subs {
		at := up.at[id]
		total += len(at)
		for i := 1; i < len(at); i++ {
			if gap := at[i].Sub(at[i-1]); gap < time.Duration(float64(interval)*(1-schedule.Jitter))-slack {
				t.Errorf("%s polled twice within %s (interval %s)", id, gap, interval)
			}
		}
	}
	stA, stB := sa.Stats(), sb.Stats()
	t.Logf("%d polls; replica a %+v; replica b %+v", total, stA, stB)
	if stA.Polled == 0 || stB.Polled == 0 {
		t.Errorf("one replica did all the work: a %d, b %d", stA.Polled, stB.Polled)
	}
	if got := int(stA.Polled + stB.Polled); got != total {
		t.Errorf("replicas count %d polls, the upstream %d", got, total)
	}
	if stA.Failed+stB.Failed+stA.Errors+stB.Errors > 0 {
		t.Errorf("failures: a %+v, b %+v", stA, stB)
	}
}
