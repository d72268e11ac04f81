package connections_test

import (
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/membrane-dev/membrane/runtime/connections"
	"github.com/membrane-dev/membrane/runtime/engine"
	"github.com/membrane-dev/membrane/runtime/store"
)

// notify is a slog handler that signals each record with a message.
type notify struct {
	msg string
	ch  chan struct{}
}

func (n notify) Enabled(context.Context, slog.Level) bool { return true }
func (n notify) Handle(_ context.Context, r slog.Record) error {
	if r.Message == n.msg {
		select {
		case n.ch <- struct{}{}:
		default:
		}
	}
	return nil
}
func (n notify) WithAttrs([]slog.Attr) slog.Handler { return n }
func (n notify) WithGroup(string) slog.Handler      { return n }

// lockFile takes SQLite's write lock on path from another connection, as
// another process would, until the returned func is called.
func lockFile(t *testing.T, path string) func() {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := db.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(t.Context(), "BEGIN EXCLUSIVE"); err != nil {
		t.Fatal(err)
	}
	released := false
	release := func() {
		if !released {
			released = true
			conn.ExecContext(context.Background(), "ROLLBACK")
			conn.Close()
			db.Close()
		}
	}
	t.Cleanup(release)
	return release
}

// A run whose log cannot be saved is never answered as a success without
// a run id: while the store is unavailable the service keeps trying, and
// once it gives up the run fails with RunNotRecordedError, a store
// outage the API answers 503.
func TestRunLogOutage(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "m.db")
	open := func(opts ...store.Option) store.Store {
		s, err := store.Open(context.Background(), "sqlite://"+path, append(opts, store.WithBusyTimeout(20*time.Millisecond))...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	retrying := make(chan struct{}, 1)
	e := newEnv(t, open, func(o *connections.Options) {
		o.Logger = slog.New(notify{msg: "run log not saved yet; retrying while the store is unavailable", ch: retrying})
		o.RunLogWait = 500 * time.Millisecond
	})
	c := e.create("acme")
	in := map[string]any{"email": "ada@example.com"}

	// The store stays locked past RunLogWait: the run fails, unrecorded.
	release := lockFile(t, path)
	before := len(e.api.requests())
	res, err := e.svc.Run(e.ctx, "acme", c.ID, "create-contact", in, engine.RunOptions{})
	var nr *connections.RunNotRecordedError
	if !errors.As(err, &nr) || !errors.Is(err, store.ErrUnavailable) || nr.RunErr != nil || res.RunID != "" {
		t.Fatalf("run with the store locked: %+v %v", res, err)
	}
	if len(e.api.requests()) != before+1 {
		t.Fatal("the action did not run")
	}
	release()
	select {
	case <-retrying: // the first run's
	default:
		t.Fatal("the first run did not retry its log")
	}

	// Locked for the first attempt only: the log is saved on a later one.
	release = lockFile(t, path)
	type result struct {
		res *connections.RunResult
		err error
	}
	done := make(chan result, 1)
	go func() {
		res, err := e.svc.Run(e.ctx, "acme", c.ID, "create-contact", in, engine.RunOptions{})
		done <- result{res, err}
	}()
	<-retrying
	release()
	r := <-done
	if r.err != nil || r.res.RunID == "" {
		t.Fatalf("run after a retried log: %+v %v", r.res, r.err)
	}
	if l, err := e.st.Tenant("acme").RunLogs().Get(e.ctx, r.res.RunID); err != nil || l.Status != "ok" {
		t.Fatalf("run log %+v %v", l, err)
	}
}
