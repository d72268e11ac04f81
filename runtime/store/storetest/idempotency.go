package storetest

import (
	"bytes"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/membrane-dev/membrane/runtime/store"
)

const (
	testLease = 30 * time.Second
	testTTL   = 24 * time.Hour
)

// testIdempotencyKeys: a key is claimed once; its answer is kept until it
// expires; only the claim's holder completes, renews or releases it; a
// claim whose holder stopped renewing it lapses.
func testIdempotencyKeys(t *testing.T, e *env) {
	s := e.store()
	ctx := e.ctx
	keys := s.Tenant("acme").IdempotencyKeys()

	first, claimed, err := keys.Claim(ctx, "key-1", "fp-a", testLease, testTTL)
	noErr(t, err)
	if !claimed || first.Owner == "" || first.Status != 0 || !first.ExpiresAt.Equal(e.clock.Now().Add(testTTL)) {
		t.Fatalf("first claim %+v %v", first, claimed)
	}
	// The same key again, while in flight: the claim as it stands.
	again, claimed, err := keys.Claim(ctx, "key-1", "fp-a", testLease, testTTL)
	noErr(t, err)
	if claimed || again.Owner != first.Owner || again.Status != 0 || again.Fingerprint != "fp-a" {
		t.Fatalf("second claim %+v %v", again, claimed)
	}
	// Only the holder renews or completes.
	isErr(t, keys.Extend(ctx, "key-1", "claim_other", testLease), store.ErrLeaseLost)
	e.clock.Advance(20 * time.Second)
	noErr(t, keys.Extend(ctx, "key-1", first.Owner, testLease))
	e.clock.Advance(20 * time.Second) // past the first lease, within the renewed one
	if _, claimed, _ := keys.Claim(ctx, "key-1", "fp-a", testLease, testTTL); claimed {
		t.Fatal("a renewed claim lapsed")
	}
	answer := store.IdempotentResponse{Status: 201, Header: map[string]string{"Content-Type": "application/json", "Location": "/v1/connections/conn_1"}, Body: []byte(`{"id":"conn_1"}`)}
	isErr(t, keys.Complete(ctx, "key-1", "claim_other", answer), store.ErrLeaseLost)
	noErr(t, keys.Complete(ctx, "key-1", first.Owner, answer))
	isErr(t, keys.Complete(ctx, "key-1", first.Owner, answer), store.ErrLeaseLost)
	// Another store instance (a restart, a replica) replays the answer, also
	// for another fingerprint: the caller tells those apart.
	done, claimed, err := e.store().Tenant("acme").IdempotencyKeys().Claim(ctx, "key-1", "fp-b", testLease, testTTL)
	noErr(t, err)
	if claimed || done.Status != 201 || done.Fingerprint != "fp-a" || done.Header["Location"] != "/v1/connections/conn_1" || !bytes.Equal(done.Body, answer.Body) {
		t.Fatalf("answered key %+v %v", done, claimed)
	}
	// An answer outlives any lease, and the key is free again once expired.
	e.clock.Advance(time.Hour)
	if _, claimed, _ := keys.Claim(ctx, "key-1", "fp-a", testLease, testTTL); claimed {
		t.Fatal("an answered key was claimed again before it expired")
	}
	// Keys are per tenant.
	other, claimed, err := s.Tenant("globex").IdempotencyKeys().Claim(ctx, "key-1", "fp-z", testLease, testTTL)
	noErr(t, err)
	if !claimed || other.Owner == first.Owner {
		t.Fatalf("another tenant's key-1: %+v %v", other, claimed)
	}

	// A claim whose holder died lapses with its lease; the dead holder can
	// no longer answer for it.
	dead, _, err := keys.Claim(ctx, "key-2", "fp-a", testLease, testTTL)
	noErr(t, err)
	e.clock.Advance(testLease)
	next, claimed, err := keys.Claim(ctx, "key-2", "fp-a", testLease, testTTL)
	noErr(t, err)
	if !claimed || next.Owner == dead.Owner {
		t.Fatalf("lapsed claim %+v %v", next, claimed)
	}
	isErr(t, keys.Complete(ctx, "key-2", dead.Owner, answer), store.ErrLeaseLost)
	noErr(t, keys.Release(ctx, "key-2", dead.Owner)) // gone already: no error, no effect
	if cur, claimed, _ := keys.Claim(ctx, "key-2", "fp-a", testLease, testTTL); claimed || cur.Owner != next.Owner {
		t.Fatalf("a stale release freed the new claim: %+v", cur)
	}
	// Released, the key runs again.
	noErr(t, keys.Release(ctx, "key-2", next.Owner))
	if _, claimed, _ := keys.Claim(ctx, "key-2", "fp-a", testLease, testTTL); !claimed {
		t.Fatal("a released key was not claimable")
	}

	// Expired keys are forgotten, and pruned.
	e.clock.Advance(testTTL)
	fresh, claimed, err := keys.Claim(ctx, "key-1", "fp-c", testLease, testTTL)
	noErr(t, err)
	if !claimed || fresh.Status != 0 || fresh.Fingerprint != "fp-c" {
		t.Fatalf("expired key %+v %v", fresh, claimed)
	}
	n, err := s.PruneIdempotencyKeys(ctx)
	noErr(t, err)
	if n != 2 { // globex's key-1 and acme's key-2; acme's key-1 is new
		t.Fatalf("pruned %d, want 2", n)
	}
	if _, claimed, _ := keys.Claim(ctx, "key-1", "fp-c", testLease, testTTL); claimed {
		t.Fatal("pruning removed a live key")
	}

	for _, bad := range []string{"", "a\nb", strings.Repeat("k", 256)} {
		_, _, err := keys.Claim(ctx, bad, "fp", testLease, testTTL)
		isErr(t, err, store.ErrInvalid)
	}
	isErr(t, keys.Complete(ctx, "key-1", fresh.Owner, store.IdempotentResponse{Status: 0}), store.ErrInvalid)
}

// testIdempotencyKeysInTx: an answer completed inside Tx commits with the
// work it answers for, or not at all.
func testIdempotencyKeysInTx(t *testing.T, e *env) {
	s := e.store()
	ctx := e.ctx
	acme := s.Tenant("acme")
	claim, _, err := acme.IdempotencyKeys().Claim(ctx, "create-1", "fp", testLease, testTTL)
	noErr(t, err)
	answer := store.IdempotentResponse{Status: 201, Body: []byte(`{}`)}
	boom := errors.New("boom")
	err = acme.Tx(ctx, func(tx store.TenantStore) error {
		if _, err := tx.Connections().Create(ctx, sampleConnection()); err != nil {
			return err
		}
		noErr(t, tx.IdempotencyKeys().Complete(ctx, "create-1", claim.Owner, answer))
		return boom
	})
	isErr(t, err, boom)
	if cur, _, _ := acme.IdempotencyKeys().Claim(ctx, "create-1", "fp", testLease, testTTL); cur.Status != 0 {
		t.Fatalf("a rolled back answer was kept: %+v", cur)
	}
	var id string
	noErr(t, acme.Tx(ctx, func(tx store.TenantStore) error {
		c, err := tx.Connections().Create(ctx, sampleConnection())
		if err != nil {
			return err
		}
		id = c.ID
		return tx.IdempotencyKeys().Complete(ctx, "create-1", claim.Owner, answer)
	}))
	if cur, _, _ := acme.IdempotencyKeys().Claim(ctx, "create-1", "fp", testLease, testTTL); cur.Status != 201 {
		t.Fatalf("a committed answer is missing: %+v", cur)
	}
	try(acme.Connections().Get(ctx, id)).ok(t)
	page := try(acme.Connections().List(ctx, store.ConnectionFilter{})).ok(t)
	if len(page.Items) != 1 {
		t.Fatalf("%d connections, want 1", len(page.Items))
	}
	// A tenant's keys go with it.
	noErr(t, s.DeleteTenant(ctx, "acme"))
	if _, claimed, _ := s.Tenant("acme").IdempotencyKeys().Claim(ctx, "create-1", "fp", testLease, testTTL); !claimed {
		t.Fatal("a deleted tenant's key survived")
	}
}

// testIdempotencyKeysConcurrent: of requests racing for a new key, on two
// instances, exactly one claims it.
func testIdempotencyKeysConcurrent(t *testing.T, e *env) {
	stores := []store.Store{e.store(), e.store()}
	const racers = 16
	for round := range 5 {
		key := "race-" + string(rune('a'+round))
		var mu sync.Mutex
		owners := map[string]bool{}
		winners := 0
		var wg sync.WaitGroup
		for i := range racers {
			wg.Go(func() {
				rec, claimed, err := stores[i%2].Tenant("acme").IdempotencyKeys().Claim(e.ctx, key, "fp", testLease, testTTL)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				defer mu.Unlock()
				owners[rec.Owner] = true
				if claimed {
					winners++
				}
			})
		}
		wg.Wait()
		if winners != 1 || len(owners) != 1 {
			t.Fatalf("%s: %d claims, %d owners seen; want exactly one", key, winners, len(owners))
		}
	}
}
