package console

import (
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/membrane-dev/membrane/runtime/connections"
	"github.com/membrane-dev/membrane/runtime/internal/web"
	"github.com/membrane-dev/membrane/runtime/store"
	"github.com/membrane-dev/membrane/runtime/tenancy"
)

// Options configure the console.
type Options struct {
	// Service runs actions and lists connections; the workspace shown is
	// its Workspace(), read at every request, so a reload shows at once.
	Service *connections.Service
	// Store lists tenants, run logs, destinations and deliveries.
	Store store.Store
	// Diagnostics is the development server's reloader; nil under serve,
	// where the workspace was validated once, at start.
	Diagnostics Source
	// Open serves the console without a token, for `membrane dev` on
	// loopback. Requests from another machine, or naming a host other than
	// a loopback one (DNS rebinding), are then refused.
	Open bool
	// Verifier checks the admin token of /console?token=… when not Open.
	Verifier *tenancy.Verifier
	// SessionKey signs the console session cookie (HMAC-SHA256), at least
	// 32 bytes; replicas must share it. When Open it may be empty: a
	// random key is made.
	SessionKey []byte
	// Minter, when given, mints the short-lived tenant token of a link to
	// the connect page; without one the console shows how to connect
	// through the API instead.
	Minter *tenancy.Minter
	// Secure marks the cookie Secure: the console is reached over https
	// (behind a proxy that terminates TLS, r.TLS does not say so).
	Secure bool
	Logger *slog.Logger
	// Health, when set, gives the front page's last hour per connector
	// and the connections by state (the server's metrics).
	Health HealthSource
	// Now is the clock; nil is time.Now.
	Now func() time.Time
}

// MinSessionKeyLen is the shortest SessionKey accepted, in bytes.
const MinSessionKeyLen = 32

// base is where the console is mounted.
const base = "/console"

type handler struct {
	o      Options
	log    *slog.Logger
	now    func() time.Time
	cookie *web.Cookie
	pages  *web.Pages
	mux    *http.ServeMux
}

// New returns the console's handler, to mount at "/console" and
// "/console/".
func New(o Options) (http.Handler, error) {
	if o.Service == nil || o.Store == nil {
		return nil, errors.New("console: Options.Service and Options.Store are required")
	}
	key := o.SessionKey
	switch {
	case !o.Open && o.Verifier == nil:
		return nil, errors.New("console: Options.Verifier is required unless Open")
	case !o.Open && len(key) < MinSessionKeyLen:
		return nil, fmt.Errorf("console: Options.SessionKey has %d bytes; it needs at least %d", len(key), MinSessionKeyLen)
	case len(key) == 0:
		key = make([]byte, 32)
		rand.Read(key)
	}
	h := &handler{o: o, log: o.Logger, now: o.Now, mux: http.NewServeMux()}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.now == nil {
		h.now = time.Now
	}
	h.cookie = sessionCookie(key, o.Secure, h.now)
	pages, err := parsePages(h.log)
	if err != nil {
		return nil, err
	}
	h.pages = pages
	m := h.mux
	m.HandleFunc("GET /console", h.entry)
	m.HandleFunc("GET /console/{$}", h.overview)
	m.HandleFunc("GET /console/connectors/{connector}", h.connector)
	m.HandleFunc("GET /console/connectors/{connector}/actions/{action}", h.action)
	m.HandleFunc("POST /console/connectors/{connector}/actions/{action}", h.run)
	m.HandleFunc("GET /console/connectors/{connector}/events/{event}", h.event)
	m.HandleFunc("GET /console/diagnostics", h.diagnostics)
	m.HandleFunc("GET /console/events", h.events)
	m.HandleFunc("GET /console/tenants", h.tenants)
	m.HandleFunc("GET /console/tenants/{tenant}", h.tenant)
	m.HandleFunc("GET /console/tenants/{tenant}/connect", h.connect)
	m.HandleFunc("GET /console/tenants/{tenant}/runs/{run}", h.runLog)
	m.HandleFunc("GET /console/destinations", h.destinations)
	m.HandleFunc("POST /console/destinations/{id}/{op}", h.setDestination)
	m.HandleFunc("GET /console/deliveries", h.deadLetters)
	m.HandleFunc("POST /console/deliveries/replay", h.replay)
	m.HandleFunc("GET /console/deliveries/{event}", h.deliveryLog)
	m.HandleFunc("POST /console/logout", h.logout)
	m.HandleFunc("/console/", h.notFound)
	return h, nil
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	securityHeaders.Set(w.Header())
	if h.o.Open && (!web.LoopbackHost(r.Host) || !web.LoopbackAddr(r.RemoteAddr)) {
		h.log.Warn("console: refused a request from or for a host that is not loopback", "host", r.Host, "remote", r.RemoteAddr)
		h.message(w, r, http.StatusForbidden, "Not on this address",
			"The development console answers on localhost only. Open it at http://localhost or http://127.0.0.1.")
		return
	}
	if serveStatic(w, r) {
		return
	}
	if r.Method == http.MethodGet && r.URL.Path == base && r.URL.Query().Has("token") {
		h.login(w, r)
		return
	}
	s, ok := h.authorize(w, r)
	if !ok {
		return
	}
	if r.Method == http.MethodPost && !h.checkPost(w, r, s) {
		return
	}
	h.mux.ServeHTTP(w, r.WithContext(withSession(r.Context(), s)))
}

// entry is /console without a token: the overview lives at /console/.
func (h *handler) entry(w http.ResponseWriter, r *http.Request) {
	http.Redirect(w, r, base+"/", http.StatusSeeOther)
}

func (h *handler) notFound(w http.ResponseWriter, r *http.Request) {
	h.message(w, r, http.StatusNotFound, "Page not found", "There is no such page in the console.")
}
