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
	"log/slog"
	"strings"

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

// Open connects to PostgreSQL and brings the schema up to date under an
// advisory lock, so replicas starting together migrate once.
func Open(ctx context.Context, dsn string, log *slog.Logger) (*sqldb.Engine, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx's parse errors may quote the DSN, password included.
		return nil, errors.New("postgres: the DSN cannot be parsed (expected postgres://user:password@host:port/database?options)")
	}
	if !strings.Contains(dsn, "pool_max_conns") {
		cfg.MaxConns = defaultMaxConns
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
		DB:         &db{pool},
		ForUpdate:  " FOR UPDATE",
		SkipLocked: " FOR UPDATE SKIP LOCKED",
		XactLock:   xactLock,
		Locks: func(ctx context.Context) (sqldb.Tx, error) {
			t, err := locks.Begin(ctx)
			if err != nil {
				return nil, err
			}
			return tx{t}, nil
		},
		Classify: classify,
		Close:    closeAll,
	}
	ms, err := Migrations()
	if err != nil {
		closeAll()
		return nil, err
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
