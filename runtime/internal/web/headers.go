package web

import (
	"cmp"
	"net/http"
	"strings"
)

// CSP is a page's Content-Security-Policy. It starts from nothing
// (default-src 'none'): the page's own style sheet and images, no base
// URL, no framing; forms go to the page's own origin. Nothing inline is
// ever allowed, so the policy needs no nonces.
type CSP struct {
	// Scripts allows scripts from the page's own origin.
	Scripts bool
	// Fetch lets those scripts fetch from, and open event streams to, the
	// page's own origin.
	Fetch bool
	// FormTargets are origins a form may be sent to besides the page's
	// own. Chrome applies form-action to the redirects that follow a
	// submission too, so each origin a form's answer may redirect to must
	// be named.
	FormTargets []string
}

func (p CSP) String() string {
	var b strings.Builder
	b.WriteString("default-src 'none'")
	if p.Scripts {
		b.WriteString("; script-src 'self'")
	}
	b.WriteString("; style-src 'self'; img-src 'self'")
	if p.Fetch {
		b.WriteString("; connect-src 'self'")
	}
	b.WriteString("; form-action 'self'")
	for _, o := range p.FormTargets {
		b.WriteByte(' ')
		b.WriteString(o)
	}
	b.WriteString("; base-uri 'none'; frame-ancestors 'none'")
	return b.String()
}

// Headers are the security headers of every response of a page.
type Headers struct {
	CSP CSP
	// ReferrerPolicy is the page's choice ("no-referrer", "same-origin");
	// each page says why where it sets it. Empty is "no-referrer".
	ReferrerPolicy string
}

// Set writes the headers: the policy; no caching (pages hold a CSRF token
// and private data); no framing (clickjacking), in X-Frame-Options too for
// browsers without frame-ancestors; no MIME sniffing; and no window or
// resource shared with another origin.
func (hs Headers) Set(h http.Header) {
	h.Set("Content-Security-Policy", hs.CSP.String())
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", cmp.Or(hs.ReferrerPolicy, "no-referrer"))
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
}
