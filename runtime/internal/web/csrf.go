package web

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"net/url"
)

// CSRFField is the form field that carries the CSRF token.
const CSRFField = "csrf"

// NewToken returns 32 random bytes in base64url: a session's CSRF token,
// or any other value that must not be guessed.
func NewToken() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails (crypto/rand, Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}

// ValidCSRF reports whether a parsed form carries the session's CSRF
// token, compared in constant time. An empty token is never valid, so a
// session without one accepts no form.
func ValidCSRF(r *http.Request, want string) bool {
	got := r.PostForm.Get(CSRFField)
	return got != "" && want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// ParseForm reads a submitted form of at most max bytes. The error means
// the form was too large or malformed: the sender's fault.
func ParseForm(w http.ResponseWriter, r *http.Request, max int64) error {
	r.Body = http.MaxBytesReader(w, r.Body, max)
	return r.ParseForm()
}

// SameOrigin reports whether a request's Origin header, when it has one,
// names the host the request was sent to. "null" (what a browser sends
// under Referrer-Policy: no-referrer, or from a sandboxed frame) names
// none, so it is refused.
func SameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		return true
	}
	u, err := url.Parse(o)
	return err == nil && u.Host != "" && u.Host == r.Host
}
