// Package postgres opens the engine for several replicas: PostgreSQL through
// a pgx pool, with advisory locks for migrations and per-connection locks,
// and row locks for everything else.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/membrane-dev/membrane/runtime/store/internal/sqldb"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrations are the engine's schema versions, embedded in the binary.
func Migrations() ([]sqldb.Migration, error) { return sqldb.LoadMigrations(migrations, "migrations") }

// Default pool sizes when the DSN sets no pool_max_conns. The lock pool is
// separate: a goroutine holding a connection lock runs work that needs the
// main pool, so sharing one pool could deadlock once every connection is a
// lock holder.
const (
	defaultMaxConns  = 16
	defaultLockConns = 8
)

// Defaults of Options.
const (
	// DefaultAcquireTimeout bounds the wait for a pooled connection.
	DefaultAcquireTimeout = 10 * time.Second
	// defaultConnectTimeout bounds a new connection when the DSN sets no
	// connect_timeout: a server that drops packets fails a request in
	// seconds instead of hanging it.
	defaultConnectTimeout = 5 * time.Second
)

// Options tune Open.
type Options struct {
	Log *slog.Logger
	// MigrateTo stops the migrations at that version; 0 applies them all.
	// Tests use it to make a database of an older schema.
	MigrateTo int
	// AcquireTimeout bounds the wait for a pooled connection, after which
	// the call fails with sqldb.ErrUnavailable; 0 is DefaultAcquireTimeout.
	AcquireTimeout time.Duration
}

// Open connects to PostgreSQL and brings the schema up to date under an
// advisory lock, so replicas starting together migrate once.
func Open(ctx context.Context, dsn string, o Options) (*sqldb.Engine, error) {
	log := o.Log
	if log == nil {
		log = slog.Default()
	}
	if o.AcquireTimeout <= 0 {
		o.AcquireTimeout = DefaultAcquireTimeout
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx's parse errors may quote the DSN, password included.
		return nil, errors.New("postgres: the DSN cannot be parsed (expected postgres://user:password@host:port/database?options)")
	}
	if !strings.Contains(dsn, "pool_max_conns") {
		cfg.MaxConns = defaultMaxConns
	}
	if !strings.Contains(dsn, "connect_timeout") {
		cfg.ConnConfig.ConnectTimeout = defaultConnectTimeout
	}
	lockCfg := cfg.Copy()
	lockCfg.MaxConns = max(defaultLockConns, cfg.MaxConns/2)
	lockCfg.MinConns = 0

	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	locks, err := pgxpool.NewWithConfig(ctx, lockCfg)
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: %w", err)
	}
	closeAll := func() { locks.Close(); pool.Close() }
	if err := pool.Ping(ctx); err != nil {
		closeAll()
		return nil, fmt.Errorf("postgres %s:%d/%s: %w", cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Database, err)
	}
	e := &sqldb.Engine{
		Name:       "postgres",
		DB:         &db{p: pool, acquireTimeout: o.AcquireTimeout},
		ForUpdate:  " FOR UPDATE",
		SkipLocked: " FOR UPDATE SKIP LOCKED",
		XactLock:   xactLock,
		Locks: func(ctx context.Context) (sqldb.Tx, error) {
			t, err := locks.Begin(ctx)
			if err != nil {
				return nil, mark(err)
			}
			return &tx{t: t}, nil
		},
		Classify: classify,
		Close:    closeAll,
	}
	ms, err := Migrations()
	if err != nil {
		closeAll()
		return nil, err
	}
	if o.MigrateTo > 0 && o.MigrateTo < len(ms) {
		ms = ms[:o.MigrateTo]
	}
	lock := func(ctx context.Context, t sqldb.Tx) error { return xactLock(ctx, t, "membrane:migrations") }
	if err := sqldb.Migrate(ctx, e, ms, lock, log); err != nil {
		closeAll()
		return nil, fmt.Errorf("postgres: %w", err)
	}
	return e, nil
}

// xactLock takes a transaction-scoped advisory lock: released at commit or
// rollback, and by the server if this process dies, so it never leaks. The
// key is hashed in Go (FNV-64a) rather than with hashtext(), whose result
// PostgreSQL does not promise to keep across versions. Two keys sharing a
// hash only serialise needlessly.
func xactLock(ctx context.Context, t sqldb.Tx, key string) error {
	h := fnv.New64a()
	h.Write([]byte(key))
	_, err := t.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(h.Sum64()))
	return err
}

// mark tags the errors of a server that cannot serve for now
// sqldb.ErrUnavailable.
func mark(err error) error {
	if transient(err) {
		return sqldb.Unavailable(err)
	}
	return err
}

// transient reports an error that says nothing of the statement and may
// not recur: the server is unreachable, the connection broke, the server
// is shutting down, starting or out of connections, or it aborted the
// transaction to resolve a conflict. A caller's own cancellation is not
// one: it is the caller's doing.
func transient(err error) bool {
	if err == nil {
		return false
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "57P01", "57P02", "57P03", // admin shutdown, crash shutdown, cannot connect now
			"40001", "40P01", // serialization failure, deadlock detected
			"53300": // too many connections
			return true
		}
		return strings.HasPrefix(pe.Code, "08") // connection exception
	}
	// No connection could be made: refused, reset, or no answer within
	// connect_timeout (a deadline of the driver's, not the caller's). A
	// server that refused the login said so above, with a PgError.
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return true
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var ne net.Error
	return errors.As(err, &ne) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, pgconn.ErrConnClosed) || pgconn.Timeout(err) || pgconn.SafeToRetry(err)
}

func classify(err error) sqldb.Kind {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return sqldb.Other
	}
	switch pe.Code {
	case "23505":
		return sqldb.Unique
	case "23503":
		return sqldb.ForeignKey
	}
	return sqldb.Other
}
