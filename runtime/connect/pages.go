package connect

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
var pageNames = []string{"form", "message"}

func parsePages(log *slog.Logger) (*web.Pages, error) {
	return web.ParsePages("connect", web.PageFiles{FS: templateFS, Layout: []string{"templates/layout.html"}, Names: pageNames,
		Shared: []web.Templates{{FS: schemaform.FS, Patterns: []string{schemaform.Template}}}}, log)
}

// page is what the layout needs of every page.
type page struct {
	Title string
	// Base is the page's path, for the style sheet and the form.
	Base string
	// Error marks the title, so a screen reader hears it first.
	Error bool
}

// formSection is a fieldset of the form: the connection's settings, or
// its credentials. Its legend shows only when there are both.
type formSection struct {
	Legend string
	Fields []*schemaform.Field
}

type formPage struct {
	page
	Connector   string
	Description string
	Reconnect   bool
	OAuth       bool
	// Modes are the ways to connect when the connector offers several,
	// each a link that picks it.
	Modes    []modeChoice
	CSRF     string
	Sections []formSection
	// Errors are the form's own (the API refused the credentials); Summary
	// links to every field in error too.
	Errors  []string
	Summary []summaryItem
	Submit  string
	// Cancel goes back to the app with error=access_denied.
	Cancel string
	// CancelButton is Cancel in a popup: a submit button, whose answer
	// tells the opener.
	CancelButton bool
}

type summaryItem struct{ ID, Text string }

type modeChoice struct {
	Label, URL string
	Current    bool
}

type messagePage struct {
	page
	Heading string
	Text    string
	// Detail is a second paragraph; Code is shown as code (an origin, a
	// YAML snippet to add).
	Detail string
	Code   string
	// Link is where to go next, and its text.
	Link, LinkText string
	// Opener, when set, is posted to the window that opened this one
	// (opener.js).
	Opener *openerPost
}

// message renders a page that says one thing.
func (h *handler) message(w http.ResponseWriter, _ *http.Request, status int, m messagePage) {
	m.Base = h.base
	if m.Heading == "" {
		m.Heading = m.Title
	}
	m.page.Error = status >= 400
	h.pages.Render(w, status, "message", m)
}
