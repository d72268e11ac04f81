package connections

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"time"

	"github.com/membrane-dev/membrane"
	"github.com/membrane-dev/membrane/layers"
	"github.com/membrane-dev/membrane/runtime/store"
	"github.com/membrane-dev/membrane/spec"
	"github.com/membrane-dev/membrane/spec/schema"
	"github.com/membrane-dev/membrane/spec/suggest"
)

// Subscriptions: a subscription is (tenant, connection, event) with its
// detection state.
//
//	Subscribe      polling event → NextRunAt now (+ a little jitter), its interval
//	               webhook event → a WebhookToken, then Subscriber.Subscribe at the app
//	               (a refusal deletes the subscription again: nothing is half made)
//	Pause          status paused, NextRunAt zero: no poll, pushes ignored; the app's
//	               webhook stays registered
//	Resume         status active, failures reset, a polling event due now (+ jitter)
//	Unsubscribe    Subscriber.Unsubscribe at the app first; when it fails the
//	               subscription is kept and an *UnsubscribeError returned, unless
//	               Force, which deletes it anyway and logs a warning
//	Delete (connection)  each subscription unsubscribed at the app first; a failure is
//	               logged as a warning and the connection deleted anyway: its
//	               credentials, the only means to retry, go with it
//	Create (connection)  the workspace's `subscriptions` for the connector are created
//	               in the connection's transaction; webhook ones are subscribed at the
//	               app after it commits (a failure is kept in the subscription's
//	               LastError and logged: the connection is created all the same)

// Subscriber registers a subscription's webhook at the app and removes it
// (the connector event's webhook subscribe and unsubscribe requests).
// Subscribe may set sub.RouteKey, sub.Remote and sub.RemoteExpiresAt: the
// service stores what it changed. Unsubscribe gets the subscription as
// stored, Remote included.
type Subscriber interface {
	Subscribe(ctx context.Context, sub *store.Subscription) error
	Unsubscribe(ctx context.Context, sub *store.Subscription) error
}

// Bounds of a subscription's own polling interval, and the interval of a
// polling event that gives none.
const (
	MinPollInterval     = time.Minute
	MaxPollInterval     = 24 * time.Hour
	DefaultPollInterval = 5 * time.Minute
)

// SubscriptionWebhookPath is the path of a subscription's own webhook URL,
// under the server's public URL.
func SubscriptionWebhookPath(token string) string { return "/webhooks/s/" + token }

// ErrUnknownEvent: the connection's connector has no such event.
var ErrUnknownEvent = errors.New("unknown event")

// SubscribeError is the app's refusal to register a subscription's
// webhook; nothing was kept.
type SubscribeError struct {
	Event string
	Err   error
}

func (e *SubscribeError) Error() string {
	return fmt.Sprintf("subscribing to %q at the app failed, so nothing was kept: %v", e.Event, e.Err)
}

func (e *SubscribeError) Unwrap() error { return e.Err }

// UnsubscribeError is the app's refusal to remove a subscription's
// webhook; the subscription was kept (delete it with Force to drop it
// anyway, leaving the app's webhook behind).
type UnsubscribeError struct {
	SubscriptionID string
	Err            error
}

func (e *UnsubscribeError) Error() string {
	return fmt.Sprintf("unsubscribing %s at the app failed, so it was kept: %v", e.SubscriptionID, e.Err)
}

func (e *UnsubscribeError) Unwrap() error { return e.Err }

// subscriberBox holds a Subscriber for an atomic pointer.
type subscriberBox struct{ s Subscriber }

// SetSubscriber sets what subscribes webhooks at the app; until it is
// set (or with nil), webhook subscriptions are stored but not registered
// at the app, and nothing is unregistered.
func (s *Service) SetSubscriber(sub Subscriber) { s.subscriber.Store(&subscriberBox{sub}) }

func (s *Service) currentSubscriber() Subscriber {
	if b := s.subscriber.Load(); b != nil {
		return b.s
	}
	return s.o.Subscriber
}

// SubscribeRequest subscribes a connection to an event.
type SubscribeRequest struct {
	// Event is the connector's event key, or the universal event it
	// implements.
	Event string
	// Interval between polls, MinPollInterval to MaxPollInterval; 0 is the
	// event's own. Only for a polling event.
	Interval time.Duration
}

// Delivery says how a subscription's changes are found.
type Delivery struct {
	// Polled: the event is polled, every Interval (the subscription's own
	// or the event's).
	Polled   bool
	Interval time.Duration
	// Webhook: the app pushes the event's changes.
	Webhook bool
}

// Delivery says how the workspace finds a subscription's changes now;
// zero when its event is gone from the workspace.
func (s *Service) Delivery(sub *store.Subscription) Delivery {
	e := layers.FindEvent(s.ws().Spec, sub.Connector, sub.Event)
	if e == nil {
		return Delivery{}
	}
	d := Delivery{Polled: e.Polling != nil, Webhook: e.Webhook != nil}
	if d.Polled {
		d.Interval = cmpDuration(sub.Interval, eventInterval(e))
	}
	return d
}

func cmpDuration(a, b time.Duration) time.Duration {
	if a != 0 {
		return a
	}
	return b
}

func eventInterval(e *spec.Event) time.Duration {
	if e.Polling != nil && e.Polling.Interval.Duration > 0 {
		return e.Polling.Interval.Duration
	}
	return DefaultPollInterval
}

// firstRun is when a new or resumed polling subscription is first due:
// now, plus up to a tenth of its interval (at most 30 s), so that many
// subscriptions made at once do not poll at once.
func firstRun(now time.Time, interval time.Duration) time.Time {
	spread := min(interval/10, 30*time.Second)
	if spread <= 0 {
		return now
	}
	return now.Add(rand.N(spread))
}

// resolveEvent resolves a connector's event through the overrides of a
// connection: an unknown event is ErrUnknownEvent with a suggestion, an
// override that breaks it an *OverrideError.
func (s *Service) resolveEvent(ws *membrane.Workspace, c *store.Connection, name string, ovs []*spec.ConnectionOverride) (*layers.Event, error) {
	if layers.FindEvent(ws.Spec, c.Connector, name) == nil {
		var keys []string
		for k, e := range ws.Spec.Events[c.Connector] {
			keys = append(keys, k)
			if e.Implements != "" {
				keys = append(keys, e.Implements)
			}
		}
		hint := suggest.DidYouMean(name, keys)
		if len(keys) == 0 {
			hint = "; it has no events"
		}
		return nil, &unknownError{msg: fmt.Sprintf("connector %q has no event %q%s", c.Connector, name, hint), sentinel: ErrUnknownEvent}
	}
	r, diags := layers.ResolveEvent(ws.Spec, c.Connector, name, ovs...)
	if diags.HasErrors() || r == nil {
		return nil, &OverrideError{Name: "the overrides of connection " + c.ID, Diagnostics: diags}
	}
	return r, nil
}

// newSubscription is the subscription r asks for on connection c, checked
// against the event as the connection's overrides leave it.
func (s *Service) newSubscription(ws *membrane.Workspace, c *store.Connection, r SubscribeRequest, ovs []*spec.ConnectionOverride) (*store.Subscription, error) {
	if r.Event == "" {
		return nil, &ValidationError{Message: "the request names no event",
			Violations: []schema.Violation{{Pointer: "/event", Message: "is required: the key of an event of the connection's connector, or of the universal event it implements"}}}
	}
	ev, err := s.resolveEvent(ws, c, r.Event, ovs)
	if err != nil {
		return nil, err
	}
	e := ev.Event
	if e.Polling == nil && e.Webhook == nil {
		return nil, invalidf("event %q of connector %q is neither polled nor pushed by webhook, so there is nothing to subscribe to", r.Event, c.Connector)
	}
	sub := &store.Subscription{Tenant: c.Tenant, ConnectionID: c.ID, Connector: c.Connector, Event: r.Event,
		Status: store.SubscriptionActive, Interval: r.Interval}
	if r.Interval != 0 {
		var msg string
		switch {
		case e.Polling == nil:
			msg = fmt.Sprintf("is only for a polled event; %q is pushed by the app's webhooks, so leave it out", r.Event)
		case r.Interval < MinPollInterval || r.Interval > MaxPollInterval:
			msg = fmt.Sprintf("must be from %s to %s (the event's own is %s); got %s", fmtDuration(MinPollInterval), fmtDuration(MaxPollInterval), fmtDuration(eventInterval(e)), fmtDuration(r.Interval))
		}
		if msg != "" {
			return nil, &ValidationError{Message: "the interval is invalid", Violations: []schema.Violation{{Pointer: "/interval", Message: msg}}}
		}
	}
	if e.Polling != nil {
		sub.NextRunAt = firstRun(s.now(), cmpDuration(r.Interval, eventInterval(e)))
	}
	return sub, nil
}

// fmtDuration writes a duration as a spec file would: "5m", "1h30m".
func fmtDuration(d time.Duration) string {
	out := d.String()
	for _, z := range []string{"m0s", "h0m"} {
		if len(out) > len(z) && out[len(out)-len(z):] == z {
			out = out[:len(out)-len(z)+1]
		}
	}
	return out
}

// FormatInterval writes an interval as spec files do ("5m", "1h30m").
func FormatInterval(d time.Duration) string { return fmtDuration(d) }

// Subscribe subscribes a connection to one of its connector's events. A
// webhook event is registered at the app (Subscriber) once stored; when
// the app refuses, the subscription is deleted again and a
// *SubscribeError returned. The connection already subscribed to the event
// (by its key or by its universal key) is store.ErrConflict.
func (s *Service) Subscribe(ctx context.Context, tenant, connID string, r SubscribeRequest) (*store.Subscription, error) {
	ws := s.ws()
	ts := s.st.Tenant(tenant)
	c, err := ts.Connections().Get(ctx, connID)
	if err != nil {
		return nil, err
	}
	if _, err := connectorOf(ws, c.Connector); err != nil {
		return nil, err
	}
	ovs, err := s.overridesFor(ctx, ws, ts, c.Connector, c.ID, c.AuthMode)
	if err != nil {
		return nil, err
	}
	sub, err := s.newSubscription(ws, c, r, ovs)
	if err != nil {
		return nil, err
	}
	if err := s.checkDuplicate(ctx, ws, ts, c, r.Event); err != nil {
		return nil, err
	}
	created, err := ts.Subscriptions().Create(ctx, *sub)
	if err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "subscription created", "tenant", tenant, "connection", c.ID, "subscription", created.ID, "event", created.Event)
	if layers.FindEvent(ws.Spec, c.Connector, r.Event).Webhook == nil {
		return created, nil
	}
	out, err := s.subscribeAtApp(ctx, ts, created)
	if err != nil {
		bctx, cancel := detached(ctx)
		defer cancel()
		if derr := ts.Subscriptions().Delete(bctx, created.ID); derr != nil && !isNotFound(derr) {
			s.log.WarnContext(ctx, "a subscription the app refused could not be deleted; delete it", "tenant", tenant,
				"subscription", created.ID, "error", derr)
		}
		return nil, &SubscribeError{Event: r.Event, Err: err}
	}
	return out, nil
}

// checkDuplicate refuses a second subscription of a connection to one
// event asked for by its other name (its key, or its universal key): the
// store only sees the names.
func (s *Service) checkDuplicate(ctx context.Context, ws *membrane.Workspace, ts store.TenantStore, c *store.Connection, name string) error {
	want := layers.FindEvent(ws.Spec, c.Connector, name)
	cursor := ""
	for {
		page, err := ts.Subscriptions().List(ctx, store.SubscriptionFilter{ConnectionID: c.ID, Cursor: cursor, Limit: 1000})
		if err != nil {
			return err
		}
		for _, sub := range page.Items {
			if sub.Event == name || layers.FindEvent(ws.Spec, c.Connector, sub.Event) == want {
				return fmt.Errorf("connection %s is already subscribed to event %q (as %s): %w", c.ID, want.Key, sub.ID, store.ErrConflict)
			}
		}
		if page.Next == "" {
			return nil
		}
		cursor = page.Next
	}
}

// subscribeAtApp registers a stored subscription's webhook at the app and
// stores what the Subscriber set (RouteKey, Remote, RemoteExpiresAt). Nil
// Subscriber: nothing to do.
func (s *Service) subscribeAtApp(ctx context.Context, ts store.TenantStore, sub *store.Subscription) (*store.Subscription, error) {
	sb := s.currentSubscriber()
	if sb == nil {
		return sub, nil
	}
	work := *sub
	if err := sb.Subscribe(ctx, &work); err != nil {
		return nil, err
	}
	if work.RouteKey == sub.RouteKey && reflect.DeepEqual(work.Remote, sub.Remote) && work.RemoteExpiresAt.Equal(sub.RemoteExpiresAt) {
		// Nothing set here (maybe the Subscriber stored it itself).
		return ts.Subscriptions().Get(ctx, sub.ID)
	}
	bctx, cancel := detached(ctx)
	defer cancel()
	return ts.Subscriptions().Update(bctx, sub.ID, func(cur *store.Subscription) error {
		if work.RouteKey != sub.RouteKey {
			cur.RouteKey = work.RouteKey
		}
		if !reflect.DeepEqual(work.Remote, sub.Remote) {
			cur.Remote = work.Remote
		}
		if !work.RemoteExpiresAt.Equal(sub.RemoteExpiresAt) {
			cur.RemoteExpiresAt = work.RemoteExpiresAt
		}
		return nil
	})
}

// ListSubscriptions pages through a connection's subscriptions, oldest
// first.
func (s *Service) ListSubscriptions(ctx context.Context, tenant, connID, cursor string, limit int) (store.Page[*store.Subscription], error) {
	ts := s.st.Tenant(tenant)
	if _, err := ts.Connections().Get(ctx, connID); err != nil {
		return store.Page[*store.Subscription]{}, err
	}
	return ts.Subscriptions().List(ctx, store.SubscriptionFilter{ConnectionID: connID, Cursor: cursor, Limit: limit})
}

// TenantSubscriptions pages through all of a tenant's subscriptions,
// oldest first.
func (s *Service) TenantSubscriptions(ctx context.Context, tenant, cursor string, limit int) (store.Page[*store.Subscription], error) {
	return s.st.Tenant(tenant).Subscriptions().List(ctx, store.SubscriptionFilter{Cursor: cursor, Limit: limit})
}

// GetSubscription returns a subscription of a connection; one of another
// connection (or tenant) is ErrNotFound.
func (s *Service) GetSubscription(ctx context.Context, tenant, connID, subID string) (*store.Subscription, error) {
	sub, err := s.st.Tenant(tenant).Subscriptions().Get(ctx, subID)
	if err != nil {
		return nil, err
	}
	if sub.ConnectionID != connID {
		return nil, store.ErrNotFound
	}
	return sub, nil
}

// errUnchanged leaves a subscription as it is.
var errUnchanged = errors.New("unchanged")

// PauseSubscription stops a subscription: it is not polled (NextRunAt
// zero) and the app's pushes for it are ignored, until ResumeSubscription.
// The app's webhook stays registered. Pausing a paused one changes nothing.
func (s *Service) PauseSubscription(ctx context.Context, tenant, connID, subID string) (*store.Subscription, error) {
	return s.setStatus(ctx, tenant, connID, subID, func(sub *store.Subscription) error {
		if sub.Status == store.SubscriptionPaused {
			return errUnchanged
		}
		sub.Status, sub.NextRunAt = store.SubscriptionPaused, time.Time{}
		return nil
	})
}

// ResumeSubscription runs a paused subscription again: a polled one is
// due now (plus jitter) with its failures forgotten. Resuming an active one
// changes nothing.
func (s *Service) ResumeSubscription(ctx context.Context, tenant, connID, subID string) (*store.Subscription, error) {
	return s.setStatus(ctx, tenant, connID, subID, func(sub *store.Subscription) error {
		if sub.Status == store.SubscriptionActive {
			return errUnchanged
		}
		e := layers.FindEvent(s.ws().Spec, sub.Connector, sub.Event)
		if e == nil {
			return invalidf("connector %q has no event %q any more, so subscription %s cannot run; delete it", sub.Connector, sub.Event, sub.ID)
		}
		sub.Status, sub.Failures = store.SubscriptionActive, 0
		sub.NextRunAt = time.Time{}
		if e.Polling != nil {
			sub.NextRunAt = firstRun(s.now(), cmpDuration(sub.Interval, eventInterval(e)))
		}
		return nil
	})
}

func (s *Service) setStatus(ctx context.Context, tenant, connID, subID string, fn func(sub *store.Subscription) error) (*store.Subscription, error) {
	ts := s.st.Tenant(tenant)
	out, err := ts.Subscriptions().Update(ctx, subID, func(sub *store.Subscription) error {
		if sub.ConnectionID != connID {
			return store.ErrNotFound
		}
		return fn(sub)
	})
	if errors.Is(err, errUnchanged) {
		return ts.Subscriptions().Get(ctx, subID)
	}
	if err == nil {
		s.log.InfoContext(ctx, "subscription "+string(out.Status), "tenant", tenant, "connection", connID, "subscription", subID)
	}
	return out, err
}

// UnsubscribeOptions tune Unsubscribe.
type UnsubscribeOptions struct {
	// Force deletes the subscription even when the app refuses to remove
	// its webhook (a warning is logged; the app may keep pushing to a URL
	// that now answers 404).
	Force bool
}

// Unsubscribe deletes a subscription, after removing its webhook at the
// app. When the app refuses, the subscription is kept and an
// *UnsubscribeError returned, unless o.Force.
func (s *Service) Unsubscribe(ctx context.Context, tenant, connID, subID string, o UnsubscribeOptions) error {
	ts := s.st.Tenant(tenant)
	sub, err := s.GetSubscription(ctx, tenant, connID, subID)
	if err != nil {
		return err
	}
	if err := s.unsubscribeAtApp(ctx, sub); err != nil {
		if !o.Force {
			return &UnsubscribeError{SubscriptionID: sub.ID, Err: err}
		}
		s.log.WarnContext(ctx, "the app refused to remove a subscription's webhook; deleting the subscription anyway (force), so the app may keep sending to a URL that no longer exists",
			"tenant", tenant, "connection", connID, "subscription", sub.ID, "connector", sub.Connector, "event", sub.Event, "error", err)
	}
	if err := ts.Subscriptions().Delete(ctx, sub.ID); err != nil {
		return err
	}
	s.log.InfoContext(ctx, "subscription deleted", "tenant", tenant, "connection", connID, "subscription", sub.ID, "event", sub.Event)
	return nil
}

// unsubscribeAtApp removes a subscription's webhook at the app, when it
// has one and a Subscriber is set.
func (s *Service) unsubscribeAtApp(ctx context.Context, sub *store.Subscription) error {
	sb := s.currentSubscriber()
	if sb == nil {
		return nil
	}
	e := layers.FindEvent(s.ws().Spec, sub.Connector, sub.Event)
	if sub.Remote == nil && (e == nil || e.Webhook == nil) {
		return nil
	}
	return sb.Unsubscribe(ctx, sub)
}

// unsubscribeConnection removes the app's webhooks of every subscription
// of a connection about to be deleted (of every connection of the tenant
// when connID is empty). A refusal is logged as a warning and does not
// stop the deletion.
func (s *Service) unsubscribeConnection(ctx context.Context, ts store.TenantStore, connID string) error {
	if s.currentSubscriber() == nil {
		return nil
	}
	what := "the connection"
	if connID == "" {
		what = "the tenant"
	}
	cursor := ""
	for {
		page, err := ts.Subscriptions().List(ctx, store.SubscriptionFilter{ConnectionID: connID, Cursor: cursor, Limit: 1000})
		if err != nil {
			return err
		}
		for _, sub := range page.Items {
			if err := s.unsubscribeAtApp(ctx, sub); err != nil {
				s.log.WarnContext(ctx, "the app refused to remove a subscription's webhook; "+what+" is deleted anyway, so the app may keep sending to a URL that no longer exists",
					"tenant", ts.Key(), "connection", sub.ConnectionID, "subscription", sub.ID, "connector", sub.Connector, "event", sub.Event, "error", err)
			}
		}
		if page.Next == "" {
			return nil
		}
		cursor = page.Next
	}
}

// UnsubscribeTenant removes at the apps the webhooks of every
// subscription of a tenant about to be deleted; a refusal is logged as a
// warning. The store deletes the subscriptions with the tenant.
func (s *Service) UnsubscribeTenant(ctx context.Context, tenant string) error {
	return s.unsubscribeConnection(ctx, s.st.Tenant(tenant), "")
}

// autoSubscribe creates, inside the transaction that creates connection c,
// the subscriptions the workspace's `subscriptions` lists for its
// connector.
func (s *Service) autoSubscribe(ctx context.Context, ws *membrane.Workspace, tx store.TenantStore, c *store.Connection) ([]*store.Subscription, error) {
	cfg := ws.Spec.Config
	if cfg == nil || len(cfg.Subscriptions[c.Connector]) == 0 {
		return nil, nil
	}
	ovs, err := s.overridesFor(ctx, ws, tx, c.Connector, c.ID, c.AuthMode)
	if err != nil {
		return nil, err
	}
	var out []*store.Subscription
	for _, name := range cfg.Subscriptions[c.Connector] {
		sub, err := s.newSubscription(ws, c, SubscribeRequest{Event: name}, ovs)
		if err != nil {
			return nil, fmt.Errorf("subscribing the new connection to %q as membrane.yaml asks: %w", name, err)
		}
		created, err := tx.Subscriptions().Create(ctx, *sub)
		if err != nil {
			return nil, fmt.Errorf("subscribing the new connection to %q as membrane.yaml asks: %w", name, err)
		}
		out = append(out, created)
	}
	return out, nil
}

// registerAutoSubscriptions subscribes at the app, once the connection is
// committed, the webhook subscriptions autoSubscribe made. A refusal is
// kept in the subscription's LastError and logged.
func (s *Service) registerAutoSubscriptions(ctx context.Context, ws *membrane.Workspace, tenant string, subs []*store.Subscription) {
	if len(subs) == 0 || s.currentSubscriber() == nil {
		return
	}
	ts := s.st.Tenant(tenant)
	for _, sub := range subs {
		if e := layers.FindEvent(ws.Spec, sub.Connector, sub.Event); e == nil || e.Webhook == nil {
			continue
		}
		if _, err := s.subscribeAtApp(ctx, ts, sub); err != nil {
			s.log.WarnContext(ctx, "subscribing a new connection's webhook at the app failed; the subscription keeps the error: delete it and subscribe again",
				"tenant", tenant, "connection", sub.ConnectionID, "subscription", sub.ID, "event", sub.Event, "error", err)
			bctx, cancel := detached(ctx)
			_, uerr := ts.Subscriptions().Update(bctx, sub.ID, func(cur *store.Subscription) error {
				cur.LastError = lastError(fmt.Errorf("subscribing at the app failed: %w", err))
				return nil
			})
			cancel()
			if uerr != nil {
				s.log.WarnContext(ctx, "keeping the error of a subscription failed", "subscription", sub.ID, "error", uerr)
			}
		}
	}
}
