package connections

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/membrane-dev/membrane"
	"github.com/membrane-dev/membrane/layers"
	"github.com/membrane-dev/membrane/runtime/engine"
	"github.com/membrane-dev/membrane/runtime/events"
	"github.com/membrane-dev/membrane/runtime/store"
	"github.com/membrane-dev/membrane/spec"
	"github.com/membrane-dev/membrane/spec/compile"
	"github.com/membrane-dev/membrane/spec/diag"
)

// ResolvedEvent is an event resolved through the layers that apply to one
// connection, with its record schema compiled.
type ResolvedEvent = events.ResolvedEvent

var _ events.WebhookConnections = (*Service)(nil)

// maxResolvedEvents bounds the resolved events kept; past it the cache
// starts over.
const maxResolvedEvents = 4096

// eventCache keeps resolved events by workspace, event and the content
// of the overrides that apply (parsed overrides are kept per revision, so
// an unchanged override is the same pointer).
type eventCache struct {
	mu sync.Mutex
	m  map[string]*ResolvedEvent
}

// ResolveEvent returns an event of a connection's connector resolved
// through the connection's overrides, and the connection with its
// secrets (for a signature's `credentials`). Resolutions are cached.
// ErrNotFound when the tenant has no such connection; an error naming the
// event when the connector has none of that key.
func (s *Service) ResolveEvent(ctx context.Context, tenant, connID, event string) (*ResolvedEvent, *store.Connection, error) {
	ws := s.ws()
	ts := s.st.Tenant(tenant)
	c, err := ts.Connections().Get(ctx, connID)
	if err != nil {
		return nil, nil, err
	}
	ovs, err := s.overridesFor(ctx, ws, ts, c.Connector, c.ID, c.AuthMode)
	if err != nil {
		return nil, nil, err
	}
	ev, err := s.resolveWebhookEvent(ws, c.Connector, event, ovs)
	return ev, c, err
}

func (s *Service) resolveWebhookEvent(ws *membrane.Workspace, connector, event string, ovs []*spec.ConnectionOverride) (*ResolvedEvent, error) {
	var key strings.Builder
	fmt.Fprintf(&key, "%p\x00%s\x00%s", ws, connector, event)
	for _, o := range ovs {
		fmt.Fprintf(&key, "\x00%p", o)
	}
	cache := &s.events
	cache.mu.Lock()
	r, ok := cache.m[key.String()]
	cache.mu.Unlock()
	if ok {
		return r, nil
	}
	le, diags := layers.ResolveEvent(ws.Spec, connector, event, ovs...)
	if err := diags.Err(); err != nil {
		return nil, err
	}
	if le == nil {
		return nil, fmt.Errorf("connector %q has no event %q", connector, event)
	}
	r = &ResolvedEvent{Layers: le, Spec: le.Event, Compiled: le.Compiled}
	if le.Record != nil {
		var sd diag.List
		r.RecordSchema = (&spec.Schema{Value: le.Record}).Compile(&sd)
		if err := sd.Err(); err != nil {
			return nil, err
		}
	}
	cache.mu.Lock()
	if cache.m == nil || len(cache.m) >= maxResolvedEvents {
		cache.m = map[string]*ResolvedEvent{}
	}
	cache.m[key.String()] = r
	cache.mu.Unlock()
	return r, nil
}

// SendEventRequest sends one request of an event's webhook (what:
// "subscribe", "renew" or "unsubscribe") on a connection, as Run sends an
// action's: through its overrides, auth and token refresh, rate limit and
// retries, with a redacted run log named "<event>/<what>". A disconnected
// connection is not used: *DisconnectedError. vars are the request's own
// variables (`webhook`, `subscription`). It returns the `response`
// variable.
func (s *Service) SendEventRequest(ctx context.Context, tenant, connID, event, what string, vars map[string]any) (map[string]any, error) {
	ws := s.ws()
	ts := s.st.Tenant(tenant)
	c, err := ts.Connections().Get(ctx, connID)
	if err != nil {
		return nil, err
	}
	if c.State == store.Disconnected {
		return nil, &DisconnectedError{ConnectionID: c.ID, Reason: c.LastError}
	}
	ovs, err := s.overridesFor(ctx, ws, ts, c.Connector, c.ID, c.AuthMode)
	if err != nil {
		return nil, err
	}
	ev, err := s.resolveWebhookEvent(ws, c.Connector, event, ovs)
	if err != nil {
		return nil, err
	}
	var call *compile.WebhookCall
	switch what {
	case "subscribe":
		call = ev.Compiled.Subscribe
	case "renew":
		call = ev.Compiled.Renew
	case "unsubscribe":
		call = ev.Compiled.Unsubscribe
	}
	if call == nil {
		return nil, fmt.Errorf("event %q of connector %q has no webhook.%s", event, c.Connector, what)
	}
	ec, err := s.engineConnection(ws, c, ovs, s.m)
	if err != nil {
		return nil, err
	}
	if call.Action != "" {
		return s.runEventAction(ctx, ws, ev, call, c, ec, event, what, vars)
	}
	req := call.Request
	start := time.Now()
	resp, res, runErr := ws.SendEventRequest(ctx, ev.Layers, req, *ec, vars, engine.RunOptions{})
	took := time.Since(start)
	rd := runRedactor(c, ec)
	lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.o.RunLogWait)
	defer cancel()
	var log []engine.Exchange
	if res != nil {
		log = redactLog(rd, res.Log)
	}
	if _, err := s.recordRun(WithOrigin(lctx, OriginWebhook), ts, c, rd, event+"/"+what, log, runErr, took); err != nil && runErr == nil {
		s.log.WarnContext(ctx, "webhook request ran but its run log was not saved", "tenant", tenant, "connection", connID, "event", event, "request", what, "error", err)
	}
	if runErr != nil {
		return nil, runErr
	}
	return resp, nil
}

// runEventAction runs the action a webhook call names, as Run runs any
// action (its own run log, auth and retries), with the input evaluated
// over vars. Its output is the `response` body, status 200, so that
// subscriptionId, keep and expiresAt read it as they read a request's.
func (s *Service) runEventAction(ctx context.Context, ws *membrane.Workspace, ev *ResolvedEvent, call *compile.WebhookCall, c *store.Connection, ec *engine.Connection, event, what string, vars map[string]any) (map[string]any, error) {
	in, err := ws.EventActionInput(ctx, ev.Layers, call, *ec, vars)
	if err != nil {
		return nil, fmt.Errorf("the input of action %q (webhook.%s of event %q): %w", call.Action, what, event, err)
	}
	res, err := s.Run(WithOrigin(ctx, OriginWebhook), c.Tenant, c.ID, call.Action, in, engine.RunOptions{})
	if err != nil {
		return nil, err
	}
	return map[string]any{"status": int64(200), "headers": map[string]string{}, "body": res.Output}, nil
}

// ConnectorEvents implements events.WebhookConnections: the connector's
// webhook events as the workspace defines them, without overrides.
func (s *Service) ConnectorEvents(connector string) []*ResolvedEvent {
	ws := s.ws()
	var out []*ResolvedEvent
	for _, key := range sortedEventKeys(ws.Spec.Events[connector]) {
		if ws.Spec.Events[connector][key].Webhook == nil {
			continue
		}
		ev, err := s.resolveWebhookEvent(ws, connector, key, nil)
		if err != nil {
			s.log.Warn("webhook event does not resolve", "connector", connector, "event", key, "error", err)
			continue
		}
		out = append(out, ev)
	}
	return out
}

func sortedEventKeys(m map[string]*spec.Event) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// RunAction implements events.WebhookConnections: Run, giving the output.
func (s *Service) RunAction(ctx context.Context, tenant, connID, action string, input any) (any, error) {
	res, err := s.Run(WithOrigin(ctx, OriginWebhook), tenant, connID, action, input, engine.RunOptions{})
	if err != nil {
		return nil, err
	}
	return res.Output, nil
}
