package connect

import (
	_ "embed"
	"net/http"
	"strings"
)

// setSecurityHeaders is what every response carries: no caching (pages
// hold a CSRF token), no framing (clickjacking), no Referer (a URL may
// have held the token), and a CSP without any script.
func setSecurityHeaders(h http.Header) {
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Content-Security-Policy", csp(nil))
}

// csp is the page's policy. formTargets are origins a form may be sent
// to besides the page's own: Chrome applies form-action to the redirects
// that follow a submission too, so the returnUrl's origin and the
// provider's must be named. A list of just "*" drops form-action (a
// provider URL built from parameters has no origin to name).
func csp(formTargets []string) string {
	p := "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; frame-ancestors 'none'"
	if len(formTargets) == 1 && formTargets[0] == "*" {
		return p
	}
	return p + "; form-action 'self'" + prefixed(formTargets)
}

func prefixed(origins []string) string {
	var b strings.Builder
	for _, o := range origins {
		b.WriteByte(' ')
		b.WriteString(o)
	}
	return b.String()
}

//go:embed static/style.css
var styleCSS []byte

// serveCSS serves the page's style sheet; it may be cached, unlike pages.
func serveCSS(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	w.Write(styleCSS)
}
