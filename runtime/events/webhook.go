package events

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/membrane-dev/membrane/layers"
	"github.com/membrane-dev/membrane/runtime/engine"
	"github.com/membrane-dev/membrane/runtime/events/verify"
	"github.com/membrane-dev/membrane/runtime/store"
	"github.com/membrane-dev/membrane/spec"
	"github.com/membrane-dev/membrane/spec/compile"
	"github.com/membrane-dev/membrane/spec/schema"
)

// ResolvedEvent is an event resolved through the layers that apply to one
// connection (or to none: the connector's own), with its record schema
// compiled.
type ResolvedEvent struct {
	Layers *layers.Event
	// Spec and Compiled are Layers' event and its compiled expressions.
	Spec     *spec.Event
	Compiled *compile.Event
	// RecordSchema validates a mapped record; nil when the event has none.
	RecordSchema *schema.Validator
}

// WebhookConnections is what webhook processing needs of the connection
// lifecycle (connections.Service implements it).
type WebhookConnections interface {
	// ResolveEvent resolves an event of a connection through its
	// overrides and returns the connection with its secrets.
	ResolveEvent(ctx context.Context, tenant, connID, event string) (*ResolvedEvent, *store.Connection, error)
	// ConnectorEvents are a connector's events that receive webhooks,
	// resolved without any connection's overrides: what a connector-wide
	// URL routes by.
	ConnectorEvents(connector string) []*ResolvedEvent
	// SendEventRequest sends the event's webhook request what
	// ("subscribe", "renew", "unsubscribe") on a connection and returns
	// the `response` variable.
	SendEventRequest(ctx context.Context, tenant, connID, event, what string, vars map[string]any) (map[string]any, error)
	// RunAction runs an action on a connection and returns its output
	// (the enrichment of an id-only payload).
	RunAction(ctx context.Context, tenant, connID, action string, input any) (any, error)
}

// Target is one subscription a webhook request is for, with its event
// and connection.
type Target struct {
	Sub   *store.Subscription
	Event *ResolvedEvent
	Conn  *store.Connection
}

// ErrUnknownRoute is a webhook request no active subscription takes: an
// unknown token, an unknown connector, or a payload whose connection key
// no subscription has.
var ErrUnknownRoute = errors.New("no subscription takes this webhook")

// maxRouteTargets bounds the subscriptions one connector-wide request is
// checked and processed for.
const maxRouteTargets = 64

// Webhooks routes, verifies and turns webhook requests into changes.
type Webhooks struct {
	Store store.Store
	Conns WebhookConnections
	// Now is the clock of signature timestamps and detected changes; nil
	// is time.Now.
	Now func() time.Time
	// Routes, when set, keeps RouteConnector's lookups for its TTL (the
	// ingress's; the inbox worker's Webhooks should have none).
	Routes *TTLCache[[]*store.Subscription]
	// Targets, when set, keeps TargetOf's resolutions within
	// RouteConnector, by subscription id.
	Targets *TTLCache[*Target]
	// AppSecrets gives a connector's app secrets by name, the `app` of
	// its signatures' secret (membrane.yaml's webhookSecrets, and the
	// OAuth client's secret as clientSecret); nil: none.
	AppSecrets func(connector string) map[string]string
}

// appVar is the `app` variable of a connector's signature secrets.
func (w *Webhooks) appVar(connector string) map[string]any {
	out := map[string]any{}
	if w.AppSecrets == nil {
		return out
	}
	for k, v := range w.AppSecrets(connector) {
		out[k] = v
	}
	return out
}

func (w *Webhooks) now() time.Time {
	if w.Now != nil {
		return w.Now()
	}
	return time.Now()
}

// TargetOf resolves a subscription's event and connection.
func (w *Webhooks) TargetOf(ctx context.Context, sub *store.Subscription) (*Target, error) {
	ev, conn, err := w.Conns.ResolveEvent(ctx, sub.Tenant, sub.ConnectionID, sub.Event)
	if err != nil {
		return nil, err
	}
	if ev.Compiled == nil || ev.Spec.Webhook == nil {
		return nil, fmt.Errorf("event %q of connector %q receives no webhooks: %w", sub.Event, sub.Connector, ErrUnknownRoute)
	}
	return &Target{Sub: sub, Event: ev, Conn: conn}, nil
}

// RouteConnector finds the active subscriptions a request to a
// connector-wide URL is for: for each webhook event of the connector with
// a connectionKey, the subscriptions whose RouteKey is the key the
// request gives. ErrUnknownRoute when there is none.
func (w *Webhooks) RouteConnector(ctx context.Context, connector string, req *verify.Request) ([]*Target, error) {
	var out []*Target
	rv := map[string]any{compile.VarRequest: req.Var()}
	for _, ev := range w.Conns.ConnectorEvents(connector) {
		if ev.Compiled.ConnectionKey == nil {
			continue
		}
		v, err := ev.Compiled.ConnectionKey.Eval(ctx, rv)
		if err != nil {
			// A payload of another shape (another event's): not this one's.
			continue
		}
		key := compile.ScalarText(v)
		if key == "" {
			continue
		}
		subs, err := w.Routes.Get(connector+"\x00"+ev.Spec.Key+"\x00"+key, func() ([]*store.Subscription, error) {
			return w.Store.SubscriptionsByRoute(ctx, connector, ev.Spec.Key, key)
		})
		if err != nil {
			return nil, err
		}
		for _, s := range subs {
			if len(out) == maxRouteTargets {
				break
			}
			t, err := w.Targets.Get(s.ID, func() (*Target, error) { return w.TargetOf(ctx, s) })
			if errors.Is(err, store.ErrNotFound) || errors.Is(err, ErrUnknownRoute) {
				continue
			}
			if err != nil {
				return nil, err
			}
			out = append(out, t)
		}
	}
	if len(out) == 0 {
		return nil, ErrUnknownRoute
	}
	return out, nil
}

// Verify checks a request's signature for a target (nil when its event
// has no signature check); *verify.Error when it fails.
func (w *Webhooks) Verify(ctx context.Context, t *Target, req *verify.Request) error {
	sig := t.Event.Compiled.Signature
	if sig == nil {
		return nil
	}
	vars := map[string]any{
		compile.VarSubscription: remoteVar(t.Sub),
		// The event's connector, not the connection's: a handshake on a
		// connector-wide URL is checked before any connection is known.
		compile.VarApp:         w.appVar(t.Event.Spec.Connector),
		compile.VarCredentials: orEmpty(t.Conn.Credentials),
		compile.VarConnection:  connectionVar(t.Conn),
		compile.VarTenant:      map[string]any{"key": t.Conn.Tenant},
	}
	return verify.Verify(ctx, sig, req, vars, w.now())
}

// Handshake reports whether a request is a verification request of the
// target's event and gives the reply: status, content type and body.
func Handshake(ctx context.Context, ev *ResolvedEvent, req *verify.Request) (ok bool, status int, contentType string, body []byte, err error) {
	ce := ev.Compiled
	if ce.HandshakeWhen == nil {
		return false, 0, "", nil, nil
	}
	rv := map[string]any{compile.VarRequest: req.Var()}
	v, err := ce.HandshakeWhen.Eval(ctx, rv)
	if err != nil || v != true {
		return false, 0, "", nil, nil // a push, not a handshake
	}
	status = http.StatusOK
	if h := ev.Spec.Webhook.Handshake; h != nil && h.Status != 0 {
		status = h.Status
	}
	out, err := ce.HandshakeBody.Eval(ctx, rv)
	if err != nil {
		return true, 0, "", nil, err
	}
	ct, b, err := replyBody(out)
	return true, status, ct, b, err
}

// Reply is the answer to a stored push: the event's response.
func Reply(ctx context.Context, ev *ResolvedEvent, req *verify.Request) (status int, contentType string, body []byte, err error) {
	status = http.StatusOK
	r := ev.Spec.Webhook.Response
	if r == nil {
		return status, "", nil, nil
	}
	if r.Status != 0 {
		status = r.Status
	}
	out, err := ev.Compiled.ResponseBody.Eval(ctx, map[string]any{compile.VarRequest: req.Var()})
	if err != nil {
		return 0, "", nil, err
	}
	ct, b, err := replyBody(out)
	return status, ct, b, err
}

func replyBody(v any) (string, []byte, error) {
	switch t := v.(type) {
	case nil:
		return "", nil, nil
	case string:
		return "text/plain; charset=utf-8", []byte(t), nil
	}
	b, err := json.Marshal(v)
	return "application/json", b, err
}

// SkippedRecord is a record of a payload that cannot become a change (no
// id, a type that is no change type, a mapped record its schema refuses):
// it is skipped and counted, the rest of the payload is processed.
type SkippedRecord struct {
	Index int
	Msg   string
}

func (e *SkippedRecord) Error() string {
	return fmt.Sprintf("record %d of the payload: %s", e.Index, e.Msg)
}

// Changes evaluates a request's records for a target: `records`, then per
// record `filter`, `id`, `type`, `updatedAt`, the enrichment action, the
// `record` mapping and the record schema. Records that cannot become a
// change are returned as *SkippedRecord, beside the changes; err is a
// failure worth retrying (the enrichment action failed) or a payload that
// cannot be read at all.
func (w *Webhooks) Changes(ctx context.Context, t *Target, req *verify.Request) (changes []Change, skipped []error, err error) {
	ce := t.Event.Compiled
	if req.BodyErr != nil {
		return nil, nil, req.BodyErr
	}
	rv := req.Var()
	list, err := ce.Records.Eval(ctx, map[string]any{compile.VarRequest: rv})
	if err != nil {
		return nil, nil, err
	}
	var recs []any
	switch l := list.(type) {
	case nil:
	case []any:
		recs = l
	case map[string]any:
		recs = []any{l} // one record per payload
	default:
		return nil, nil, fmt.Errorf("webhook.records gives %T, not a list of records", list)
	}
	conn, tenant := connectionVar(t.Conn), map[string]any{"key": t.Conn.Tenant}
	for i, raw := range recs {
		vars := map[string]any{compile.VarRecord: raw, compile.VarRequest: rv}
		c, ok, rerr, terr := w.change(ctx, t, vars, raw, conn, tenant)
		if terr != nil {
			return nil, nil, terr
		}
		if rerr != "" {
			skipped = append(skipped, &SkippedRecord{Index: i, Msg: rerr})
			continue
		}
		if ok {
			changes = append(changes, c)
		}
	}
	return changes, skipped, nil
}

// change makes one record's change; ok false when the filter leaves the
// record out, rerr when the record is unusable, terr when a retry may do.
func (w *Webhooks) change(ctx context.Context, t *Target, vars map[string]any, raw any, conn, tenant map[string]any) (c Change, ok bool, rerr string, terr error) {
	ce := t.Event.Compiled
	if ce.Filter != nil {
		v, err := ce.Filter.Eval(ctx, vars)
		if err != nil {
			return c, false, err.Error(), nil
		}
		if v != true {
			return c, false, "", nil
		}
	}
	idv, err := ce.ID.Eval(ctx, vars)
	if err != nil {
		return c, false, err.Error(), nil
	}
	c.RecordID = compile.ScalarText(idv)
	if c.RecordID == "" {
		return c, false, "it has no id (webhook.id gives an empty value)", nil
	}
	c.Type = Updated
	if ce.Type != nil {
		tv, err := ce.Type.Eval(ctx, vars)
		if err != nil {
			return c, false, err.Error(), nil
		}
		c.Type = ChangeType(compile.ScalarText(tv))
		if !slices.Contains(spec.ChangeTypes, string(c.Type)) {
			return c, false, fmt.Sprintf("webhook.type gives %q; want created, updated or deleted", c.Type), nil
		}
	}
	if ce.UpdatedAt != nil {
		uv, err := ce.UpdatedAt.Eval(ctx, vars)
		if err != nil {
			return c, false, err.Error(), nil
		}
		c.Version = compile.ScalarText(uv)
	}
	if c.Version == "" {
		c.Version = hashOf(raw)
	}
	if c.Type == Deleted {
		c.Version = DeletedVersion(c.Version)
	}
	mapRecord := func(record any) (any, error) {
		if t.Event.Compiled.Record == nil {
			return record, nil
		}
		return t.Event.Compiled.Record.Eval(ctx, map[string]any{
			compile.VarRecord: record, compile.VarConnection: conn, compile.VarTenant: tenant, compile.VarNow: w.now().UTC(),
		})
	}
	en := t.Event.Spec.Webhook.Enrich
	if c.Type == Deleted {
		// A deletion is not fetched; what the push says of the record is
		// kept when the mapping can read it.
		if en == nil {
			if m, err := mapRecord(raw); err == nil {
				c.Record = m
			}
		}
		return c, true, "", nil
	}
	record := raw
	if en != nil {
		input, err := ce.EnrichInput.Eval(ctx, vars)
		if err != nil {
			return c, false, err.Error(), nil
		}
		if input == nil {
			input = map[string]any{}
		}
		out, err := w.Conns.RunAction(ctx, t.Sub.Tenant, t.Sub.ConnectionID, en.Action, input)
		if engine.TypeOf(err) == engine.ErrNotFound {
			// Gone already: its deletion is a push of its own.
			return c, false, fmt.Sprintf("action %q finds no record %q", en.Action, c.RecordID), nil
		}
		if err != nil {
			return c, false, "", fmt.Errorf("enriching record %q with action %q: %w", c.RecordID, en.Action, err)
		}
		record = out
	}
	mapped, err := mapRecord(record)
	if err != nil {
		return c, false, err.Error(), nil
	}
	if s := t.Event.RecordSchema; s != nil {
		if err := s.Validate(mapped); err != nil {
			return c, false, "the mapped record does not match the event's record schema: " + violations(err), nil
		}
	}
	c.Record = mapped
	return c, true, "", nil
}

func violations(err error) string {
	vs := schema.Violations(err)
	if len(vs) == 0 {
		return err.Error()
	}
	out := ""
	for i, v := range vs {
		if i == 3 {
			out += fmt.Sprintf("; and %d more", len(vs)-3)
			break
		}
		if i > 0 {
			out += "; "
		}
		out += v.Pointer + ": " + v.Message
	}
	return out
}

// hashOf is the version of a record without updatedAt: a hash of its
// JSON (map keys sorted), so the same push twice is the same change.
func hashOf(v any) string {
	b, _ := json.Marshal(v)
	h := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(h[:16])
}

// SourceOf is where a target's changes come from.
func SourceOf(t *Target) Source {
	key := t.Sub.Event
	if t.Event.Layers.Universal != nil {
		key = t.Event.Layers.Universal.Key
	} else if t.Event.Spec != nil {
		key = t.Event.Spec.Key
	}
	return Source{Tenant: t.Sub.Tenant, ConnectionID: t.Sub.ConnectionID, Connector: t.Sub.Connector,
		Event: t.Sub.Event, TypeKey: key, SubscriptionID: t.Sub.ID}
}

// RequestOf rebuilds the `request` of a stored inbox entry, as the
// ingress saw it.
func RequestOf(e *store.InboxEntry) (*verify.Request, error) {
	u, err := url.Parse(e.URL)
	if err != nil {
		// The URL is not quoted: a subscription's URL holds its token.
		return nil, fmt.Errorf("inbox entry %s: its URL does not parse", e.ID)
	}
	r := &http.Request{Method: e.Method, URL: u, Header: http.Header(maps.Clone(e.Headers)), Host: u.Host}
	return verify.NewRequest(r, e.Body, u.Scheme+"://"+u.Host), nil
}

// remoteVar is a subscription's `subscription`: what the app answered.
func remoteVar(s *store.Subscription) map[string]any {
	if s == nil || s.Remote == nil {
		return map[string]any{}
	}
	return s.Remote
}

func connectionVar(c *store.Connection) map[string]any {
	return map[string]any{"id": c.ID, "name": c.Name, "parameters": orEmpty(c.Parameters), "info": orEmpty(c.Info)}
}
