package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/membrane-dev/membrane/runtime/store/crypt"
	"github.com/membrane-dev/membrane/runtime/store/internal/sqldb"
)

// sqlStore is the one implementation of Store; sqldb.Engine carries what
// differs between SQLite and PostgreSQL.
type sqlStore struct {
	e       *sqldb.Engine
	keys    *crypt.Keyring
	now     func() time.Time
	log     *slog.Logger
	retry   RetryPolicy
	locks   *keyedMutex
	group   *groupCommit // of run logs and inbox entries
	records *recordQueue // of delivery attempts

	// enqueuedSig fires after a commit that enqueued events, routedSig
	// after a Route that routed some.
	enqueuedSig, routedSig signal

	closeOnce sync.Once
}

func newSQLStore(e *sqldb.Engine, cfg config) *sqlStore {
	s := &sqlStore{e: e, keys: cfg.keys, now: cfg.now, log: cfg.log, retry: cfg.retry, locks: localLocks(e.LockScope)}
	s.group = newGroupCommit(s)
	s.records = newRecordQueue(s)
	return s
}

// Internals gives the shared test suite the raw database, to check what is
// actually stored. It is not part of the Store interface.
func (s *sqlStore) Internals() *sqldb.Engine { return s.e }

func (s *sqlStore) Engine() string { return s.e.Name }

func (s *sqlStore) Ping(ctx context.Context) error {
	var one int
	if err := s.e.DB.QueryRow(ctx, `SELECT 1`).Scan(&one); err != nil {
		return fmt.Errorf("store %s: ping: %w", s.e.Name, err)
	}
	return nil
}

func (s *sqlStore) Close() error {
	s.closeOnce.Do(func() {
		s.records.close()
		s.group.close()
		s.e.Close()
	})
	return nil
}

// clock is the store's now, in UTC and at the stored precision, so what
// Create returns equals what Get reads back.
func (s *sqlStore) clock() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

func (s *sqlStore) root() *scope { return &scope{s: s} }

func (s *sqlStore) Tenant(key string) TenantStore { return s.root().tenant(key) }

// scope is where statements run: the pool, or one transaction (inside Tx).
type scope struct {
	s  *sqlStore
	tx sqldb.Tx
	sp *int // savepoint counter of tx
	// enq is set when tx enqueued events: its commit fires enqueuedSig.
	enq *bool
}

// enqueued says events were enqueued: now, or when tx commits.
func (sc *scope) enqueued() {
	if sc.tx != nil {
		*sc.enq = true
		return
	}
	sc.s.enqueuedSig.fire()
}

func (sc *scope) tenant(key string) *tenantStore {
	return &tenantStore{sc: sc, key: key, err: checkKey("tenant key", key)}
}

// read is where queries run: the transaction, or the pool (SQLite's
// readers, which never wait for the writer).
func (sc *scope) read() sqldb.Querier {
	if sc.tx != nil {
		return sc.tx
	}
	return sc.s.e.DB
}

// write runs fn in a transaction of its own; inside Tx, in a savepoint, so
// a failed write leaves nothing half-done in the caller's transaction.
func (sc *scope) write(ctx context.Context, fn func(tx sqldb.Tx) error) error {
	if sc.tx != nil {
		return sc.savepoint(ctx, func() error { return fn(sc.tx) })
	}
	tx, err := sc.s.e.DB.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	defer tx.Rollback(ctx)
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

func (sc *scope) savepoint(ctx context.Context, fn func() error) error {
	*sc.sp++
	name := "sp" + strconv.Itoa(*sc.sp)
	if _, err := sc.tx.Exec(ctx, "SAVEPOINT "+name); err != nil {
		return fmt.Errorf("savepoint: %w", err)
	}
	if err := fn(); err != nil {
		if _, rerr := sc.tx.Exec(context.WithoutCancel(ctx), "ROLLBACK TO SAVEPOINT "+name); rerr != nil {
			return errors.Join(err, fmt.Errorf("rollback to savepoint: %w", rerr))
		}
		return err
	}
	if _, err := sc.tx.Exec(ctx, "RELEASE SAVEPOINT "+name); err != nil {
		return fmt.Errorf("release savepoint: %w", err)
	}
	return nil
}

// kind classifies an engine error.
func (sc *scope) kind(err error) sqldb.Kind { return sc.s.e.Classify(err) }

// ensureTenant creates the tenant row unless it exists; every write of a
// tenant's data runs it first, so tenants are created on first use.
func ensureTenant(ctx context.Context, tx sqldb.Tx, key string, now time.Time) error {
	if _, err := tx.Exec(ctx, `INSERT INTO tenants (key, created_at) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING`,
		key, micros(now)); err != nil {
		return fmt.Errorf("tenant %q: create: %w", key, err)
	}
	return nil
}

// wrap names the operation that failed; store errors (ErrNotFound, …)
// already name it and pass through.
func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	for _, e := range []error{ErrNotFound, ErrConflict, ErrInvalid, ErrLeaseLost, ErrUndecryptable} {
		if errors.Is(err, e) {
			return err
		}
	}
	return fmt.Errorf("store: %s: %w", op, err)
}
