package store

import "errors"

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
)
