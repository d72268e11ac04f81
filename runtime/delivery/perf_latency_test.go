package delivery_test

import (
	"context"
	"flag"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/membrane-dev/membrane/runtime/store"
)

var (
	perfLoad     = flag.Bool("delivery.load", false, "run the delivery latency load test (TestDeliveryLatency)")
	perfLoadFor  = flag.Duration("delivery.duration", 5*time.Second, "how long each paced run of TestDeliveryLatency lasts")
	perfCapacity = flag.Float64("delivery.capacity", 0, "deliveries/s taken as the capacity (0: measured first, by draining 10,000 events)")
)

// TestDeliveryLatency measures the time from an event's commit in the
// outbox to its arrival at a local receiver, p50 and p99, with events
// enqueued open-loop (on a fixed schedule, whatever the deliveries do) at
// 10% and 80% of the measured capacity, on SQLite:
//
//	go test ./runtime/delivery -run TestDeliveryLatency -delivery.load -v
//
// It asserts only that every event arrived; the times are reported.
func TestDeliveryLatency(t *testing.T) {
	if !*perfLoad {
		t.Skip("the load test runs with -delivery.load")
	}
	st := perfOpenSQLite(t)
	recv := newPerfReceiver(t)
	perfDestination(t, st, "perf", recv.URL, perfConc)
	cfg := perfConfig(st, "latency")

	capacity := *perfCapacity
	if capacity == 0 {
		done := recv.expect(perfBatch)
		perfEnqueue(t, st, perfEvents("capacity", perfBatch), 1000)
		start := time.Now()
		_, stop := perfRun(t, cfg)
		perfWait(t, "the capacity run", done, 10*time.Minute, func() string { return fmt.Sprint(recv.received(), " received") })
		capacity = perfBatch / time.Since(start).Seconds()
		if err := stop(); err != nil {
			t.Fatal(err)
		}
		t.Logf("capacity: %.0f deliveries/s (%d events drained from the outbox)", capacity, perfBatch)
	}
	_, stop := perfRun(t, cfg)
	defer stop()
	for _, share := range []float64{0.10, 0.80} {
		rate := share * capacity
		r := perfPaced(t, st, recv, fmt.Sprintf("p%02.0f", share*100), rate, *perfLoadFor)
		t.Logf("%3.0f%% of capacity: %6.0f events/s offered, %6.0f enqueued/s; commit → receiver p50 %6.2f ms, p99 %6.2f ms, max %6.2f ms (%d events)",
			share*100, rate, r.enqueued, perfMS(r.p50), perfMS(r.p99), perfMS(r.max), r.n)
	}
	if p := recv.problems(); len(p) > 0 {
		t.Errorf("the receiver saw %d bad requests, the first: %s", len(p), p[0])
	}
}

type perfPacedResult struct {
	n             int
	enqueued      float64
	p50, p99, max time.Duration
}

func perfMS(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// perfPaced enqueues events at rate per second for d, open-loop: every
// 2 ms a producer goroutine commits the events due by then in one
// transaction, without waiting for the previous ones. The latency of an
// event is from its commit returning to its first 2xx at the receiver.
func perfPaced(t *testing.T, st store.Store, recv *perfReceiver, prefix string, rate float64, d time.Duration) perfPacedResult {
	total := int(rate * d.Seconds())
	events := perfEvents(prefix, total)
	done := recv.expect(total)
	committed := make([]time.Time, total)
	const tick = 2 * time.Millisecond
	var wg sync.WaitGroup
	start := time.Now()
	ticker := time.NewTicker(tick)
	sent := 0
	for sent < total {
		now := <-ticker.C
		due := min(total, int(now.Sub(start).Seconds()*rate)+1)
		if due <= sent {
			continue
		}
		from, to := sent, due
		sent = due
		wg.Go(func() {
			if err := st.Tenant("acme").Outbox().Enqueue(context.Background(), events[from:to]...); err != nil {
				t.Errorf("enqueue: %v", err)
				return
			}
			at := time.Now()
			for i := from; i < to; i++ {
				committed[i] = at
			}
		})
	}
	ticker.Stop()
	wg.Wait()
	enqueued := float64(total) / time.Since(start).Seconds()
	perfWait(t, "the paced deliveries", done, 10*time.Minute, func() string { return fmt.Sprint(recv.received(), " received") })
	arrived := recv.arrived()
	lats := make([]time.Duration, 0, total)
	for i, e := range events {
		lats = append(lats, arrived[e.ID].Sub(committed[i]))
	}
	slices.Sort(lats)
	pct := func(p float64) time.Duration { return lats[min(len(lats)-1, int(float64(len(lats))*p))] }
	return perfPacedResult{n: total, enqueued: enqueued, p50: pct(0.50), p99: pct(0.99), max: lats[len(lats)-1]}
}
