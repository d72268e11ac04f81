// Package ingress is the public webhook endpoint of a Membrane server:
//
//	POST /webhooks/{connector}   one URL per connector, routed to its
//	                             subscriptions by the payload's connection key
//	POST /webhooks/s/{token}     one unguessable URL per subscription
//
// A request is checked in this order: size (413), content type (415),
// route (404), signature (401), body (400); a verification request the
// event's handshake recognises is answered and not stored; any other is
// appended to the store's webhook inbox, durably, and only then answered
// with the event's response. An inbox worker (events.InboxWorker) turns
// it into changes. No tenant token is asked: the signature and the
// unguessable URL are the credentials. Every refusal is counted
// (Counters) and answered with a short application/problem+json.
package ingress

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/membrane-dev/membrane/runtime/events"
	"github.com/membrane-dev/membrane/runtime/events/verify"
	"github.com/membrane-dev/membrane/runtime/store"
)

// DefaultMaxBody bounds a webhook body unless Options.MaxBody says.
const DefaultMaxBody = 1 << 20

// Options configure a Handler.
type Options struct {
	Store    store.Store
	Webhooks *events.Webhooks
	// PublicURL is where the apps reach the server; it gives `request.url`.
	PublicURL string
	// MaxBody bounds a body in bytes; DefaultMaxBody when 0.
	MaxBody int64
	// Stored is called after each Append (e.g. InboxWorker.Wake).
	Stored func()
	// CacheTTL is how long the routes of the ingress (a token's
	// subscription, its event and connection) are kept between lookups:
	// a pause or new credentials may take that long to show here (the
	// inbox worker looks again before processing). Default 1 s; negative
	// caches nothing.
	CacheTTL time.Duration
	Logger   *slog.Logger
}

// Counters count the requests of the ingress by outcome.
type Counters struct {
	Received       atomic.Int64
	Stored         atomic.Int64
	Handshakes     atomic.Int64
	TooLarge       atomic.Int64
	BadContentType atomic.Int64
	UnknownRoute   atomic.Int64
	BadSignature   atomic.Int64
	StaleTimestamp atomic.Int64
	Malformed      atomic.Int64
	Failed         atomic.Int64 // the store or an expression failed: 5xx
}

// Snapshot is the counters by name, for a status page or metrics.
func (c *Counters) Snapshot() map[string]int64 {
	return map[string]int64{
		"received": c.Received.Load(), "stored": c.Stored.Load(), "handshakes": c.Handshakes.Load(),
		"tooLarge": c.TooLarge.Load(), "badContentType": c.BadContentType.Load(), "unknownRoute": c.UnknownRoute.Load(),
		"badSignature": c.BadSignature.Load(), "staleTimestamp": c.StaleTimestamp.Load(), "malformed": c.Malformed.Load(),
		"failed": c.Failed.Load(),
	}
}

// Handler serves the webhook routes.
type Handler struct {
	o       Options
	mux     *http.ServeMux
	log     *slog.Logger
	targets *events.TTLCache[*events.Target]
	wh      *events.Webhooks // Options.Webhooks with a route cache
	// Counters of every request served.
	Counters Counters
}

// New returns a Handler.
func New(o Options) *Handler {
	if o.MaxBody <= 0 {
		o.MaxBody = DefaultMaxBody
	}
	if o.CacheTTL == 0 {
		o.CacheTTL = time.Second
	}
	notFound := func(err error) bool {
		return errors.Is(err, store.ErrNotFound) || errors.Is(err, events.ErrUnknownRoute)
	}
	wh := *o.Webhooks
	wh.Routes = &events.TTLCache[[]*store.Subscription]{TTL: o.CacheTTL}
	wh.Targets = &events.TTLCache[*events.Target]{TTL: o.CacheTTL, KeepErr: notFound}
	h := &Handler{o: o, mux: http.NewServeMux(), log: o.Logger, wh: &wh,
		targets: &events.TTLCache[*events.Target]{TTL: o.CacheTTL, KeepErr: notFound}}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	h.mux.HandleFunc("POST /webhooks/s/{token}", h.perSubscription)
	h.mux.HandleFunc("POST /webhooks/{connector}", h.connectorWide)
	// An app may check that a URL takes webhooks before it registers it
	// (Mandrill sends HEAD, and otherwise a signed test push): HEAD says
	// whether the route exists, and stores nothing.
	h.mux.HandleFunc("HEAD /webhooks/s/{token}", h.probeSubscription)
	h.mux.HandleFunc("HEAD /webhooks/{connector}", h.probeConnector)
	h.mux.HandleFunc("/webhooks/", func(w http.ResponseWriter, r *http.Request) {
		h.Counters.Received.Add(1)
		h.Counters.UnknownRoute.Add(1)
		w.Header().Set("Allow", http.MethodPost+", "+http.MethodHead)
		problem(w, http.StatusMethodNotAllowed, "method-not-allowed", "webhooks are POST /webhooks/{connector} or POST /webhooks/s/{token}")
	})
	return h
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// subscriptionTarget is the target of an active subscription's token;
// ErrUnknownRoute (or store.ErrNotFound) when none takes it.
func (h *Handler) subscriptionTarget(ctx context.Context, token string) (*events.Target, error) {
	return h.targets.Get(token, func() (*events.Target, error) {
		sub, err := h.o.Store.SubscriptionByToken(ctx, token)
		if err != nil {
			return nil, err
		}
		if sub.Status != store.SubscriptionActive {
			return nil, events.ErrUnknownRoute
		}
		return h.wh.TargetOf(ctx, sub)
	})
}

// probeSubscription answers HEAD on a subscription's URL: 200 when an
// active subscription takes it, 404 otherwise, as a push would be.
func (h *Handler) probeSubscription(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	_, err := h.subscriptionTarget(ctx, r.PathValue("token"))
	switch {
	case errors.Is(err, store.ErrNotFound) || errors.Is(err, events.ErrUnknownRoute):
		w.WriteHeader(http.StatusNotFound)
	case err != nil:
		h.log.ErrorContext(ctx, "webhook probe failed", "error", err)
		w.WriteHeader(http.StatusServiceUnavailable)
	default:
		w.WriteHeader(http.StatusOK)
	}
}

// probeConnector answers HEAD on a connector-wide URL: 200 when one of
// the connector's events routes pushes by a connection key.
func (h *Handler) probeConnector(w http.ResponseWriter, r *http.Request) {
	for _, ev := range h.wh.Conns.ConnectorEvents(r.PathValue("connector")) {
		if ev.Compiled.ConnectionKey != nil {
			w.WriteHeader(http.StatusOK)
			return
		}
	}
	w.WriteHeader(http.StatusNotFound)
}

// refusal is a request answered with a 4xx.
type refusal struct {
	status  int
	kind    string
	detail  string
	counter *atomic.Int64
}

func (h *Handler) refuse(w http.ResponseWriter, f *refusal) {
	f.counter.Add(1)
	problem(w, f.status, f.kind, f.detail)
}

// readBody reads the body within MaxBody.
func (h *Handler) readBody(w http.ResponseWriter, r *http.Request) ([]byte, *refusal) {
	if r.ContentLength > h.o.MaxBody {
		return nil, &refusal{http.StatusRequestEntityTooLarge, "too-large", "the body is larger than the webhook limit", &h.Counters.TooLarge}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.o.MaxBody))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return nil, &refusal{http.StatusRequestEntityTooLarge, "too-large", "the body is larger than the webhook limit", &h.Counters.TooLarge}
	}
	if err != nil {
		return nil, &refusal{http.StatusBadRequest, "malformed", "the body could not be read", &h.Counters.Malformed}
	}
	return body, nil
}

// defaultTypes are the media types a push may have unless its event
// lists others.
var defaultTypes = []string{"application/json", "application/x-www-form-urlencoded"}

func contentTypeOK(ct string, evs ...*events.ResolvedEvent) bool {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	for _, ev := range evs {
		allowed := defaultTypes
		if w := ev.Spec.Webhook; w != nil && len(w.ContentTypes) > 0 {
			allowed = w.ContentTypes
		}
		for _, a := range allowed {
			if strings.EqualFold(a, mt) || (a == "application/json" && strings.HasSuffix(mt, "+json")) {
				return true
			}
		}
	}
	return false
}

func badContentType(h *Handler) *refusal {
	return &refusal{http.StatusUnsupportedMediaType, "unsupported-media-type", "the content type is not one this webhook accepts", &h.Counters.BadContentType}
}

func unknownRoute(h *Handler) *refusal {
	return &refusal{http.StatusNotFound, "unknown-route", "no subscription takes this webhook", &h.Counters.UnknownRoute}
}

func (h *Handler) signatureRefusal(err error) *refusal {
	if errors.Is(err, verify.ErrStaleTimestamp) || errors.Is(err, verify.ErrFutureTimestamp) {
		return &refusal{http.StatusUnauthorized, "stale-timestamp", "the signed timestamp is outside the tolerance", &h.Counters.StaleTimestamp}
	}
	return &refusal{http.StatusUnauthorized, "bad-signature", "the signature does not verify", &h.Counters.BadSignature}
}

func (h *Handler) perSubscription(w http.ResponseWriter, r *http.Request) {
	h.Counters.Received.Add(1)
	ctx := r.Context()
	t, err := h.subscriptionTarget(ctx, r.PathValue("token"))
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, events.ErrUnknownRoute) {
		h.refuse(w, unknownRoute(h))
		return
	}
	if err != nil {
		h.fail(w, r, "looking the subscription up", err)
		return
	}
	sub := t.Sub
	body, f := h.readBody(w, r)
	if f != nil {
		h.refuse(w, f)
		return
	}
	if !contentTypeOK(r.Header.Get("Content-Type"), t.Event) {
		h.refuse(w, badContentType(h))
		return
	}
	req := verify.NewRequest(r, body, h.o.PublicURL)
	if err := h.wh.Verify(ctx, t, req); err != nil {
		h.refuse(w, h.signatureRefusal(err))
		return
	}
	if h.handshake(w, r, req, t.Event) {
		return
	}
	if req.BodyErr != nil {
		h.refuse(w, &refusal{http.StatusBadRequest, "malformed", req.BodyErr.Error(), &h.Counters.Malformed})
		return
	}
	h.store(w, r, req, t.Event, &store.InboxEntry{Connector: sub.Connector, Event: sub.Event, SubscriptionID: sub.ID, Tenant: sub.Tenant}, body)
}

func (h *Handler) connectorWide(w http.ResponseWriter, r *http.Request) {
	h.Counters.Received.Add(1)
	ctx := r.Context()
	connector := r.PathValue("connector")
	evs := h.wh.Conns.ConnectorEvents(connector)
	evs = slices.DeleteFunc(evs, func(ev *events.ResolvedEvent) bool { return ev.Compiled.ConnectionKey == nil })
	if len(evs) == 0 {
		h.refuse(w, unknownRoute(h))
		return
	}
	body, f := h.readBody(w, r)
	if f != nil {
		h.refuse(w, f)
		return
	}
	if !contentTypeOK(r.Header.Get("Content-Type"), evs...) {
		h.refuse(w, badContentType(h))
		return
	}
	req := verify.NewRequest(r, body, h.o.PublicURL)
	targets, err := h.wh.RouteConnector(ctx, connector, req)
	if errors.Is(err, events.ErrUnknownRoute) {
		// A verification request may carry no connection key: answered
		// when its event needs no connection to check its signature.
		for _, ev := range evs {
			if ok, _, _, _, _ := events.Handshake(ctx, ev, req); ok {
				vt := &events.Target{Sub: &store.Subscription{}, Event: ev, Conn: &store.Connection{}}
				if err := h.wh.Verify(ctx, vt, req); err != nil {
					h.refuse(w, h.signatureRefusal(err))
					return
				}
				h.handshake(w, r, req, ev)
				return
			}
		}
		h.refuse(w, unknownRoute(h))
		return
	}
	if err != nil {
		h.fail(w, r, "routing the webhook", err)
		return
	}
	var verified *events.Target
	var firstErr error
	for _, t := range targets {
		err := h.wh.Verify(ctx, t, req)
		if err == nil {
			verified = t
			break
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	if verified == nil {
		h.refuse(w, h.signatureRefusal(firstErr))
		return
	}
	if h.handshake(w, r, req, verified.Event) {
		return
	}
	if req.BodyErr != nil {
		h.refuse(w, &refusal{http.StatusBadRequest, "malformed", req.BodyErr.Error(), &h.Counters.Malformed})
		return
	}
	h.store(w, r, req, verified.Event, &store.InboxEntry{Connector: connector}, body)
}

// handshake answers a verification request; false when req is a push.
func (h *Handler) handshake(w http.ResponseWriter, r *http.Request, req *verify.Request, ev *events.ResolvedEvent) bool {
	ok, status, ct, body, err := events.Handshake(r.Context(), ev, req)
	if !ok {
		return false
	}
	if err != nil {
		h.refuse(w, &refusal{http.StatusBadRequest, "malformed", "the verification request lacks what the answer needs", &h.Counters.Malformed})
		return true
	}
	h.Counters.Handshakes.Add(1)
	reply(w, status, ct, body)
	return true
}

// store appends the request to the inbox, then answers.
func (h *Handler) store(w http.ResponseWriter, r *http.Request, req *verify.Request, ev *events.ResolvedEvent, e *store.InboxEntry, body []byte) {
	ctx := r.Context()
	status, ct, out, err := events.Reply(ctx, ev, req)
	if err != nil {
		h.fail(w, r, "building the reply", err)
		return
	}
	e.Method, e.URL, e.Body = r.Method, req.URL, body
	e.Headers = map[string][]string(r.Header.Clone())
	// The durable write outlives a caller who hangs up: once it is
	// started, it either commits or fails on its own.
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if _, err := h.o.Store.Inbox().Append(actx, e); err != nil {
		h.fail(w, r, "storing the webhook", err)
		return
	}
	h.Counters.Stored.Add(1)
	if h.o.Stored != nil {
		h.o.Stored()
	}
	reply(w, status, ct, out)
}

func (h *Handler) fail(w http.ResponseWriter, r *http.Request, what string, err error) {
	h.Counters.Failed.Add(1)
	// The path of a subscription's URL is its credential: never logged.
	route := r.URL.Path
	if strings.HasPrefix(route, "/webhooks/s/") {
		route = "/webhooks/s/…"
	}
	h.log.WarnContext(r.Context(), "webhook not taken: "+what, "route", route, "error", err)
	status := http.StatusInternalServerError
	if store.Unavailable(err) {
		status = http.StatusServiceUnavailable
		w.Header().Set("Retry-After", "5")
	}
	problem(w, status, "not-stored", "the webhook could not be taken; send it again")
}

func reply(w http.ResponseWriter, status int, ct string, body []byte) {
	if ct != "" {
		w.Header().Set("Content-Type", ct)
	}
	w.WriteHeader(status)
	w.Write(body)
}

// problem writes a short RFC 9457 problem; detail never holds a secret
// or the payload.
func problem(w http.ResponseWriter, status int, kind, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	b, _ := json.Marshal(map[string]any{
		"type": "https://membrane.dev/problems/webhook-" + kind, "title": http.StatusText(status), "status": status, "detail": detail,
	})
	w.Write(b)
}
