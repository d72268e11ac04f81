package connectors_test

import (
	"encoding/json"
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

// TestPagerDutyWebhookSubscription subscribes incident-changed and ends
// the subscription against Prism serving PagerDuty's own description with
// request validation on: the subscribe body must be a valid
// WebhookSubscription, and what is kept must be the answer's id and
// secret. The Prism case files run actions only; this runs the event's
// lifecycle.
func TestPagerDutyWebhookSubscription(t *testing.T) {
	pool := prismPool(t)
	apis, err := prismtest.APIs()
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	srv, err := pool.Get(prismtest.Description{
		Files: []string{filepath.Join(apis, "pagerduty", "rest.json")},
		Paths: []string{"/webhook_subscriptions"},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	ws, diags := layers.Load(".")
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	// Accept as testdata/prism/pagerduty.yaml explains: the description
	// answers application/json only.
	ws.Overrides = append(ws.Overrides, override(t, "prism.yaml",
		"kind: ConnectionOverride\nconnector: pagerduty\nconnectorPatch:\n  baseUrl: "+srv.URL+"\n  headers: {Accept: application/json}\n"))
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
	conn, err := ts.Connections().Create(ctx, store.Connection{Tenant: "acme", Connector: "pagerduty", State: store.Connected,
		Credentials: map[string]any{"apiKey": "y_NbAkKc66ryYTWUXYEu"}, Parameters: map[string]any{"fromEmail": "oncall@example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	sub, err := ts.Subscriptions().Create(ctx, store.Subscription{Tenant: "acme", ConnectionID: conn.ID, Connector: "pagerduty", Event: "incident-changed"})
	if err != nil {
		t.Fatal(err)
	}
	lc := &events.Lifecycle{Store: st, Conns: svc, PublicURL: "https://hooks.example.com", Log: quiet}

	check := func(x *httpx.Attempt, method, path string, status int) {
		t.Helper()
		if x.Response == nil {
			t.Fatalf("%s %s got no answer: %v", x.Method, x.URL, x.Err)
		}
		if why := prismtest.Rejection(x.Response.Status, x.Response.Header, string(x.Response.Body)); why != "" {
			t.Fatalf("Prism refused %s %s (it breaks pagerduty/rest.json):\n%s\nrequest body: %s", x.Method, x.URL, why, x.RequestBody)
		}
		if x.Method != method || x.URL != srv.URL+path || x.Response.Status != status {
			t.Fatalf("sent %s %s → %d, want %s %s → %d: %s", x.Method, x.URL, x.Response.Status, method, srv.URL+path, status, x.Response.Body)
		}
	}

	if err := lc.Subscribe(ctx, sub); err != nil {
		mu.Lock()
		defer mu.Unlock()
		for _, x := range sent {
			if x.Response != nil {
				if why := prismtest.Rejection(x.Response.Status, x.Response.Header, string(x.Response.Body)); why != "" {
					t.Errorf("Prism refused %s %s (it breaks pagerduty/rest.json):\n%s\nrequest body: %s", x.Method, x.URL, why, x.RequestBody)
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
	check(x, "POST", "/webhook_subscriptions", 200)
	var body struct {
		WebhookSubscription struct {
			Type           string
			DeliveryMethod struct{ Type, URL string } `json:"delivery_method"`
			Events         []string
			Filter         struct{ Type string }
		} `json:"webhook_subscription"`
	}
	if err := json.Unmarshal(x.RequestBody, &body); err != nil {
		t.Fatalf("subscribe body %s: %v", x.RequestBody, err)
	}
	got := body.WebhookSubscription
	if want := "https://hooks.example.com/webhooks/s/" + sub.WebhookToken; got.DeliveryMethod.URL != want || got.DeliveryMethod.Type != "http_delivery_method" {
		t.Errorf("delivery_method %+v, want http_delivery_method to %s", got.DeliveryMethod, want)
	}
	if got.Filter.Type != "account_reference" {
		t.Errorf("filter %+v, want the account", got.Filter)
	}
	for _, e := range []string{"incident.triggered", "incident.acknowledged", "incident.resolved", "incident.reassigned", "incident.escalated"} {
		if !slices.Contains(got.Events, e) {
			t.Errorf("events %v lack %s", got.Events, e)
		}
	}
	// The description's example answer: PY1OL64, its secret null as on
	// any answer but the creation's.
	if sub.Remote["id"] != "PY1OL64" {
		t.Errorf("kept %v, want the subscription id PY1OL64", sub.Remote)
	}
	if v, ok := sub.Remote["secret"]; !ok || v != nil {
		t.Errorf("kept secret %v (present %v), want the answer's null", v, ok)
	}

	if err := lc.Unsubscribe(ctx, sub); err != nil {
		t.Fatalf("unsubscribe: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(sent) != 2 {
		t.Fatalf("unsubscribe sent %d requests, want 1", len(sent)-1)
	}
	check(sent[1], "DELETE", "/webhook_subscriptions/PY1OL64", 204)
}
