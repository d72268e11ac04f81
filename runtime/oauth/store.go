package oauth

import (
	"context"
	"errors"
	"time"
)

// TokenStore persists a connection's token; WithLock excludes every other
// refresher of that connection, across goroutines and replicas.
type TokenStore interface {
	// LoadToken returns the connection's token: nil (or ErrNoToken) when it
	// has none.
	LoadToken(ctx context.Context, connID string) (*Token, error)
	SaveToken(ctx context.Context, connID string, t *Token) error
	// WithLock runs fn while holding the connection's refresh lock. fn
	// reads and saves through the same store with the ctx it is given.
	WithLock(ctx context.Context, connID string, fn func(ctx context.Context) error) error
	// MarkDisconnected records that a human must re-authorise the
	// connection, and why.
	MarkDisconnected(ctx context.Context, connID string, reason string) error
}

// StateStore keeps signed authorization `state` values single-use.
type StateStore interface {
	SaveState(ctx context.Context, state string, data []byte, expiresAt time.Time) error
	// TakeState returns the data saved with state and deletes it: a second
	// take, or one after expiresAt, returns ErrStateNotFound.
	TakeState(ctx context.Context, state string) ([]byte, error)
}

var (
	// ErrNoToken: the connection has no token; it was never authorised.
	ErrNoToken = errors.New("oauth: the connection has no token")
	// ErrStateNotFound: the state was never saved, was taken already or
	// expired.
	ErrStateNotFound = errors.New("oauth: state not found")
)
