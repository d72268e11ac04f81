package oauth

import (
	"context"
	"sync"
	"time"
)

// MemStore keeps tokens and states in memory: for tests and for one process
// (`membrane run`). Its lock is per connection and process-wide only.
type MemStore struct {
	// Now is the clock of state expiry; nil is time.Now.
	Now func() time.Time

	mu           sync.Mutex
	tokens       map[string]*Token
	disconnected map[string]string
	states       map[string]memState
	locks        map[string]*memLock
}

type memState struct {
	data    []byte
	expires time.Time
}

// memLock is a mutex a waiter can give up on when its ctx ends.
type memLock struct {
	ch    chan struct{}
	users int // holders and waiters, so an idle lock can be dropped
}

// NewMemStore returns an empty MemStore.
func NewMemStore() *MemStore {
	return &MemStore{
		tokens:       map[string]*Token{},
		disconnected: map[string]string{},
		states:       map[string]memState{},
		locks:        map[string]*memLock{},
	}
}

func (s *MemStore) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *MemStore) LoadToken(_ context.Context, connID string) (*Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tokens[connID].clone(), nil
}

// SaveToken stores a copy of t; a saved token also clears a disconnection
// (the connection was re-authorised).
func (s *MemStore) SaveToken(_ context.Context, connID string, t *Token) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens[connID] = t.clone()
	delete(s.disconnected, connID)
	return nil
}

func (s *MemStore) MarkDisconnected(_ context.Context, connID string, reason string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.disconnected[connID] = reason
	return nil
}

// Disconnected returns why the connection was marked disconnected.
func (s *MemStore) Disconnected(connID string) (reason string, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	reason, ok = s.disconnected[connID]
	return reason, ok
}

func (s *MemStore) WithLock(ctx context.Context, connID string, fn func(ctx context.Context) error) error {
	s.mu.Lock()
	l := s.locks[connID]
	if l == nil {
		l = &memLock{ch: make(chan struct{}, 1)}
		s.locks[connID] = l
	}
	l.users++
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		if l.users--; l.users == 0 {
			delete(s.locks, connID)
		}
		s.mu.Unlock()
	}()

	select {
	case l.ch <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-l.ch }()
	return fn(ctx)
}

func (s *MemStore) SaveState(_ context.Context, state string, data []byte, expiresAt time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	for k, v := range s.states { // drop the abandoned ones
		if !now.Before(v.expires) {
			delete(s.states, k)
		}
	}
	s.states[state] = memState{data: append([]byte(nil), data...), expires: expiresAt}
	return nil
}

func (s *MemStore) TakeState(_ context.Context, state string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.states[state]
	delete(s.states, state)
	if !ok || !s.now().Before(v.expires) {
		return nil, ErrStateNotFound
	}
	return v.data, nil
}
