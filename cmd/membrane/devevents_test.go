package main

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/membrane-dev/membrane/internal/testkit"
	"github.com/membrane-dev/membrane/runtime/delivery"
	"github.com/membrane-dev/membrane/runtime/server"
	"github.com/membrane-dev/membrane/runtime/store"
	"github.com/membrane-dev/membrane/runtime/store/storetest"
)

// received is one request a local backend got.
type received struct {
	ID, Type string
	Verified bool
}

// localBackend is the developer's backend on loopback: it verifies each
// request with the Standard Webhooks Go library and answers status.
func localBackend(t *testing.T, secret string, status *atomic.Int32) (string, <-chan received) {
	t.Helper()
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan received, 100)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var env struct{ ID, Type string }
		_ = json.Unmarshal(body, &env)
		got <- received{ID: r.Header.Get("webhook-id"), Type: env.Type, Verified: wh.Verify(body, r.Header) == nil && env.ID == r.Header.Get("webhook-id")}
		w.WriteHeader(int(status.Load()))
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/hooks", got
}

// route enqueues an event of tenant acme and routes it to no destination:
// it is in the delivery log all the same.
func route(t *testing.T, st store.Store, id, typ string) {
	t.Helper()
	ctx := context.Background()
	if err := st.Tenant("acme").Outbox().Enqueue(ctx, store.Event{ID: id, Type: typ, Payload: json.RawMessage(`{"n":1}`)}); err != nil {
		t.Fatal(err)
	}
	if evs, err := st.Deliveries().Route(ctx, 10, func(*store.Event) []string { return nil }); err != nil || len(evs) != 1 {
		t.Fatalf("route %s: %v %v", id, evs, err)
	}
}

// dev prints each event routed after it started, one line each, and
// forwards it to the local URL signed so that the Standard Webhooks
// library verifies it; a failure is printed, not retried.
func TestDevPrintsAndForwardsRoutedEvents(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st, err := server.OpenStore(ctx, server.Config{Dir: dir, Store: "sqlite:" + filepath.Join(dir, "m.db")}, storetest.Quiet())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	route(t, st, "evt_before", "connection.created")

	secret := delivery.NewSecret()
	var status atomic.Int32
	status.Store(http.StatusNoContent)
	url, got := localBackend(t, secret, &status)
	fw, err := newForwarder(url, secret)
	if err != nil {
		t.Fatal(err)
	}
	after, err := logEnd(ctx, st.Deliveries())
	if err != nil || after == 0 {
		t.Fatalf("log end: %d %v", after, err)
	}
	out := &testkit.Buffer{}
	done := make(chan error, 1)
	go func() { done <- printFrom(ctx, st.Deliveries(), after, fw, out) }()

	route(t, st, "evt_new", "contact-changed.updated")
	r := <-got
	if r.ID != "evt_new" || r.Type != "contact-changed.updated" || !r.Verified {
		t.Fatalf("the backend got %+v", r)
	}
	waitUntil(t, "the line of evt_new", func() bool { return strings.Contains(out.String(), "evt_new") })
	line := out.String()
	for _, want := range []string{"contact-changed.updated", "acme", "evt_new", "-> 204 No Content"} {
		if !strings.Contains(line, want) {
			t.Errorf("the line says no %q: %q", want, line)
		}
	}
	if strings.Contains(line, "evt_before") {
		t.Errorf("an event routed before the session was printed: %q", line)
	}

	status.Store(http.StatusInternalServerError)
	route(t, st, "evt_failed", "connection.disconnected")
	if r := <-got; r.ID != "evt_failed" || !r.Verified {
		t.Fatalf("the backend got %+v", r)
	}
	waitUntil(t, "the line of evt_failed", func() bool { return strings.Contains(out.String(), "evt_failed") })
	if !strings.Contains(out.String(), "-> 500 Internal Server Error") {
		t.Errorf("a failure is not printed: %q", out.String())
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("printFrom: %v", err)
	}
	select {
	case r := <-got:
		t.Errorf("the failed event was sent again: %+v", r)
	default:
	}
}

// --forward-to takes an http(s) URL with no credentials.
func TestDevForwardToUsage(t *testing.T) {
	for _, c := range []struct{ url, says string }{
		{"localhost:3000/hooks", "is not an http(s) URL"},
		{"ftp://localhost/hooks", "is not an http(s) URL"},
		{"http://user:pw@localhost:3000/hooks", "carries a user name or password"},
	} {
		r := runCmdLine(t, "", "dev", t.TempDir(), "--addr", "127.0.0.1:0", "--forward-to", c.url)
		wantFailure(t, r, exitUsage, c.says)
	}
	r := runCmdLine(t, "", "dev", t.TempDir(), "--addr", "127.0.0.1:0", "--forward-to", "http://localhost:3000/hooks", "--forward-secret-env", "MEMBRANE_TEST_UNSET_FORWARD_SECRET")
	wantFailure(t, r, exitUsage, "MEMBRANE_TEST_UNSET_FORWARD_SECRET, which is not set")
}

// membrane dev --forward-to, the whole way: an event enqueued in the
// workspace's store is routed by the dev server, printed and posted to
// the local backend, signed with the session's secret.
func TestDevForwardsTheWorkspaceEvents(t *testing.T) {
	dir := testkit.Workspace(t, map[string]string{"membrane.yaml": "kind: Workspace\nkey: devfwd\n"}, nil)
	secret := delivery.NewSecret()
	var status atomic.Int32
	status.Store(http.StatusOK)
	url, got := localBackend(t, secret, &status)
	fw, err := newForwarder(url, secret)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	out := &testkit.Buffer{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		// The event comes from another store handle, as from another
		// process: the router finds it at its next poll.
		done <- runDevForwarding(ctx, server.Config{Dir: dir, AllowPrivate: true, DeliveryPoll: 10 * time.Millisecond}, ln, storetest.Quiet(), out, fw)
	}()
	waitUntil(t, "dev serving", func() bool { return strings.Contains(out.String(), "serving http://") })

	st, err := server.OpenStore(ctx, server.Config{Dir: dir}, storetest.Quiet())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Tenant("acme").Outbox().Enqueue(ctx, store.Event{ID: "evt_dev", Type: "connection.created", Payload: json.RawMessage(`{}`)}); err != nil {
		t.Fatal(err)
	}
	if r := <-got; r.ID != "evt_dev" || r.Type != "connection.created" || !r.Verified {
		t.Fatalf("the backend got %+v", r)
	}
	waitUntil(t, "the line of evt_dev", func() bool { return strings.Contains(out.String(), "-> 200 OK") })
	if !strings.Contains(out.String(), "connection.created") || !strings.Contains(out.String(), "evt_dev") {
		t.Errorf("dev printed:\n%s", out.String())
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("runDev: %v", err)
	}
}
