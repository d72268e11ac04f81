package server_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/membrane-dev/membrane/internal/testkit"
	"github.com/membrane-dev/membrane/runtime/server"
	"github.com/membrane-dev/membrane/runtime/store"
)

const pollingEventYAML = `kind: Event
connector: crm
key: contact-changed
polling:
  request: {path: /contacts}
  items: ${ response.body.items }
  id: ${ string(record.id) }
  interval: 7m
record:
  id: ${ string(record.id) }
  email: ${ record.email }
`

// A server polls the due subscriptions of its store while it serves:
// through the connection service (the connector's auth), at the event's
// interval, and a subscription created while it runs is polled at once
// after a Kick, not at the next tick.
func TestServePolls(t *testing.T) {
	t.Parallel()
	testServePolls(t, "", 7*time.Minute)
}

// TestServePollsAtTheOverriddenInterval: a tenant's override of the
// event's polling.interval decides when its subscriptions poll next.
func TestServePollsAtTheOverriddenInterval(t *testing.T) {
	t.Parallel()
	testServePolls(t, "kind: ConnectionOverride\nconnector: crm\nevents:\n  contact-changed:\n    polling: {interval: 20m}\n", 20*time.Minute)
}

func testServePolls(t *testing.T, override string, interval time.Duration) {
	var once sync.Once
	polled := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Api-Key") != apiKey {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/me":
			io.WriteString(w, `{"id":"me_1"}`)
		case "/contacts":
			io.WriteString(w, `{"items":[{"id":1,"email":"ada@example.com"}]}`)
			once.Do(func() { close(polled) })
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	t.Cleanup(up.Close)
	dir := testkit.Workspace(t, map[string]string{
		"connectors/crm/connector.yaml":              connectorYAML,
		"connectors/crm/events/contact-changed.yaml": pollingEventYAML,
	}, map[string]string{"{{API}}": up.URL})
	r := start(t, server.Config{Dir: dir, AllowPrivate: true, PollWorkers: 2, PollLease: time.Minute,
		LookupEnv: env(map[string]string{"MEMBRANE_WORKSPACE_SECRET": testSecret})})
	c := r.srvClient()
	tok := token(t, "default", testSecret, "acme")
	var conn struct{ ID string }
	if code := call(t, c, "POST", r.URL+"/v1/connections", tok,
		map[string]any{"connector": "crm", "credentials": map[string]any{"apiKey": apiKey}}, &conn); code != http.StatusCreated {
		t.Fatalf("create: %d", code)
	}
	if override != "" {
		if _, err := r.Store.Tenant("acme").Overrides().Put(t.Context(), store.Override{Connector: "crm", Doc: []byte(override)}); err != nil {
			t.Fatal(err)
		}
	}
	subs := r.Store.Tenant("acme").Subscriptions()
	sub, err := subs.Create(t.Context(), store.Subscription{ConnectionID: conn.ID, Event: "contact-changed", NextRunAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	r.Scheduler.Kick()
	select {
	case <-polled:
	case <-time.After(10 * time.Second):
		t.Fatal("the subscription was not polled")
	}
	// Stopping waits for the poll in flight and its release.
	r.stop()
	if err := r.wait(); err != nil {
		t.Fatal(err)
	}
	got, err := subs.Get(t.Context(), sub.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.LastRunAt.IsZero() || got.Failures != 0 || got.LastError != "" {
		t.Fatalf("after the poll: last run %s, failures %d, %q", got.LastRunAt, got.Failures, got.LastError)
	}
	// The event's interval, ±10%.
	if d := time.Until(got.NextRunAt); d < interval*85/100 || d > interval*11/10 {
		t.Fatalf("next poll in %s, want about %s", d, interval)
	}
	if st := r.Scheduler.Stats(); st.Polled != 1 || st.Failed != 0 {
		t.Fatalf("scheduler stats %+v", st)
	}
}
