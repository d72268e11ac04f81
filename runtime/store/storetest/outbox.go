package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/membrane-dev/membrane/runtime/store"
)

func event(id string) store.Event {
	return store.Event{ID: id, Type: "connection.created", Payload: json.RawMessage(fmt.Sprintf(`{"id": %q}`, id))}
}

func testOutbox(t *testing.T, e *env) {
	s := e.store()
	ctx := e.ctx
	ob, tob := s.Outbox(), s.Tenant("acme").Outbox()
	noErr(t, tob.Enqueue(ctx, event("evt_1"), event("evt_2")))
	noErr(t, tob.Enqueue(ctx, event("evt_1"))) // a stable id enqueued again stays one entry
	isErr(t, tob.Enqueue(ctx, store.Event{Type: "x", Payload: json.RawMessage(`{`)}), store.ErrInvalid)
	isErr(t, tob.Enqueue(ctx, store.Event{Payload: json.RawMessage(`{}`)}), store.ErrInvalid)

	got := try(ob.ClaimBatch(ctx, "w1", 10, 30*time.Second)).ok(t)
	if len(got) != 2 || got[0].ID != "evt_1" || got[1].ID != "evt_2" {
		t.Fatalf("claimed %v", ids(got))
	}
	d := got[0]
	if d.Tenant != "acme" || d.Type != "connection.created" || string(d.Payload) != `{"id": "evt_1"}` || d.Attempts != 1 ||
		d.LeaseOwner != "w1" || !d.NextAttemptAt.Equal(e.clock.Now().Add(30*time.Second)) || d.Status != store.Pending {
		t.Fatalf("claimed %+v", d)
	}
	// Leased: nobody else gets them.
	if again := try(ob.ClaimBatch(ctx, "w2", 10, time.Minute)).ok(t); len(again) != 0 {
		t.Fatalf("claimed leased entries: %v", ids(again))
	}

	noErr(t, ob.MarkDelivered(ctx, "evt_1"))
	noErr(t, ob.MarkDelivered(ctx, "evt_1")) // idempotent
	isErr(t, ob.MarkDelivered(ctx, "evt_nope"), store.ErrNotFound)

	// A failed attempt waits until its next attempt.
	dead, err := ob.MarkFailed(ctx, "w1", "evt_2", e.clock.Now().Add(time.Minute), "503 Service Unavailable")
	noErr(t, err)
	if dead {
		t.Fatal("dead after one failure")
	}
	_, err = ob.MarkFailed(ctx, "w1", "evt_2", e.clock.Now(), "again")
	isErr(t, err, store.ErrLeaseLost)
	e.clock.Advance(59 * time.Second)
	if got := try(ob.ClaimBatch(ctx, "w1", 10, time.Minute)).ok(t); len(got) != 0 {
		t.Fatalf("claimed before the next attempt: %v", ids(got))
	}
	e.clock.Advance(time.Second)
	got = try(ob.ClaimBatch(ctx, "w2", 10, 30*time.Second)).ok(t)
	if len(got) != 1 || got[0].ID != "evt_2" || got[0].Attempts != 2 || got[0].LastError != "503 Service Unavailable" {
		t.Fatalf("retry claimed %+v", got)
	}

	// The lease runs out (the worker died): the entry is claimable again,
	// and the first worker's late report is refused.
	e.clock.Advance(31 * time.Second)
	got = try(ob.ClaimBatch(ctx, "w3", 10, 30*time.Second)).ok(t)
	if len(got) != 1 || got[0].ID != "evt_2" || got[0].Attempts != 3 || got[0].LeaseOwner != "w3" {
		t.Fatalf("expired lease reclaimed as %+v", got)
	}
	_, err = ob.MarkFailed(ctx, "w2", "evt_2", e.clock.Now(), "late")
	isErr(t, err, store.ErrLeaseLost)
	noErr(t, ob.MarkDelivered(ctx, "evt_2"))

	// Delivered entries are pruned after a while.
	e.clock.Advance(time.Hour)
	noErr(t, tob.Enqueue(ctx, event("evt_3")))
	if n := try(ob.PruneDelivered(ctx, e.clock.Now().Add(-time.Minute))).ok(t); n != 2 {
		t.Fatalf("pruned %d, want 2", n)
	}
	if got := try(ob.ClaimBatch(ctx, "w1", 10, time.Minute)).ok(t); len(got) != 1 || got[0].ID != "evt_3" {
		t.Fatalf("after prune: %v", ids(got))
	}
}

func ids(ds []*store.Delivery) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.ID)
	}
	return out
}

// testOutboxClaimAcrossReplicas: workers on two store instances claim
// concurrently; no entry is handed out twice while leased.
func testOutboxClaimAcrossReplicas(t *testing.T, e *env) {
	a, b := e.store(), e.store()
	ctx := e.ctx
	const total = 120
	var evs []store.Event
	for i := range total {
		evs = append(evs, event(fmt.Sprintf("evt_%03d", i)))
	}
	noErr(t, a.Tenant("acme").Outbox().Enqueue(ctx, evs[:60]...))
	noErr(t, a.Tenant("other").Outbox().Enqueue(ctx, evs[60:]...))

	var mu sync.Mutex
	seen := map[string]string{}
	var wg sync.WaitGroup
	for w := range 6 {
		s := a
		if w%2 == 1 {
			s = b
		}
		worker := fmt.Sprint("worker-", w)
		wg.Go(func() {
			for {
				got, err := s.Outbox().ClaimBatch(ctx, worker, 7, time.Hour)
				if err != nil {
					t.Error(err)
					return
				}
				if len(got) == 0 {
					return
				}
				mu.Lock()
				for _, d := range got {
					if prev, dup := seen[d.ID]; dup {
						t.Errorf("%s claimed by %s and %s", d.ID, prev, worker)
					}
					seen[d.ID] = worker
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(seen) != total {
		t.Fatalf("claimed %d entries, want %d", len(seen), total)
	}
	workers := map[string]bool{}
	for _, w := range seen {
		workers[w] = true
	}
	t.Logf("%d workers took part", len(workers))
}

func testOutboxDeadLetter(t *testing.T, e *env) {
	s := e.store(store.WithRetryPolicy(store.RetryPolicy{MaxAttempts: 3, MaxAge: 2 * time.Hour}))
	ctx := e.ctx
	ob, tob := s.Outbox(), s.Tenant("acme").Outbox()
	noErr(t, tob.Enqueue(ctx, event("evt_attempts")))
	fail := func(id string) bool {
		t.Helper()
		got := try(ob.ClaimBatch(ctx, "w", 1, time.Minute)).ok(t)
		if len(got) != 1 || got[0].ID != id {
			t.Fatalf("claimed %v, want %s", ids(got), id)
		}
		return try(ob.MarkFailed(ctx, "w", id, e.clock.Now(), fmt.Sprint("attempt ", got[0].Attempts))).ok(t)
	}
	for attempt := 1; attempt <= 3; attempt++ {
		if dead := fail("evt_attempts"); dead != (attempt == 3) {
			t.Fatalf("attempt %d: dead %v, want dead at the third attempt", attempt, dead)
		}
	}
	if got := try(ob.ClaimBatch(ctx, "w", 10, time.Minute)).ok(t); len(got) != 0 {
		t.Fatalf("dead entry claimed: %v", ids(got))
	}

	// Dead by age, whatever the attempts.
	e.clock.Advance(time.Second)
	noErr(t, s.Tenant("other").Outbox().Enqueue(ctx, event("evt_age")))
	e.clock.Advance(3 * time.Hour)
	if !fail("evt_age") {
		t.Fatal("want dead past the retry age")
	}

	dead := try(ob.ListDead(ctx, store.DeadFilter{})).ok(t)
	if len(dead.Items) != 2 || dead.Items[0].ID != "evt_attempts" || dead.Items[0].LastError != "attempt 3" || dead.Items[0].Status != store.Dead {
		t.Fatalf("dead letters %+v", dead.Items)
	}
	if p := try(ob.ListDead(ctx, store.DeadFilter{Tenant: "other", Limit: 1})).ok(t); len(p.Items) != 1 || p.Items[0].ID != "evt_age" || p.Next != "" {
		t.Fatalf("other's dead letters %+v", p)
	}
	if p := try(tob.ListDead(ctx, store.DeadFilter{Tenant: "other"})).ok(t); len(p.Items) != 1 || p.Items[0].ID != "evt_attempts" {
		t.Fatalf("a tenant lists its own dead letters only: %v", ids(p.Items))
	}
	p1 := try(ob.ListDead(ctx, store.DeadFilter{Limit: 1})).ok(t)
	p2 := try(ob.ListDead(ctx, store.DeadFilter{Limit: 1, Cursor: p1.Next})).ok(t)
	if len(p1.Items) != 1 || len(p2.Items) != 1 || p2.Next != "" || p1.Items[0].ID == p2.Items[0].ID {
		t.Fatal("dead letters do not page")
	}

	// Replay: pending again, due now, with a fresh budget.
	noErr(t, tob.Replay(ctx, "evt_attempts"))
	noErr(t, tob.Replay(ctx, "evt_attempts")) // already pending: nothing to do
	isErr(t, tob.Replay(ctx, "evt_nope"), store.ErrNotFound)
	got := try(ob.ClaimBatch(ctx, "w", 10, time.Minute)).ok(t)
	if len(got) != 1 || got[0].ID != "evt_attempts" || got[0].Attempts != 1 || got[0].LastError != "attempt 3" {
		t.Fatalf("replayed %+v", got)
	}
	noErr(t, ob.MarkDelivered(ctx, "evt_attempts"))
	noErr(t, ob.Replay(ctx, "evt_attempts")) // delivered entries replay too
	if got := try(ob.ClaimBatch(ctx, "w", 10, time.Minute)).ok(t); len(got) != 1 {
		t.Fatal("a delivered entry did not replay")
	}
	if p := try(ob.ListDead(ctx, store.DeadFilter{})).ok(t); len(p.Items) != 1 {
		t.Fatalf("dead after replays: %v", ids(p.Items))
	}
}

// testOutboxAtomic: the event commits with the change it reports, or
// neither does.
func testOutboxAtomic(t *testing.T, e *env) {
	s := e.store()
	ctx := e.ctx
	ts := s.Tenant("acme")
	boom := errors.New("boom")

	var createdID string
	err := ts.Tx(ctx, func(tx store.TenantStore) error {
		c, err := tx.Connections().Create(ctx, sampleConnection())
		if err != nil {
			return err
		}
		createdID = c.ID
		if err := tx.Outbox().Enqueue(ctx, event("evt_created")); err != nil {
			return err
		}
		return boom
	})
	if err != boom {
		t.Fatalf("got %v, want the fn's error", err)
	}
	_, err = ts.Connections().Get(ctx, createdID)
	isErr(t, err, store.ErrNotFound)
	if got := try(s.Outbox().ClaimBatch(ctx, "w", 10, time.Minute)).ok(t); len(got) != 0 {
		t.Fatalf("the event of a rolled-back change was enqueued: %v", ids(got))
	}

	// Committed: both.
	var c *store.Connection
	noErr(t, ts.Tx(ctx, func(tx store.TenantStore) error {
		var err error
		if c, err = tx.Connections().Create(ctx, sampleConnection()); err != nil {
			return err
		}
		return tx.Outbox().Enqueue(ctx, event("evt_created_2"))
	}))
	try(ts.Connections().Get(ctx, c.ID)).ok(t)
	if got := try(s.Outbox().ClaimBatch(ctx, "w", 10, time.Minute)).ok(t); len(got) != 1 || got[0].ID != "evt_created_2" {
		t.Fatalf("claimed %v", ids(got))
	}

	// An update and its event, rolled back by a later failure in the Tx.
	err = ts.Tx(ctx, func(tx store.TenantStore) error {
		if _, err := tx.Connections().Update(ctx, c.ID, func(c *store.Connection) error {
			c.State = store.Disconnected
			return nil
		}); err != nil {
			return err
		}
		if err := tx.Outbox().Enqueue(ctx, event("evt_disconnected")); err != nil {
			return err
		}
		return boom
	})
	if err != boom {
		t.Fatalf("got %v", err)
	}
	if got := try(ts.Connections().Get(ctx, c.ID)).ok(t); got.State != store.Connected || got.Version != 1 {
		t.Fatalf("rolled-back update stuck: %+v", got)
	}
	// Update's own fn failing inside the Tx: neither the change nor the
	// event.
	err = ts.Tx(ctx, func(tx store.TenantStore) error {
		if err := tx.Outbox().Enqueue(ctx, event("evt_disconnected")); err != nil {
			return err
		}
		_, err := tx.Connections().Update(ctx, c.ID, func(*store.Connection) error { return boom })
		return err
	})
	if err != boom {
		t.Fatalf("got %v", err)
	}
	// Deleted with its event.
	noErr(t, ts.Tx(ctx, func(tx store.TenantStore) error {
		if err := tx.Connections().Delete(ctx, c.ID); err != nil {
			return err
		}
		return tx.Outbox().Enqueue(ctx, event("evt_deleted"))
	}))
	if got := try(s.Outbox().ClaimBatch(ctx, "w", 10, time.Minute)).ok(t); len(got) != 1 || got[0].ID != "evt_deleted" {
		t.Fatalf("claimed %v", ids(got))
	}
}

// testNestedTx: a nested Tx is a savepoint; a write that fails inside a Tx
// leaves nothing half-done.
func testNestedTx(t *testing.T, e *env) {
	s := e.store()
	ctx := e.ctx
	ts := s.Tenant("acme")
	boom := errors.New("boom")
	var outer, inner string
	noErr(t, ts.Tx(ctx, func(tx store.TenantStore) error {
		c, err := tx.Connections().Create(ctx, store.Connection{Connector: "outer"})
		if err != nil {
			return err
		}
		outer = c.ID
		err = tx.Tx(ctx, func(tx store.TenantStore) error {
			c, err := tx.Connections().Create(ctx, store.Connection{Connector: "inner"})
			if err != nil {
				return err
			}
			inner = c.ID
			return boom
		})
		if err != boom {
			return fmt.Errorf("inner: %v", err)
		}
		// A failing write (a taken id) does not abort the transaction.
		if _, err := tx.Connections().Create(ctx, store.Connection{ID: outer, Connector: "dup"}); !errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("duplicate: %v", err)
		}
		return tx.Outbox().Enqueue(ctx, event("evt_outer"))
	}))
	try(ts.Connections().Get(ctx, outer)).ok(t)
	_, err := ts.Connections().Get(ctx, inner)
	isErr(t, err, store.ErrNotFound)
	if got := try(s.Outbox().ClaimBatch(ctx, "w", 10, time.Minute)).ok(t); len(got) != 1 {
		t.Fatalf("claimed %v", ids(got))
	}
}

// testOutboxRecent: a tenant's latest entries, newest first, of every
// status, never another tenant's.
func testOutboxRecent(t *testing.T, e *env) {
	s := e.store()
	ctx := e.ctx
	acme := s.Tenant("acme").Outbox()
	for _, id := range []string{"evt_r1", "evt_r2", "evt_r3"} {
		noErr(t, acme.Enqueue(ctx, event(id)))
		e.clock.Advance(time.Second)
	}
	noErr(t, s.Tenant("globex").Outbox().Enqueue(ctx, event("evt_g1")))
	claimed := try(s.Outbox().ClaimBatch(ctx, "w1", 1, time.Minute)).ok(t)
	noErr(t, s.Outbox().MarkDelivered(ctx, claimed[0].ID))

	got := try(acme.Recent(ctx, 2)).ok(t)
	if len(got) != 2 || got[0].ID != "evt_r3" || got[1].ID != "evt_r2" || got[0].Tenant != "acme" {
		t.Fatalf("recent %v", ids(got))
	}
	got = try(acme.Recent(ctx, 10)).ok(t)
	if len(got) != 3 || got[2].ID != "evt_r1" || got[2].Status != store.Delivered {
		t.Fatalf("recent %v (the oldest %+v)", ids(got), got[len(got)-1])
	}
	if got := try(s.Tenant("initech").Outbox().Recent(ctx, 10)).ok(t); len(got) != 0 {
		t.Fatalf("another tenant's entries: %v", ids(got))
	}
	_, err := acme.Recent(ctx, 0)
	isErr(t, err, store.ErrInvalid)
}
