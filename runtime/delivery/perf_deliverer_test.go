package delivery_test

import (
	"context"
	"errors"
	"net/netip"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/membrane-dev/membrane/runtime/delivery"
	"github.com/membrane-dev/membrane/runtime/store"
	"github.com/membrane-dev/membrane/runtime/store/crypt"
	"github.com/membrane-dev/membrane/runtime/store/storetest"
)

// perfOpenSQLite opens a store on a SQLite file of its own, closed when
// tb ends.
func perfOpenSQLite(tb testing.TB, opts ...store.Option) store.Store {
	tb.Helper()
	return perfOpen(tb, "sqlite://"+filepath.Join(tb.TempDir(), "membrane.db"), opts...)
}

func perfOpen(tb testing.TB, dsn string, opts ...store.Option) store.Store {
	tb.Helper()
	st, err := store.Open(context.Background(), dsn, append([]store.Option{store.WithLogger(storetest.Quiet()), store.WithKeyring(perfKeyring(tb))}, opts...)...)
	if err != nil {
		tb.Fatalf("open %s: %v", dsn, err)
	}
	tb.Cleanup(func() { st.Close() })
	return st
}

// perfKeys is one keyring for every store of these tests (two handles of
// one database must share it).
var perfKeys = sync.OnceValues(func() (*crypt.Keyring, error) { return crypt.New(crypt.Generate()) })

func perfKeyring(tb testing.TB) *crypt.Keyring {
	k, err := perfKeys()
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

// perfDestination makes a webhook destination to url.
func perfDestination(tb testing.TB, st store.Store, name, url string, concurrency int) *store.Destination {
	tb.Helper()
	d, err := st.Destinations().Create(context.Background(), store.Destination{
		Name: name, Kind: "webhook", URL: url, Concurrency: concurrency,
	})
	if err != nil {
		tb.Fatalf("create destination %s: %v", name, err)
	}
	return d
}

// perfConfig is a Deliverer's configuration for the tests: loopback
// allowed, every destination signing with perfSecret.
func perfConfig(st store.Store, worker string) delivery.Config {
	return delivery.Config{
		Store: st, Worker: worker,
		Secrets:      func(*store.Destination) ([]string, error) { return []string{perfSecret}, nil },
		AllowPrivate: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		Logger:       storetest.Quiet(),
	}
}

// perfRun runs a Deliverer until the returned stop is called (or tb
// ends); stop returns what Run returned.
func perfRun(tb testing.TB, cfg delivery.Config) (*delivery.Deliverer, func() error) {
	tb.Helper()
	d, err := delivery.New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- d.Run(ctx) }()
	stopped := false
	var runErr error
	stop := func() error {
		if !stopped {
			stopped = true
			cancel()
			runErr = <-ran
			if errors.Is(runErr, context.Canceled) {
				runErr = nil
			}
		}
		return runErr
	}
	tb.Cleanup(func() { _ = stop() })
	return d, stop
}

// perfEnqueue enqueues events in transactions of chunk.
func perfEnqueue(tb testing.TB, st store.Store, events []store.Event, chunk int) {
	tb.Helper()
	ctx := context.Background()
	for i := 0; i < len(events); i += chunk {
		part := events[i:min(i+chunk, len(events))]
		if err := st.Tenant(part[0].Tenant).Outbox().Enqueue(ctx, part...); err != nil {
			tb.Fatalf("enqueue: %v", err)
		}
	}
}

// perfWait waits for done, failing tb after limit with what it waited for
// (a hang is not a slow machine: limit is generous).
func perfWait(tb testing.TB, what string, done <-chan struct{}, limit time.Duration, progress func() string) {
	tb.Helper()
	select {
	case <-done:
	case <-time.After(limit):
		tb.Fatalf("waited %v for %s: %s", limit, what, progress())
	}
}
