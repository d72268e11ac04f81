// Package api is Membrane's REST API: connections, running actions,
// overrides, run logs, the connector catalogue, tenants, and the delivery
// of events (destinations, deliveries and replay, the event log pulled by
// cursor or streamed as Server-Sent Events), as JSON over HTTP under /v1,
// every call authenticated by a tenant token. Its OpenAPI
// 3.1 document is served at /openapi.json.
//
//	mux.Handle("/v1/", api.New(api.Options{Service: svc, Store: st, Verifier: v, Logger: l}))
//	mux.Handle("GET /openapi.json", same handler)
//
// Errors are RFC 9457 problem details; errors.go maps the service's
// errors to statuses.
package api

import (
	"context"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/membrane-dev/membrane/runtime/connections"
	"github.com/membrane-dev/membrane/runtime/store"
	"github.com/membrane-dev/membrane/runtime/tenancy"
)

// Options configure the API.
type Options struct {
	Service  *connections.Service
	Store    store.Store
	Verifier *tenancy.Verifier
	// Logger gets one line per request, and the causes of 500s; nil is
	// slog.Default().
	Logger *slog.Logger
	// OAuthLinks begins OAuth consent for POST /v1/oauth/authorize: the
	// connect page (connect.Page), whose link binds the user's browser to
	// the flow before it goes to the provider. Nil turns the route off
	// (501).
	OAuthLinks OAuthLinks
	// PublicURL is where the server is reached from the outside: a
	// subscription's webhook URL is under it.
	PublicURL string
	// AllowPrivateNetworks are the networks a webhook destination made
	// through the API may point into (membrane.yaml's
	// delivery.allowPrivateNetworks); http is allowed only to them.
	AllowPrivateNetworks []netip.Prefix
	// RotationGrace is how long a rotated destination secret keeps
	// signing when the request names no grace; 0 is DefaultRotationGrace.
	RotationGrace time.Duration
	// StreamHeartbeat and StreamPoll tune GET /v1/events/stream; 0 is
	// DefaultStreamHeartbeat and DefaultStreamPoll.
	StreamHeartbeat, StreamPoll time.Duration
	// Shutdown, closed when the server begins to shut down, ends the event
	// streams (http.Server.Shutdown waits for them otherwise); their
	// clients reconnect with Last-Event-ID. Nil: streams end only with
	// their clients.
	Shutdown <-chan struct{}
	// Now is the clock; nil is time.Now.
	Now func() time.Time
	// Wake, when set, is called once a replay or an enabled destination
	// made deliveries due: the delivery workers' Kick, so that they are
	// sent now rather than at the workers' next poll.
	Wake func()
	// Observe, when set, is told of every request once answered: its
	// route pattern ("GET /v1/connections/{id}", never the raw path;
	// "" when no route matched), status and duration (metrics).
	Observe func(route string, status int, took time.Duration)
}

// OAuthLinks begins connecting an account of tenant through the
// provider's consent page and returns the link to send the user to. A
// *connections.ValidationError points into the request.
type OAuthLinks interface {
	OAuthLink(ctx context.Context, tenant string, r connections.BeginOAuthRequest) (string, error)
}

type api struct {
	svc       *connections.Service
	st        store.Store
	log       *slog.Logger
	oauthLink OAuthLinks
	publicURL string
	mux       *http.ServeMux

	allowPrivate    []netip.Prefix
	rotationGrace   time.Duration
	heartbeat, poll time.Duration
	shutdown        <-chan struct{}
	now             func() time.Time
	wake            func()
	observe         func(route string, status int, took time.Duration)

	methods []string // every method a route uses, for Allow
}

// New returns the API's handler: every route of routes, and
// GET /openapi.json without a token.
func New(o Options) http.Handler {
	if o.Service == nil || o.Store == nil || o.Verifier == nil {
		panic("api: New needs a Service, a Store and a Verifier")
	}
	a := &api{svc: o.Service, st: o.Store, log: o.Logger, oauthLink: o.OAuthLinks, mux: http.NewServeMux(),
		publicURL: strings.TrimSuffix(o.PublicURL, "/")}
	if a.log == nil {
		a.log = slog.Default()
	}
	a.allowPrivate, a.rotationGrace, a.shutdown, a.now = o.AllowPrivateNetworks, o.RotationGrace, o.Shutdown, o.Now
	a.heartbeat, a.poll, a.wake, a.observe = o.StreamHeartbeat, o.StreamPoll, o.Wake, o.Observe
	if a.wake == nil {
		a.wake = func() {}
	}
	if a.rotationGrace <= 0 {
		a.rotationGrace = DefaultRotationGrace
	}
	if a.heartbeat <= 0 {
		a.heartbeat = DefaultStreamHeartbeat
	}
	if a.poll <= 0 {
		a.poll = DefaultStreamPoll
	}
	if a.now == nil {
		a.now = time.Now
	}
	seen := map[string]bool{}
	for _, rt := range routes {
		var h http.Handler = a.handle(rt.handle)
		if rt.access == admin {
			h = tenancy.RequireAdmin(h)
		}
		if rt.access != public {
			h = tenancy.Middleware(o.Verifier, noteTenant(h), tenancy.WithLogger(a.log))
		}
		a.mux.Handle(rt.method+" "+rt.path, h)
		if !seen[rt.method] {
			seen[rt.method] = true
			a.methods = append(a.methods, rt.method)
		}
	}
	return a
}

// handle adapts a route's function to http.Handler.
func (a *api) handle(fn func(a *api, w http.ResponseWriter, r *http.Request)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fn(a, w, r) })
}

// noteTenant gives the request's log line the tenant the token named,
// before anything (RequireAdmin) may refuse it.
func noteTenant(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rec, ok := w.(*recorder); ok {
			if c, ok := tenancy.FromContext(r.Context()); ok {
				rec.tenant = c.Tenant
			}
		}
		next.ServeHTTP(w, r)
	})
}

func (a *api) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := &recorder{ResponseWriter: w, status: http.StatusOK}
	h := w.Header()
	// Responses hold one tenant's data: no shared cache may keep them.
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	_, pattern := a.mux.Handler(r)
	if pattern == "" {
		a.noRoute(rec, r)
	} else {
		a.mux.ServeHTTP(rec, r)
	}
	took := time.Since(start)
	if a.observe != nil {
		a.observe(pattern, rec.status, took)
	}
	// Never the query string or the body: either may hold a secret.
	a.log.LogAttrs(r.Context(), slog.LevelInfo, "api request",
		slog.String("method", r.Method),
		slog.String("route", pattern),
		slog.Int("status", rec.status),
		slog.Float64("durationMs", float64(took.Microseconds())/1000),
		slog.String("tenant", rec.tenant))
}

// noRoute answers a request no route matches: 405 with Allow when the
// path exists under other methods, else 404.
func (a *api) noRoute(w http.ResponseWriter, r *http.Request) {
	if r.ContentLength != 0 {
		// The body is not read: answer at once and close, rather than
		// let net/http read whatever the client still sends.
		w.Header().Set("Connection", "close")
	}
	var allow []string
	for _, m := range a.methods {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, p := a.mux.Handler(probe); p != "" {
			allow = append(allow, m)
		}
	}
	if len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		writeProblem(w, problem(http.StatusMethodNotAllowed, "method-not-allowed",
			r.Method+" is not allowed on this path; it takes "+strings.Join(allow, ", ")+"."))
		return
	}
	writeProblem(w, problem(http.StatusNotFound, "not-found", "No route matches "+r.Method+" "+r.URL.Path+". The routes are listed in /openapi.json."))
}

// recorder keeps the status and tenant of a request for its log line.
type recorder struct {
	http.ResponseWriter
	status int
	tenant string
	wrote  bool
}

func (rec *recorder) WriteHeader(status int) {
	if !rec.wrote {
		rec.status, rec.wrote = status, true
	}
	rec.ResponseWriter.WriteHeader(status)
}

func (rec *recorder) Write(b []byte) (int, error) {
	rec.wrote = true
	return rec.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (rec *recorder) Unwrap() http.ResponseWriter { return rec.ResponseWriter }
