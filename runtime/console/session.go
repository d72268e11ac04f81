package console

import (
	"context"
	"net/http"
	"time"

	"github.com/membrane-dev/membrane/runtime/internal/web"
	"github.com/membrane-dev/membrane/runtime/tenancy"
)

// cookieName holds the console session, scoped to the console's path.
const cookieName = "membrane_console"

// MaxSessionTTL bounds a session: an admin token that lives longer still
// signs in for this long only.
const MaxSessionTTL = 12 * time.Hour

// openSessionTTL is the life of a session made without a token (Open):
// it only carries the CSRF token.
const openSessionTTL = 24 * time.Hour

// maxForm bounds a submitted form.
const maxForm = 256 << 10

// session is what the signed cookie holds: who signed in (the admin
// token's subject; empty when Open), until when, and the CSRF token of
// the console's forms. Signed, not encrypted: nothing in it is secret but
// the CSRF token, of no use without the cookie itself.
type session struct {
	Subject string `json:"sub,omitempty"`
	web.Expiry
	CSRF string `json:"csrf"`
}

type sessionKey struct{}

func withSession(ctx context.Context, s *session) context.Context {
	return context.WithValue(ctx, sessionKey{}, s)
}

func sessionOf(r *http.Request) *session {
	s, _ := r.Context().Value(sessionKey{}).(*session)
	if s == nil {
		return &session{}
	}
	return s
}

// sessionCookie is the console's. SameSite=Strict: the console is opened
// by its address or with an admin token in the URL, never by another
// site's link that needs the session, so no cross-site request carries
// it, not even a top-level GET (unlike the connect page's, which must be
// Lax).
func sessionCookie(key []byte, secure bool, now func() time.Time) *web.Cookie {
	return &web.Cookie{Name: cookieName, Path: base, SameSite: http.SameSiteStrictMode, Secure: secure,
		Signer: web.NewSigner(key, "membrane console session v1"), Now: now}
}

func newSession(subject string) *session {
	return &session{Subject: subject, CSRF: web.NewToken()}
}

func (h *handler) readSession(r *http.Request) *session {
	var s session
	if h.cookie.Read(r, &s) != nil || s.CSRF == "" {
		return nil
	}
	if !h.o.Open && s.Subject == "" {
		return nil // an Open session does not sign in to a closed console
	}
	return &s
}

// authorize returns the request's session. Open, a browser without one
// gets one (it carries the CSRF token); closed, it is a 401 page.
func (h *handler) authorize(w http.ResponseWriter, r *http.Request) (*session, bool) {
	if s := h.readSession(r); s != nil {
		return s, true
	}
	if h.o.Open {
		s := newSession("")
		if err := h.cookie.Set(w, r, s, h.now().Add(openSessionTTL)); err != nil {
			h.failed(w, r, "start a session", err)
			return nil, false
		}
		return s, true
	}
	h.message(w, r, http.StatusUnauthorized, "Sign in to the console",
		"The console needs an admin token. Make one with `membrane token --admin --tenant ops --ttl 1h` and open /console?token=<token>.")
	return nil, false
}

// login checks an admin token and moves it out of the URL: into a signed
// cookie, then 303 to the console without it. Why a token fails is logged,
// never shown.
func (h *handler) login(w http.ResponseWriter, r *http.Request) {
	if h.o.Open {
		http.Redirect(w, r, base+"/", http.StatusSeeOther)
		return
	}
	claims, err := h.o.Verifier.Verify(r.URL.Query().Get("token"))
	if err != nil {
		h.log.Info("console: token refused", "reason", tenancy.RefusalReason(err))
		h.message(w, r, http.StatusUnauthorized, "This link is not valid",
			"The token has expired or is not valid. Make a new admin token and open the console with it.")
		return
	}
	if !claims.Admin {
		h.log.Info("console: a tenant token was refused; an admin token is needed", "tenant", claims.Tenant)
		h.message(w, r, http.StatusForbidden, "Not allowed",
			"The console is for workspace administrators: open it with an admin token (membrane token --admin).")
		return
	}
	exp := h.now().Add(MaxSessionTTL)
	if !claims.ExpiresAt.IsZero() && claims.ExpiresAt.Before(exp) {
		exp = claims.ExpiresAt
	}
	if err := h.cookie.Set(w, r, newSession(claims.Tenant), exp); err != nil {
		h.failed(w, r, "start a session", err)
		return
	}
	h.log.Info("console: signed in", "subject", claims.Tenant)
	http.Redirect(w, r, base+"/", http.StatusSeeOther)
}

// checkPost refuses a form sent from elsewhere: a foreign Origin, or a
// missing or wrong CSRF token.
func (h *handler) checkPost(w http.ResponseWriter, r *http.Request, s *session) bool {
	if !web.SameOrigin(r) {
		h.log.Info("console: form refused: foreign origin")
		h.message(w, r, http.StatusForbidden, "This form was sent from elsewhere",
			"The form was not sent from this console. Nothing was run.")
		return false
	}
	if err := web.ParseForm(w, r, maxForm); err != nil {
		h.message(w, r, http.StatusBadRequest, "The form could not be read", "The form sent was too large or malformed.")
		return false
	}
	if !web.ValidCSRF(r, s.CSRF) {
		h.log.Info("console: form refused: CSRF token missing or wrong")
		h.message(w, r, http.StatusForbidden, "This form has expired",
			"The form was not sent from this console, or your session changed. Reload the page and send it again. Nothing was run.")
		return false
	}
	return true
}

func (h *handler) logout(w http.ResponseWriter, r *http.Request) {
	h.cookie.Clear(w, r)
	h.message(w, r, http.StatusOK, "Signed out", "You are signed out of the console.")
}
