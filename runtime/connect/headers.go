package connect

import (
	_ "embed"
	"net/http"

	"github.com/membrane-dev/membrane/runtime/internal/web"
)

// securityHeaders are on every response: a policy without any script,
// and no Referer (a URL of this page may have held a token or an OAuth
// code). A form's page names where its answer may redirect (showForm).
var securityHeaders = web.Headers{ReferrerPolicy: "no-referrer"}

//go:embed static/style.css
var styleCSS []byte

// serveCSS serves the page's style sheet; it may be cached, unlike pages.
func serveCSS(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	w.Write(styleCSS)
}
