package console

import (
	"context"
	"encoding/json"
	"net/url"
	"time"

	"github.com/membrane-dev/membrane/runtime/connections"
	"github.com/membrane-dev/membrane/runtime/store"
)

// refreshSeconds is how often the development console refetches a page's
// regions that change without a reload (polls, detected changes).
const refreshSeconds = 5

// subView is a subscription as the tenant page shows it.
type subView struct {
	ID, Connection, Event, Status, How string
	LastRun, NextRun, LastError        string
	Failures                           int
	Paused, Bad                        bool
}

// changeView is one outbox entry of the tenant: a detected change, or a
// connection event.
type changeView struct {
	ID, Type, Status, When string
	Record, Connection     string
	Subscription           string
}

// subscriptionsOf lists a tenant's subscriptions (oldest first), and the
// next page's link.
func (h *handler) subscriptionsOf(ctx context.Context, t, cursor string) ([]subView, string, error) {
	page, err := h.o.Service.TenantSubscriptions(ctx, t, cursor, 50)
	if err != nil {
		return nil, "", err
	}
	var out []subView
	for _, s := range page.Items {
		d := h.o.Service.Delivery(s)
		v := subView{ID: s.ID, Connection: s.ConnectionID, Event: s.Event, Status: string(s.Status), LastError: s.LastError,
			Failures: s.Failures, Paused: s.Status == store.SubscriptionPaused, Bad: s.LastError != "" || s.Failures > 0,
			LastRun: "never", NextRun: "—"}
		switch {
		case d.Polled && d.Webhook:
			v.How = "polled every " + connections.FormatInterval(d.Interval) + ", and webhook"
		case d.Polled:
			v.How = "polled every " + connections.FormatInterval(d.Interval)
		case d.Webhook:
			v.How = "webhook"
		default:
			v.How = "event no longer in the workspace"
			v.Bad = true
		}
		if !s.LastRunAt.IsZero() {
			v.LastRun = s.LastRunAt.Format(time.DateTime)
		}
		if !s.NextRunAt.IsZero() {
			v.NextRun = s.NextRunAt.Format(time.DateTime)
		}
		out = append(out, v)
	}
	next := ""
	if page.Next != "" {
		next = tenantHref(t) + "?subscriptions=" + url.QueryEscape(page.Next)
	}
	return out, next, nil
}

// changesOf lists a tenant's latest outbox entries, newest first.
func (h *handler) changesOf(ctx context.Context, t string) ([]changeView, error) {
	entries, err := h.o.Store.Tenant(t).Outbox().Recent(ctx, 20)
	if err != nil {
		return nil, err
	}
	var out []changeView
	for _, e := range entries {
		v := changeView{ID: e.ID, Type: e.Type, Status: string(e.Status), When: e.CreatedAt.Format(time.DateTime)}
		// A change says its record, connection and subscription; a
		// connection event its connection.
		var p struct {
			RecordID     string `json:"recordId"`
			Connection   string `json:"connection"`
			ConnectionID string `json:"connectionId"`
			Subscription string `json:"subscription"`
		}
		if json.Unmarshal(e.Payload, &p) == nil {
			v.Record, v.Subscription = p.RecordID, p.Subscription
			v.Connection = p.Connection
			if v.Connection == "" {
				v.Connection = p.ConnectionID
			}
		}
		out = append(out, v)
	}
	return out, nil
}
