// Package storetest is the behaviour every store engine must show, as one
// suite run against each: Run(t, storetest.SQLite) and
// Run(t, storetest.Postgres).
package storetest

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/membrane-dev/membrane/runtime/store"
	"github.com/membrane-dev/membrane/runtime/store/crypt"
	"github.com/membrane-dev/membrane/runtime/store/internal/sqldb"
)

// NewDB makes an empty database for one test and returns its Opener.
type NewDB func(t *testing.T) Opener

// Opener opens a store on that test's database. Every call opens another
// instance on the same database, as a restart or a second replica would;
// each is closed when the test ends.
type Opener func(opts ...store.Option) store.Store

// Run runs the whole suite, each test on a database of its own, in
// parallel: on PostgreSQL most of the time is spent creating databases.
func Run(t *testing.T, newDB NewDB) {
	tests := []struct {
		name string
		fn   func(t *testing.T, e *env)
	}{
		{"Connections", testConnections},
		{"ConnectionValidation", testConnectionValidation},
		{"Pagination", testPagination},
		{"VersionAndRollback", testVersionAndRollback},
		{"ConcurrentUpdates", testConcurrentUpdates},
		{"TenantIsolation", testTenantIsolation},
		{"Tenants", testTenants},
		{"Overrides", testOverrides},
		{"RunLogs", testRunLogs},
		{"RunLogsConcurrent", testRunLogsConcurrent},
		{"States", testStates},
		{"StatesConcurrentTake", testStatesConcurrentTake},
		{"Encryption", testEncryption},
		{"Rotation", testRotation},
		{"RotationUnderTraffic", testRotationUnderTraffic},
		{"ConnectionLock", testConnectionLock},
		{"ConnectionLockWithWork", testConnectionLockWithWork},
		{"Outbox", testOutbox},
		{"Destinations", testDestinations},
		{"Deliveries", testDeliveries},
		{"DeliveryClaimAcrossReplicas", testDeliveryClaimAcrossReplicas},
		{"RouteOrderAcrossReplicas", testRouteOrderAcrossReplicas},
		{"DeliveryIsolation", testDeliveryIsolation},
		{"DeliverySignals", testDeliverySignals},
		{"OutboxAtomicWithConnection", testOutboxAtomic},
		{"NestedTx", testNestedTx},
		{"Migrations", testMigrations},
		{"ExpiringTokens", testExpiringTokens},
		{"ErroredConnections", testErroredConnections},
		{"ConnectionStates", testConnectionStates},
		{"IdempotencyKeys", testIdempotencyKeys},
		{"IdempotencyKeysInTx", testIdempotencyKeysInTx},
		{"IdempotencyKeysConcurrent", testIdempotencyKeysConcurrent},
		{"Subscriptions", testSubscriptions},
		{"SubscriptionIsolation", testSubscriptionIsolation},
		{"SubscriptionCascade", testSubscriptionCascade},
		{"RecordHashes", testRecordHashes},
		{"Polls", testPolls},
		{"PollsConcurrent", testPollsConcurrent},
		{"Inbox", testInbox},
		{"InboxConcurrent", testInboxConcurrent},
		{"OutboxRecent", testOutboxRecent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, newEnv(t, newDB(t)))
		})
	}
}

// env is one test's database, keys and clock.
type env struct {
	t     *testing.T
	ctx   context.Context
	open  Opener
	clock *Clock
	keyA  []byte
	keys  *crypt.Keyring
}

func newEnv(t *testing.T, open Opener) *env {
	keyA := crypt.Generate()
	keys, err := crypt.New(keyA)
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, ctx: t.Context(), open: open, clock: NewClock(), keyA: keyA, keys: keys}
}

// store opens an instance with the test keyring and clock; opts override.
func (e *env) store(opts ...store.Option) store.Store {
	base := []store.Option{store.WithKeyring(e.keys), store.WithClock(e.clock.Now), store.WithLogger(Quiet())}
	return e.open(append(base, opts...)...)
}

// Quiet is a logger that drops everything.
func Quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// raw is the database under a store, to check what is actually stored.
func raw(t *testing.T, s store.Store) *sqldb.Engine {
	t.Helper()
	r, ok := s.(interface{ Internals() *sqldb.Engine })
	if !ok {
		t.Fatalf("%T does not expose its internals", s)
	}
	return r.Internals()
}

// Clock is a settable clock for expiry, leases and retention.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock starts at a fixed instant.
func NewClock() *Clock {
	return &Clock{now: time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)}
}

// Now is the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// result carries a call's value and error to ok: c := try(f()).ok(t).
type result[T any] struct {
	v   T
	err error
}

func try[T any](v T, err error) result[T] { return result[T]{v, err} }

// ok fails the test on an error and returns the value.
func (r result[T]) ok(t *testing.T) T {
	t.Helper()
	if r.err != nil {
		t.Fatal(r.err)
	}
	return r.v
}

func noErr(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func isErr(t *testing.T, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("got error %v, want %v", err, want)
	}
}
