package delivery

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"github.com/membrane-dev/membrane/runtime/store"
	"github.com/membrane-dev/membrane/runtime/store/crypt"
	"github.com/membrane-dev/membrane/runtime/store/storetest"
)

// BenchmarkDeliverer delivers b.N events routed from the outbox to one
// webhook destination (concurrency 32) on loopback, with one replica:
// routing, claiming, signing, sending and recording each.
//
//	go test ./runtime/delivery -run '^$' -bench Deliverer -benchtime 5000x
func BenchmarkDeliverer(b *testing.B) {
	for _, eng := range []string{"sqlite", "postgres"} {
		b.Run(eng, func(b *testing.B) {
			dsn := "sqlite://" + b.TempDir() + "/membrane.db"
			if eng == "postgres" {
				dsn = storetest.PostgresDB(b)
			}
			keys, _ := crypt.New(crypt.Generate())
			st, err := store.Open(context.Background(), dsn, store.WithKeyring(keys), store.WithLogger(storetest.Quiet()))
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
			defer srv.Close()
			ctx := context.Background()
			if _, err := st.Destinations().Create(ctx, store.Destination{Name: "backend", Kind: store.DestinationWebhook,
				URL: srv.URL, Secret: NewSecret(), Concurrency: 32}); err != nil {
				b.Fatal(err)
			}
			for i := 0; i < b.N; i += 500 {
				var evs []store.Event
				for j := i; j < min(i+500, b.N); j++ {
					evs = append(evs, store.Event{ID: fmt.Sprintf("evt_%d", j), Type: "contact.created",
						Payload: json.RawMessage(`{"name":"Zoë","email":"zoe@example.com"}`)})
				}
				if err := st.Tenant("acme").Outbox().Enqueue(ctx, evs...); err != nil {
					b.Fatal(err)
				}
			}
			d, err := New(Config{Store: st, Logger: storetest.Quiet(), AllowPrivate: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}})
			if err != nil {
				b.Fatal(err)
			}
			done := make(chan struct{}, b.N)
			d.observe = func(store.Attempt, store.Outcome) { done <- struct{}{} }
			b.ResetTimer()
			start := time.Now()
			rctx, cancel := context.WithCancel(ctx)
			stopped := make(chan struct{})
			go func() { d.Run(rctx); close(stopped) }()
			for range b.N {
				<-done
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "deliveries/s")
			b.StopTimer()
			cancel()
			<-stopped
		})
	}
}
