package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"github.com/membrane-dev/membrane/runtime/store/crypt"
	"github.com/membrane-dev/membrane/runtime/store/internal/postgres"
	"github.com/membrane-dev/membrane/runtime/store/internal/sqldb"
	"github.com/membrane-dev/membrane/runtime/store/internal/sqlite"
)

// Option tunes Open.
type Option func(*config)

type config struct {
	keys    *crypt.Keyring
	dataDir string
	log     *slog.Logger
	now     func() time.Time
	retry   RetryPolicy
	// migrateTo stops the migrations at a version (tests of upgrades).
	migrateTo int
	acquire   time.Duration
	busy      time.Duration
	observe   Observer
}

// RetryPolicy says when a webhook inbox entry stops being retried and
// goes dead: after MaxAttempts attempts. (Deliveries follow the delivery
// runtime's schedule instead.) MaxAge must be positive; it is kept for
// compatibility.
type RetryPolicy struct {
	MaxAttempts int
	MaxAge      time.Duration
}

// DefaultRetryPolicy retries for a day, as webhook senders commonly do.
var DefaultRetryPolicy = RetryPolicy{MaxAttempts: 20, MaxAge: 24 * time.Hour}

// WithKeyring seals secrets with k instead of the environment's keys.
func WithKeyring(k *crypt.Keyring) Option { return func(c *config) { c.keys = k } }

// WithDataDir is where a development key is kept when no key is
// configured. SQLite defaults to the database file's directory;
// PostgreSQL has no default, so replicas never each invent a key.
func WithDataDir(dir string) Option { return func(c *config) { c.dataDir = dir } }

// WithLogger logs through l instead of slog.Default().
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.log = l } }

// WithClock replaces time.Now, for tests of expiry, leases and retention.
func WithClock(now func() time.Time) Option { return func(c *config) { c.now = now } }

// WithRetryPolicy replaces DefaultRetryPolicy for the webhook inbox.
func WithRetryPolicy(p RetryPolicy) Option { return func(c *config) { c.retry = p } }

// WithBusyTimeout is how long a SQLite statement waits for another
// process's lock on the file (10 s by default) before it fails with
// ErrUnavailable. PostgreSQL ignores it.
func WithBusyTimeout(d time.Duration) Option { return func(c *config) { c.busy = d } }

// WithAcquireTimeout bounds how long a call waits for one of
// PostgreSQL's pooled connections (10 s by default) before it fails with
// ErrUnavailable. SQLite ignores it.
func WithAcquireTimeout(d time.Duration) Option { return func(c *config) { c.acquire = d } }

// Open opens a store and migrates its schema. dsn is
// "sqlite:///path/to/file.db" (or a bare path ending in .db), or
// "postgres://user:password@host:port/database?sslmode=…".
//
// Secrets are sealed with the keyring given by WithKeyring, else with the
// keys of MEMBRANE_SECRET_KEY and MEMBRANE_SECRET_KEY_OLD, else with a
// development key generated into the data directory (with a loud warning).
func Open(ctx context.Context, dsn string, opts ...Option) (Store, error) {
	cfg := config{log: slog.Default(), now: time.Now, retry: DefaultRetryPolicy}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.retry.MaxAttempts <= 0 || cfg.retry.MaxAge <= 0 {
		return nil, fmt.Errorf("store: %w: the retry policy needs positive MaxAttempts and MaxAge", ErrInvalid)
	}
	engine, path, err := parseDSN(dsn)
	if err != nil {
		return nil, err
	}
	if engine == "sqlite" && cfg.dataDir == "" {
		cfg.dataDir = filepath.Dir(path)
	}
	if cfg.keys == nil {
		if cfg.keys, err = keyring(cfg); err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
	}
	var e *sqldb.Engine
	switch engine {
	case "sqlite":
		e, err = sqlite.Open(ctx, path, sqlite.Options{Log: cfg.log, MigrateTo: cfg.migrateTo, BusyTimeout: cfg.busy})
	default:
		e, err = postgres.Open(ctx, dsn, postgres.Options{Log: cfg.log, MigrateTo: cfg.migrateTo, AcquireTimeout: cfg.acquire})
	}
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	e.DB = observe(e.DB, cfg.observe)
	return newSQLStore(e, cfg), nil
}

func keyring(cfg config) (*crypt.Keyring, error) {
	k, err := crypt.FromEnv()
	if err != nil || k != nil {
		return k, err
	}
	if cfg.dataDir == "" {
		return nil, errors.New(crypt.EnvKey + " is not set: PostgreSQL replicas must share one key " +
			"(make one with `openssl rand -base64 32`), or give a data directory for a development key")
	}
	return crypt.DevKeyring(cfg.dataDir, cfg.log)
}

// parseDSN tells the engine, and for SQLite the file path.
func parseDSN(dsn string) (engine, path string, err error) {
	switch {
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		return "postgres", "", nil
	case strings.HasPrefix(dsn, "sqlite://"):
		path = strings.TrimPrefix(dsn, "sqlite://")
	case strings.HasPrefix(dsn, "sqlite:"):
		path = strings.TrimPrefix(dsn, "sqlite:")
	case strings.HasSuffix(dsn, ".db"), strings.HasSuffix(dsn, ".sqlite"), strings.HasSuffix(dsn, ".sqlite3"):
		path = dsn
	default:
		return "", "", fmt.Errorf("store: %w DSN: want sqlite:///path/to/file.db, a path ending in .db, or postgres://…", ErrInvalid)
	}
	if path == "" || strings.ContainsAny(path, "?#") {
		return "", "", fmt.Errorf("store: %w DSN: sqlite needs a file path and takes no options", ErrInvalid)
	}
	return "sqlite", path, nil
}
