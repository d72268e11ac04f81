package client_test

import (
	"encoding/json"
	"fmt"
	"iter"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/membrane-dev/membrane/internal/apitest"
	"github.com/membrane-dev/membrane/runtime/client"
	"github.com/membrane-dev/membrane/runtime/store"
	"github.com/membrane-dev/membrane/runtime/store/storetest"
)

func TestDestinationsAndReplay(t *testing.T) {
	env, _, ctx := setup(t)
	admin := client.New(env.URL, env.AdminToken("ops"))
	d := must[*client.DestinationWithSecret](t)(admin.CreateDestination(ctx, client.CreateDestinationRequest{Name: "backend",
		URL: "https://api.example.com/hooks", Events: []string{"connection.*"}}))
	if !strings.HasPrefix(d.Secret, "whsec_") || d.Status != "active" || d.Source != "api" {
		t.Fatalf("created %+v", d)
	}
	got := must[*client.Destination](t)(admin.GetDestination(ctx, d.ID))
	if got.Name != "backend" || len(got.Events) != 1 {
		t.Fatalf("got %+v", got)
	}
	none := []string{}
	name := "backend-2"
	got = must[*client.Destination](t)(admin.UpdateDestination(ctx, d.ID, client.DestinationPatch{Name: &name, Events: &none}))
	if got.Name != name || len(got.Events) != 0 {
		t.Fatalf("updated %+v", got)
	}
	r := must[*client.DestinationWithSecret](t)(admin.RotateDestinationSecret(ctx, d.ID, time.Hour))
	if r.Secret == d.Secret || r.PreviousSecretUntil.IsZero() {
		t.Fatalf("rotated %+v", r)
	}
	got = must[*client.Destination](t)(admin.DisableDestination(ctx, d.ID, "maintenance"))
	if got.Status != "disabled" || got.DisabledReason != "maintenance" {
		t.Fatalf("disabled %+v", got)
	}
	got = must[*client.Destination](t)(admin.EnableDestination(ctx, d.ID))
	if got.Status != "active" {
		t.Fatalf("enabled %+v", got)
	}
	page := must[*client.Page[client.Destination]](t)(admin.ListDestinations(ctx, "", 0))
	if len(page.Items) != 1 {
		t.Fatalf("listed %+v", page)
	}

	ev := "evt_client_1"
	if err := env.Store.Tenant("acme").Outbox().Enqueue(ctx, store.Event{ID: ev, Type: "connection.created", Payload: json.RawMessage(`{}`)}); err != nil {
		t.Fatal(err)
	}
	if _, err := env.Store.Deliveries().Route(ctx, 10, func(*store.Event) []string { return []string{d.ID} }); err != nil {
		t.Fatal(err)
	}
	deliveries := must[*client.Page[client.Delivery]](t)(admin.ListDeliveries(ctx, client.DeliveryFilter{Destination: d.ID, Status: "pending"}))
	if len(deliveries.Items) != 1 || deliveries.Items[0].EventID != ev {
		t.Fatalf("deliveries %+v", deliveries)
	}
	attempts := must[*client.Page[client.Attempt]](t)(admin.ListAttempts(ctx, client.AttemptFilter{Event: ev}))
	if len(attempts.Items) != 0 {
		t.Fatalf("attempts before any: %+v", attempts)
	}
	// It fails for good, as a worker would record it.
	tasks, err := env.Store.Deliveries().Claim(ctx, "test", 10, time.Minute, nil)
	if err != nil || len(tasks) != 1 {
		t.Fatalf("claimed %d: %v", len(tasks), err)
	}
	if err := env.Store.Deliveries().Record(ctx, "test", store.Attempt{EventID: ev, Destination: d.ID, Tenant: "acme", Attempt: 1,
		At: time.Now(), Status: 500, Error: "the destination answered 500"}, store.Outcome{Dead: true}); err != nil {
		t.Fatal(err)
	}
	dead := must[*client.Page[client.Delivery]](t)(admin.ListDeliveries(ctx, client.DeliveryFilter{Status: "dead"}))
	if len(dead.Items) != 1 || dead.Items[0].LastStatus != 500 {
		t.Fatalf("dead letters %+v", dead)
	}
	attempts = must[*client.Page[client.Attempt]](t)(admin.ListAttempts(ctx, client.AttemptFilter{Event: ev}))
	if len(attempts.Items) != 1 || attempts.Items[0].Status != 500 {
		t.Fatalf("attempts %+v", attempts)
	}
	n, err := admin.Replay(ctx, client.ReplayRequest{EventID: ev})
	if err != nil || n != 1 {
		t.Fatalf("replayed %d, %v", n, err)
	}
	_, err = admin.Replay(ctx, client.ReplayRequest{Destination: d.ID, From: time.Now().Add(-time.Hour), To: time.Now()})
	problem(t, err, 422, "no-match")
	_, err = admin.Replay(ctx, client.ReplayRequest{EventID: "evt_nope"})
	problem(t, err, 404, "not-found")

	// A tenant's token manages no destination.
	_, err = client.New(env.URL, env.Token("acme")).ListDestinations(ctx, "", 0)
	problem(t, err, 403, "forbidden")
	if err := admin.DeleteDestination(ctx, d.ID); err != nil {
		t.Fatal(err)
	}
	_, err = admin.GetDestination(ctx, d.ID)
	problem(t, err, 404, "not-found")
}

// TestStreamResumes: the stream reader yields a tenant's events in order;
// when the connection is cut it reconnects after the last one, losing and
// repeating nothing.
func TestStreamResumes(t *testing.T) {
	env := apitest.New(t, storetest.SQLite(t)(t))
	// A server of the test's own, whose connections it can cut.
	srv := httptest.NewServer(env.Handler)
	t.Cleanup(srv.Close)
	ctx := t.Context()
	c := client.New(srv.URL, env.Token("acme"))
	var want []string
	add := func(n int) {
		for i := range n {
			id := fmt.Sprintf("evt_acme_%d", len(want))
			if err := env.Store.Tenant("acme").Outbox().Enqueue(ctx, store.Event{ID: id, Type: "connection.created", Payload: json.RawMessage(`{"n":1}`)}); err != nil {
				t.Fatal(err)
			}
			if err := env.Store.Tenant("globex").Outbox().Enqueue(ctx, store.Event{ID: fmt.Sprintf("evt_globex_%d_%d", len(want), i), Type: "connection.created",
				Payload: json.RawMessage(`{}`)}); err != nil {
				t.Fatal(err)
			}
			want = append(want, id)
		}
		if _, err := env.Store.Deliveries().Route(ctx, 100, func(*store.Event) []string { return nil }); err != nil {
			t.Fatal(err)
		}
	}
	add(3)
	next, stop := iter.Pull2(c.StreamEvents(ctx, "", nil))
	defer stop()
	var got, cursors []string
	read := func(n int) {
		for range n {
			ev, err, ok := next()
			if !ok || err != nil {
				t.Fatalf("the stream ended: %v", err)
			}
			if ev.Tenant != "acme" || ev.Type != "connection.created" || ev.Cursor == "" || string(ev.Data) == "" {
				t.Fatalf("event %+v", ev)
			}
			got, cursors = append(got, ev.ID), append(cursors, ev.Cursor)
		}
	}
	read(3)
	srv.CloseClientConnections()
	add(2)
	read(2)
	srv.CloseClientConnections()
	add(1)
	read(1)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("streamed %v, want %v (each once, in order)", got, want)
	}
	// Pulling from the third cursor gives the rest, and next is the last.
	page := must[*client.EventPage](t)(c.PullEvents(ctx, cursors[2], 0, ""))
	if len(page.Items) != 3 || page.Items[0].ID != want[3] || page.Next != cursors[5] {
		t.Fatalf("pulled %+v", page)
	}
	// A refused token ends the stream with the problem.
	for _, err := range client.New(srv.URL, "not-a-token").StreamEvents(ctx, "", nil) {
		problem(t, err, 401, "unauthorized")
	}
}
