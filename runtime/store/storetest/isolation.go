package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/membrane-dev/membrane/runtime/store"
)

// testTenantIsolation: tenant B reaches none of tenant A's records, through
// any method, and cannot tell them from missing ones.
func testTenantIsolation(t *testing.T, e *env) {
	s := e.store()
	ctx := e.ctx
	a, b := s.Tenant("tenant-a"), s.Tenant("tenant-b")
	try(b.Connections().Create(ctx, store.Connection{Connector: "hubspot"})).ok(t) // B exists too

	conn := try(a.Connections().Create(ctx, sampleConnection())).ok(t)
	try(a.Overrides().Put(ctx, store.Override{Connector: "hubspot", Doc: []byte("actions: {}")})).ok(t)
	try(a.Overrides().Put(ctx, store.Override{Connector: "hubspot", ConnectionID: conn.ID, Doc: []byte("actions: {}")})).ok(t)
	runLog := try(a.RunLogs().Append(ctx, store.RunLog{ConnectionID: conn.ID, Action: "create-contact", Status: "ok"})).ok(t)
	noErr(t, a.Outbox().Enqueue(ctx, store.Event{ID: "evt_a_dead", Type: "connection.created", Payload: json.RawMessage(`{}`)}))
	dst := try(s.Destinations().Create(ctx, webhook("backend"))).ok(t)
	try(s.Deliveries().Route(ctx, 10, to(dst.ID))).ok(t)
	claimed := try(s.Deliveries().Claim(ctx, "w1", 10, time.Minute, nil)).ok(t)
	if len(claimed) != 1 {
		t.Fatalf("claimed %d", len(claimed))
	}
	noErr(t, s.Deliveries().Record(ctx, "w1", store.Attempt{EventID: "evt_a_dead", Destination: dst.ID, Attempt: 1, Status: 503}, store.Outcome{Dead: true}))

	missing := "conn_aaaaaaaaaaaaaaaaaaaa"
	notFound := func(what string, err, errMissing error) {
		t.Helper()
		if !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s: got %v, want ErrNotFound", what, err)
			return
		}
		// Same message as for a record that does not exist, but for the id.
		if errMissing != nil && strings.ReplaceAll(err.Error(), conn.ID, missing) != errMissing.Error() {
			t.Errorf("%s: %q tells apart from missing %q", what, err, errMissing)
		}
		if strings.Contains(err.Error(), "tenant-a") {
			t.Errorf("%s: the error names the other tenant: %v", what, err)
		}
	}

	bc := b.Connections()
	_, err := bc.Get(ctx, conn.ID)
	_, errMissing := bc.Get(ctx, missing)
	notFound("get connection", err, errMissing)

	called := false
	_, err = bc.Update(ctx, conn.ID, func(*store.Connection) error { called = true; return nil })
	_, errMissing = bc.Update(ctx, missing, func(*store.Connection) error { return nil })
	notFound("update connection", err, errMissing)
	if called {
		t.Error("update ran fn on another tenant's connection")
	}
	notFound("delete connection", bc.Delete(ctx, conn.ID), bc.Delete(ctx, missing))
	ran := false
	err = b.WithConnectionLock(ctx, conn.ID, func(context.Context) error { ran = true; return nil })
	notFound("lock connection", err, b.WithConnectionLock(ctx, missing, func(context.Context) error { return nil }))
	if ran {
		t.Error("the lock of another tenant's connection was taken")
	}
	for _, secrets := range []bool{false, true} {
		page := try(bc.List(ctx, store.ConnectionFilter{Secrets: secrets})).ok(t)
		for _, c := range page.Items {
			if c.Tenant != "tenant-b" {
				t.Errorf("B lists %s of %s", c.ID, c.Tenant)
			}
		}
	}
	err = b.Tx(ctx, func(tx store.TenantStore) error {
		_, err := tx.Connections().Get(ctx, conn.ID)
		return err
	})
	notFound("get connection in Tx", err, nil)

	bo := b.Overrides()
	_, err = bo.Get(ctx, "hubspot", conn.ID)
	notFound("get override", err, nil)
	_, err = bo.Get(ctx, "hubspot", "")
	notFound("get tenant-wide override", err, nil)
	_, err = bo.Put(ctx, store.Override{Connector: "hubspot", ConnectionID: conn.ID, Doc: []byte("x: 1")})
	_, errMissing = bo.Put(ctx, store.Override{Connector: "hubspot", ConnectionID: missing, Doc: []byte("x: 1")})
	notFound("put override on another tenant's connection", err, errMissing)
	notFound("delete override", bo.Delete(ctx, "hubspot", conn.ID), nil)
	notFound("delete tenant-wide override", bo.Delete(ctx, "hubspot", ""), nil)
	if p := try(bo.List(ctx, store.OverrideFilter{})).ok(t); len(p.Items) != 0 {
		t.Errorf("B lists A's overrides: %+v", p.Items)
	}
	// B's own tenant-wide override is B's alone.
	mine := try(bo.Put(ctx, store.Override{Connector: "hubspot", Doc: []byte("b: 1")})).ok(t)
	if mine.Revision != 1 {
		t.Errorf("B's override starts at revision %d", mine.Revision)
	}
	if o := try(a.Overrides().Get(ctx, "hubspot", "")).ok(t); string(o.Doc) != "actions: {}" {
		t.Errorf("A's override changed: %q", o.Doc)
	}

	_, err = b.RunLogs().Get(ctx, runLog.ID)
	notFound("get run log", err, nil)
	if p := try(b.RunLogs().List(ctx, store.RunLogFilter{})).ok(t); len(p.Items) != 0 {
		t.Errorf("B lists A's run logs")
	}
	if p := try(b.RunLogs().List(ctx, store.RunLogFilter{ConnectionID: conn.ID})).ok(t); len(p.Items) != 0 {
		t.Errorf("B lists A's run logs by connection")
	}

	if p := try(s.Deliveries().List(ctx, store.DeliveryFilter{Tenant: "tenant-b"})).ok(t); len(p.Items) != 0 {
		t.Errorf("B lists A's deliveries")
	}
	if got := try(b.Outbox().Recent(ctx, 10)).ok(t); len(got) != 0 {
		t.Errorf("B lists A's outbox entries")
	}
	_, err = s.Deliveries().Replay(ctx, store.ReplayFilter{EventID: "evt_a_dead", Tenant: "tenant-b"})
	notFound("replay", err, nil)
	// A stable event id of A's is not silently dropped for B.
	isErr(t, b.Outbox().Enqueue(ctx, event("evt_a_dead")), store.ErrConflict)

	// A still has everything.
	try(a.Connections().Get(ctx, conn.ID)).ok(t)
	if p := try(s.Deliveries().List(ctx, store.DeliveryFilter{Tenant: "tenant-a", Status: store.Dead})).ok(t); len(p.Items) != 1 {
		t.Errorf("A's dead deliveries: %d", len(p.Items))
	}
	if n := try(s.Deliveries().Replay(ctx, store.ReplayFilter{EventID: "evt_a_dead", Tenant: "tenant-a"})).ok(t); n != 1 {
		t.Errorf("replayed %d of A's", n)
	}
}

func testTenants(t *testing.T, e *env) {
	s := e.store()
	ctx := e.ctx
	// Concurrent first use of one tenant.
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := range 20 {
		wg.Go(func() {
			if i%2 == 0 {
				_, err := s.EnsureTenant(ctx, "racer")
				errs <- err
			} else {
				_, err := s.Tenant("racer").RunLogs().Append(ctx, store.RunLog{Action: "a"})
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		noErr(t, err)
	}
	racer := try(s.EnsureTenant(ctx, "racer")).ok(t)
	if racer.Key != "racer" || racer.CreatedAt.IsZero() {
		t.Fatalf("EnsureTenant gave %+v", racer)
	}
	if again := try(s.EnsureTenant(ctx, "racer")).ok(t); !again.CreatedAt.Equal(racer.CreatedAt) {
		t.Fatalf("EnsureTenant of an existing tenant changed it: %+v, was %+v", again, racer)
	}

	for _, k := range []string{"b", "a", "c", "A", "é"} {
		try(s.EnsureTenant(ctx, k)).ok(t)
	}
	var keys []string
	cursor := ""
	for {
		p := try(s.ListTenants(ctx, cursor, 2)).ok(t)
		for _, tn := range p.Items {
			keys = append(keys, tn.Key)
		}
		if cursor = p.Next; cursor == "" {
			break
		}
	}
	if strings.Join(keys, ",") != "A,a,b,c,racer,é" {
		t.Fatalf("tenants in order: %v", keys)
	}

	// Deleting a tenant deletes what it owns.
	ts := s.Tenant("c")
	c := try(ts.Connections().Create(ctx, sampleConnection())).ok(t)
	try(ts.Overrides().Put(ctx, store.Override{Connector: "hubspot", ConnectionID: c.ID, Doc: []byte("a: 1")})).ok(t)
	noErr(t, ts.Outbox().Enqueue(ctx, store.Event{Type: "connection.created", Payload: json.RawMessage(`{"id":1}`)}))
	try(ts.RunLogs().Append(ctx, store.RunLog{Action: "x"})).ok(t)
	noErr(t, s.DeleteTenant(ctx, "c"))
	isErr(t, s.DeleteTenant(ctx, "c"), store.ErrNotFound)
	_, err := ts.Connections().Get(ctx, c.ID)
	isErr(t, err, store.ErrNotFound)
	if p := try(ts.RunLogs().List(ctx, store.RunLogFilter{})).ok(t); len(p.Items) != 0 {
		t.Error("run logs survived their tenant")
	}
	if got := drain(t, s); len(got) != 0 {
		t.Errorf("outbox entries survived their tenant: %d", len(got))
	}
}

func testOverrides(t *testing.T, e *env) {
	s := e.store()
	ctx := e.ctx
	ts := s.Tenant("acme")
	ov := ts.Overrides()
	conn := try(ts.Connections().Create(ctx, store.Connection{Connector: "hubspot"})).ok(t)

	o := try(ov.Put(ctx, store.Override{Connector: "hubspot", Doc: []byte("kind: ConnectionOverride\n")})).ok(t)
	if o.Revision != 1 || o.Tenant != "acme" || o.ConnectionID != "" {
		t.Fatalf("put %+v", o)
	}
	o = try(ov.Put(ctx, store.Override{Connector: "hubspot", Doc: []byte("v: 2")})).ok(t)
	if o.Revision != 2 {
		t.Fatalf("revision %d, want 2", o.Revision)
	}
	// A revision precondition.
	_, err := ov.Put(ctx, store.Override{Connector: "hubspot", Doc: []byte("v: stale"), Revision: 1})
	isErr(t, err, store.ErrConflict)
	o = try(ov.Put(ctx, store.Override{Connector: "hubspot", Doc: []byte("v: 3"), Revision: 2})).ok(t)
	if o.Revision != 3 {
		t.Fatalf("revision %d, want 3", o.Revision)
	}
	if got := try(ov.Get(ctx, "hubspot", "")).ok(t); string(got.Doc) != "v: 3" || got.Revision != 3 {
		t.Fatalf("get %+v %q", got, got.Doc)
	}
	// Deleted and put again: revisions never repeat.
	noErr(t, ov.Delete(ctx, "hubspot", ""))
	_, err = ov.Get(ctx, "hubspot", "")
	isErr(t, err, store.ErrNotFound)
	isErr(t, ov.Delete(ctx, "hubspot", ""), store.ErrNotFound)
	_, err = ov.Put(ctx, store.Override{Connector: "hubspot", Doc: []byte("v: 4"), Revision: 3})
	isErr(t, err, store.ErrConflict)
	if o = try(ov.Put(ctx, store.Override{Connector: "hubspot", Doc: []byte("v: 5")})).ok(t); o.Revision != 5 {
		t.Fatalf("revision after delete %d, want 5", o.Revision)
	}

	// Per connection; gone with the connection.
	try(ov.Put(ctx, store.Override{Connector: "hubspot", ConnectionID: conn.ID, Doc: []byte("{}")})).ok(t)
	try(ov.Put(ctx, store.Override{Connector: "stripe", Doc: []byte("{}")})).ok(t)
	_, err = ov.Put(ctx, store.Override{Connector: "hubspot", ConnectionID: "conn_nope", Doc: []byte("{}")})
	isErr(t, err, store.ErrNotFound)
	_, err = ov.Put(ctx, store.Override{Connector: "hubspot"})
	isErr(t, err, store.ErrInvalid)

	all := try(ov.List(ctx, store.OverrideFilter{Limit: 1})).ok(t)
	var listed []string
	for f := (store.OverrideFilter{Limit: 1}); ; {
		p := try(ov.List(ctx, f)).ok(t)
		for _, o := range p.Items {
			listed = append(listed, o.Connector+"/"+o.ConnectionID)
		}
		if f.Cursor = p.Next; f.Cursor == "" {
			break
		}
	}
	if len(all.Items) != 1 || strings.Join(listed, ",") != "hubspot/,hubspot/"+conn.ID+",stripe/" {
		t.Fatalf("listed %v", listed)
	}
	if p := try(ov.List(ctx, store.OverrideFilter{ConnectionID: conn.ID})).ok(t); len(p.Items) != 1 {
		t.Fatalf("by connection: %d", len(p.Items))
	}
	noErr(t, ts.Connections().Delete(ctx, conn.ID))
	_, err = ov.Get(ctx, "hubspot", conn.ID)
	isErr(t, err, store.ErrNotFound)
}

func testRunLogs(t *testing.T, e *env) {
	s := e.store()
	ctx := e.ctx
	rl := s.Tenant("acme").RunLogs()
	start := e.clock.Now()
	var ids []string
	for i := range 25 {
		status := "ok"
		if i%5 == 0 {
			status = "error"
		}
		l := try(rl.Append(ctx, store.RunLog{
			ConnectionID: "conn_1", Action: "create-contact", Status: status, DurationMs: int64(i),
			Entries: json.RawMessage(`[{"method":"POST","status":201}]`),
		})).ok(t)
		ids = append(ids, l.ID)
		e.clock.Advance(time.Hour)
	}
	got := try(rl.Get(ctx, ids[3])).ok(t)
	if got.Action != "create-contact" || got.DurationMs != 3 || string(got.Entries) != `[{"method":"POST","status":201}]` || !got.CreatedAt.Equal(start.Add(3*time.Hour)) {
		t.Fatalf("get %+v", got)
	}
	// Newest first, across pages.
	var listed []string
	for f := (store.RunLogFilter{Limit: 10}); ; {
		p := try(rl.List(ctx, f)).ok(t)
		for _, l := range p.Items {
			listed = append(listed, l.ID)
		}
		if f.Cursor = p.Next; f.Cursor == "" {
			break
		}
	}
	if len(listed) != 25 || listed[0] != ids[24] || listed[24] != ids[0] {
		t.Fatalf("listed %d, first %s last %s", len(listed), listed[0], listed[len(listed)-1])
	}
	if p := try(rl.List(ctx, store.RunLogFilter{Status: "error"})).ok(t); len(p.Items) != 5 {
		t.Fatalf("errors: %d", len(p.Items))
	}
	if p := try(rl.List(ctx, store.RunLogFilter{ConnectionID: "conn_2"})).ok(t); len(p.Items) != 0 {
		t.Fatalf("conn_2: %d", len(p.Items))
	}
	_, err := rl.Append(ctx, store.RunLog{Entries: json.RawMessage(`{nope`)})
	isErr(t, err, store.ErrInvalid)
	_, err = rl.Append(ctx, store.RunLog{ID: ids[0]})
	isErr(t, err, store.ErrConflict)

	// Retention: the ten oldest go.
	n := try(s.PruneRunLogs(ctx, start.Add(10*time.Hour))).ok(t)
	if n != 10 {
		t.Fatalf("pruned %d, want 10", n)
	}
	_, err = rl.Get(ctx, ids[9])
	isErr(t, err, store.ErrNotFound)
	try(rl.Get(ctx, ids[10])).ok(t)
	if n := try(s.PruneRunLogs(ctx, start.Add(10*time.Hour))).ok(t); n != 0 {
		t.Fatalf("pruned again %d", n)
	}
}
