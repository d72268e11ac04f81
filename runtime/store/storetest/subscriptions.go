package storetest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/membrane-dev/membrane/runtime/store"
)

// subscribe creates a subscription of a new connection of tenant to event.
func subscribe(t *testing.T, e *env, s store.Store, tenant, event string) (*store.Connection, *store.Subscription) {
	t.Helper()
	c := try(s.Tenant(tenant).Connections().Create(e.ctx, sampleConnection())).ok(t)
	sub := try(s.Tenant(tenant).Subscriptions().Create(e.ctx, store.Subscription{ConnectionID: c.ID, Event: event})).ok(t)
	return c, sub
}

func testSubscriptions(t *testing.T, e *env) {
	s := e.store()
	ctx := e.ctx
	acme := s.Tenant("acme")
	subs := acme.Subscriptions()
	c := try(acme.Connections().Create(ctx, sampleConnection())).ok(t)

	next := e.clock.Now().Add(5 * time.Minute)
	in := store.Subscription{ConnectionID: c.ID, Event: "contact-changed", State: json.RawMessage(`{"cursor": "2026-01-01"}`),
		Interval: 5 * time.Minute, NextRunAt: next, RouteKey: "portal-42",
		Remote: map[string]any{"id": "remote-1", "secret": "whsec_SECRET_signing_value"}, RemoteExpiresAt: next.Add(time.Hour)}
	sub := try(subs.Create(ctx, in)).ok(t)
	if !strings.HasPrefix(sub.ID, "sub_") || len(sub.WebhookToken) < 32 || sub.Tenant != "acme" || sub.Connector != "hubspot" ||
		sub.Status != store.SubscriptionActive || sub.Version != 1 || !sub.CreatedAt.Equal(e.clock.Now()) {
		t.Fatalf("created %+v", sub)
	}
	got := try(subs.Get(ctx, sub.ID)).ok(t)
	if got.Event != "contact-changed" || string(got.State) != `{"cursor": "2026-01-01"}` || got.Interval != 5*time.Minute ||
		!got.NextRunAt.Equal(next) || !got.LastRunAt.IsZero() || got.RouteKey != "portal-42" || got.WebhookToken != sub.WebhookToken ||
		got.Remote["secret"] != "whsec_SECRET_signing_value" || !got.RemoteExpiresAt.Equal(next.Add(time.Hour)) || got.Baselined || got.Version != 1 {
		t.Fatalf("read back %+v", got)
	}
	// Marshalled for an API, the secrets stay out.
	b, _ := json.Marshal(got)
	if bytes.Contains(b, []byte("SECRET")) || bytes.Contains(b, []byte(got.WebhookToken)) || bytes.Contains(b, []byte("portal-42")) {
		t.Fatalf("JSON leaks: %s", b)
	}
	// At rest, the remote and the token are sealed.
	var token, remote []byte
	noErr(t, raw(t, s).DB.QueryRow(ctx, `SELECT webhook_token, remote FROM subscriptions WHERE id = $1`, sub.ID).Scan(&token, &remote))
	if bytes.Contains(remote, []byte("SECRET")) || bytes.Contains(token, []byte(sub.WebhookToken)) {
		t.Fatal("the remote or the webhook token is stored in the clear")
	}

	// One subscription per (connection, event).
	_, err := subs.Create(ctx, store.Subscription{ConnectionID: c.ID, Event: "contact-changed"})
	isErr(t, err, store.ErrConflict)
	if err != nil && !strings.Contains(err.Error(), "contact-changed") {
		t.Fatalf("conflict does not name the event: %v", err)
	}
	e.clock.Advance(time.Millisecond)
	other := try(subs.Create(ctx, store.Subscription{ConnectionID: c.ID, Event: "deal-changed", Status: store.SubscriptionPaused})).ok(t)
	_, err = subs.Create(ctx, store.Subscription{ConnectionID: "conn_nope", Event: "contact-changed"})
	isErr(t, err, store.ErrNotFound)
	_, err = subs.Create(ctx, store.Subscription{ConnectionID: c.ID, Event: "x", Connector: "stripe"})
	isErr(t, err, store.ErrInvalid)
	_, err = subs.Create(ctx, store.Subscription{ConnectionID: c.ID, Event: ""})
	isErr(t, err, store.ErrInvalid)
	_, err = subs.Create(ctx, store.Subscription{ConnectionID: c.ID, Event: "y", State: json.RawMessage(`{`)})
	isErr(t, err, store.ErrInvalid)
	_, err = subs.Create(ctx, store.Subscription{ConnectionID: c.ID, Event: "y", Status: "running"})
	isErr(t, err, store.ErrInvalid)
	_, err = subs.Create(ctx, store.Subscription{ConnectionID: c.ID, Event: "y", WebhookToken: "short"})
	isErr(t, err, store.ErrInvalid)
	_, err = subs.Create(ctx, store.Subscription{ID: sub.ID, ConnectionID: c.ID, Event: "y"})
	isErr(t, err, store.ErrConflict)

	// Update: fn's changes are kept, what it may not change is not.
	e.clock.Advance(time.Second)
	upd := try(subs.Update(ctx, sub.ID, func(s *store.Subscription) error {
		s.State = json.RawMessage(`{"cursor": "2026-02-01"}`)
		s.Generation, s.Baselined, s.Failures, s.LastError = 3, true, 2, "HTTP 500"
		s.LastRunAt = e.clock.Now()
		s.NextRunAt = time.Time{}
		s.Remote = map[string]any{"id": "remote-2"}
		s.RemoteExpiresAt = time.Time{}
		s.Status = store.SubscriptionPaused
		s.Event, s.ConnectionID, s.WebhookToken, s.Connector = "hacked", "conn_x", "hacked-token-0123456789", "x"
		return nil
	})).ok(t)
	got = try(subs.Get(ctx, sub.ID)).ok(t)
	if got.Version != 2 || upd.Version != 2 || got.Event != "contact-changed" || got.ConnectionID != c.ID || got.WebhookToken != sub.WebhookToken ||
		got.Connector != "hubspot" || got.Generation != 3 || !got.Baselined || got.Failures != 2 || got.LastError != "HTTP 500" ||
		!got.LastRunAt.Equal(e.clock.Now()) || !got.NextRunAt.IsZero() || got.Remote["id"] != "remote-2" || !got.RemoteExpiresAt.IsZero() ||
		got.Status != store.SubscriptionPaused || string(got.State) != `{"cursor": "2026-02-01"}` || !got.UpdatedAt.Equal(e.clock.Now()) {
		t.Fatalf("after update %+v", got)
	}
	boom := errors.New("boom")
	if _, err := subs.Update(ctx, sub.ID, func(s *store.Subscription) error { s.Failures = 9; return boom }); err != boom {
		t.Fatalf("fn's error: %v", err)
	}
	_, err = subs.Update(ctx, sub.ID, func(s *store.Subscription) error { s.Status = "x"; return nil })
	isErr(t, err, store.ErrInvalid)
	if got := try(subs.Get(ctx, sub.ID)).ok(t); got.Version != 2 || got.Failures != 2 {
		t.Fatalf("a failed update changed %+v", got)
	}

	// List, with pages and the connection filter.
	c2 := try(acme.Connections().Create(ctx, sampleConnection())).ok(t)
	third := try(subs.Create(ctx, store.Subscription{ConnectionID: c2.ID, Event: "contact-changed"})).ok(t)
	p1 := try(subs.List(ctx, store.SubscriptionFilter{Limit: 2})).ok(t)
	p2 := try(subs.List(ctx, store.SubscriptionFilter{Limit: 2, Cursor: p1.Next})).ok(t)
	if len(p1.Items) != 2 || p1.Items[0].ID != sub.ID || p1.Items[1].ID != other.ID || len(p2.Items) != 1 || p2.Items[0].ID != third.ID || p2.Next != "" {
		t.Fatalf("pages %v %v", subIDs(p1.Items), subIDs(p2.Items))
	}
	if p := try(subs.List(ctx, store.SubscriptionFilter{ConnectionID: c2.ID})).ok(t); len(p.Items) != 1 || p.Items[0].ID != third.ID {
		t.Fatalf("by connection %v", subIDs(p.Items))
	}
	_, err = subs.List(ctx, store.SubscriptionFilter{Cursor: "!!"})
	isErr(t, err, store.ErrInvalid)

	// By token and by route, across tenants.
	if got := try(s.SubscriptionByToken(ctx, sub.WebhookToken)).ok(t); got.ID != sub.ID || got.Tenant != "acme" {
		t.Fatalf("by token %+v", got)
	}
	_, err = s.SubscriptionByToken(ctx, "not-a-token-0123456789")
	isErr(t, err, store.ErrNotFound)
	if err != nil && strings.Contains(err.Error(), "not-a-token") {
		t.Fatalf("the error quotes the token: %v", err)
	}
	try(subs.Update(ctx, third.ID, func(s *store.Subscription) error { s.RouteKey = "portal-7"; return nil })).ok(t)
	e.clock.Advance(time.Second)
	_, bsub := subscribe(t, e, s, "beta", "contact-changed")
	try(s.Tenant("beta").Subscriptions().Update(ctx, bsub.ID, func(s *store.Subscription) error { s.RouteKey = "portal-7"; return nil })).ok(t)
	routed := try(s.SubscriptionsByRoute(ctx, "hubspot", "contact-changed", "portal-7")).ok(t)
	if len(routed) != 2 || routed[0].ID != third.ID || routed[1].ID != bsub.ID {
		t.Fatalf("by route %v", subIDs(routed))
	}
	// Paused subscriptions are not routed to.
	if got := try(s.SubscriptionsByRoute(ctx, "hubspot", "contact-changed", "portal-42")).ok(t); len(got) != 0 {
		t.Fatalf("paused routed %v", subIDs(got))
	}

	// Delete.
	noErr(t, subs.Delete(ctx, other.ID))
	isErr(t, subs.Delete(ctx, other.ID), store.ErrNotFound)
	_, err = subs.Get(ctx, other.ID)
	isErr(t, err, store.ErrNotFound)
}

func subIDs(subs []*store.Subscription) []string {
	var out []string
	for _, s := range subs {
		out = append(out, s.ID)
	}
	return out
}

// testSubscriptionIsolation: another tenant's subscription is not found,
// with the message of a missing one, through every method.
func testSubscriptionIsolation(t *testing.T, e *env) {
	s := e.store()
	ctx := e.ctx
	conn, sub := subscribe(t, e, s, "tenant-a", "contact-changed")
	b := s.Tenant("tenant-b")
	try(b.Connections().Create(ctx, sampleConnection())).ok(t)
	missing := "sub_aaaaaaaaaaaaaaaaaaaa"
	same := func(what string, err, errMissing error) {
		t.Helper()
		if !errors.Is(err, store.ErrNotFound) || errMissing == nil || strings.ReplaceAll(err.Error(), sub.ID, missing) != errMissing.Error() {
			t.Errorf("%s: %v, for a missing one %v", what, err, errMissing)
		}
	}
	bs := b.Subscriptions()
	_, err := bs.Get(ctx, sub.ID)
	_, errMissing := bs.Get(ctx, missing)
	same("get", err, errMissing)
	called := false
	_, err = bs.Update(ctx, sub.ID, func(*store.Subscription) error { called = true; return nil })
	_, errMissing = bs.Update(ctx, missing, func(*store.Subscription) error { return nil })
	same("update", err, errMissing)
	if called {
		t.Error("update ran fn on another tenant's subscription")
	}
	same("delete", bs.Delete(ctx, sub.ID), bs.Delete(ctx, missing))
	_, err = bs.Records(sub.ID).Mark(ctx, 1, []store.RecordHash{{ID: "r1", Hash: "h"}})
	_, errMissing = bs.Records(missing).Mark(ctx, 1, []store.RecordHash{{ID: "r1", Hash: "h"}})
	same("mark", err, errMissing)
	_, err = bs.Records(sub.ID).Sweep(ctx, 1, 10)
	_, errMissing = bs.Records(missing).Sweep(ctx, 1, 10)
	same("sweep", err, errMissing)
	same("forget", bs.Records(sub.ID).Forget(ctx, "r1"), bs.Records(missing).Forget(ctx, "r1"))
	// Subscribing to another tenant's connection is subscribing to none.
	_, err = bs.Create(ctx, store.Subscription{ConnectionID: conn.ID, Event: "contact-changed"})
	_, errMissing = bs.Create(ctx, store.Subscription{ConnectionID: "conn_aaaaaaaaaaaaaaaaaaaa", Event: "contact-changed"})
	if !errors.Is(err, store.ErrNotFound) || strings.ReplaceAll(err.Error(), conn.ID, "conn_aaaaaaaaaaaaaaaaaaaa") != errMissing.Error() {
		t.Errorf("subscribe to another tenant's connection: %v / %v", err, errMissing)
	}
	if p := try(bs.List(ctx, store.SubscriptionFilter{})).ok(t); len(p.Items) != 0 {
		t.Errorf("tenant-b lists %v", subIDs(p.Items))
	}
	if p := try(bs.List(ctx, store.SubscriptionFilter{ConnectionID: conn.ID})).ok(t); len(p.Items) != 0 {
		t.Errorf("tenant-b lists by connection %v", subIDs(p.Items))
	}
	// Still there for its own tenant, unchanged.
	if got := try(s.Tenant("tenant-a").Subscriptions().Get(ctx, sub.ID)).ok(t); got.Version != 1 {
		t.Fatalf("changed through another tenant: %+v", got)
	}
}

// testSubscriptionCascade: a connection's and a tenant's deletion take
// their subscriptions, record hashes and poll leases with them.
func testSubscriptionCascade(t *testing.T, e *env) {
	s := e.store()
	ctx := e.ctx
	count := func(table string) int {
		var n int
		noErr(t, raw(t, s).DB.QueryRow(ctx, fmt.Sprintf(`SELECT COUNT(*) FROM %s`, table)).Scan(&n))
		return n
	}
	mk := func(tenant string) (*store.Connection, *store.Subscription) {
		c, sub := subscribe(t, e, s, tenant, "contact-changed")
		try(s.Tenant(tenant).Subscriptions().Update(ctx, sub.ID, func(s *store.Subscription) error { s.NextRunAt = e.clock.Now(); return nil })).ok(t)
		try(s.Tenant(tenant).Subscriptions().Records(sub.ID).Mark(ctx, 1, []store.RecordHash{{ID: "r1", Hash: "a"}, {ID: "r2", Hash: "b"}})).ok(t)
		return c, sub
	}
	c1, sub1 := mk("acme")
	_, sub2 := mk("acme")
	_, sub3 := mk("beta")
	if got := try(s.Polls().ClaimDue(ctx, "w", e.clock.Now(), 10, time.Minute)).ok(t); len(got) != 3 {
		t.Fatalf("claimed %v", subIDs(got))
	}
	if count("subscriptions") != 3 || count("record_hashes") != 6 || count("poll_leases") != 3 {
		t.Fatal("setup")
	}
	noErr(t, s.Tenant("acme").Connections().Delete(ctx, c1.ID))
	_, err := s.Tenant("acme").Subscriptions().Get(ctx, sub1.ID)
	isErr(t, err, store.ErrNotFound)
	if count("subscriptions") != 2 || count("record_hashes") != 4 || count("poll_leases") != 2 {
		t.Fatalf("after deleting a connection: %d subscriptions, %d hashes, %d leases", count("subscriptions"), count("record_hashes"), count("poll_leases"))
	}
	noErr(t, s.DeleteTenant(ctx, "acme"))
	_, err = s.SubscriptionByToken(ctx, sub2.WebhookToken)
	isErr(t, err, store.ErrNotFound)
	if count("subscriptions") != 1 || count("record_hashes") != 2 || count("poll_leases") != 1 {
		t.Fatalf("after deleting a tenant: %d subscriptions, %d hashes, %d leases", count("subscriptions"), count("record_hashes"), count("poll_leases"))
	}
	try(s.Tenant("beta").Subscriptions().Get(ctx, sub3.ID)).ok(t)
	// Deleting a subscription takes its hashes.
	noErr(t, s.Tenant("beta").Subscriptions().Delete(ctx, sub3.ID))
	if count("record_hashes") != 0 || count("poll_leases") != 0 {
		t.Fatal("a deleted subscription left hashes or a lease")
	}
}
