package connect

import (
	"errors"
	"net/http"
	"time"

	"github.com/membrane-dev/membrane/runtime/internal/web"
)

// cookieName holds the connect session. It is scoped to the page's path.
const cookieName = "membrane_connect"

// session is what a verified link leaves in the browser: who connects
// what, where to send them after, and the CSRF token of its forms. It is
// signed, not encrypted: it holds nothing secret but the CSRF token, which
// is of no use without the cookie itself.
type session struct {
	Tenant       string `json:"t"`
	Connector    string `json:"c"`
	ReturnURL    string `json:"r,omitempty"`
	ConnectionID string `json:"id,omitempty"`
	// AuthMode is the connector's auth mode being connected ("" for its
	// first): the link's `mode`, the user's pick, or a reconnected
	// connection's own.
	AuthMode string `json:"m,omitempty"`
	web.Expiry
	CSRF string `json:"csrf"`
	Link string `json:"l,omitempty"` // the OAuth link it started from (link.go)
	// Opener is the origin of the page that opened this window with
	// embed.js: the outcome is posted to it rather than redirected to a
	// returnUrl (embed.go).
	Opener string `json:"o,omitempty"`
}

var (
	errNoSession      = errors.New("no connect session")
	errSessionExpired = errors.New("the connect session expired")
)

// sessionCookie is the connect page's. SameSite=Lax, not Strict as the
// console's: the provider sends the browser back to /connect/callback from
// its own site, a cross-site top-level GET that must carry the session the
// flow began in (Strict would drop it, and every OAuth connection would
// end in invalid_state). Lax still keeps it off cross-site POSTs, and
// every form carries the session's CSRF token besides.
func sessionCookie(key []byte, path string, secure bool, now func() time.Time) *web.Cookie {
	return &web.Cookie{Name: cookieName, Path: path, SameSite: http.SameSiteLaxMode, Secure: secure,
		Signer: web.NewSigner(key, "membrane connect session v1"), Now: now}
}

// newSession gives s its CSRF token.
func newSession(s session) *session {
	s.CSRF = web.NewToken()
	return &s
}

// readSession returns the request's session. A session whose signature
// holds but which has expired comes back with errSessionExpired, so the
// user can still be sent back to the app.
func (h *handler) readSession(r *http.Request) (*session, error) {
	var s session
	err := h.cookie.Read(r, &s)
	if errors.Is(err, web.ErrInvalid) || s.Tenant == "" || s.Connector == "" || s.CSRF == "" {
		return nil, errNoSession
	}
	if err != nil {
		return &s, errSessionExpired
	}
	return &s, nil
}

// clearSession ends the session once the user leaves for good.
func (h *handler) clearSession(w http.ResponseWriter, r *http.Request) { h.cookie.Clear(w, r) }

// setSession starts the session in the browser, for the page's TTL.
func (h *handler) setSession(w http.ResponseWriter, r *http.Request, s *session) error {
	return h.cookie.Set(w, r, s, h.now().Add(h.ttl))
}
