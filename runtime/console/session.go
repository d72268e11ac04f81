package console

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

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
	Expiry  int64  `json:"exp"`
	CSRF    string `json:"csrf"`
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

// mac signs a payload; the prefix keeps the key from signing anything
// else with the same bytes.
func (h *handler) mac(payload string) []byte {
	m := hmac.New(sha256.New, h.key)
	m.Write([]byte("membrane console session v1\x00"))
	m.Write([]byte(payload))
	return m.Sum(nil)
}

func (h *handler) newSession(subject string, expiry time.Time) *session {
	b := make([]byte, 32)
	rand.Read(b)
	return &session{Subject: subject, Expiry: expiry.Unix(), CSRF: base64.RawURLEncoding.EncodeToString(b)}
}

func (h *handler) readSession(r *http.Request) *session {
	c, err := r.Cookie(cookieName)
	if err != nil {
		return nil
	}
	payload, sig, ok := strings.Cut(c.Value, ".")
	if !ok {
		return nil
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, h.mac(payload)) {
		return nil
	}
	b, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return nil
	}
	var s session
	if json.Unmarshal(b, &s) != nil || s.CSRF == "" || h.now().Unix() >= s.Expiry {
		return nil
	}
	if !h.o.Open && s.Subject == "" {
		return nil // an Open session does not sign in to a closed console
	}
	return &s
}

func (h *handler) setSession(w http.ResponseWriter, r *http.Request, s *session) {
	b, _ := json.Marshal(s)
	payload := base64.RawURLEncoding.EncodeToString(b)
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: payload + "." + base64.RawURLEncoding.EncodeToString(h.mac(payload)),
		Path: base, MaxAge: int(time.Until(time.Unix(s.Expiry, 0)) / time.Second), HttpOnly: true,
		Secure: h.o.Secure || r.TLS != nil, SameSite: http.SameSiteStrictMode})
}

func (h *handler) clearSession(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: base, MaxAge: -1, HttpOnly: true,
		Secure: h.o.Secure || r.TLS != nil, SameSite: http.SameSiteStrictMode})
}

// authorize returns the request's session. Open, a browser without one
// gets one (it carries the CSRF token); closed, it is a 401 page.
func (h *handler) authorize(w http.ResponseWriter, r *http.Request) (*session, bool) {
	if s := h.readSession(r); s != nil {
		return s, true
	}
	if h.o.Open {
		s := h.newSession("", h.now().Add(openSessionTTL))
		h.setSession(w, r, s)
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
		reason := "invalid token"
		var ue *tenancy.UnauthorizedError
		if errors.As(err, &ue) {
			reason = ue.Reason
		}
		h.log.Info("console: token refused", "reason", reason)
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
	h.setSession(w, r, h.newSession(claims.Tenant, exp))
	h.log.Info("console: signed in", "subject", claims.Tenant)
	http.Redirect(w, r, base+"/", http.StatusSeeOther)
}

// checkPost refuses a form sent from elsewhere: a foreign Origin, or a
// missing or wrong CSRF token.
func (h *handler) checkPost(w http.ResponseWriter, r *http.Request, s *session) bool {
	if o := r.Header.Get("Origin"); o != "" {
		if u, err := url.Parse(o); err != nil || u.Host != r.Host {
			h.log.Info("console: form refused: foreign origin")
			h.message(w, r, http.StatusForbidden, "This form was sent from elsewhere",
				"The form was not sent from this console. Nothing was run.")
			return false
		}
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		h.message(w, r, http.StatusBadRequest, "The form could not be read", "The form sent was too large or malformed.")
		return false
	}
	tok := r.PostForm.Get("csrf")
	if tok == "" || subtle.ConstantTimeCompare([]byte(tok), []byte(s.CSRF)) != 1 {
		h.log.Info("console: form refused: CSRF token missing or wrong")
		h.message(w, r, http.StatusForbidden, "This form has expired",
			"The form was not sent from this console, or your session changed. Reload the page and send it again. Nothing was run.")
		return false
	}
	return true
}

func (h *handler) logout(w http.ResponseWriter, r *http.Request) {
	h.clearSession(w, r)
	h.message(w, r, http.StatusOK, "Signed out", "You are signed out of the console.")
}

// loopbackHost reports whether a Host header names this machine.
func loopbackHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.ToLower(strings.TrimSuffix(strings.Trim(host, "[]"), "."))
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// loopbackRemote reports whether a request comes from this machine.
func loopbackRemote(addr string) bool {
	h, _, err := net.SplitHostPort(addr)
	if err != nil {
		h = addr
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}
