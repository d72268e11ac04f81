package console_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/membrane-dev/membrane/runtime/connections"
	"github.com/membrane-dev/membrane/runtime/store"
)

// subscribe subscribes the tenant's connection to contact-changed, as the
// API would.
func (e *env) subscribe(connID string) *store.Subscription {
	e.t.Helper()
	s, err := e.srv.Service.Subscribe(e.t.Context(), tenant, connID, connections.SubscribeRequest{Event: "contact-changed"})
	if err != nil {
		e.t.Fatalf("subscribing: %v", err)
	}
	return s
}

// poll records what a failed poll and a detected change leave in the
// store, as the scheduler does.
func (e *env) poll(sub *store.Subscription, record string) {
	e.t.Helper()
	ctx := e.t.Context()
	ts := e.srv.Store.Tenant(tenant)
	err := ts.Tx(ctx, func(tx store.TenantStore) error {
		if _, err := tx.Subscriptions().Update(ctx, sub.ID, func(s *store.Subscription) error {
			s.LastRunAt, s.LastError, s.Failures = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC), "upstream: the API answered 500", 1
			return nil
		}); err != nil {
			return err
		}
		payload, _ := json.Marshal(map[string]any{"type": "contact-changed.created", "connection": sub.ConnectionID,
			"subscription": sub.ID, "recordId": record, "change": "created"})
		return tx.Outbox().Enqueue(ctx, store.Event{Type: "contact-changed.created", Payload: payload})
	})
	if err != nil {
		e.t.Fatal(err)
	}
}

// The tenant page lists the subscriptions with their status, last and
// next run and last error, and the latest outbox entries.
func TestTenantSubscriptions(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{open: true})
	conn := e.connect()
	c := client()
	r := e.do(c, "GET", "/console/tenants/acme", nil)
	if !strings.Contains(r.body, "No subscription yet") || !strings.Contains(r.body, "connection.created") {
		t.Fatalf("the tenant page before subscribing:\n%s", r.body)
	}
	sub := e.subscribe(conn.ID)
	r = e.do(c, "GET", "/console/tenants/acme", nil)
	for _, want := range []string{sub.ID, "contact-changed", "polled every 5m", "active", "never", sub.NextRunAt.Format(time.DateTime)} {
		if !strings.Contains(r.body, want) {
			t.Errorf("the tenant page lacks %q", want)
		}
	}
	e.poll(sub, "rec_42")
	if _, err := e.srv.Service.PauseSubscription(t.Context(), tenant, conn.ID, sub.ID); err != nil {
		t.Fatal(err)
	}
	r = e.do(c, "GET", "/console/tenants/acme", nil)
	for _, want := range []string{"paused", "2026-03-04 05:06:07", "upstream: the API answered 500", "1 failed in a row", "contact-changed.created", "rec_42"} {
		if !strings.Contains(r.body, want) {
			t.Errorf("the tenant page lacks %q:\n%s", want, r.body)
		}
	}
	// Another tenant's page shows none of it.
	r = e.do(c, "GET", "/console/tenants/globex", nil)
	if strings.Contains(r.body, sub.ID) || strings.Contains(r.body, "rec_42") {
		t.Errorf("globex's page shows acme's subscription")
	}
}

// In the development console, the tenant page shows a poll's outcome and
// the change it detected while it is open, without being reloaded.
func TestBrowserSubscriptionsLive(t *testing.T) {
	t.Parallel()
	ctx := newBrowser(t)
	e := newEnv(t, envOptions{open: true})
	e.listen()
	conn := e.connect()
	sub := e.subscribe(conn.ID)
	steps(t, ctx, stepTimeout, "open the tenant", chromedp.Navigate(e.URL+"/console/tenants/"+tenant),
		chromedp.WaitVisible(`#subscriptions table.subscriptions`))
	if txt := get(t, ctx, chromedp.Text(`#subscriptions`)); !strings.Contains(txt, sub.ID) || !strings.Contains(txt, "active") {
		t.Errorf("the subscriptions show %q", txt)
	}
	// A marker the page keeps unless it is reloaded.
	if !get(t, ctx, chromedp.Evaluate[bool](`window.notReloaded = true`)) {
		t.Fatal("marking the page failed")
	}
	e.poll(sub, "rec_live_7")
	start := time.Now()
	steps(t, ctx, stepTimeout, "see the change", chromedp.WaitVisible(`//section[@id="changes"]//code[text()="rec_live_7"]`))
	t.Logf("the change showed %v after it was stored", time.Since(start).Round(time.Millisecond))
	screenshot(t, ctx, "subscriptions")
	if txt := get(t, ctx, chromedp.Text(`#subscriptions`)); !strings.Contains(txt, "upstream: the API answered 500") {
		t.Errorf("the subscriptions show %q", txt)
	}
	if !get(t, ctx, chromedp.Evaluate[bool](`window.notReloaded === true`)) {
		t.Error("the page was reloaded")
	}
	e.noLeaks()
}
