package console

import (
	"embed"
	"log/slog"
	"net/http"

	"github.com/membrane-dev/membrane/runtime/internal/schemaform"
	"github.com/membrane-dev/membrane/runtime/internal/web"
)

//go:embed templates/*.html
var templateFS embed.FS

// pageNames are the pages; each is the layout with its own content.
var pageNames = []string{"overview", "connector", "action", "event", "diagnostics", "tenants", "tenant", "runlog", "message", "destinations", "deliveries", "deliverylog"}

func parsePages(log *slog.Logger) (*web.Pages, error) {
	return web.ParsePages("console", web.PageFiles{FS: templateFS,
		Layout: []string{"templates/layout.html", "templates/partials.html"}, Names: pageNames,
		Shared: []web.Templates{{FS: schemaform.FS, Patterns: []string{schemaform.Template}}}}, log)
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
	h.pages.Render(w, status, name, data)
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
