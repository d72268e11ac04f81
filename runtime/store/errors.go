package store

import (
	"errors"

	"github.com/membrane-dev/membrane/runtime/store/internal/sqldb"
)

// Errors to branch on with errors.Is. Returned errors wrap them with what
// failed ("connection \"conn_…\": not found") and never carry a secret.
var (
	// ErrNotFound: no such record for this tenant. A record of another
	// tenant is not found either, with the same message.
	ErrNotFound = errors.New("not found")
	// ErrConflict: the record exists, or changed since it was read.
	ErrConflict = errors.New("conflict")
	// ErrInvalid: the input breaks a rule of the store.
	ErrInvalid = errors.New("invalid")
	// ErrLeaseLost: the outbox entry is no longer leased by this worker.
	ErrLeaseLost = errors.New("lease lost")
	// ErrUndecryptable: a sealed value cannot be opened with the keyring
	// (a key removed before rotation, or a corrupt value).
	ErrUndecryptable = errors.New("cannot be decrypted")
	// ErrUnavailable: the database cannot serve for now (unreachable,
	// restarting, out of connections, no pooled connection within the
	// acquire timeout, SQLite's file locked by another process past the
	// busy timeout, a serialization failure or deadlock it aborted). The
	// same call may work later: the REST API answers 503 with
	// Retry-After. A write that failed so may still have been committed
	// (the connection broke after COMMIT was sent), so retry creates with
	// an idempotency key. Any other database error is not retryable.
	ErrUnavailable = sqldb.ErrUnavailable
)

// Unavailable reports whether err is a transient failure of the
// database (errors.Is(err, ErrUnavailable)).
func Unavailable(err error) bool { return errors.Is(err, ErrUnavailable) }
