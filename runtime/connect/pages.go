package connect

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
var pageNames = []string{"form", "message"}

func parsePages() (map[string]*template.Template, error) {
	out := map[string]*template.Template{}
	for _, name := range pageNames {
		t, err := template.New("layout.html").ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html")
		if err == nil {
			_, err = t.ParseFS(schemaform.FS, schemaform.Template)
		}
		if err != nil {
			return nil, fmt.Errorf("connect: parsing the %s page: %w", name, err)
		}
		out[name] = t
	}
	return out, nil
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
	CSRF        string
	Sections    []formSection
	// Errors are the form's own (the API refused the credentials); Summary
	// links to every field in error too.
	Errors  []string
	Summary []summaryItem
	Submit  string
	// Cancel goes back to the app with error=access_denied.
	Cancel string
}

type summaryItem struct{ ID, Text string }

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
}

func (h *handler) render(w http.ResponseWriter, status int, name string, data any) {
	var buf bytes.Buffer
	if err := h.pages[name].Execute(&buf, data); err != nil {
		h.log.Error("connect: rendering a page", "page", name, "error", err)
		http.Error(w, "the page could not be shown", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// message renders a page that says one thing.
func (h *handler) message(w http.ResponseWriter, _ *http.Request, status int, m messagePage) {
	m.Base = h.base
	if m.Heading == "" {
		m.Heading = m.Title
	}
	m.page.Error = status >= 400
	h.render(w, status, "message", m)
}
