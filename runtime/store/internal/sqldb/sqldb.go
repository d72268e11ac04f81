// Package sqldb is the small surface the store needs from a SQL engine, so
// that one implementation of the store's logic runs on SQLite and on
// PostgreSQL. The engines differ only in what Engine describes.
package sqldb

import (
	"context"
	"errors"
)

// ErrNoRows is what Row.Scan returns when the query found nothing, for
// either engine.
var ErrNoRows = errors.New("no rows")

// Querier runs statements. Placeholders are $1, $2, … on both engines.
type Querier interface {
	Exec(ctx context.Context, query string, args ...any) (rowsAffected int64, err error)
	Query(ctx context.Context, query string, args ...any) (Rows, error)
	QueryRow(ctx context.Context, query string, args ...any) Row
}

// Rows iterates a result set; Close is always safe to call.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

// Row is a single-row result; Scan returns ErrNoRows when there is none.
type Row interface {
	Scan(dest ...any) error
}

// Tx is a write transaction.
type Tx interface {
	Querier
	Commit(ctx context.Context) error
	Rollback(ctx context.Context) error
}

// DB is a pool. Its Querier methods are for reads only: every write goes
// through Begin, which on SQLite is the single writer connection.
type DB interface {
	Querier
	Begin(ctx context.Context) (Tx, error)
	Close()
}

// Kind classifies an engine error the store reacts to.
type Kind int

// Error kinds.
const (
	Other Kind = iota
	Unique
	ForeignKey
)

// Engine is an opened database and the few ways its SQL differs.
type Engine struct {
	Name string // "sqlite" or "postgres"
	DB   DB
	// ForUpdate locks the rows a SELECT reads until the transaction ends
	// (" FOR UPDATE"); empty where the transaction already excludes
	// writers (SQLite's single writer).
	ForUpdate string
	// SkipLocked makes concurrent claimers take disjoint rows
	// (" FOR UPDATE SKIP LOCKED"); empty on SQLite for the same reason.
	SkipLocked string
	// XactLock takes a lock on key held until tx ends, shared by every
	// process using the database. Nil where one process owns the database:
	// the store's in-process lock is then enough.
	XactLock func(ctx context.Context, tx Tx, key string) error
	// Locks opens a transaction to hold an XactLock in, on connections kept
	// apart from the main pool so lock holders cannot starve the work they
	// guard. Nil when XactLock is nil.
	Locks func(ctx context.Context) (Tx, error)
	// LockScope, where XactLock is nil, names the database file: stores
	// of one process on the same file share their in-process locks.
	LockScope string
	// Classify names the kind of an engine error.
	Classify func(err error) Kind
	// Close releases everything the engine holds.
	Close func()
}

// ErrUnavailable marks an error of a database that cannot serve for now:
// unreachable, restarting, overloaded, or a transaction the engine chose
// to abort (a serialization failure, a deadlock, a lock held past the busy
// timeout). The same call may work when retried later.
var ErrUnavailable = errors.New("the database is unavailable for now")

// Unavailable marks err as ErrUnavailable, keeping its own chain, so
// errors.Is(err, ErrUnavailable) and errors.As on the engine's error both
// hold. A nil or already marked error is returned as is.
func Unavailable(err error) error {
	if err == nil || errors.Is(err, ErrUnavailable) {
		return err
	}
	return &unavailableError{err}
}

type unavailableError struct{ err error }

func (e *unavailableError) Error() string   { return e.err.Error() }
func (e *unavailableError) Unwrap() []error { return []error{e.err, ErrUnavailable} }
