package connect

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/membrane-dev/membrane/runtime/connections"
	"github.com/membrane-dev/membrane/runtime/internal/web"
	"github.com/membrane-dev/membrane/runtime/oauth"
	"github.com/membrane-dev/membrane/runtime/tenancy"
	"github.com/membrane-dev/membrane/spec"
)

// Options configure the connect page.
type Options struct {
	// Service connects accounts; its workspace (Service.Workspace) gives
	// the connectors' authorization URLs, which the page's
	// Content-Security-Policy lets a form continue to.
	Service *connections.Service
	// Verifier checks the tenant token the app puts in the link.
	Verifier *tenancy.Verifier
	// PublicURL is where browsers and providers reach the server; the OAuth
	// callback is PublicURL + "/connect/callback".
	PublicURL string
	// ReturnOrigins are the app's origins (the workspace's
	// connect.returnOrigins) a returnUrl may be on, besides PublicURL's.
	// While empty, loopback origins are allowed too, for development.
	ReturnOrigins []string
	// SessionKey signs the connect session cookie (HMAC-SHA256), at least
	// 32 bytes; replicas must share it.
	SessionKey []byte
	// SessionTTL bounds a connect session; default 30 minutes.
	SessionTTL time.Duration
	Logger     *slog.Logger
	// Now is the clock; nil is time.Now.
	Now func() time.Time
	// States keeps each OAuth link of Page.OAuthLink single-use: the
	// server's store (connections.NewStateStore), shared by replicas.
	// Without it OAuthLink fails.
	States oauth.StateStore
}

// MinSessionKeyLen is the shortest SessionKey accepted, in bytes.
const MinSessionKeyLen = 32

// DefaultSessionTTL is how long a connect session lasts by default.
const DefaultSessionTTL = 30 * time.Minute

type handler struct {
	o       Options
	log     *slog.Logger
	now     func() time.Time
	ttl     time.Duration
	public  *url.URL
	base    string // the page's path: PublicURL's path + "/connect"
	cookie  *web.Cookie
	links   *web.Signer
	origins *origins
	pages   *web.Pages
	mux     *http.ServeMux
}

// Page is the connect page's handler, for "/connect" and "/connect/"; its
// OAuthLink is what POST /v1/oauth/authorize answers with.
type Page struct{ h *handler }

func (p *Page) ServeHTTP(w http.ResponseWriter, r *http.Request) { p.h.ServeHTTP(w, r) }

// New returns the connect page.
func New(o Options) (*Page, error) {
	if o.Service == nil || o.Verifier == nil {
		return nil, errors.New("connect: Options.Service and Options.Verifier are required")
	}
	if len(o.SessionKey) < MinSessionKeyLen {
		return nil, fmt.Errorf("connect: Options.SessionKey has %d bytes; it needs at least %d", len(o.SessionKey), MinSessionKeyLen)
	}
	pu, err := url.Parse(strings.TrimSuffix(o.PublicURL, "/"))
	if err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" || pu.RawQuery != "" || pu.Fragment != "" {
		return nil, fmt.Errorf("connect: Options.PublicURL %q is not an absolute http(s) URL", o.PublicURL)
	}
	publicOrigin, err := spec.ParseOrigin(pu.Scheme + "://" + pu.Host)
	if err != nil {
		return nil, fmt.Errorf("connect: Options.PublicURL %q: %v", o.PublicURL, err)
	}
	og, err := newOrigins(publicOrigin, o.ReturnOrigins)
	if err != nil {
		return nil, err
	}
	h := &handler{o: o, log: o.Logger, now: o.Now, ttl: o.SessionTTL, public: pu, base: pu.Path + "/connect",
		links: web.NewSigner(o.SessionKey, "membrane connect link v1"), origins: og, mux: http.NewServeMux()}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.now == nil {
		h.now = time.Now
	}
	if h.ttl <= 0 {
		h.ttl = DefaultSessionTTL
	}
	// Over https the cookie is never sent in clear.
	h.cookie = sessionCookie(o.SessionKey, h.base, pu.Scheme == "https", h.now)
	if h.pages, err = parsePages(h.log); err != nil {
		return nil, err
	}
	h.mux.HandleFunc("GET /connect", h.get)
	h.mux.HandleFunc("POST /connect", h.post)
	h.mux.HandleFunc("GET /connect/callback", h.callback)
	h.mux.HandleFunc("GET /connect/authorize", h.openLink)
	h.mux.HandleFunc("GET /connect/style.css", serveCSS)
	h.mux.HandleFunc("GET /connect/embed.js", serveEmbed)
	h.mux.HandleFunc("GET /connect/opener.js", serveOpenerScript)
	h.mux.HandleFunc("/connect", h.notAllowed)
	h.mux.HandleFunc("/connect/", h.notFound)
	return &Page{h: h}, nil
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	securityHeaders.Set(w.Header())
	h.mux.ServeHTTP(w, r)
}

// redirectURI is the OAuth callback registered with providers.
func (h *handler) redirectURI() string {
	return h.public.Scheme + "://" + h.public.Host + h.base + "/callback"
}

func (h *handler) notFound(w http.ResponseWriter, r *http.Request) {
	h.message(w, r, http.StatusNotFound, messagePage{page: page{Title: "Page not found"},
		Text: "There is no such page. Open the connect page from the app you were using."})
}

func (h *handler) notAllowed(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Allow", "GET, HEAD, POST")
	h.message(w, r, http.StatusMethodNotAllowed, messagePage{page: page{Title: "Method not allowed"},
		Text: "The connect page answers GET and POST only."})
}
