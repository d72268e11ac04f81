package storetest

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/membrane-dev/membrane/runtime/store"
)

// testConnectionLock: goroutines of two store instances (two replicas on
// PostgreSQL) never hold one connection's lock at the same time.
func testConnectionLock(t *testing.T, e *env) {
	a, b := e.store(), e.store()
	ctx := e.ctx
	c := try(a.Tenant("acme").Connections().Create(ctx, store.Connection{Connector: "x"})).ok(t)
	other := try(a.Tenant("acme").Connections().Create(ctx, store.Connection{Connector: "x"})).ok(t)

	var inside, maxInside, runs atomic.Int32
	var wg sync.WaitGroup
	const goroutines, each = 8, 4
	for g := range goroutines {
		s := a
		if g%2 == 1 {
			s = b
		}
		wg.Go(func() {
			for range each {
				err := s.Tenant("acme").WithConnectionLock(ctx, c.ID, func(ctx context.Context) error {
					n := inside.Add(1)
					for m := maxInside.Load(); n > m && !maxInside.CompareAndSwap(m, n); m = maxInside.Load() {
					}
					time.Sleep(2 * time.Millisecond)
					inside.Add(-1)
					runs.Add(1)
					return nil
				})
				if err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if maxInside.Load() != 1 || runs.Load() != goroutines*each {
		t.Fatalf("at most %d inside at once (want 1), %d runs (want %d)", maxInside.Load(), runs.Load(), goroutines*each)
	}

	// fn's error comes back; another connection's lock is independent; a
	// waiter gives up with its context.
	boom := errors.New("boom")
	if err := a.Tenant("acme").WithConnectionLock(ctx, c.ID, func(context.Context) error { return boom }); err != boom {
		t.Fatalf("got %v, want fn's error", err)
	}
	held := make(chan struct{})
	release := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- a.Tenant("acme").WithConnectionLock(ctx, c.ID, func(context.Context) error {
			close(held)
			<-release
			return nil
		})
	}()
	<-held
	noErr(t, b.Tenant("acme").WithConnectionLock(ctx, other.ID, func(context.Context) error { return nil }))
	for _, s := range []store.Store{a, b} {
		wctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		err := s.Tenant("acme").WithConnectionLock(wctx, c.ID, func(context.Context) error {
			t.Error("ran while another held the lock")
			return nil
		})
		cancel()
		isErr(t, err, context.DeadlineExceeded)
	}
	close(release)
	noErr(t, <-done)
	noErr(t, b.Tenant("acme").WithConnectionLock(ctx, c.ID, func(context.Context) error { return nil }))
}

// testConnectionLockWithWork: many lock holders at once, each updating
// its connection inside the lock (as a token refresh does), finish: lock
// holders do not starve the work they guard.
func testConnectionLockWithWork(t *testing.T, e *env) {
	s := e.store()
	ctx, cancel := context.WithTimeout(e.ctx, 30*time.Second)
	defer cancel()
	var ids []string
	for range 24 {
		ids = append(ids, try(s.Tenant("acme").Connections().Create(ctx, sampleConnection())).ok(t).ID)
	}
	var wg sync.WaitGroup
	for _, id := range ids {
		for range 2 {
			wg.Go(func() {
				err := s.Tenant("acme").WithConnectionLock(ctx, id, func(ctx context.Context) error {
					time.Sleep(5 * time.Millisecond) // the token endpoint
					_, err := s.Tenant("acme").Connections().Update(ctx, id, func(c *store.Connection) error {
						c.Token.AccessToken += "+"
						return nil
					})
					return err
				})
				if err != nil {
					t.Error(err)
				}
			})
		}
	}
	wg.Wait()
	for _, id := range ids {
		if c := try(s.Tenant("acme").Connections().Get(ctx, id)).ok(t); c.Version != 3 {
			t.Fatalf("connection %s: version %d, want 3", id, c.Version)
		}
	}
}
