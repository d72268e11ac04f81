package console

import (
	"embed"
	"net/http"
	"strings"
)

// policy lets the page load its own style sheet and script, open its own
// event stream and fetch its own pages, and nothing else: no inline script
// or style, no framing, forms sent only to the console.
const policy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
	"form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

// setSecurityHeaders is what every response carries: no caching (pages
// hold a CSRF token and tenant data), no framing, and no Referer outside
// the console's origin. Not "no-referrer": the browser would then send
// "Origin: null" with the console's own forms, which checkPost refuses.
func setSecurityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", policy)
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
}

//go:embed static/console.css static/console.js
var staticFS embed.FS

var staticTypes = map[string]string{
	"console.css": "text/css; charset=utf-8",
	"console.js":  "text/javascript; charset=utf-8",
}

// serveStatic serves the style sheet and the script, to anyone: they hold
// nothing private, and the sign-in page needs its style too.
func serveStatic(w http.ResponseWriter, r *http.Request) bool {
	name, ok := strings.CutPrefix(r.URL.Path, base+"/static/")
	ctype := staticTypes[name]
	if !ok || ctype == "" || (r.Method != http.MethodGet && r.Method != http.MethodHead) {
		return false
	}
	b, err := staticFS.ReadFile("static/" + name)
	if err != nil {
		return false
	}
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Cache-Control", "no-cache")
	w.Write(b)
	return true
}
