package events

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strconv"
	"strings"
	"time"

	"github.com/membrane-dev/membrane/runtime/engine"
	"github.com/membrane-dev/membrane/runtime/store"
	"github.com/membrane-dev/membrane/spec/compile"
)

// Subscriber registers a subscription's webhook at the app and removes
// it: what creating and deleting a subscription (or its connection) call.
// Lifecycle implements it.
type Subscriber interface {
	// Subscribe computes the subscription's route key and runs the event's
	// subscribe request, keeping what the app answered (Remote,
	// RemoteExpiresAt) in the store and in sub. A polling event does
	// nothing.
	Subscribe(ctx context.Context, sub *store.Subscription) error
	// Unsubscribe runs the event's unsubscribe request with what
	// Subscribe kept. An app that no longer knows the subscription (404)
	// is no error.
	Unsubscribe(ctx context.Context, sub *store.Subscription) error
}

// DefaultRenewBefore is how long before the app's subscription lapses
// it is renewed, unless the event says (webhook.renewBefore).
const DefaultRenewBefore = time.Hour

// Lifecycle subscribes, unsubscribes and renews webhooks at the apps.
type Lifecycle struct {
	Store store.Store
	Conns WebhookConnections
	// PublicURL is where the apps reach the server
	// (https://hooks.example.com); webhook URLs are made from it.
	PublicURL string
	Now       func() time.Time
	Log       *slog.Logger
}

var _ Subscriber = (*Lifecycle)(nil)

func (l *Lifecycle) now() time.Time {
	if l.Now != nil {
		return l.Now()
	}
	return time.Now()
}

func (l *Lifecycle) log() *slog.Logger {
	if l.Log != nil {
		return l.Log
	}
	return slog.New(slog.DiscardHandler)
}

// WebhookURL is the URL the app is given for a subscription: the
// connector-wide one (PublicURL/webhooks/<connector>) when the event
// routes by a connection key, else the subscription's own
// (PublicURL/webhooks/s/<token>).
func WebhookURL(publicURL string, sub *store.Subscription, ev *ResolvedEvent) string {
	base := strings.TrimSuffix(publicURL, "/")
	if ev != nil && ev.Compiled != nil && ev.Compiled.ConnectionKey != nil {
		return base + "/webhooks/" + sub.Connector
	}
	return base + "/webhooks/s/" + sub.WebhookToken
}

// Subscribe implements Subscriber.
func (l *Lifecycle) Subscribe(ctx context.Context, sub *store.Subscription) error {
	ev, conn, err := l.Conns.ResolveEvent(ctx, sub.Tenant, sub.ConnectionID, sub.Event)
	if err != nil {
		return err
	}
	if ev.Spec.Webhook == nil {
		return nil
	}
	ce := ev.Compiled
	routeKey := ""
	if ce.Match != nil {
		v, err := ce.Match.Eval(ctx, map[string]any{compile.VarConnection: connectionVar(conn), compile.VarSubscription: remoteVar(sub)})
		if err != nil {
			return fmt.Errorf("webhook.match of event %q: %w", sub.Event, err)
		}
		if routeKey = compile.ScalarText(v); routeKey == "" {
			return fmt.Errorf("webhook.match of event %q gives no value for connection %s; its payloads could not be routed to it", sub.Event, sub.ConnectionID)
		}
	}
	remote, expires := map[string]any(nil), time.Time{}
	if ce.Subscribe != nil {
		webhook := map[string]any{"url": WebhookURL(l.PublicURL, sub, ev)}
		resp, err := l.Conns.SendEventRequest(ctx, sub.Tenant, sub.ConnectionID, sub.Event, "subscribe",
			map[string]any{compile.VarWebhook: webhook})
		if err != nil {
			return fmt.Errorf("subscribing to event %q at the app: %w", sub.Event, err)
		}
		remote, expires, err = l.kept(ctx, ev, resp, webhook, conn, nil)
		if err != nil {
			return err
		}
	}
	updated, err := l.Store.Tenant(sub.Tenant).Subscriptions().Update(ctx, sub.ID, func(s *store.Subscription) error {
		s.RouteKey, s.Remote, s.RemoteExpiresAt = routeKey, remote, expires
		return nil
	})
	if err != nil {
		return err
	}
	*sub = *updated
	return nil
}

// kept evaluates what to keep of a subscribe or renew response: the
// subscription id, the `keep` fields (over prev, what was kept before)
// and the expiry.
func (l *Lifecycle) kept(ctx context.Context, ev *ResolvedEvent, resp, webhook map[string]any, conn *store.Connection, prev map[string]any) (map[string]any, time.Time, error) {
	ce := ev.Compiled
	vars := map[string]any{
		compile.VarResponse: resp, compile.VarWebhook: webhook, compile.VarSubscription: orEmpty(prev),
		compile.VarConnection: connectionVar(conn), compile.VarTenant: map[string]any{"key": conn.Tenant}, compile.VarNow: l.now().UTC(),
	}
	remote := maps.Clone(prev)
	if remote == nil {
		remote = map[string]any{}
	}
	// A renewal's answer may leave out what subscribe gave (the id, the
	// secret): what was kept stays then.
	renewing := prev != nil
	if ce.SubscriptionID != nil {
		v, err := ce.SubscriptionID.Eval(ctx, vars)
		if err != nil && !renewing {
			return nil, time.Time{}, fmt.Errorf("webhook.subscriptionId of event %q: %w", ev.Spec.Key, err)
		}
		if err == nil && v != nil {
			remote["id"] = v
		}
	}
	if ce.Keep != nil {
		v, err := ce.Keep.Eval(ctx, vars)
		if err != nil && renewing {
			v = map[string]any{}
		} else if err != nil {
			return nil, time.Time{}, fmt.Errorf("webhook.keep of event %q: %w", ev.Spec.Key, err)
		}
		m, ok := v.(map[string]any)
		if !ok {
			return nil, time.Time{}, fmt.Errorf("webhook.keep of event %q gives %T, not an object", ev.Spec.Key, v)
		}
		maps.Copy(remote, m)
	}
	var expires time.Time
	if ce.ExpiresAt != nil {
		v, err := ce.ExpiresAt.Eval(ctx, vars)
		if err != nil {
			return nil, time.Time{}, fmt.Errorf("webhook.expiresAt of event %q: %w", ev.Spec.Key, err)
		}
		if expires, err = timeOf(v); err != nil {
			return nil, time.Time{}, fmt.Errorf("webhook.expiresAt of event %q: %w", ev.Spec.Key, err)
		}
	}
	if len(remote) == 0 {
		remote = nil
	}
	return remote, expires, nil
}

// timeOf reads an expiry: RFC 3339 text, Unix seconds (a number or its
// text), or a CEL timestamp.
func timeOf(v any) (time.Time, error) {
	switch t := v.(type) {
	case nil:
		return time.Time{}, nil
	case time.Time:
		return t, nil
	case int64:
		return time.Unix(t, 0), nil
	case float64:
		return time.Unix(int64(t), 0), nil
	case string:
		if t == "" {
			return time.Time{}, nil
		}
		if ts, err := time.Parse(time.RFC3339Nano, t); err == nil {
			return ts, nil
		}
		if n, err := strconv.ParseInt(t, 10, 64); err == nil {
			return time.Unix(n, 0), nil
		}
		return time.Time{}, fmt.Errorf("%q is neither RFC 3339 text nor Unix seconds", t)
	}
	return time.Time{}, fmt.Errorf("it gives %T; want RFC 3339 text or Unix seconds", v)
}

// Unsubscribe implements Subscriber.
func (l *Lifecycle) Unsubscribe(ctx context.Context, sub *store.Subscription) error {
	ev, _, err := l.Conns.ResolveEvent(ctx, sub.Tenant, sub.ConnectionID, sub.Event)
	if err != nil {
		return err
	}
	if ev.Spec.Webhook == nil || ev.Compiled.Unsubscribe == nil || (ev.Compiled.Subscribe != nil && sub.Remote == nil) {
		return nil // nothing was registered, or nothing says how to remove it
	}
	_, err = l.Conns.SendEventRequest(ctx, sub.Tenant, sub.ConnectionID, sub.Event, "unsubscribe", map[string]any{
		compile.VarSubscription: remoteVar(sub),
		compile.VarWebhook:      map[string]any{"url": WebhookURL(l.PublicURL, sub, ev)},
	})
	if engine.TypeOf(err) == engine.ErrNotFound {
		return nil
	}
	if err != nil {
		return fmt.Errorf("unsubscribing from event %q at the app: %w", sub.Event, err)
	}
	return nil
}

// RenewReport says what RenewDue did.
type RenewReport struct {
	Renewed int
	Failed  int
}

// RenewDue renews every active subscription whose app subscription lapses
// within its event's renewBefore of now: with the event's renew request,
// or by subscribing again (and then removing the old registration) when
// it has none. A failure is logged and counted, and tried again on the
// next call.
func (l *Lifecycle) RenewDue(ctx context.Context, now time.Time) (RenewReport, error) {
	var rep RenewReport
	cursor := ""
	for {
		page, err := l.Store.ListTenants(ctx, cursor, 100)
		if err != nil {
			return rep, err
		}
		for _, t := range page.Items {
			if err := l.renewTenant(ctx, t.Key, now, &rep); err != nil {
				return rep, err
			}
		}
		if page.Next == "" {
			return rep, nil
		}
		cursor = page.Next
	}
}

func (l *Lifecycle) renewTenant(ctx context.Context, tenant string, now time.Time, rep *RenewReport) error {
	subs := l.Store.Tenant(tenant).Subscriptions()
	cursor := ""
	for {
		page, err := subs.List(ctx, store.SubscriptionFilter{Cursor: cursor, Limit: 200})
		if err != nil {
			return err
		}
		for _, s := range page.Items {
			if s.Status != store.SubscriptionActive || s.RemoteExpiresAt.IsZero() {
				continue
			}
			if err := l.renewOne(ctx, s, now); err != nil {
				if errors.Is(err, errNotDue) {
					continue
				}
				rep.Failed++
				l.log().WarnContext(ctx, "webhook subscription not renewed; retrying on the next round", "tenant", tenant,
					"subscription", s.ID, "event", s.Event, "expiresAt", s.RemoteExpiresAt, "error", err)
				continue
			}
			rep.Renewed++
		}
		if page.Next == "" {
			return nil
		}
		cursor = page.Next
	}
}

var errNotDue = errors.New("not due")

func (l *Lifecycle) renewOne(ctx context.Context, sub *store.Subscription, now time.Time) error {
	ev, conn, err := l.Conns.ResolveEvent(ctx, sub.Tenant, sub.ConnectionID, sub.Event)
	if err != nil {
		return err
	}
	w := ev.Spec.Webhook
	if w == nil {
		return errNotDue
	}
	before := DefaultRenewBefore
	if w.RenewBefore.Duration > 0 {
		before = w.RenewBefore.Duration
	}
	if sub.RemoteExpiresAt.After(now.Add(before)) {
		return errNotDue
	}
	if ev.Compiled.Renew == nil {
		old := *sub
		if err := l.Subscribe(ctx, sub); err != nil {
			return err
		}
		if err := l.Unsubscribe(ctx, &old); err != nil {
			l.log().WarnContext(ctx, "webhook re-subscribed; the old registration was not removed", "subscription", sub.ID, "error", err)
		}
		return nil
	}
	webhook := map[string]any{"url": WebhookURL(l.PublicURL, sub, ev)}
	resp, err := l.Conns.SendEventRequest(ctx, sub.Tenant, sub.ConnectionID, sub.Event, "renew",
		map[string]any{compile.VarWebhook: webhook, compile.VarSubscription: remoteVar(sub)})
	if err != nil {
		return err
	}
	remote, expires, err := l.kept(ctx, ev, resp, webhook, conn, sub.Remote)
	if err != nil {
		return err
	}
	if !expires.After(now) {
		return fmt.Errorf("the app's renewed subscription expires at %s, not after now", expires.Format(time.RFC3339))
	}
	updated, err := l.Store.Tenant(sub.Tenant).Subscriptions().Update(ctx, sub.ID, func(s *store.Subscription) error {
		s.Remote, s.RemoteExpiresAt = remote, expires
		return nil
	})
	if err != nil {
		return err
	}
	*sub = *updated
	return nil
}

// RunRenewals calls RenewDue every interval (15 m when 0) until ctx ends.
func (l *Lifecycle) RunRenewals(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = 15 * time.Minute
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if rep, err := l.RenewDue(ctx, l.now()); err != nil && ctx.Err() == nil {
			l.log().WarnContext(ctx, "webhook renewals stopped early; retrying on the next round", "renewed", rep.Renewed, "failed", rep.Failed, "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
