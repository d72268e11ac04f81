package connect

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"
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
	Expiry       int64  `json:"exp"`
	CSRF         string `json:"csrf"`
	Link         string `json:"l,omitempty"` // the OAuth link it started from (link.go)
}

var (
	errNoSession      = errors.New("no connect session")
	errSessionExpired = errors.New("the connect session expired")
)

// sessionMAC signs a session's payload; the prefix keeps the key from
// signing anything else with the same bytes.
func (h *handler) sessionMAC(payload string) []byte {
	m := hmac.New(sha256.New, h.o.SessionKey)
	m.Write([]byte("membrane connect session v1\x00"))
	m.Write([]byte(payload))
	return m.Sum(nil)
}

func (h *handler) newSession(s session) (*session, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	s.CSRF = base64.RawURLEncoding.EncodeToString(b)
	s.Expiry = h.now().Add(h.ttl).Unix()
	return &s, nil
}

func (h *handler) encodeSession(s *session) (string, error) {
	b, err := json.Marshal(s)
	if err != nil {
		return "", err
	}
	payload := base64.RawURLEncoding.EncodeToString(b)
	return payload + "." + base64.RawURLEncoding.EncodeToString(h.sessionMAC(payload)), nil
}

// readSession returns the request's session. A session whose signature
// holds but which has expired comes back with errSessionExpired, so the
// user can still be sent back to the app.
func (h *handler) readSession(r *http.Request) (*session, error) {
	c, err := r.Cookie(cookieName)
	if err != nil || c.Value == "" {
		return nil, errNoSession
	}
	payload, sig, ok := strings.Cut(c.Value, ".")
	if !ok {
		return nil, errNoSession
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, h.sessionMAC(payload)) {
		return nil, errNoSession
	}
	b, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return nil, errNoSession
	}
	var s session
	if err := json.Unmarshal(b, &s); err != nil || s.Tenant == "" || s.Connector == "" || s.CSRF == "" {
		return nil, errNoSession
	}
	if h.now().Unix() >= s.Expiry {
		return &s, errSessionExpired
	}
	return &s, nil
}

// validCSRF compares a form's token with the session's in constant time.
func (s *session) validCSRF(token string) bool {
	return token != "" && subtle.ConstantTimeCompare([]byte(token), []byte(s.CSRF)) == 1
}

// secureCookie: over https the cookie is never sent in clear.
func (h *handler) secureCookie(r *http.Request) bool { return h.secure || r.TLS != nil }

func (h *handler) setSession(w http.ResponseWriter, r *http.Request, s *session) error {
	v, err := h.encodeSession(s)
	if err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: v, Path: h.base, MaxAge: int(h.ttl / time.Second),
		HttpOnly: true, Secure: h.secureCookie(r), SameSite: http.SameSiteLaxMode})
	return nil
}

// clearSession ends the session once the user leaves for good.
func (h *handler) clearSession(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: h.base, MaxAge: -1,
		HttpOnly: true, Secure: h.secureCookie(r), SameSite: http.SameSiteLaxMode})
}
