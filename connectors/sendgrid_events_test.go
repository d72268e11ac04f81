package connectors_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/membrane-dev/membrane"
	"github.com/membrane-dev/membrane/connectors/internal/prismtest"
	"github.com/membrane-dev/membrane/layers"
	"github.com/membrane-dev/membrane/runtime/connections"
	"github.com/membrane-dev/membrane/runtime/events"
	"github.com/membrane-dev/membrane/runtime/httpx"
	"github.com/membrane-dev/membrane/runtime/store"
	"github.com/membrane-dev/membrane/runtime/store/crypt"
)

// TestSendGridWebhookSubscription subscribes email-event and ends the
// subscription against Prism serving SendGrid's own description with
// request validation on: both bodies must be valid Event Webhook
// settings, subscribing must point the webhook at the subscription's URL
// with every event on, and unsubscribing must turn it off.
func TestSendGridWebhookSubscription(t *testing.T) {
	pool := prismPool(t)
	apis, err := prismtest.APIs()
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	const path = "/user/webhooks/event/settings"
	// The whole description: it holds control characters that the
	// subsetting's YAML reader refuses.
	srv, err := pool.Get(prismtest.Description{Files: []string{filepath.Join(apis, "sendgrid", "oai.json")}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	ws, diags := layers.Load(".")
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	ws.Overrides = append(ws.Overrides, override(t, "prism.yaml",
		"kind: ConnectionOverride\nconnector: sendgrid\nconnectorPatch:\n  baseUrl: "+srv.URL+"\n"))
	var mu sync.Mutex
	var sent []*httpx.Attempt
	client := httpx.New(httpx.Config{AllowPrivate: true, Trace: func(a *httpx.Attempt) {
		mu.Lock()
		defer mu.Unlock()
		sent = append(sent, a)
	}})
	rt := membrane.New(membrane.Options{HTTP: client}, ws)
	keys, err := crypt.New(crypt.Generate())
	if err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := store.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "m.db"), store.WithKeyring(keys), store.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	svc := connections.New(connections.Options{Store: st, Workspace: rt, HTTP: client, Logger: quiet})
	if _, err := st.EnsureTenant(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	ts := st.Tenant("acme")
	conn, err := ts.Connections().Create(ctx, store.Connection{Tenant: "acme", Connector: "sendgrid", State: store.Connected,
		Credentials: map[string]any{"apiKey": "SG.prism-test-key"}})
	if err != nil {
		t.Fatal(err)
	}
	sub, err := ts.Subscriptions().Create(ctx, store.Subscription{Tenant: "acme", ConnectionID: conn.ID, Connector: "sendgrid", Event: "email-event"})
	if err != nil {
		t.Fatal(err)
	}
	lc := &events.Lifecycle{Store: st, Conns: svc, PublicURL: "https://hooks.example.com", Log: quiet}

	// check asserts the requests sent since the last check, each
	// accepted by Prism, to paths in order, and gives their bodies.
	check := func(step string, paths ...string) []map[string]any {
		t.Helper()
		mu.Lock()
		defer mu.Unlock()
		if len(sent) != len(paths) {
			t.Fatalf("%s sent %d requests, want %d (%v)", step, len(sent), len(paths), paths)
		}
		var bodies []map[string]any
		for i, x := range sent {
			if x.Response == nil {
				t.Fatalf("%s: %s %s got no answer: %v", step, x.Method, x.URL, x.Err)
			}
			if why := prismtest.Rejection(x.Response.Status, x.Response.Header, string(x.Response.Body)); why != "" {
				t.Fatalf("Prism refused %s %s (it breaks sendgrid/oai.json):\n%s\nrequest body: %s", x.Method, x.URL, why, x.RequestBody)
			}
			method, p, _ := strings.Cut(paths[i], " ")
			if x.Method != method || x.URL != srv.URL+p || x.Response.Status != 200 {
				t.Fatalf("%s sent %s %s → %d, want %s → 200: %s", step, x.Method, x.URL, x.Response.Status, paths[i], x.Response.Body)
			}
			var body map[string]any
			if len(x.RequestBody) > 0 {
				if err := json.Unmarshal(x.RequestBody, &body); err != nil {
					t.Fatalf("%s body %s: %v", step, x.RequestBody, err)
				}
			}
			bodies = append(bodies, body)
		}
		sent = nil
		return bodies
	}
	events := []string{"processed", "dropped", "deferred", "delivered", "bounce", "open", "click", "spam_report", "unsubscribe", "group_unsubscribe", "group_resubscribe"}

	if err := lc.Subscribe(ctx, sub); err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	bodies := check("subscribe", "PATCH "+path, "PATCH "+path+"/signed")
	body := bodies[0]
	if bodies[1]["enabled"] != true {
		t.Errorf("enabling signing sent %v, want enabled true", bodies[1])
	}
	if want := "https://hooks.example.com/webhooks/s/" + sub.WebhookToken; body["url"] != want || body["enabled"] != true {
		t.Errorf("subscribe body %v, want enabled with url %s", body, want)
	}
	for _, e := range events {
		if body[e] != true {
			t.Errorf("subscribe leaves %s off: %v", e, body)
		}
	}
	// What the description's example answers as the URL is kept for
	// unsubscribing, which must name it.
	kept, _ := sub.Remote["url"].(string)
	if kept == "" {
		t.Fatalf("kept %v, want the webhook's url", sub.Remote)
	}
	// The public key enabling signing answered, which pushes are checked with.
	if k, _ := sub.Remote["publicKey"].(string); k == "" {
		t.Errorf("kept %v, want the signing public key", sub.Remote)
	}

	if err := lc.Unsubscribe(ctx, sub); err != nil {
		t.Fatalf("unsubscribe: %v", err)
	}
	body = check("unsubscribe", "PATCH "+path)[0]
	if body["enabled"] != false || body["url"] != kept {
		t.Errorf("unsubscribe body %v, want disabled with url %s", body, kept)
	}
	for _, e := range events {
		if body[e] != false {
			t.Errorf("unsubscribe leaves %s on: %v", e, body)
		}
	}
}
