// Package sqlite opens the embedded engine: one SQLite file (modernc.org/sqlite,
// pure Go) in WAL mode, read by a pool of connections and written by exactly
// one, so writers queue in Go instead of failing with SQLITE_BUSY.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/membrane-dev/membrane/runtime/store/internal/sqldb"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrations are the engine's schema versions, embedded in the binary.
func Migrations() ([]sqldb.Migration, error) { return sqldb.LoadMigrations(migrations, "migrations") }

// Options tune Open.
type Options struct {
	Log *slog.Logger
	// MigrateTo stops the migrations at that version; 0 applies them all.
	// Tests use it to make a database of an older schema.
	MigrateTo int
	// BusyTimeout is how long a statement waits for another process's
	// lock on the file before it fails with sqldb.ErrUnavailable; 0 is
	// DefaultBusyTimeout.
	BusyTimeout time.Duration
}

// DefaultBusyTimeout is Options.BusyTimeout's default.
const DefaultBusyTimeout = 10 * time.Second

// Open opens (creating it if needed, mode 0600) the database file at path
// and brings its schema up to date.
func Open(ctx context.Context, path string, o Options) (*sqldb.Engine, error) {
	log := o.Log
	if log == nil {
		log = slog.Default()
	}
	if path == "" {
		return nil, errors.New("sqlite: no database path")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("sqlite %s: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o700); err != nil {
		return nil, fmt.Errorf("sqlite %s: %w", path, err)
	}
	if err := touch(abs); err != nil {
		return nil, fmt.Errorf("sqlite %s: %w", path, err)
	}

	if o.BusyTimeout <= 0 {
		o.BusyTimeout = DefaultBusyTimeout
	}
	writer, err := sql.Open("sqlite", dsn(abs, true, o.BusyTimeout))
	if err != nil {
		return nil, fmt.Errorf("sqlite %s: %w", path, err)
	}
	writer.SetMaxOpenConns(1) // the single writer
	writer.SetMaxIdleConns(1)
	writer.SetConnMaxLifetime(0)
	reader, err := sql.Open("sqlite", dsn(abs, false, o.BusyTimeout))
	if err != nil {
		writer.Close()
		return nil, fmt.Errorf("sqlite %s: %w", path, err)
	}
	n := max(4, runtime.NumCPU())
	reader.SetMaxOpenConns(n)
	reader.SetMaxIdleConns(n)
	reader.SetConnMaxLifetime(0)

	db := &db{reader: reader, writer: writer}
	e := &sqldb.Engine{
		Name:      "sqlite",
		DB:        db,
		LockScope: abs,
		Classify:  classify,
		Close:     db.Close,
	}
	// Touch the writer first: it sets WAL mode, which is persistent and
	// needs a write lock.
	if err := pingWriter(ctx, writer); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite %s: %w", path, err)
	}
	ms, err := Migrations()
	if err != nil {
		db.Close()
		return nil, err
	}
	if o.MigrateTo > 0 && o.MigrateTo < len(ms) {
		ms = ms[:o.MigrateTo]
	}
	// BEGIN IMMEDIATE takes SQLite's write lock, which is the migration
	// lock, also against another process opening the same file.
	noLock := func(context.Context, sqldb.Tx) error { return nil }
	if err := sqldb.Migrate(ctx, e, ms, noLock, log); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite %s: %w", path, err)
	}
	return e, nil
}

// busyWait is how long a new file's switch to WAL is retried: the busy
// timeout every connection sets.
const busyWait = 10 * time.Second

// pingWriter opens the writer's connection, which switches a new file to
// WAL. Stores opening one new file at once race for that switch, and
// SQLite answers the losers BUSY at once, without waiting in its busy
// handler as it does for other locks: retry them for as long as it would.
func pingWriter(ctx context.Context, writer *sql.DB) error {
	deadline := time.Now().Add(busyWait)
	for wait := 5 * time.Millisecond; ; wait = min(2*wait, 200*time.Millisecond) {
		err := writer.PingContext(ctx)
		var se *sqlite.Error
		if err == nil || !errors.As(err, &se) || se.Code()&0xff != sqlite3.SQLITE_BUSY || time.Now().Add(wait).After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}

// touch creates the file with mode 0600 before SQLite does (it would use
// 0644): the file holds tenants' data, even if secrets are sealed.
func touch(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	return f.Close()
}

// dsn sets, on every connection: a busy timeout (other processes may hold
// the file briefly); WAL so readers never block the writer; foreign keys
// (off by default in SQLite); synchronous=NORMAL, durable in WAL mode but
// for the last transactions on power loss; and BEGIN IMMEDIATE on the
// writer so a transaction holds the write lock from its start and never
// fails to upgrade halfway.
func dsn(path string, write bool, busy time.Duration) string {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busy.Milliseconds()))
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "synchronous(NORMAL)")
	if write {
		q.Set("_txlock", "immediate")
	} else {
		q.Add("_pragma", "query_only(1)")
	}
	return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
}

// mark tags the errors of a database that cannot serve for now
// sqldb.ErrUnavailable: SQLITE_BUSY (another process held the file past
// the busy timeout) and SQLITE_LOCKED.
func mark(err error) error {
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
			return sqldb.Unavailable(err)
		}
	}
	return err
}

func classify(err error) sqldb.Kind {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return sqldb.Other
	}
	switch se.Code() {
	case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
		return sqldb.Unique
	case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
		return sqldb.ForeignKey
	}
	return sqldb.Other
}
