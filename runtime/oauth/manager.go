package oauth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/membrane-dev/membrane/runtime/httpx"
)

// Options configure a Manager.
type Options struct {
	// HTTP sends the token requests; nil makes a client with safe defaults
	// (public addresses only). Share the engine's.
	HTTP *httpx.Client
	// Tokens keeps the connections' tokens; required by authenticators.
	Tokens TokenStore
	// States keeps pending authorizations; required by Begin and Complete.
	States StateStore
	// Providers finds a connector's OAuth2 application, for Begin and
	// Complete, as the workspace leaves it for the tenant and connection
	// asked (an override file may move a sandbox's token URL): the same
	// Provider that refreshes the connection's tokens later.
	Providers func(ctx context.Context, r ProviderRequest) (*Provider, error)
	// StateSecret signs states (HMAC-SHA256), at least 32 bytes; replicas
	// must share it. Nil: a random one, so states die with the process.
	StateSecret []byte
	// StateTTL bounds the time from Begin to Complete; default 10 minutes.
	StateTTL time.Duration
	// RefreshMargin is the most a token is refreshed ahead of its expiry;
	// default DefaultRefreshMargin.
	RefreshMargin time.Duration
	// RefreshTimeout bounds one refresh, which runs on even when the caller
	// that started it gives up; default 60 s.
	RefreshTimeout time.Duration
	// Now is the clock; nil is time.Now.
	Now func() time.Time
	// Logger receives refreshes and failures, never a token; nil logs
	// nothing.
	Logger *slog.Logger
	// OnRefresh, when set, is told of every refresh this process makes:
	// the connector and the error (nil when a new token was saved), for
	// metrics. It must return at once.
	OnRefresh func(connector string, err error)
}

// Manager runs the OAuth2 flows of every connector and keeps the tokens of
// connections fresh. Make one per process and share it: it holds the
// refreshes in flight and the tokens last seen.
type Manager struct {
	o Options
	// once and replay send the token requests, over Options.HTTP: replay
	// resends after a failure the server may have seen, for the client
	// credentials grant only (see grant).
	once, replay *http.Client
	now          func() time.Time
	log          *slog.Logger
	secret       []byte

	mu      sync.Mutex
	flights map[string]*flight
	cache   map[string]*Token
	// refused is the hash of a connection's refresh token the provider
	// refused: no request is sent with it again until a new token is saved.
	refused map[string][32]byte
	// waitUntil holds off an early refresh after one failed.
	waitUntil map[string]time.Time
}

// flight is one refresh of a connection; those who arrive while it runs
// wait for its result instead of starting another.
type flight struct {
	done chan struct{}
	tok  *Token
	err  error
}

// New returns a Manager.
func New(o Options) (*Manager, error) {
	m := &Manager{
		o: o, now: o.Now, log: o.Logger, secret: o.StateSecret,
		flights:   map[string]*flight{},
		cache:     map[string]*Token{},
		refused:   map[string][32]byte{},
		waitUntil: map[string]time.Time{},
	}
	hc := o.HTTP
	if hc == nil {
		hc = httpx.New(httpx.Config{})
	}
	m.once = hc.HTTPClient(httpx.RetryPolicy{})
	m.replay = hc.HTTPClient(httpx.RetryPolicy{NonIdempotent: true})
	if m.now == nil {
		m.now = time.Now
	}
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	if m.secret == nil {
		m.secret = make([]byte, 32)
		rand.Read(m.secret)
	} else if len(m.secret) < 32 {
		return nil, errors.New("oauth: the state secret must be at least 32 bytes")
	}
	if m.o.StateTTL <= 0 {
		m.o.StateTTL = 10 * time.Minute
	}
	if m.o.RefreshMargin <= 0 {
		m.o.RefreshMargin = DefaultRefreshMargin
	}
	if m.o.RefreshTimeout <= 0 {
		m.o.RefreshTimeout = 60 * time.Second
	}
	return m, nil
}

// Forget drops what the manager remembers of a connection: call it when the
// connection is deleted, or re-authorised with a token saved elsewhere.
func (m *Manager) Forget(connID string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.cache, connID)
	delete(m.refused, connID)
	delete(m.waitUntil, connID)
}

func (m *Manager) cached(connID string) *Token {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cache[connID].clone()
}

func (m *Manager) remember(connID string, t *Token) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.cache[connID] = t.clone()
}

// load reads the stored token; nil when there is none.
func (m *Manager) load(ctx context.Context, connID string) (*Token, error) {
	t, err := m.o.Tokens.LoadToken(ctx, connID)
	if errors.Is(err, ErrNoToken) {
		return nil, nil
	}
	return t, err
}

// fly runs work as the connection's one refresh, or waits for the one under
// way. work runs detached from ctx: a caller that gives up must not abandon
// a refresh whose rotated token the provider may already have issued and
// that still has to be saved.
func (m *Manager) fly(ctx context.Context, connID string, work func(context.Context) (*Token, error)) (*Token, error) {
	m.mu.Lock()
	f := m.flights[connID]
	if f == nil {
		f = &flight{done: make(chan struct{})}
		m.flights[connID] = f
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), m.o.RefreshTimeout)
		go func() {
			defer cancel()
			tok, err := work(wctx)
			m.mu.Lock()
			f.tok, f.err = tok, err
			if err == nil && tok != nil {
				m.cache[connID] = tok.clone()
				delete(m.waitUntil, connID)
			}
			delete(m.flights, connID)
			m.mu.Unlock()
			close(f.done)
		}()
	}
	m.mu.Unlock()
	select {
	case <-f.done:
		return f.tok.clone(), f.err
	case <-ctx.Done():
		return nil, ctxError(ctx.Err(), "refreshing the token")
	}
}

func (m *Manager) refusedToken(connID, refresh string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	h, ok := m.refused[connID]
	return ok && h == sha256.Sum256([]byte(refresh))
}

func (m *Manager) refuse(connID, refresh string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.refused[connID] = sha256.Sum256([]byte(refresh))
	delete(m.cache, connID)
}

func (m *Manager) holdOff(connID string, until time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.waitUntil[connID] = until
}

func (m *Manager) holdingOff(connID string, now time.Time) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return now.Before(m.waitUntil[connID])
}
