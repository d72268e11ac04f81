package server_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/membrane-dev/membrane/internal/testkit"
	"github.com/membrane-dev/membrane/layers"
	"github.com/membrane-dev/membrane/runtime/connections"
	"github.com/membrane-dev/membrane/runtime/delivery"
	"github.com/membrane-dev/membrane/runtime/server"
	"github.com/membrane-dev/membrane/runtime/store"
	"github.com/membrane-dev/membrane/spec"
)

// hook is one webhook a backend received and verified.
type hook struct {
	ID, Body string
	Verified bool
}

// backend is the user's backend on loopback: it verifies every webhook
// with the Standard Webhooks Go library and answers status().
func backend(t *testing.T, secret string, status func() int) (string, <-chan hook) {
	t.Helper()
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan hook, 100)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h := hook{ID: r.Header.Get("webhook-id"), Body: string(body), Verified: wh.Verify(body, r.Header) == nil}
		got <- h
		w.WriteHeader(status())
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/hooks", got
}

const deliveryYAML = `kind: Workspace
key: servertest
delivery:
  destinations:
    - name: backend
      url: {{HOOKS}}
      secretEnv: BACKEND_WEBHOOK_SECRET
      events: ["connection.*"]
  allowPrivateNetworks: [127.0.0.0/8]
  retry: [0s]
`

func deliveryWorkspace(t *testing.T, api, hooks string) string {
	return testkit.Workspace(t, map[string]string{
		"connectors/crm/connector.yaml":              connectorYAML,
		"connectors/crm/actions/create-contact.yaml": actionYAML,
		"membrane.yaml":                              deliveryYAML,
	}, map[string]string{"{{API}}": api, "{{HOOKS}}": hooks})
}

// A destination of membrane.yaml is stored as file:NAME at start, and the
// server delivers the workspace's events to it, signed with the secret of
// its secretEnv: the backend verifies them with the Standard Webhooks
// library.
func TestServeDeliversToMembraneYAMLDestinations(t *testing.T) {
	t.Parallel()
	up := newUpstream(t)
	secret := delivery.NewSecret()
	hooks, got := backend(t, secret, func() int { return http.StatusNoContent })
	dir := deliveryWorkspace(t, up.srv.URL, hooks)
	r := start(t, server.Config{Dir: dir, AllowPrivate: true,
		LookupEnv: env(map[string]string{"MEMBRANE_WORKSPACE_SECRET": testSecret, "BACKEND_WEBHOOK_SECRET": secret})})

	ctx := context.Background()
	d, err := r.Store.Destinations().Get(ctx, "file:backend")
	if err != nil || d.Source != store.SourceFile || d.URL != hooks || !slices.Equal(d.EventTypes, []string{"connection.*"}) || d.Secret != "" {
		t.Fatalf("file:backend as stored: %+v %v", d, err)
	}
	var conn struct{ ID string }
	if code := call(t, r.srvClient(), "POST", r.URL+"/v1/connections", token(t, "servertest", testSecret, "acme"),
		map[string]any{"connector": "crm", "credentials": map[string]any{"apiKey": apiKey}}, &conn); code != http.StatusCreated {
		t.Fatalf("create: %d", code)
	}
	h := <-got
	if !h.Verified || !strings.Contains(h.Body, `"type":"connection.created"`) || !strings.Contains(h.Body, conn.ID) {
		t.Fatalf("the backend got %+v", h)
	}
	waitUntil(t, "the delivery recorded as delivered", func() bool {
		p, err := r.Store.Deliveries().List(ctx, store.DeliveryFilter{EventID: h.ID})
		return err == nil && len(p.Items) == 1 && p.Items[0].Status == store.Delivered && p.Items[0].Destination == "file:backend"
	})
}

// A webhook destination whose secretEnv is unset or holds no whsec_
// secret stops the server at start, naming the variable and the
// destination, never the value.
func TestDeliverySecretMustBeSet(t *testing.T) {
	t.Parallel()
	up := newUpstream(t)
	dir := deliveryWorkspace(t, up.srv.URL, "http://127.0.0.1:1/hooks")
	for _, c := range []struct{ name, value, says string }{
		{"unset", "", "BACKEND_WEBHOOK_SECRET, which is not set"},
		{"not base64", "whsec_not-base64-at-all!!hunter2", "BACKEND_WEBHOOK_SECRET is not base64"},
		{"too short", "whsec_aHVudGVyMg==", "BACKEND_WEBHOOK_SECRET is shorter than"},
	} {
		vars := map[string]string{"MEMBRANE_WORKSPACE_SECRET": testSecret}
		if c.value != "" {
			vars["BACKEND_WEBHOOK_SECRET"] = c.value
		}
		s, err := server.New(context.Background(), server.Config{Dir: dir, LookupEnv: env(vars)}, nil)
		if err == nil {
			s.Close()
			t.Errorf("%s: the server started", c.name)
			continue
		}
		if !strings.Contains(err.Error(), c.says) || !strings.Contains(err.Error(), `destination "backend"`) {
			t.Errorf("%s: %v; want it to say %q and name the destination", c.name, err, c.says)
		}
		if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "aHVudGVyMg") {
			t.Errorf("%s: the error shows the secret: %v", c.name, err)
		}
	}
}

// A reload (Swap) makes the store's file destinations the new
// membrane.yaml's: a new one appears, a removed one goes.
func TestSwapSyncsDestinations(t *testing.T) {
	t.Parallel()
	up := newUpstream(t)
	dir := deliveryWorkspace(t, up.srv.URL, "http://127.0.0.1:1/hooks")
	r := start(t, server.Config{Dir: dir,
		LookupEnv: env(map[string]string{"MEMBRANE_WORKSPACE_SECRET": testSecret, "BACKEND_WEBHOOK_SECRET": delivery.NewSecret()})})
	ctx := context.Background()
	ids := func() []string {
		p, err := r.Store.Destinations().List(ctx, "", 100)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, d := range p.Items {
			out = append(out, d.ID)
		}
		slices.Sort(out)
		return out
	}
	if got := ids(); !slices.Equal(got, []string{"file:backend"}) {
		t.Fatalf("at start: %v", got)
	}
	yaml := strings.Replace(deliveryYAML, "{{HOOKS}}", "http://127.0.0.1:1/hooks", 1)
	yaml = strings.Replace(yaml, "name: backend", "name: stream\n      nats: {url: \"nats://127.0.0.1:4222\", subject: membrane.events}\n    - name: other", 1)
	testkit.WriteFile(t, filepath.Join(dir, "membrane.yaml"), yaml)
	ws, diags := layers.Load(dir)
	if diags.HasErrors() {
		t.Fatal(diags.Err())
	}
	r.Swap(ws)
	if got := ids(); !slices.Equal(got, []string{"file:other", "file:stream"}) {
		t.Fatalf("after the reload: %v", got)
	}
	d, err := r.Store.Destinations().Get(ctx, "file:stream")
	if err != nil || d.Kind != store.DestinationNATS || d.Subject != "membrane.events" || d.URL != "nats://127.0.0.1:4222" {
		t.Fatalf("file:stream: %+v %v", d, err)
	}
}

// The event types spec checks `events` patterns against are those the
// runtime raises.
func TestBuiltinEventTypes(t *testing.T) {
	var got []string
	for prefix, ends := range spec.BuiltinEventTypes {
		for _, e := range ends {
			got = append(got, prefix+"."+e)
		}
	}
	slices.Sort(got)
	want := []string{connections.EventCreated, connections.EventDeleted, connections.EventDisconnected,
		connections.EventReconnected, delivery.EndpointDisabled}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("spec.BuiltinEventTypes gives %v; the runtime raises %v", got, want)
	}
}

// waitUntil polls cond, failing a little before the test binary's
// -timeout: no wall-clock bound of its own to trip on a busy machine.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline, ok := t.Deadline()
	for !cond() {
		if ok && time.Until(deadline) < 5*time.Second {
			t.Fatalf("waited until the test's timeout for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Delivery attempts and routed events older than logRetention go; the
// routed log of an event whose deliveries are finished with them.
func TestServePrunesTheDeliveryLog(t *testing.T) {
	t.Parallel()
	up := newUpstream(t)
	dir := testkit.Workspace(t, map[string]string{
		"connectors/crm/connector.yaml":              connectorYAML,
		"connectors/crm/actions/create-contact.yaml": actionYAML,
		"membrane.yaml":                              "kind: Workspace\nkey: servertest\ndelivery: {logRetention: 1ms}\n",
	}, map[string]string{"{{API}}": up.srv.URL})
	r := start(t, server.Config{Dir: dir, DeliveryPruneInterval: time.Millisecond,
		LookupEnv: env(map[string]string{"MEMBRANE_WORKSPACE_SECRET": testSecret})})
	ctx := context.Background()
	if err := r.Store.Tenant("acme").Outbox().Enqueue(ctx, store.Event{ID: "evt_old", Type: "connection.created", Payload: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	// The deliverer routes it (to no destination: its deliveries are all
	// finished), then it is older than 1ms: gone from the outbox, which
	// keeps what is not routed yet.
	waitUntil(t, "the routed event pruned", func() bool {
		recent, err := r.Store.Tenant("acme").Outbox().Recent(ctx, 10)
		return err == nil && len(recent) == 0
	})
}

// A reload that adds a webhook destination whose secretEnv is unset
// keeps serving (the file is valid) and says which variable to set; the
// destination is stored all the same.
func TestSwapWarnsOfAnUnsetSecret(t *testing.T) {
	t.Parallel()
	up := newUpstream(t)
	dir := deliveryWorkspace(t, up.srv.URL, "http://127.0.0.1:1/hooks")
	logs := &testkit.Buffer{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := server.New(ctx, server.Config{Dir: dir,
		LookupEnv: env(map[string]string{"MEMBRANE_WORKSPACE_SECRET": testSecret, "BACKEND_WEBHOOK_SECRET": delivery.NewSecret()})},
		slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	yaml := strings.Replace(deliveryYAML, "{{HOOKS}}", "http://127.0.0.1:1/hooks", 1)
	yaml = strings.Replace(yaml, "secretEnv: BACKEND_WEBHOOK_SECRET", "secretEnv: NEW_WEBHOOK_SECRET", 1)
	testkit.WriteFile(t, filepath.Join(dir, "membrane.yaml"), yaml)
	ws, diags := layers.Load(dir)
	if diags.HasErrors() {
		t.Fatal(diags.Err())
	}
	s.Swap(ws)
	if !strings.Contains(logs.String(), "NEW_WEBHOOK_SECRET, which is not set") {
		t.Errorf("the reload did not name the unset variable:\n%s", logs.String())
	}
	if _, err := s.Store.Destinations().Get(ctx, "file:backend"); err != nil {
		t.Errorf("file:backend after the reload: %v", err)
	}
}
