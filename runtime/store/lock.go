package store

import (
	"context"
	"fmt"
	"sync"

	"github.com/membrane-dev/membrane/runtime/store/internal/sqldb"
)

func (t *tenantStore) WithConnectionLock(ctx context.Context, id string, fn func(ctx context.Context) error) error {
	if t.err != nil {
		return t.err
	}
	if t.sc.tx != nil {
		// The lock would wait for work that waits for this transaction.
		return fmt.Errorf("%w: WithConnectionLock inside Tx", ErrInvalid)
	}
	if err := t.connectionExists(ctx, t.sc.read(), id); err != nil {
		return err
	}
	s := t.sc.s
	// The in-process lock first: goroutines of this replica queue here
	// instead of each holding a database connection while they wait.
	unlock, err := s.locks.lock(ctx, id)
	if err != nil {
		return fmt.Errorf("lock of connection %q: %w", id, err)
	}
	defer unlock()
	if s.e.XactLock == nil {
		return fn(ctx)
	}
	tx, err := s.e.Locks(ctx)
	if err != nil {
		return fmt.Errorf("lock of connection %q: %w", id, err)
	}
	defer tx.Rollback(ctx) // ends the transaction, which releases the lock
	if err := s.e.XactLock(ctx, tx, "membrane:connection:"+id); err != nil {
		return fmt.Errorf("lock of connection %q: %w", id, err)
	}
	return fn(ctx)
}

func (t *tenantStore) connectionExists(ctx context.Context, q sqldb.Querier, id string) error {
	var one int
	err := q.QueryRow(ctx, `SELECT 1 FROM connections WHERE id = $1 AND tenant = $2`, id, t.key).Scan(&one)
	if err == sqldb.ErrNoRows {
		return fmt.Errorf("connection %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("store: connection %q: %w", id, err)
	}
	return nil
}

var (
	scopesMu sync.Mutex
	scopes   = map[string]*keyedMutex{}
)

// localLocks returns the in-process locks of a database file, shared by
// every store of this process on it; a store without a scope has its own.
func localLocks(scope string) *keyedMutex {
	if scope == "" {
		return &keyedMutex{}
	}
	scopesMu.Lock()
	defer scopesMu.Unlock()
	if scopes[scope] == nil {
		scopes[scope] = &keyedMutex{}
	}
	return scopes[scope]
}

// keyedMutex is one mutex per key, made on demand and dropped when no one
// holds or waits for it. Waiting respects ctx.
type keyedMutex struct {
	mu sync.Mutex
	m  map[string]*keyLock
}

type keyLock struct {
	ch   chan struct{} // holds a token while locked
	refs int
}

func (k *keyedMutex) lock(ctx context.Context, key string) (unlock func(), err error) {
	k.mu.Lock()
	if k.m == nil {
		k.m = map[string]*keyLock{}
	}
	l := k.m[key]
	if l == nil {
		l = &keyLock{ch: make(chan struct{}, 1)}
		k.m[key] = l
	}
	l.refs++
	k.mu.Unlock()
	select {
	case l.ch <- struct{}{}:
		return func() { <-l.ch; k.release(key, l) }, nil
	case <-ctx.Done():
		k.release(key, l)
		return nil, ctx.Err()
	}
}

func (k *keyedMutex) release(key string, l *keyLock) {
	k.mu.Lock()
	if l.refs--; l.refs == 0 {
		delete(k.m, key)
	}
	k.mu.Unlock()
}
