package store_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/membrane-dev/membrane/runtime/store"
	"github.com/membrane-dev/membrane/runtime/store/crypt"
	"github.com/membrane-dev/membrane/runtime/store/storetest"
)

// The benchmark data set: 10,000 connections across 100 tenants, each with
// sealed credentials and token, as the README's numbers state.
const (
	benchTenants = 100
	benchPer     = 100
)

type benchFixture struct {
	s      store.Store
	ids    []string
	tenant map[string]string
	err    error
}

var (
	fixtureMu sync.Mutex
	fixtures  = map[string]*benchFixture{}
	cleanups  []func()
)

func TestMain(m *testing.M) {
	code := m.Run()
	for _, f := range slices.Backward(cleanups) {
		f()
	}
	os.Exit(code)
}

// fixture opens and seeds an engine once per test binary; TestMain cleans
// up after every benchmark has run.
func fixture(b *testing.B, engine string) *benchFixture {
	fixtureMu.Lock()
	defer fixtureMu.Unlock()
	if f := fixtures[engine]; f != nil {
		if f.err != nil {
			b.Skip(f.err)
		}
		return f
	}
	f := &benchFixture{tenant: map[string]string{}}
	fixtures[engine] = f
	ctx := context.Background()
	var dsn string
	switch engine {
	case "sqlite":
		dir, err := os.MkdirTemp("", "membrane-bench-")
		if err != nil {
			b.Fatal(err)
		}
		cleanups = append(cleanups, func() { os.RemoveAll(dir) })
		dsn = "sqlite://" + filepath.Join(dir, "bench.db")
	case "postgres":
		if dsn, f.err = benchPostgres(ctx); f.err != nil {
			b.Skip(f.err)
		}
	}
	keys, _ := crypt.New(crypt.Generate())
	s, err := store.Open(ctx, dsn, store.WithKeyring(keys), store.WithLogger(storetest.Quiet()))
	if err != nil {
		b.Fatal(err)
	}
	cleanups = append(cleanups, func() { s.Close() })
	f.s = s
	start := time.Now()
	for ti := range benchTenants {
		key := fmt.Sprintf("tenant-%03d", ti)
		err := s.Tenant(key).Tx(ctx, func(tx store.TenantStore) error {
			for i := range benchPer {
				c, err := tx.Connections().Create(ctx, store.Connection{
					Connector:   []string{"hubspot", "stripe", "salesforce", "github"}[i%4],
					Name:        fmt.Sprintf("%s connection %d", key, i),
					Parameters:  map[string]any{"subdomain": key, "region": "eu"},
					Credentials: map[string]any{"clientSecret": "cs_0123456789abcdef0123456789"},
					Token: &store.Token{AccessToken: "at_0123456789abcdef0123456789abcdef", RefreshToken: "rt_0123456789abcdef",
						TokenType: "Bearer", Expiry: time.Now().Add(time.Hour), Scopes: []string{"read", "write"}},
					Info: map[string]any{"account": fmt.Sprint("acct-", i)},
				})
				if err != nil {
					return err
				}
				f.ids = append(f.ids, c.ID)
				f.tenant[c.ID] = key
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("%s: seeded %d connections in %v", engine, len(f.ids), time.Since(start).Round(time.Millisecond))
	return f
}

// benchPostgres creates a database for the benchmarks, dropped by TestMain.
func benchPostgres(ctx context.Context) (string, error) {
	admin := storetest.PostgresAdminDSN()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		return "", fmt.Errorf("PostgreSQL is not reachable: %v", err)
	}
	defer conn.Close(ctx)
	name := fmt.Sprintf("membrane_bench_%d", time.Now().UnixNano())
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", err
	}
	cleanups = append(cleanups, func() {
		c, err := pgx.Connect(context.Background(), admin)
		if err == nil {
			c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
			c.Close(context.Background())
		}
	})
	u, err := url.Parse(admin)
	if err != nil {
		return "", err
	}
	u.Path = "/" + name
	return u.String(), nil
}

// reportLatency adds the median and the 99th percentile of the timed calls.
func reportLatency(b *testing.B, d []time.Duration) {
	if len(d) == 0 {
		return
	}
	slices.Sort(d)
	us := func(q float64) float64 { return float64(d[int(q*float64(len(d)-1))].Nanoseconds()) / 1e3 }
	b.ReportMetric(us(0.50), "p50-µs")
	b.ReportMetric(us(0.99), "p99-µs")
}

var benchEngines = []string{"sqlite", "postgres"}

// BenchmarkGetConnection: one connection by id, secrets opened.
func BenchmarkGetConnection(b *testing.B) {
	for _, engine := range benchEngines {
		b.Run(engine, func(b *testing.B) {
			f := fixture(b, engine)
			ctx := context.Background()
			r := rand.New(rand.NewPCG(1, 2))
			var d []time.Duration
			for b.Loop() {
				id := f.ids[r.IntN(len(f.ids))]
				start := time.Now()
				c, err := f.s.Tenant(f.tenant[id]).Connections().Get(ctx, id)
				d = append(d, time.Since(start))
				if err != nil || c.Token == nil {
					b.Fatal(c, err)
				}
			}
			reportLatency(b, d)
		})
	}
}

// BenchmarkListConnections: the first page of 50 of one tenant's 100
// connections, as an API listing does (secrets left sealed).
func BenchmarkListConnections(b *testing.B) {
	for _, engine := range benchEngines {
		b.Run(engine, func(b *testing.B) {
			f := fixture(b, engine)
			ctx := context.Background()
			r := rand.New(rand.NewPCG(3, 4))
			var d []time.Duration
			for b.Loop() {
				key := fmt.Sprintf("tenant-%03d", r.IntN(benchTenants))
				start := time.Now()
				p, err := f.s.Tenant(key).Connections().List(ctx, store.ConnectionFilter{Limit: 50})
				d = append(d, time.Since(start))
				if err != nil || len(p.Items) != 50 || p.Next == "" {
					b.Fatal(len(p.Items), err)
				}
			}
			reportLatency(b, d)
		})
	}
}

// subFixture subscribes every fixture connection to one event, due now,
// once per engine.
var subFixtures = map[string][]*store.Subscription{}

func subscriptionsFixture(b *testing.B, engine string) (*benchFixture, []*store.Subscription) {
	f := fixture(b, engine)
	fixtureMu.Lock()
	defer fixtureMu.Unlock()
	if subs := subFixtures[engine]; subs != nil {
		return f, subs
	}
	ctx := context.Background()
	start := time.Now()
	var subs []*store.Subscription
	for ti := range benchTenants {
		key := fmt.Sprintf("tenant-%03d", ti)
		err := f.s.Tenant(key).Tx(ctx, func(tx store.TenantStore) error {
			for _, id := range f.ids[ti*benchPer : (ti+1)*benchPer] {
				sub, err := tx.Subscriptions().Create(ctx, store.Subscription{ConnectionID: id, Event: "bench-changed",
					NextRunAt: time.Now().Add(-time.Hour), Remote: map[string]any{"id": "remote-" + id}})
				if err != nil {
					return err
				}
				subs = append(subs, sub)
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("%s: %d subscriptions in %v", engine, len(subs), time.Since(start).Round(time.Millisecond))
	subFixtures[engine] = subs
	return f, subs
}

// BenchmarkInboxAppend: webhook requests stored durably, from 4×GOMAXPROCS
// concurrent callers (ingress handlers); each returns once its request is
// committed. ops/s is what the ingress can store.
func BenchmarkInboxAppend(b *testing.B) {
	body := []byte(`{"objectId":12345,"propertyName":"email","propertyValue":"someone@example.com","changeSource":"CRM","eventId":100,"subscriptionId":200,"portalId":62515,"appId":54321,"occurredAt":1767225600000,"subscriptionType":"contact.propertyChange","attemptNumber":0}`)
	for _, engine := range benchEngines {
		b.Run(engine, func(b *testing.B) {
			f := fixture(b, engine)
			ctx := context.Background()
			b.SetParallelism(4)
			var mu sync.Mutex
			var all []time.Duration
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				var d []time.Duration
				for pb.Next() {
					t0 := time.Now()
					_, err := f.s.Inbox().Append(ctx, &store.InboxEntry{Connector: "hubspot", Method: "POST", URL: "https://membrane.example/webhooks/hubspot",
						Headers: map[string][]string{"Content-Type": {"application/json"}, "X-Hubspot-Signature-V3": {"c2lnbmF0dXJlLXNpZ25hdHVyZS1zaWduYXR1cmU="}}, Body: body})
					d = append(d, time.Since(t0))
					if err != nil {
						b.Error(err)
						return
					}
				}
				mu.Lock()
				all = append(all, d...)
				mu.Unlock()
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "ops/s")
			reportLatency(b, all)
		})
	}
}

// BenchmarkMarkRecords: one page of 1,000 records of a full scan marked in
// a transaction, against a subscription that already knows 10,000 records
// (each page: 900 known, 100 new).
func BenchmarkMarkRecords(b *testing.B) {
	for _, engine := range benchEngines {
		b.Run(engine, func(b *testing.B) {
			f, subs := subscriptionsFixture(b, engine)
			ctx := context.Background()
			sub := subs[0]
			tenant := f.s.Tenant(sub.Tenant)
			page := func(gen int64, from int) []store.RecordHash {
				recs := make([]store.RecordHash, 1000)
				for i := range recs {
					recs[i] = store.RecordHash{ID: fmt.Sprintf("rec-%08d", from+i), Hash: fmt.Sprintf("%064d", gen)}
				}
				return recs
			}
			for p := range 10 {
				if _, err := tenant.Subscriptions().Records(sub.ID).Mark(ctx, 1, page(1, p*1000)); err != nil {
					b.Fatal(err)
				}
			}
			gen, next := int64(2), 9100
			var d []time.Duration
			for b.Loop() {
				recs := page(gen, next)
				next += 100
				gen++
				t0 := time.Now()
				err := tenant.Tx(ctx, func(tx store.TenantStore) error {
					_, err := tx.Subscriptions().Records(sub.ID).Mark(ctx, gen, recs)
					return err
				})
				d = append(d, time.Since(t0))
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*1000)/b.Elapsed().Seconds(), "records/s")
			reportLatency(b, d)
		})
	}
}

// BenchmarkClaimDue: a scheduler tick claiming 100 due polls out of 10,000
// due subscriptions (one per connection). Releasing them (due again at
// once) is not timed.
func BenchmarkClaimDue(b *testing.B) {
	for _, engine := range benchEngines {
		b.Run(engine, func(b *testing.B) {
			f, _ := subscriptionsFixture(b, engine)
			ctx := context.Background()
			polls := f.s.Polls()
			var d []time.Duration
			claimed := 0
			for b.Loop() {
				t0 := time.Now()
				got, err := polls.ClaimDue(ctx, "bench", time.Now(), 100, time.Minute)
				d = append(d, time.Since(t0))
				if err != nil || len(got) != 100 {
					b.Fatal(len(got), err)
				}
				claimed += len(got)
				b.StopTimer()
				for _, s := range got {
					if err := polls.Release(ctx, "bench", s.ID, time.Now().Add(-time.Minute)); err != nil {
						b.Fatal(err)
					}
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(claimed)/b.Elapsed().Seconds(), "claims/s")
			reportLatency(b, d)
		})
	}
}
