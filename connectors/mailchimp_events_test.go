package connectors_test

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
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

// mandrillWebhookDescription writes the webhooks/add and webhooks/delete
// of Mailchimp Transactional's description with its three contradictions
// of the API mended, and nothing else changed: `events` items are typed
// object while their enum is of strings, the enum lacks deferral and
// delivered (message events Mandrill documents and accepts), and the
// answers' example dates ("2025-04-29 12:00:00", the API's own format)
// break their date-time format, which Prism would answer with a 500.
func mandrillWebhookDescription(t *testing.T, apis string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(apis, "mailchimp", "transactional.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	paths := doc["paths"].(map[string]any)
	kept := map[string]any{}
	for _, p := range []string{"/webhooks/add", "/webhooks/delete"} {
		op := paths[p].(map[string]any)["post"].(map[string]any)
		for _, param := range op["parameters"].([]any) {
			props := param.(map[string]any)["schema"].(map[string]any)["properties"].(map[string]any)
			if ev, ok := props["events"].(map[string]any); ok {
				items := ev["items"].(map[string]any)
				items["type"] = "string"
				items["enum"] = append(items["enum"].([]any), "deferral", "delivered")
			}
		}
		resp := op["responses"].(map[string]any)["200"].(map[string]any)["schema"].(map[string]any)["properties"].(map[string]any)
		for _, f := range []string{"created_at", "last_sent_at"} {
			delete(resp[f].(map[string]any), "format")
		}
		kept[p] = paths[p]
	}
	doc["paths"] = kept
	out, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "mandrill-webhooks.json")
	if err := os.WriteFile(file, out, 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}

// TestMailchimpWebhookSubscription adds message-event's webhook and
// deletes it against Prism serving Mailchimp Transactional's description
// (mended as mandrillWebhookDescription says) with request validation on:
// the key must travel in each body, the id back as an integer, and what is
// kept must be the answer's id and auth_key.
func TestMailchimpWebhookSubscription(t *testing.T) {
	pool := prismPool(t)
	apis, err := prismtest.APIs()
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	srv, err := pool.Get(prismtest.Description{Files: []string{mandrillWebhookDescription(t, apis)}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	ws, diags := layers.Load(".")
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	ws.Overrides = append(ws.Overrides, override(t, "prism.yaml",
		"kind: ConnectionOverride\nconnector: mailchimp-transactional\nconnectorPatch:\n  baseUrl: "+srv.URL+"\n"))
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
	conn, err := ts.Connections().Create(ctx, store.Connection{Tenant: "acme", Connector: "mailchimp-transactional", State: store.Connected,
		Credentials: map[string]any{"apiKey": "md-prism-test-key"}})
	if err != nil {
		t.Fatal(err)
	}
	sub, err := ts.Subscriptions().Create(ctx, store.Subscription{Tenant: "acme", ConnectionID: conn.ID, Connector: "mailchimp-transactional", Event: "message-event"})
	if err != nil {
		t.Fatal(err)
	}
	lc := &events.Lifecycle{Store: st, Conns: svc, PublicURL: "https://hooks.example.com", Log: quiet}

	check := func(x *httpx.Attempt, path string) {
		t.Helper()
		if x.Response == nil {
			t.Fatalf("%s %s got no answer: %v", x.Method, x.URL, x.Err)
		}
		if why := prismtest.Rejection(x.Response.Status, x.Response.Header, string(x.Response.Body)); why != "" {
			t.Fatalf("Prism refused %s %s (it breaks mailchimp/transactional.json):\n%s\nrequest body: %s", x.Method, x.URL, why, x.RequestBody)
		}
		if x.Method != "POST" || x.URL != srv.URL+path || x.Response.Status != 200 {
			t.Fatalf("sent %s %s → %d, want POST %s → 200: %s", x.Method, x.URL, x.Response.Status, srv.URL+path, x.Response.Body)
		}
	}

	if err := lc.Subscribe(ctx, sub); err != nil {
		mu.Lock()
		defer mu.Unlock()
		for _, x := range sent {
			if x.Response != nil {
				if why := prismtest.Rejection(x.Response.Status, x.Response.Header, string(x.Response.Body)); why != "" {
					t.Errorf("Prism refused %s %s:\n%s\nrequest body: %s", x.Method, x.URL, why, x.RequestBody)
				}
			}
		}
		t.Fatalf("subscribe: %v", err)
	}
	mu.Lock()
	if len(sent) != 1 {
		mu.Unlock()
		t.Fatalf("subscribe sent %d requests, want 1", len(sent))
	}
	x := sent[0]
	mu.Unlock()
	check(x, "/webhooks/add")
	var body struct {
		Key, URL, Description string
		Events                []string
	}
	if err := json.Unmarshal(x.RequestBody, &body); err != nil {
		t.Fatalf("subscribe body %s: %v", x.RequestBody, err)
	}
	if want := "https://hooks.example.com/webhooks/s/" + sub.WebhookToken; body.URL != want {
		t.Errorf("url %q, want %s", body.URL, want)
	}
	if body.Key != "md-prism-test-key" {
		t.Errorf("the body does not carry the connection's key")
	}
	for _, e := range []string{"send", "deferral", "hard_bounce", "soft_bounce", "delivered", "open", "click", "spam", "unsub", "reject"} {
		if !slices.Contains(body.Events, e) {
			t.Errorf("events %v lack %s", body.Events, e)
		}
	}
	// The description's example answer: webhook 1131, its auth_key.
	if fmt.Sprint(sub.Remote["id"]) != "1131" {
		t.Errorf("kept %v, want the webhook id 1131", sub.Remote)
	}
	if sub.Remote["authKey"] != "UHeOnTqMBMGqAEMadhA6xQ" {
		t.Errorf("kept authKey %v, want the answer's auth_key", sub.Remote["authKey"])
	}

	if err := lc.Unsubscribe(ctx, sub); err != nil {
		t.Fatalf("unsubscribe: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(sent) != 2 {
		t.Fatalf("unsubscribe sent %d requests, want 1", len(sent)-1)
	}
	check(sent[1], "/webhooks/delete")
	var del struct {
		Key string
		ID  json.RawMessage
	}
	if err := json.Unmarshal(sent[1].RequestBody, &del); err != nil || string(del.ID) != "1131" || del.Key != "md-prism-test-key" {
		t.Errorf("unsubscribe body %s, want the key and id 1131 (%v)", sent[1].RequestBody, err)
	}
}
