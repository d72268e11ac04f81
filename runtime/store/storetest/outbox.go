package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/membrane-dev/membrane/runtime/store"
)

func event(id string) store.Event {
	return store.Event{ID: id, Type: "connection.created", Payload: json.RawMessage(fmt.Sprintf(`{"id": %q}`, id))}
}

// noDestinations routes an event nowhere: into the log only.
func noDestinations(*store.Event) []string { return nil }

// drain routes every unrouted event nowhere and returns them.
func drain(t *testing.T, s store.Store) []store.Event {
	t.Helper()
	var out []store.Event
	for {
		got := try(s.Deliveries().Route(t.Context(), 100, noDestinations)).ok(t)
		out = append(out, got...)
		if len(got) < 100 {
			return out
		}
	}
}

func eventIDs(evs []store.Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.ID)
	}
	return out
}

// testOutbox: events enqueue once, keep what they say, and are routed in
// order into the log.
func testOutbox(t *testing.T, e *env) {
	s := e.store()
	ctx := e.ctx
	tob := s.Tenant("acme").Outbox()
	first := event("evt_1")
	first.Connector, first.ConnectionID = "hubspot", "conn_1"
	noErr(t, tob.Enqueue(ctx, first, event("evt_2")))
	noErr(t, tob.Enqueue(ctx, event("evt_1"))) // a stable id enqueued again stays one entry
	isErr(t, tob.Enqueue(ctx, store.Event{Type: "x", Payload: json.RawMessage(`{`)}), store.ErrInvalid)
	isErr(t, tob.Enqueue(ctx, store.Event{Payload: json.RawMessage(`{}`)}), store.ErrInvalid)
	isErr(t, s.Tenant("other").Outbox().Enqueue(ctx, event("evt_1")), store.ErrConflict)

	var seen []string
	got := try(s.Deliveries().Route(ctx, 10, func(ev *store.Event) []string {
		seen = append(seen, ev.ID)
		return nil
	})).ok(t)
	if len(got) != 2 || got[0].ID != "evt_1" || got[1].ID != "evt_2" || got[0].Seq < 1 || got[1].Seq <= got[0].Seq {
		t.Fatalf("routed %+v", got)
	}
	if len(seen) != 2 {
		t.Fatalf("match saw %v", seen)
	}
	ev := got[0]
	if ev.Tenant != "acme" || ev.Type != "connection.created" || string(ev.Payload) != `{"id": "evt_1"}` ||
		ev.Connector != "hubspot" || ev.ConnectionID != "conn_1" || !ev.CreatedAt.Equal(e.clock.Now()) {
		t.Fatalf("routed %+v", ev)
	}
	if again := try(s.Deliveries().Route(ctx, 10, noDestinations)).ok(t); len(again) != 0 {
		t.Fatalf("routed twice: %v", eventIDs(again))
	}
	log := try(s.Deliveries().Log(ctx, "", 0, 10)).ok(t)
	if len(log) != 2 || log[0].ID != "evt_1" || log[0].Seq != got[0].Seq || log[0].Connector != "hubspot" || log[1].Seq != got[1].Seq {
		t.Fatalf("log %+v", log)
	}
	if log := try(s.Deliveries().Log(ctx, "acme", got[0].Seq, 10)).ok(t); len(log) != 1 || log[0].ID != "evt_2" {
		t.Fatalf("log after the first: %v", eventIDs(log))
	}
	_, err := s.Deliveries().Log(ctx, "", 0, 0)
	isErr(t, err, store.ErrInvalid)
	_, err = s.Deliveries().Route(ctx, 0, noDestinations)
	isErr(t, err, store.ErrInvalid)
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
	if got := drain(t, s); len(got) != 0 {
		t.Fatalf("the event of a rolled-back change was enqueued: %v", eventIDs(got))
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
	if got := drain(t, s); len(got) != 1 || got[0].ID != "evt_created_2" {
		t.Fatalf("routed %v", eventIDs(got))
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
	if got := drain(t, s); len(got) != 1 || got[0].ID != "evt_deleted" {
		t.Fatalf("routed %v", eventIDs(got))
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
	if got := drain(t, s); len(got) != 1 {
		t.Fatalf("routed %v", eventIDs(got))
	}
}

// testOutboxRecent: a tenant's latest entries, newest first, pending or
// routed, never another tenant's.
func testOutboxRecent(t *testing.T, e *env) {
	s := e.store()
	ctx := e.ctx
	acme := s.Tenant("acme").Outbox()
	for _, id := range []string{"evt_r1", "evt_r2", "evt_r3"} {
		noErr(t, acme.Enqueue(ctx, event(id)))
		e.clock.Advance(time.Second)
	}
	noErr(t, s.Tenant("globex").Outbox().Enqueue(ctx, event("evt_g1")))
	routed := try(s.Deliveries().Route(ctx, 1, noDestinations)).ok(t)
	if len(routed) != 1 || routed[0].ID != "evt_r1" {
		t.Fatalf("routed %v", eventIDs(routed))
	}

	got := try(acme.Recent(ctx, 2)).ok(t)
	if len(got) != 2 || got[0].ID != "evt_r3" || got[1].ID != "evt_r2" || got[0].Tenant != "acme" || got[0].Status != store.Pending || got[0].Seq != 0 {
		t.Fatalf("recent %+v", got)
	}
	got = try(acme.Recent(ctx, 10)).ok(t)
	if len(got) != 3 || got[2].ID != "evt_r1" || got[2].Status != store.Routed || got[2].Seq != routed[0].Seq {
		t.Fatalf("recent %v (the oldest %+v)", len(got), got[len(got)-1])
	}
	if got := try(s.Tenant("initech").Outbox().Recent(ctx, 10)).ok(t); len(got) != 0 {
		t.Fatalf("another tenant's entries: %d", len(got))
	}
	_, err := acme.Recent(ctx, 0)
	isErr(t, err, store.ErrInvalid)
}
