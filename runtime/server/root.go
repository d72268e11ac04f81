package server

import (
	"encoding/json"
	"html/template"
	"net/http"
	"runtime/debug"
	"strings"
	"sync"
)

// Version is the running binary's version: its module version when built
// from a tagged module, else the VCS revision it was built from, else
// "devel".
var Version = sync.OnceValue(func() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "devel"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			return "devel-" + s.Value[:12]
		}
	}
	return "devel"
})

// rootLink is one of the places GET / points to.
type rootLink struct {
	Href        string `json:"href"`
	Description string `json:"description"`
}

// rootInfo is GET /'s answer: what this server is, and where to go.
type rootInfo struct {
	Service string              `json:"service"`
	Version string              `json:"version"`
	Links   map[string]rootLink `json:"links"`
}

var rootLinks = map[string]rootLink{
	"openapi": {"/openapi.json", "The REST API's OpenAPI 3.1 document; every /v1 call takes a tenant token (membrane token mints one)."},
	"console": {"/console/", "The console: connectors, connections and run logs (an admin token)."},
	"connect": {"/connect", "The page users connect their accounts on (a tenant token in a link)."},
	"health":  {"/healthz", "200 while the process is up."},
	"ready":   {"/readyz", "200 while the store answers and the server is not stopping."},
}

var rootPage = template.Must(template.New("root").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Membrane</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem}code{font-size:.9em}</style>
</head><body>
<h1>Membrane</h1>
<p>This server runs Membrane {{.Version}}: its REST API is under <code>/v1</code>.</p>
<ul>{{range $name, $l := .Links}}
<li><a href="{{$l.Href}}"><code>{{$l.Href}}</code></a>: {{$l.Description}}</li>{{end}}
</ul>
</body></html>
`))

// root answers GET / with what this server is and links to the rest:
// HTML for a browser, JSON otherwise.
func (s *Server) root(w http.ResponseWriter, r *http.Request) {
	info := rootInfo{Service: "membrane", Version: Version(), Links: rootLinks}
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	if strings.Contains(r.Header.Get("Accept"), "text/html") {
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
		_ = rootPage.Execute(w, info)
		return
	}
	h.Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(info)
}
