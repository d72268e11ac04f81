package store_test

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/membrane-dev/membrane/internal/testkit"
	"github.com/membrane-dev/membrane/runtime/store"
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
			l, err := acme.RunLogs().Append(ctx, store.RunLog{ConnectionID: c.ID, Action: "create-contact", Status: "ok"})
			if err != nil {
				t.Fatal(err)
			}
			if err := acme.Outbox().Enqueue(ctx, store.Event{Type: "connection.created", Payload: []byte(`{"id":1}`)}); err != nil {
				t.Fatal(err)
			}
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
			if got, err := acme.RunLogs().Get(ctx, l.ID); err != nil || got.Action != "create-contact" {
				t.Fatalf("run log after the upgrade: %v", err)
			}
			if d, err := cur.TakeState(ctx, "state-0123456789abcdef"); err != nil || string(d) != "pkce" {
				t.Fatalf("oauth state after the upgrade: %q %v", d, err)
			}
			batch, err := cur.Outbox().ClaimBatch(ctx, "w", 10, time.Minute)
			if err != nil || len(batch) != 1 {
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
