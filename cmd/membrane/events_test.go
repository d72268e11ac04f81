package main

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/membrane-dev/membrane/internal/testkit"
	"github.com/membrane-dev/membrane/runtime/delivery"

	"github.com/membrane-dev/membrane/runtime/server"
	"github.com/membrane-dev/membrane/runtime/store"
	"github.com/membrane-dev/membrane/runtime/store/storetest"
)

// deadDelivery makes, in the store at dsn, a destination file:backend and
// an event of tenant acme routed to it whose one attempt failed for good.
func deadDelivery(t *testing.T, dir, dsn, id string) {
	t.Helper()
	ctx := context.Background()
	st, err := server.OpenStore(ctx, server.Config{Dir: dir, Store: dsn}, storetest.Quiet())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Destinations().Sync(ctx, []store.Destination{{ID: "file:backend", Source: store.SourceFile, Name: "backend",
		Kind: store.DestinationWebhook, URL: "https://api.example.com/hooks", Status: store.DestinationActive}}); err != nil {
		t.Fatal(err)
	}
	if err := st.Tenant("acme").Outbox().Enqueue(ctx, store.Event{ID: id, Type: "connection.created", Payload: json.RawMessage(`{}`)}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Deliveries().Route(ctx, 10, func(*store.Event) []string { return []string{"file:backend"} }); err != nil {
		t.Fatal(err)
	}
	tasks, err := st.Deliveries().Claim(ctx, "test", 10, time.Minute, nil)
	if err != nil || len(tasks) != 1 {
		t.Fatalf("claim: %v %v", tasks, err)
	}
	a := store.Attempt{EventID: id, Destination: "file:backend", Tenant: "acme", Attempt: 1, At: time.Now(), Status: 500, Error: "HTTP 500"}
	if err := st.Deliveries().Record(ctx, "test", a, store.Outcome{Dead: true}); err != nil {
		t.Fatal(err)
	}
}

// events dead lists a dead delivery; events replay makes it pending again
// (so dead lists nothing), and says what it did or why it did nothing.
func TestEventsDeadAndReplay(t *testing.T) {
	dir := t.TempDir()
	dsn := "sqlite:" + filepath.Join(dir, "m.db")
	deadDelivery(t, dir, dsn, "evt_dead_1")

	r := runCmdLine(t, "", "events", "dead", "--dir", dir, "--store", dsn)
	if r.code != exitOK || !strings.Contains(r.stdout, "evt_dead_1") || !strings.Contains(r.stdout, "file:backend") ||
		!strings.Contains(r.stdout, "connection.created") || !strings.Contains(r.stdout, "HTTP 500") {
		t.Fatalf("events dead: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = runCmdLine(t, "", "events", "dead", "--dir", dir, "--store", dsn, "--json")
	var line map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &line); err != nil || line["eventId"] != "evt_dead_1" || line["attempts"] != float64(1) {
		t.Fatalf("events dead --json: %q %v", r.stdout, err)
	}
	r = runCmdLine(t, "", "events", "dead", "--dir", dir, "--store", dsn, "--destination", "file:other")
	if r.code != exitOK || r.stdout != "" || !strings.Contains(r.stderr, "no dead delivery") {
		t.Fatalf("events dead of another destination: exit %d %q %q", r.code, r.stdout, r.stderr)
	}

	// Nothing dead in range: the deliveries are of events detected now.
	r = runCmdLine(t, "", "events", "replay", "--dir", dir, "--store", dsn, "--destination", "file:backend", "--to", "1h")
	wantFailure(t, r, exitFail, "no dead delivery of file:backend before")
	r = runCmdLine(t, "", "events", "replay", "--dir", dir, "--store", dsn, "--id", "evt_nope")
	wantFailure(t, r, exitFail, "event evt_nope has no delivery")
	r = runCmdLine(t, "", "events", "replay", "--dir", dir, "--store", dsn, "--destination", "dst_nope")
	wantFailure(t, r, exitFail, `no destination "dst_nope"`)

	r = runCmdLine(t, "", "events", "replay", "--dir", dir, "--store", dsn, "--destination", "file:backend", "--from", "1h")
	if r.code != exitOK || !strings.Contains(r.stdout, "replayed 1 delivery") {
		t.Fatalf("events replay: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = runCmdLine(t, "", "events", "dead", "--dir", dir, "--store", dsn)
	if r.code != exitOK || r.stdout != "" {
		t.Fatalf("events dead after the replay: exit %d %q", r.code, r.stdout)
	}
	// Replayed, it is pending: by id, there is nothing more to do.
	r = runCmdLine(t, "", "events", "replay", "--dir", dir, "--store", dsn, "--id", "evt_dead_1", "--destination", "file:backend")
	if r.code != exitOK || !strings.Contains(r.stdout, "replayed nothing: the deliveries of evt_dead_1 are pending already") {
		t.Fatalf("events replay --id of a pending delivery: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// Bad flags are usage errors, before the store is opened.
func TestEventsUsage(t *testing.T) {
	for _, c := range []struct {
		args []string
		says string
	}{
		{[]string{"events", "replay"}, "give --id EVENT, or --destination ID"},
		{[]string{"events", "replay", "--id", "evt_1", "--from", "1h"}, "with --id, give --destination at most"},
		{[]string{"events", "replay", "--destination", "file:b", "--from", "yesterday"}, `--from "yesterday" is neither`},
		{[]string{"events", "replay", "--destination", "file:b", "--from", "1h", "--to", "2h"}, "is before --from"},
		{[]string{"events", "dead", "--limit", "0"}, "--limit must be at least 1"},
	} {
		r := runCmdLine(t, "", append(c.args, "--store", "sqlite:"+filepath.Join(t.TempDir(), "none.db"))...)
		wantFailure(t, r, exitUsage, c.says)
	}
}

// The whole way with a real backend on loopback: the server's delivery
// goes dead at the backend's 500, `events dead` lists it, `events replay
// --id` makes it pending, and the server sends it again, with the same
// webhook-id, verified by the Standard Webhooks library.
func TestEventsReplayRedelivers(t *testing.T) {
	secret := delivery.NewSecret()
	var status atomic.Int32
	status.Store(http.StatusInternalServerError)
	hooks, got := localBackend(t, secret, &status)
	dir := testkit.Workspace(t, map[string]string{"membrane.yaml": `kind: Workspace
key: replaytest
store: sqlite:.membrane/membrane.db
delivery:
  destinations:
    - name: backend
      url: ` + hooks + `
      secretEnv: BACKEND_WEBHOOK_SECRET
  allowPrivateNetworks: [127.0.0.0/8]
  retry: [0s]
`}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := server.New(ctx, server.Config{Dir: dir, LookupEnv: func(k string) (string, bool) {
		if k == "BACKEND_WEBHOOK_SECRET" {
			return secret, true
		}
		return "", false
	}}, storetest.Quiet())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, ln) }()
	defer func() { cancel(); <-served }()

	if err := s.Store.Tenant("acme").Outbox().Enqueue(ctx, store.Event{ID: "evt_replayed", Type: "connection.created", Payload: json.RawMessage(`{}`)}); err != nil {
		t.Fatal(err)
	}
	if r := <-got; r.ID != "evt_replayed" || !r.Verified {
		t.Fatalf("first attempt: %+v", r)
	}
	waitUntil(t, "the delivery dead", func() bool {
		p, err := s.Store.Deliveries().List(ctx, store.DeliveryFilter{EventID: "evt_replayed", Status: store.Dead})
		return err == nil && len(p.Items) == 1
	})
	r := runCmdLine(t, "", "events", "dead", "--dir", dir)
	if r.code != exitOK || !strings.Contains(r.stdout, "evt_replayed") || !strings.Contains(r.stdout, "HTTP 500") {
		t.Fatalf("events dead: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	status.Store(http.StatusNoContent)
	r = runCmdLine(t, "", "events", "replay", "--dir", dir, "--id", "evt_replayed")
	if r.code != exitOK || !strings.Contains(r.stdout, "replayed 1 delivery") {
		t.Fatalf("events replay: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	s.Deliverer.Kick() // the CLI is another process as far as the server knows
	if r := <-got; r.ID != "evt_replayed" || !r.Verified {
		t.Fatalf("replayed attempt: %+v", r)
	}
	waitUntil(t, "the replayed delivery delivered", func() bool {
		p, err := s.Store.Deliveries().List(ctx, store.DeliveryFilter{EventID: "evt_replayed", Status: store.Delivered})
		return err == nil && len(p.Items) == 1
	})
}
