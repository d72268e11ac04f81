package web

import (
	"net/http"
	"time"
)

// Cookie is a session cookie holding a signed value: HttpOnly, scoped to
// its path, Secure over https.
type Cookie struct {
	Name string
	// Path scopes the cookie to the page that set it.
	Path string
	// SameSite is the page's choice; each page says why where it sets it.
	SameSite http.SameSite
	// Secure marks the cookie Secure on every response, for a page reached
	// over https behind a proxy that terminates TLS (r.TLS does not say
	// so). A request over TLS marks it Secure anyway.
	Secure bool
	Signer *Signer
	// Now is the clock; nil is time.Now.
	Now func() time.Time
}

func (c *Cookie) now() time.Time {
	if c.Now == nil {
		return time.Now()
	}
	return c.Now()
}

func (c *Cookie) secure(r *http.Request) bool { return c.Secure || r.TLS != nil }

// Set signs v with expiry exp and sets it; the browser keeps the cookie
// until exp too.
func (c *Cookie) Set(w http.ResponseWriter, r *http.Request, v Value, exp time.Time) error {
	s, err := c.Signer.Sign(v, exp)
	if err != nil {
		return err
	}
	// Rounded up: a Max-Age a second short of the signed expiry would
	// drop a session its signature still allows.
	maxAge := int((exp.Sub(c.now()) + time.Second - 1) / time.Second)
	if maxAge <= 0 {
		maxAge = -1
	}
	http.SetCookie(w, &http.Cookie{Name: c.Name, Value: s, Path: c.Path, MaxAge: maxAge,
		HttpOnly: true, Secure: c.secure(r), SameSite: c.SameSite})
	return nil
}

// Read returns the request's value into v, as Signer.Open does: a
// missing cookie is ErrInvalid.
func (c *Cookie) Read(r *http.Request, v Value) error {
	ck, err := r.Cookie(c.Name)
	if err != nil {
		return ErrInvalid
	}
	return c.Signer.Open(ck.Value, c.now(), v)
}

// Clear deletes the cookie, with the attributes it was set with.
func (c *Cookie) Clear(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: c.Name, Value: "", Path: c.Path, MaxAge: -1,
		HttpOnly: true, Secure: c.secure(r), SameSite: c.SameSite})
}
