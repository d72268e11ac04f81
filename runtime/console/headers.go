package console

import (
	"embed"
	"net/http"
	"strings"

	"github.com/membrane-dev/membrane/runtime/internal/web"
)

// securityHeaders are on every response. The policy lets the page load
// its own style sheet and script, open its own event stream and fetch its
// own pages, and nothing else. Referrer-Policy is "same-origin", not
// "no-referrer" as on the connect page: the browser would then send
// "Origin: null" with the console's own forms, which checkPost refuses.
var securityHeaders = web.Headers{CSP: web.CSP{Scripts: true, Fetch: true}, ReferrerPolicy: "same-origin"}

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
