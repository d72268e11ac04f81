package store_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/membrane-dev/membrane/runtime/store"
	"github.com/membrane-dev/membrane/runtime/store/crypt"
	"github.com/membrane-dev/membrane/runtime/store/storetest"
)

// deliveryStore opens an empty store for one delivery benchmark.
func deliveryStore(b *testing.B, engine string) store.Store {
	b.Helper()
	var dsn string
	switch engine {
	case "sqlite":
		dsn = "sqlite://" + filepath.Join(b.TempDir(), "bench.db")
	case "postgres":
		dsn = storetest.PostgresDB(b)
	}
	keys, _ := crypt.New(crypt.Generate())
	s, err := store.Open(context.Background(), dsn, store.WithKeyring(keys), store.WithLogger(storetest.Quiet()))
	if err != nil {
		b.Skip(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

// BenchmarkDeliver: the store's side of delivering b.N events end to end,
// as the delivery runtime drives it: a router routes them (500 a
// transaction) to one of 4 destinations, 4 workers claim 100 at a time
// and record every attempt as it completes, concurrently (Record, group
// commit) or a claimed batch at once (RecordBatch). The events are
// enqueued beforehand (100 per transaction, 300-byte payloads), untimed.
// deliveries/s is what the store sustains.
func BenchmarkDeliver(b *testing.B) {
	payload := []byte(`{"id":"evt","type":"contact-changed.updated","tenant":"acme","connection":"conn_0123456789abcdefghij","connector":"hubspot","recordId":"12345","change":"updated","record":{"email":"someone@example.com","firstName":"Some","lastName":"One","company":"Example"}}`)
	for _, engine := range benchEngines {
		for _, mode := range []string{"record", "recordbatch"} {
			b.Run(engine+"/"+mode, func(b *testing.B) {
				s := deliveryStore(b, engine)
				ctx := context.Background()
				var dests []string
				for i := range 4 {
					d, err := s.Destinations().Create(ctx, store.Destination{Name: fmt.Sprint("d", i), Kind: store.DestinationWebhook, URL: "https://example.com/"})
					if err != nil {
						b.Fatal(err)
					}
					dests = append(dests, d.ID)
				}
				n := b.N
				for i := 0; i < n; i += 100 {
					evs := make([]store.Event, 0, 100)
					for j := i; j < min(i+100, n); j++ {
						evs = append(evs, store.Event{Type: "contact-changed.updated", Connector: "hubspot", Payload: payload})
					}
					if err := s.Tenant(fmt.Sprint("t", i%10)).Outbox().Enqueue(ctx, evs...); err != nil {
						b.Fatal(err)
					}
				}
				b.ResetTimer()
				cpu0 := processCPU()
				var delivered atomic.Int64
				done := make(chan struct{})
				var wg sync.WaitGroup
				wg.Go(func() { // the router
					k := 0
					for routed := 0; routed < n; {
						evs, err := s.Deliveries().Route(ctx, 500, func(*store.Event) []string {
							k++
							return dests[k%len(dests) : k%len(dests)+1]
						})
						if err != nil {
							b.Error(err)
							return
						}
						routed += len(evs)
					}
				})
				var claimLat []time.Duration
				var mu sync.Mutex
				for w := range 4 {
					worker := fmt.Sprint("w", w)
					wg.Go(func() {
						var lat []time.Duration
						defer func() { mu.Lock(); claimLat = append(claimLat, lat...); mu.Unlock() }()
						for {
							routed := s.Deliveries().Routed()
							t0 := time.Now()
							tasks, err := s.Deliveries().Claim(ctx, worker, 100, time.Minute, nil)
							if err != nil {
								b.Error(err)
								return
							}
							if len(tasks) == 0 {
								select {
								case <-done:
									return
								case <-routed:
								case <-time.After(20 * time.Millisecond):
								}
								continue
							}
							lat = append(lat, time.Since(t0))
							if mode == "recordbatch" {
								rs := make([]store.AttemptOutcome, len(tasks))
								for i, t := range tasks {
									rs[i] = store.AttemptOutcome{Attempt: store.Attempt{EventID: t.ID, Destination: t.Destination, Attempt: t.Attempts, Status: 200,
										Latency: time.Millisecond}, Outcome: store.Outcome{Delivered: true}}
								}
								errs, err := s.Deliveries().RecordBatch(ctx, worker, rs)
								if err != nil {
									b.Error(err)
									return
								}
								for _, err := range errs {
									if err != nil {
										b.Error(err)
										return
									}
								}
							} else {
								var rw sync.WaitGroup
								for _, t := range tasks {
									rw.Go(func() {
										err := s.Deliveries().Record(ctx, worker, store.Attempt{EventID: t.ID, Destination: t.Destination, Attempt: t.Attempts,
											Status: 200, Latency: time.Millisecond}, store.Outcome{Delivered: true})
										if err != nil {
											b.Error(err)
										}
									})
								}
								rw.Wait()
							}
							if delivered.Add(int64(len(tasks))) == int64(n) {
								close(done)
							}
						}
					})
				}
				wg.Wait()
				b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "deliveries/s")
				// CPU time of the whole process (store, driver, and on
				// SQLite the database itself) per delivery: what a loaded
				// machine's throughput does not show.
				b.ReportMetric(float64((processCPU()-cpu0).Microseconds())/float64(n), "cpu-µs/delivery")
				reportLatency(b, claimLat)
			})
		}
	}
}
