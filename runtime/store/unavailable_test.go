package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	_ "modernc.org/sqlite"

	"github.com/membrane-dev/membrane/internal/testkit"
	"github.com/membrane-dev/membrane/runtime/store"
	"github.com/membrane-dev/membrane/runtime/store/crypt"
	"github.com/membrane-dev/membrane/runtime/store/storetest"
)

func testKeys(t *testing.T) *crypt.Keyring {
	k, err := crypt.New(crypt.Generate())
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func open(t *testing.T, dsn string, opts ...store.Option) store.Store {
	t.Helper()
	s, err := store.Open(t.Context(), dsn, append([]store.Option{store.WithKeyring(testKeys(t)), store.WithLogger(storetest.Quiet())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// wantUnavailable fails unless err is the store's transient error.
func wantUnavailable(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, store.ErrUnavailable) || !store.Unavailable(err) {
		t.Fatalf("%s: got %v, want store.ErrUnavailable", what, err)
	}
}

// through rewrites a DSN to reach its server through addr.
func through(t *testing.T, dsn, addr string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = addr
	return u.String()
}

// TestPostgresOutage cuts the network between the store and a real
// PostgreSQL: every kind of call fails with ErrUnavailable (not a
// generic error, and never a hang), and the same store works again once
// the server is back.
func TestPostgresOutage(t *testing.T) {
	dsn := storetest.PostgresDB(t)
	u, _ := url.Parse(dsn)
	proxy := testkit.NewProxy(t, u.Host)
	s := open(t, through(t, dsn, proxy.Addr()))
	ctx := t.Context()
	acme := s.Tenant("acme")
	c, err := acme.Connections().Create(ctx, store.Connection{Connector: "crm", Credentials: map[string]any{"apiKey": "key_0123456789"}})
	if err != nil {
		t.Fatal(err)
	}

	proxy.Cut()
	calls := map[string]func() error{
		"get":    func() error { _, err := acme.Connections().Get(ctx, c.ID); return err },
		"list":   func() error { _, err := acme.Connections().List(ctx, store.ConnectionFilter{}); return err },
		"create": func() error { _, err := acme.Connections().Create(ctx, store.Connection{Connector: "crm"}); return err },
		"update": func() error {
			_, err := acme.Connections().Update(ctx, c.ID, func(*store.Connection) error { return nil })
			return err
		},
		"run log": func() error {
			_, err := acme.RunLogs().Append(ctx, store.RunLog{ConnectionID: c.ID, Status: "ok"})
			return err
		},
		"tx": func() error { return acme.Tx(ctx, func(store.TenantStore) error { return nil }) },
		"claim": func() error {
			_, _, err := acme.IdempotencyKeys().Claim(ctx, "k", "fp", time.Minute, time.Hour)
			return err
		},
		"lock":  func() error { return acme.WithConnectionLock(ctx, c.ID, func(context.Context) error { return nil }) },
		"ping":  func() error { return s.Ping(ctx) },
		"prune": func() error { _, err := s.PruneIdempotencyKeys(ctx); return err },
	}
	for name, call := range calls {
		wantUnavailable(t, name, call())
	}
	// A record that does not exist is still not found, not unavailable,
	// once the server answers again; and every call works.
	proxy.Restore()
	for name, call := range calls {
		if err := call(); err != nil {
			t.Errorf("%s after the outage: %v", name, err)
		}
	}
	_, err = acme.Connections().Get(ctx, "conn_missing")
	if !errors.Is(err, store.ErrNotFound) || store.Unavailable(err) {
		t.Fatalf("a missing connection: %v", err)
	}
}

// TestPostgresTerminatedBackend: the server ends the store's sessions
// (an administrator, a failover): the calls that meet a dead session are
// unavailable, and the pool recovers by itself.
func TestPostgresTerminatedBackend(t *testing.T) {
	dsn := storetest.PostgresDB(t)
	s := open(t, dsn)
	ctx := t.Context()
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	admin, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.Background())
	var ended int
	// Every other session of this database: the store's.
	if err := admin.QueryRow(ctx, `SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND pid <> pg_backend_pid()`).Scan(&ended); err != nil {
		t.Fatal(err)
	}
	if ended == 0 {
		t.Fatal("the store holds no session to end")
	}
	// The pool may detect a dead idle connection itself and dial anew;
	// whatever a call meets, it is either fine or unavailable.
	for i := range 20 {
		if err := s.Ping(ctx); err != nil {
			wantUnavailable(t, fmt.Sprintf("ping %d", i), err)
		}
	}
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("the pool did not recover: %v", err)
	}
}

// TestPostgresAcquireTimeout: when every pooled connection is busy past
// the acquire timeout, a call fails unavailable instead of queueing.
func TestPostgresAcquireTimeout(t *testing.T) {
	dsn := storetest.PostgresDB(t)
	u, _ := url.Parse(dsn)
	q := u.Query()
	q.Set("pool_max_conns", "1")
	u.RawQuery = q.Encode()
	s := open(t, u.String(), store.WithAcquireTimeout(100*time.Millisecond))
	ctx := t.Context()
	acme := s.Tenant("acme")
	held, release := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- acme.Tx(ctx, func(store.TenantStore) error {
			close(held)
			<-release
			return nil
		})
	}()
	<-held
	_, err := acme.Connections().List(ctx, store.ConnectionFilter{})
	wantUnavailable(t, "list while the only connection is held", err)
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := acme.Connections().List(ctx, store.ConnectionFilter{}); err != nil {
		t.Fatal(err)
	}
}

// TestSQLiteBusy: another process holds the file's write lock past the
// busy timeout: writes fail unavailable, reads (WAL) go on, and writes
// work once the lock is gone.
func TestSQLiteBusy(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.db")
	s := open(t, "sqlite://"+path, store.WithBusyTimeout(50*time.Millisecond))
	ctx := t.Context()
	acme := s.Tenant("acme")
	if _, err := acme.Connections().Create(ctx, store.Connection{Connector: "crm"}); err != nil {
		t.Fatal(err)
	}
	other, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	conn, err := other.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN EXCLUSIVE"); err != nil {
		t.Fatal(err)
	}
	_, err = acme.Connections().Create(ctx, store.Connection{Connector: "crm"})
	wantUnavailable(t, "create while another process holds the lock", err)
	_, err = acme.RunLogs().Append(ctx, store.RunLog{Status: "ok"})
	wantUnavailable(t, "run log while another process holds the lock", err)
	if _, err := conn.ExecContext(ctx, "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	if _, err := acme.Connections().Create(ctx, store.Connection{Connector: "crm"}); err != nil {
		t.Fatalf("after the lock: %v", err)
	}
	// Errors of the request itself are never unavailable.
	_, err = acme.Connections().Get(ctx, "conn_missing")
	if !errors.Is(err, store.ErrNotFound) || store.Unavailable(err) {
		t.Fatalf("a missing connection: %v", err)
	}
}

// TestPostgresStalled: a server that accepts connections and never
// answers (a dropped route) fails a call unavailable once the connect
// timeout passes, instead of hanging it; then the store recovers.
func TestPostgresStalled(t *testing.T) {
	dsn := storetest.PostgresDB(t)
	u, _ := url.Parse(dsn)
	proxy := testkit.NewProxy(t, u.Host)
	u.Host = proxy.Addr()
	q := u.Query()
	q.Set("connect_timeout", "1")
	u.RawQuery = q.Encode()
	s := open(t, u.String())
	ctx := t.Context()
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	proxy.Stall()
	// The first call meets the pooled connection the stall reset; the
	// next ones must connect anew, and get no answer.
	for i := range 3 {
		_, err := s.Tenant("acme").Connections().List(ctx, store.ConnectionFilter{})
		wantUnavailable(t, fmt.Sprintf("list %d while the server is silent", i), err)
	}
	proxy.Restore()
	if _, err := s.Tenant("acme").Connections().List(ctx, store.ConnectionFilter{}); err != nil {
		t.Fatalf("after the stall: %v", err)
	}
}
