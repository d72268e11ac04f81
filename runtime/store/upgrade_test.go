package store_test

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/membrane-dev/membrane/internal/testkit"
	"github.com/membrane-dev/membrane/runtime/store"
	"github.com/membrane-dev/membrane/runtime/store/internal/sqldb"
	"github.com/membrane-dev/membrane/runtime/store/internal/sqlite"
	"github.com/membrane-dev/membrane/runtime/store/storetest"
)

// TestUpgradeFromPreviousSchema: a database written by the previous
// schema version (0003, the last released), with data in it, is migrated forward once when the
// current binary opens it, and keeps every record (sealed ones included).
func TestUpgradeFromPreviousSchema(t *testing.T) {
	ms, err := sqlite.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	latest := ms[len(ms)-1]
	// The schema of the last release: a database it left must migrate
	// forward keeping everything.
	const released = 3
	for name, newDB := range map[string]func(*testing.T) storetest.NewDB{"sqlite": storetest.SQLite, "postgres": storetest.Postgres} {
		t.Run(name, func(t *testing.T) {
			open := newDB(t)(t)
			keys := testKeys(t)
			ctx := t.Context()
			old := open(store.WithKeyring(keys), store.WithLogger(storetest.Quiet()), store.WithMigrationsUpTo(released))
			acme := old.Tenant("acme")
			c, err := acme.Connections().Create(ctx, store.Connection{Connector: "crm", Parameters: map[string]any{"region": "eu"},
				Credentials: map[string]any{"apiKey": "key_0123456789abcdef"}, Token: &store.Token{AccessToken: "at_0123456789", Expiry: time.Now().Add(time.Hour)}})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := acme.Overrides().Put(ctx, store.Override{Connector: "crm", ConnectionID: c.ID, Doc: []byte("kind: ConnectionOverride\n")}); err != nil {
				t.Fatal(err)
			}
			// Run logs as the previous schema kept them: no origin.
			l := store.RunLog{ID: "run_0123456789", ConnectionID: c.ID, Action: "create-contact", Status: "ok"}
			poll := store.RunLog{ID: "run_9876543210", ConnectionID: c.ID, Action: "poll:contact-changed", Status: "ok"}
			runLog0003(t, old, "acme", l, poll)
			enqueue0004(t, old, "acme", "evt_0123456789", time.Now())
			if err := old.SaveState(ctx, "state-0123456789abcdef", []byte("pkce"), time.Now().Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
			claim, claimed, err := acme.IdempotencyKeys().Claim(ctx, "k", "fp", time.Minute, time.Hour)
			if err != nil || !claimed {
				t.Fatalf("idempotency key on the previous schema: %v %v", claimed, err)
			}
			if err := acme.IdempotencyKeys().Complete(ctx, "k", claim.Owner, store.IdempotentResponse{Status: 201, Body: []byte(`{"ok":true}`)}); err != nil {
				t.Fatal(err)
			}
			// The previous schema (0003, the last released) has no subscriptions.
			if _, err := acme.Subscriptions().Create(ctx, store.Subscription{ConnectionID: c.ID, Event: "contact-changed"}); err == nil {
				t.Fatal("the previous schema already has the subscriptions")
			}
			old.Close()

			var log testkit.Buffer
			cur := open(store.WithKeyring(keys), store.WithLogger(slog.New(slog.NewTextHandler(&log, nil))))
			if n := strings.Count(log.String(), "applied migration"); n != latest.Version-released || !strings.Contains(log.String(), latest.Name) {
				t.Fatalf("want the migrations after %d up to %s applied once each, log:\n%s", released, latest.Name, log.String())
			}
			acme = cur.Tenant("acme")
			got, err := acme.Connections().Get(ctx, c.ID)
			if err != nil || got.Credentials["apiKey"] != "key_0123456789abcdef" || got.Token.AccessToken != "at_0123456789" || got.Parameters["region"] != "eu" {
				t.Fatalf("connection after the upgrade: %+v %v", got, err)
			}
			if o, err := acme.Overrides().Get(ctx, "crm", c.ID); err != nil || !bytes.Equal(o.Doc, []byte("kind: ConnectionOverride\n")) {
				t.Fatalf("override after the upgrade: %v", err)
			}
			if got, err := acme.RunLogs().Get(ctx, l.ID); err != nil || got.Action != "create-contact" || got.Origin != "" {
				t.Fatalf("run log after the upgrade: %+v %v", got, err)
			}
			// A poll's run log was always named so: it is marked a poll's.
			if got, err := acme.RunLogs().Get(ctx, poll.ID); err != nil || got.Origin != "poll" {
				t.Fatalf("poll run log after the upgrade: %+v %v", got, err)
			}
			// 0008: a run log keeps the request id it was appended with,
			// and is found by it (beside the ones from before, which have
			// none).
			withID, err := acme.RunLogs().Append(ctx, store.RunLog{ConnectionID: c.ID, Action: "create-contact", Status: "ok", RequestID: "req-0123456789"})
			if err != nil {
				t.Fatalf("run log with a request id after the upgrade: %v", err)
			}
			if page, err := acme.RunLogs().List(ctx, store.RunLogFilter{RequestID: "req-0123456789"}); err != nil || len(page.Items) != 1 || page.Items[0].ID != withID.ID || page.Items[0].RequestID != "req-0123456789" {
				t.Fatalf("run logs by request id after the upgrade: %+v %v", page.Items, err)
			}
			if _, err := acme.RunLogs().Append(ctx, store.RunLog{Action: "x", Status: "ok", RequestID: strings.Repeat("r", 129)}); !errors.Is(err, store.ErrInvalid) {
				t.Fatalf("a request id over 128 bytes: %v", err)
			}
			if d, err := cur.TakeState(ctx, "state-0123456789abcdef"); err != nil || string(d) != "pkce" {
				t.Fatalf("oauth state after the upgrade: %q %v", d, err)
			}
			batch, err := cur.Deliveries().Route(ctx, 10, func(*store.Event) []string { return nil })
			if err != nil || len(batch) != 1 || batch[0].Seq == 0 {
				t.Fatalf("outbox after the upgrade: %d %v", len(batch), err)
			}
			if rec, claimed, err := acme.IdempotencyKeys().Claim(ctx, "k", "fp", time.Minute, time.Hour); err != nil || claimed || rec.Status != 201 || string(rec.Body) != `{"ok":true}` {
				t.Fatalf("idempotency key after the upgrade: %+v %v %v", rec, claimed, err)
			}
			// The new tables work on the migrated data.
			sub, err := acme.Subscriptions().Create(ctx, store.Subscription{ConnectionID: c.ID, Event: "contact-changed", NextRunAt: time.Now().Add(-time.Second)})
			if err != nil {
				t.Fatalf("subscribe after the upgrade: %v", err)
			}
			if due, err := cur.Polls().ClaimDue(ctx, "w", time.Now(), 10, time.Minute); err != nil || len(due) != 1 || due[0].ID != sub.ID {
				t.Fatalf("claim after the upgrade: %d %v", len(due), err)
			}
			if seen, err := acme.Subscriptions().Records(sub.ID).Mark(ctx, 1, []store.RecordHash{{ID: "r1", Hash: "h"}}); err != nil || seen[0].Previous != "" {
				t.Fatalf("record hashes after the upgrade: %v", err)
			}
			if _, err := cur.Inbox().Append(ctx, &store.InboxEntry{Connector: "crm", Method: "POST", URL: "/w", Body: []byte("{}")}); err != nil {
				t.Fatalf("inbox after the upgrade: %v", err)
			}
			if err := acme.Connections().Delete(ctx, c.ID); err != nil {
				t.Fatal(err)
			}
			if _, err := acme.Subscriptions().Get(ctx, sub.ID); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("the subscription of a deleted connection: %v", err)
			}
			cur.Close()

			// Opened again, there is nothing left to apply.
			var again testkit.Buffer
			open(store.WithKeyring(keys), store.WithLogger(slog.New(slog.NewTextHandler(&again, nil)))).Close()
			if strings.Contains(again.String(), "applied migration") {
				t.Fatalf("migrated twice:\n%s", again.String())
			}
		})
	}
}

// TestUpgradeDeliveryFrom0004: events a 0004 database holds, never routed
// (nothing consumed the outbox then), are all routed into the log after
// the upgrade, in order, and delivered like new ones.
func TestUpgradeDeliveryFrom0004(t *testing.T) {
	for name, newDB := range map[string]func(*testing.T) storetest.NewDB{"sqlite": storetest.SQLite, "postgres": storetest.Postgres} {
		t.Run(name, func(t *testing.T) {
			open := newDB(t)(t)
			keys := testKeys(t)
			ctx := t.Context()
			clock := storetest.NewClock()
			old := open(store.WithKeyring(keys), store.WithLogger(storetest.Quiet()), store.WithClock(clock.Now), store.WithMigrationsUpTo(4))
			var want []string
			for i := range 30 {
				tenant := []string{"acme", "globex", "initech"}[i%3]
				id := fmt.Sprintf("evt_%02d", i)
				enqueue0004(t, old, tenant, id, clock.Now())
				want = append(want, id)
				clock.Advance(time.Second)
			}
			old.Close()

			cur := open(store.WithKeyring(keys), store.WithLogger(storetest.Quiet()), store.WithClock(clock.Now))
			recent, err := cur.Tenant("acme").Outbox().Recent(ctx, 100)
			if err != nil || len(recent) != 10 || recent[0].Status != store.Pending {
				t.Fatalf("acme's outbox after the upgrade: %d %v", len(recent), err)
			}
			d, err := cur.Destinations().Create(ctx, store.Destination{Name: "backend", Kind: store.DestinationWebhook, URL: "https://example.com/h"})
			if err != nil {
				t.Fatal(err)
			}
			// Unrouted events wait for the router; new ones queue behind them.
			if err := cur.Tenant("acme").Outbox().Enqueue(ctx, store.Event{ID: "evt_new", Type: "connection.created", Connector: "crm", Payload: []byte(`{}`)}); err != nil {
				t.Fatal(err)
			}
			want = append(want, "evt_new")
			var routed []string
			for {
				evs, err := cur.Deliveries().Route(ctx, 7, func(*store.Event) []string { return []string{d.ID} })
				if err != nil {
					t.Fatal(err)
				}
				if len(evs) == 0 {
					break
				}
				for _, e := range evs {
					routed = append(routed, e.ID)
				}
			}
			if strings.Join(routed, ",") != strings.Join(want, ",") {
				t.Fatalf("routed %v, want %v", routed, want)
			}
			log, err := cur.Deliveries().Log(ctx, "", 0, 100)
			if err != nil || len(log) != len(want) || string(log[3].Payload) != `{"id":"evt_03"}` || log[3].Tenant != "acme" || log[30].Connector != "crm" {
				t.Fatalf("log after the upgrade: %d %v", len(log), err)
			}
			tasks, err := cur.Deliveries().Claim(ctx, "w", 100, time.Minute, nil)
			if err != nil || len(tasks) != len(want) {
				t.Fatalf("claimed %d %v", len(tasks), err)
			}
			if err := cur.Deliveries().Record(ctx, "w", store.Attempt{EventID: tasks[0].ID, Destination: d.ID, Attempt: 1, Status: 200}, store.Outcome{Delivered: true}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// enqueue0004 writes an outbox entry as the binaries of schemas 0001 to
// 0004 did.
func enqueue0004(t *testing.T, s store.Store, tenant, id string, at time.Time) {
	t.Helper()
	db := s.(interface{ Internals() *sqldb.Engine }).Internals().DB
	ctx := t.Context()
	tx, err := db.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `INSERT INTO tenants (key, created_at) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING`, tenant, at.UnixMicro()); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO outbox (id, tenant, type, payload, status, attempts, next_attempt_at, retry_since, created_at)
		VALUES ($1, $2, 'connection.created', $3, 'pending', 0, $4, $4, $4)`, id, tenant, `{"id":"`+id+`"}`, at.UnixMicro()); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestUpgradeAuthModeFrom0005: connections a 0005 database holds were all
// made with their connector's only (or first) auth mode; after the
// upgrade they read as such, keep their secrets, and new connections
// record the mode they are created with.
func TestUpgradeAuthModeFrom0005(t *testing.T) {
	for name, newDB := range map[string]func(*testing.T) storetest.NewDB{"sqlite": storetest.SQLite, "postgres": storetest.Postgres} {
		t.Run(name, func(t *testing.T) {
			open := newDB(t)(t)
			keys := testKeys(t)
			ctx := t.Context()
			old := open(store.WithKeyring(keys), store.WithLogger(storetest.Quiet()), store.WithMigrationsUpTo(5))
			c, err := old.Tenant("acme").Connections().Create(ctx, store.Connection{Connector: "desk",
				Credentials: map[string]any{"apiKey": "key_0123456789abcdef"}})
			if err != nil {
				t.Fatal(err)
			}
			old.Close()

			cur := open(store.WithKeyring(keys), store.WithLogger(storetest.Quiet()))
			defer cur.Close()
			acme := cur.Tenant("acme")
			got, err := acme.Connections().Get(ctx, c.ID)
			if err != nil || got.AuthMode != "" || got.Credentials["apiKey"] != "key_0123456789abcdef" {
				t.Fatalf("a 0005 connection after the upgrade: %+v %v", got, err)
			}
			made, err := acme.Connections().Create(ctx, store.Connection{Connector: "desk", AuthMode: "token",
				Credentials: map[string]any{"accessToken": "pat_0123456789"}})
			if err != nil {
				t.Fatal(err)
			}
			got, err = acme.Connections().Get(ctx, made.ID)
			if err != nil || got.AuthMode != "token" {
				t.Fatalf("a connection made with the token mode reads back as %+v %v", got, err)
			}
			// An update keeps the mode: another mode is another connection.
			upd, err := acme.Connections().Update(ctx, made.ID, func(c *store.Connection) error { c.AuthMode = "oauth"; c.Name = "renamed"; return nil })
			if err != nil || upd.AuthMode != "token" {
				t.Fatalf("update: %+v %v", upd, err)
			}
			page, err := acme.Connections().List(ctx, store.ConnectionFilter{Connector: "desk"})
			if err != nil || len(page.Items) != 2 || page.Items[1].AuthMode != "token" {
				t.Fatalf("list: %+v %v", page.Items, err)
			}
			if _, err := acme.Connections().Create(ctx, store.Connection{Connector: "desk", AuthMode: "bad\nmode"}); !errors.Is(err, store.ErrInvalid) {
				t.Errorf("a malformed auth mode: %v, want ErrInvalid", err)
			}
		})
	}
}

// runLog0003 writes run logs as the schemas before 0007 had them.
func runLog0003(t *testing.T, s store.Store, tenant string, logs ...store.RunLog) {
	t.Helper()
	db := s.(interface{ Internals() *sqldb.Engine }).Internals().DB
	ctx := t.Context()
	for _, l := range logs {
		if _, err := db.Exec(ctx, `INSERT INTO run_logs (id, tenant, connection_id, action, status, error, duration_ms, entries, created_at)
			VALUES ($1, $2, $3, $4, $5, '', 0, NULL, $6)`, l.ID, tenant, l.ConnectionID, l.Action, l.Status, time.Now().UnixMicro()); err != nil {
			t.Fatal(err)
		}
	}
}
