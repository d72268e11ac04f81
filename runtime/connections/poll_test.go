package connections_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/membrane-dev/membrane/runtime/connections"
	"github.com/membrane-dev/membrane/runtime/engine"
	"github.com/membrane-dev/membrane/runtime/store"
	"github.com/membrane-dev/membrane/runtime/store/storetest"
)

// subscribe subscribes a connection to the keyed contact-sync event.
func (e *env) subscribe(tenant, connID string) *store.Subscription {
	e.t.Helper()
	sub, err := e.st.Tenant(tenant).Subscriptions().Create(e.ctx, store.Subscription{ConnectionID: connID, Event: "contact-sync"})
	if err != nil {
		e.t.Fatal(err)
	}
	return sub
}

// changeTypes routes the outbox and returns the types of its entries
// that are changes (not connection events).
func (e *env) changeTypes() []string {
	e.t.Helper()
	ds, err := e.st.Deliveries().Route(e.ctx, 1000, func(*store.Event) []string { return nil })
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, d := range ds {
		if strings.HasPrefix(d.Type, "contact-sync.") {
			var p map[string]any
			if err := json.Unmarshal(d.Payload, &p); err != nil {
				e.t.Fatal(err)
			}
			out = append(out, d.Type+" "+p["recordId"].(string))
		}
	}
	return out
}

func TestPollThroughTheConnection(t *testing.T) {
	forEachStore(t, func(t *testing.T, open storetest.Opener) {
		e := newEnv(t, open)
		c := e.create("acme")
		sub := e.subscribe("acme", c.ID)
		e.api.set(func(a *fakeAPI) { a.listed = []map[string]any{{"id": 1, "email": "a@x.test"}} })

		res := try(e.svc.Poll(e.ctx, sub)).ok(t)
		if !res.Baseline || !res.Complete || res.Records != 1 || res.RunID == "" {
			t.Errorf("baseline poll = %+v", res)
		}
		if !sub.Baselined || sub.Failures != 0 || sub.LastRunAt.IsZero() {
			t.Errorf("subscription after the baseline = %+v", sub)
		}
		l := try(e.st.Tenant("acme").RunLogs().Get(e.ctx, res.RunID)).ok(t)
		if l.Action != "poll:contact-sync" || l.Status != "ok" || !strings.Contains(string(l.Entries), "/contacts") {
			t.Errorf("run log = %+v", l)
		}
		if strings.Contains(string(l.Entries), goodKey) {
			t.Errorf("the run log shows the API key")
		}
		e.changeTypes()

		e.api.set(func(a *fakeAPI) { a.listed = append(a.listed, map[string]any{"id": 2, "email": "b@x.test"}) })
		try(e.svc.Poll(e.ctx, sub)).ok(t)
		if got := e.changeTypes(); len(got) != 1 || got[0] != "contact-sync.created 2" {
			t.Errorf("changes = %q", got)
		}
	})
}

// TestPollFailuresBackOff: a failing poll counts its failures and says
// why, without the secret; credentials refused disconnect the connection,
// which is then not polled.
func TestPollFailuresBackOff(t *testing.T) {
	forEachStore(t, func(t *testing.T, open storetest.Opener) {
		e := newEnv(t, open)
		c := e.create("acme")
		sub := e.subscribe("acme", c.ID)
		try(e.svc.Poll(e.ctx, sub)).ok(t)

		e.api.set(func(a *fakeAPI) { a.listStatus = 500 })
		_, err := e.svc.Poll(e.ctx, sub)
		var ee *engine.Error
		if !errors.As(err, &ee) || ee.Status != 500 {
			t.Fatalf("err = %v", err)
		}
		if sub.Failures != 1 || !strings.Contains(sub.LastError, "500") {
			t.Errorf("after a 500: failures %d, last error %q", sub.Failures, sub.LastError)
		}
		if got := try(e.svc.Get(e.ctx, "acme", c.ID)).ok(t); got.State != store.Connected {
			t.Errorf("a 500 moved the connection to %s (runs leave it)", got.State)
		}

		e.api.set(func(a *fakeAPI) { a.listStatus, a.keys[goodKey] = 0, false })
		_, err = e.svc.Poll(e.ctx, sub)
		if !errors.As(err, &ee) || ee.Type != engine.ErrAuth {
			t.Fatalf("err = %v", err)
		}
		if sub.Failures != 2 || strings.Contains(sub.LastError, goodKey) || strings.Contains(err.Error(), goodKey) {
			t.Errorf("after a refusal: failures %d, last error %q, err %v", sub.Failures, sub.LastError, err)
		}
		if got := try(e.svc.Get(e.ctx, "acme", c.ID)).ok(t); got.State != store.Disconnected {
			t.Errorf("state = %s, want disconnected", got.State)
		}
		before := len(e.api.requests())
		_, err = e.svc.Poll(e.ctx, sub)
		var de *connections.DisconnectedError
		if !errors.As(err, &de) || sub.Failures != 3 {
			t.Errorf("err = %v, failures = %d", err, sub.Failures)
		}
		if len(e.api.requests()) != before {
			t.Errorf("a disconnected connection was polled")
		}

		// Reconnected, the next poll resets the backoff.
		e.api.set(func(a *fakeAPI) { a.keys[goodKey] = true })
		try(e.svc.Reconnect(e.ctx, "acme", c.ID, map[string]any{"apiKey": goodKey})).ok(t)
		try(e.svc.Poll(e.ctx, sub)).ok(t)
		if sub.Failures != 0 || sub.LastError != "" {
			t.Errorf("after a poll that works: failures %d, last error %q", sub.Failures, sub.LastError)
		}
	})
}
