package console

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"net/http"

	"github.com/membrane-dev/membrane/runtime/internal/schemaform"
)

//go:embed templates/*.html
var templateFS embed.FS

// pageNames are the pages; each is the layout with its own content.
var pageNames = []string{"overview", "connector", "action", "event", "diagnostics", "tenants", "tenant", "runlog", "message"}

func parsePages() (map[string]*template.Template, error) {
	out := map[string]*template.Template{}
	for _, name := range pageNames {
		t, err := template.New("layout.html").ParseFS(templateFS, "templates/layout.html", "templates/partials.html", "templates/"+name+".html")
		if err == nil {
			_, err = t.ParseFS(schemaform.FS, schemaform.Template)
		}
		if err != nil {
			return nil, fmt.Errorf("console: parsing the %s page: %w", name, err)
		}
		out[name] = t
	}
	return out, nil
}

// page is what the layout needs of every page.
type page struct {
	Title string
	// Error marks the title, so a screen reader hears it first.
	Error bool
	// Nav is the section the page belongs to, marked aria-current.
	Nav      string
	SignedIn bool
	CSRF     string
	// Events is the event stream the script listens to; empty without a
	// Source (serve).
	Events string
	Status statusView
}

func (p *page) layout() *page { return p }

type layouter interface{ layout() *page }

// render fills the layout's part of data and writes the page.
func (h *handler) render(w http.ResponseWriter, r *http.Request, status int, name string, data layouter) {
	p := data.layout()
	s := sessionOf(r)
	p.CSRF, p.SignedIn = s.CSRF, s.Subject != ""
	p.Status = h.status()
	if h.o.Diagnostics != nil {
		p.Events = base + "/events"
	}
	p.Error = p.Error || status >= 400
	var buf bytes.Buffer
	if err := h.pages[name].Execute(&buf, data); err != nil {
		h.log.Error("console: rendering a page", "page", name, "error", err)
		http.Error(w, "the page could not be shown", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

type messagePage struct {
	page
	Text string
}

// message renders a page that says one thing.
func (h *handler) message(w http.ResponseWriter, r *http.Request, status int, title, text string) {
	h.render(w, r, status, "message", &messagePage{page: page{Title: title}, Text: text})
}

// failed is a failure of the server: logged, and told plainly.
func (h *handler) failed(w http.ResponseWriter, r *http.Request, what string, err error) {
	h.log.Error("console: "+what, "error", err)
	h.message(w, r, http.StatusInternalServerError, "Something went wrong", "The console could not "+what+". The server log says why.")
}
