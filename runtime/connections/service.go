// Package connections is the connection lifecycle: creating a connection
// (API key or OAuth consent) after its credentials are checked, testing it,
// running actions on it with its stored overrides, and keeping its state —
// connected, error (retried here until it recovers) or disconnected (a
// human must re-authorise) — with an outbox event, in the same transaction,
// for every change the user's backend hears about.
//
// The REST API and the connect page call a Service; this package has no
// HTTP handlers.
//
// States and events (EventPayload, enqueued with the change):
//
//	Create, CompleteOAuth (new)          → connected     connection.created
//	Test/run refused (401; 403 on test)  → disconnected  connection.disconnected
//	OAuth refresh refused (invalid_grant) → disconnected  connection.disconnected
//	Test/Maintain: network, 5xx, 429     → error         (none: it recovers by itself)
//	Test, Maintain, or a run that works  → connected     connection.reconnected (from error or disconnected)
//	Reconnect, CompleteOAuth (existing)  → connected     connection.reconnected
//	Delete                                              connection.deleted
//
//	tokens, states := connections.NewTokenStore(st), connections.NewStateStore(st)
//	m, _ := oauth.New(oauth.Options{HTTP: client, Tokens: tokens, States: states,
//		Providers: connections.Providers(ws, clients)})
//	svc := connections.New(connections.Options{Store: st, Workspace: ws, OAuth: m, OAuthClients: clients})
//	c, err := svc.Create(ctx, "acme", connections.CreateRequest{Connector: "stripe", Credentials: creds})
//	res, err := svc.Run(ctx, "acme", c.ID, "create-contact", input, engine.RunOptions{})
//	go svc.Maintain(ctx)
package connections

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/membrane-dev/membrane"
	"github.com/membrane-dev/membrane/runtime/httpx"
	"github.com/membrane-dev/membrane/runtime/oauth"
	"github.com/membrane-dev/membrane/runtime/store"
	"github.com/membrane-dev/membrane/runtime/telemetry/tracing"
	"github.com/membrane-dev/membrane/spec"
	"github.com/membrane-dev/membrane/spec/schema"
	"github.com/membrane-dev/membrane/spec/suggest"
)

// Options configure a Service.
type Options struct {
	Store     store.Store
	Workspace *membrane.Workspace
	// OAuth runs the OAuth2 flows and refreshes tokens; nil when the
	// workspace has no OAuth2 connector (they then fail with
	// ErrOAuthUnavailable). Build it with NewTokenStore and NewStateStore
	// on the same Store, and Providers.
	OAuth *oauth.Manager
	// OAuthClients gives the OAuth application the operator registered
	// for a connector.
	OAuthClients func(connector string) (clientID, clientSecret string, ok bool)
	// HTTP sends the token request of a client-credentials connection
	// checked before it is saved (the shared OAuth manager cannot keep a
	// token for a connection that does not exist yet). Share the
	// workspace's client; nil makes one with safe defaults.
	HTTP *httpx.Client
	// Now is the clock of states, run logs and retries; nil is time.Now.
	Now    func() time.Time
	Logger *slog.Logger
	// RunLogRetention is how long run logs are kept; 0 keeps them.
	RunLogRetention time.Duration
	// RetryBase and RetryMax bound the backoff of connections in the error
	// state: retried RetryBase after the error, then twice as long after
	// each failed retry, up to RetryMax. Defaults 30 s and 1 h.
	RetryBase, RetryMax time.Duration
	// MaintainInterval is how often Maintain looks for work; default 15 s.
	MaintainInterval time.Duration
	// MaintainConcurrency bounds the connections retried at once; default 4.
	MaintainConcurrency int
	// RunLogWait is how long a run that ran keeps trying to save its run
	// log while the store is unavailable, before it fails with
	// *RunNotRecordedError; default 10 s.
	RunLogWait time.Duration
	// Subscriber registers subscriptions' webhooks at the apps (see
	// SetSubscriber); nil stores them without registering.
	Subscriber Subscriber
	// Tracer, when set, gives each run a span, with its store writes as
	// children; nil is off. Give the engine the same one.
	Tracer *tracing.Tracer
}

// Connection is a connection as callers see it. Get and List return it
// without its secrets (Credentials and Token are nil); marshalling one
// never shows them anyway.
type Connection = store.Connection

// Service is the connection lifecycle of one workspace over one store.
// Make one per process; it is safe for concurrent use.
type Service struct {
	o   Options
	st  store.Store
	cur atomic.Pointer[membrane.Workspace] // see SetWorkspace
	m   *oauth.Manager
	now func() time.Time
	log *slog.Logger

	schemas sync.Map // *spec.Connector → *connectorSchemas
	auths   authCache

	events eventCache // see ResolveEvent

	ovMu   sync.Mutex
	parsed map[string]parsedOverride // tenant/connector/connection → last parsed revision

	retryMu   sync.Mutex
	retries   map[string]*retryState // token key → backoff of an errored connection
	pruneMu   sync.Mutex
	lastPrune time.Time

	subscriber atomic.Pointer[subscriberBox] // see SetSubscriber
}

// New returns a Service.
func New(o Options) *Service {
	s := &Service{o: o, st: o.Store, m: o.OAuth, now: o.Now, log: o.Logger,
		parsed: map[string]parsedOverride{}, retries: map[string]*retryState{}}
	s.cur.Store(o.Workspace)
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.o.HTTP == nil {
		s.o.HTTP = httpx.New(httpx.Config{})
	}
	if s.o.RetryBase <= 0 {
		s.o.RetryBase = 30 * time.Second
	}
	if s.o.RetryMax <= 0 {
		s.o.RetryMax = time.Hour
	}
	s.o.RetryMax = max(s.o.RetryMax, s.o.RetryBase)
	if s.o.MaintainInterval <= 0 {
		s.o.MaintainInterval = 15 * time.Second
	}
	if s.o.MaintainConcurrency <= 0 {
		s.o.MaintainConcurrency = 4
	}
	if s.o.RunLogWait <= 0 {
		s.o.RunLogWait = 10 * time.Second
	}
	return s
}

// Event types the lifecycle enqueues in the outbox.
const (
	EventCreated      = "connection.created"
	EventReconnected  = "connection.reconnected"
	EventDisconnected = "connection.disconnected"
	EventDeleted      = "connection.deleted"
)

// EventPayload is the payload of every connection event.
type EventPayload struct {
	ConnectionID string                `json:"connectionId"`
	Tenant       string                `json:"tenant"`
	Connector    string                `json:"connector"`
	Name         string                `json:"name"`
	State        store.ConnectionState `json:"state"`
	// LastError says why a connection is disconnected.
	LastError string `json:"lastError,omitempty"`
	// Version orders the events of one connection: deliveries are retried
	// and may arrive out of order.
	Version int64 `json:"version"`
}

// Workspace is the workspace the service runs now.
func (s *Service) Workspace() *membrane.Workspace { return s.cur.Load() }

// SetWorkspace swaps the workspace, as a development server does when a
// spec file changes. Calls already under way finish with the one they
// started with; the next ones use ws. ws must share the store's meaning:
// connections of a connector it no longer has fail with
// ErrUnknownConnector.
func (s *Service) SetWorkspace(ws *membrane.Workspace) {
	if ws == nil {
		panic("connections: SetWorkspace(nil)")
	}
	s.cur.Store(ws)
}

// ws is the current workspace; a call takes it once and keeps it.
func (s *Service) ws() *membrane.Workspace { return s.cur.Load() }

// connector returns a workspace connector or ErrUnknownConnector.
func (s *Service) connector(key string) (*spec.Connector, error) { return connectorOf(s.ws(), key) }

// withMode returns the connector as one of its auth modes makes it: cn
// itself for its first mode, else a copy whose Auth is the mode's. An
// unknown mode is invalid input at /authMode, naming the modes there are.
// The first mode, named or not, is recorded as "" (canonicalMode).
func withMode(cn *spec.Connector, mode string) (*spec.Connector, error) {
	a := cn.AuthMode(mode)
	if a == nil && mode != "" {
		keys := cn.AuthModeKeys()
		msg := fmt.Sprintf("connector %q has no auth mode %q", cn.Key, mode)
		if len(keys) > 0 {
			msg += "; use one of " + strings.Join(keys, ", ") + suggest.DidYouMean(mode, keys)
		} else {
			msg += "; it takes no credentials"
		}
		return nil, invalid(cn, []schema.Violation{{Pointer: "/authMode", Message: msg}})
	}
	if a == cn.Auth {
		return cn, nil
	}
	c := *cn
	c.Auth = a
	return &c, nil
}

// canonicalMode is how a connection records its mode: "" for the
// connector's first, so that connections made before the connector had
// several modes and those made with its first share their plans.
func canonicalMode(cn *spec.Connector, mode string) string {
	if a := cn.AuthMode(mode); a != nil && a == cn.AuthMode("") {
		return ""
	}
	return mode
}

func connectorOf(ws *membrane.Workspace, key string) (*spec.Connector, error) {
	c := ws.Spec.Connectors[key]
	if c == nil {
		keys := make([]string, 0, len(ws.Spec.Connectors))
		for k := range ws.Spec.Connectors {
			keys = append(keys, k)
		}
		return nil, &unknownError{msg: fmt.Sprintf("unknown connector %q%s", key, suggest.DidYouMean(key, keys)), sentinel: ErrUnknownConnector}
	}
	return c, nil
}

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// newConnectionID makes an id of the store's form ("conn_" and 20 base32
// characters). It is chosen before the connection is saved, because the
// credentials are checked first and the engine keys a custom auth's login
// session by connection id: an empty id would share one session between
// every connection being created.
func newConnectionID() string { return newID("conn") }

// newID is prefix, "_" and 20 random base32 characters, as the store's
// own ids.
func newID(prefix string) string {
	b := make([]byte, 13)
	rand.Read(b)
	return prefix + "_" + idEncoding.EncodeToString(b)[:20]
}

// public returns a copy of c without its secrets.
func public(c *store.Connection) *Connection {
	if c == nil {
		return nil
	}
	out := *c
	out.Credentials, out.Token = nil, nil
	return &out
}

// detached gives bookkeeping that must happen after a run (its run log,
// its state) a context that outlives a caller who gave up.
func detached(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
}

// isNotFound reports a store ErrNotFound.
func isNotFound(err error) bool { return errors.Is(err, store.ErrNotFound) }
