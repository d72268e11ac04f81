package web

import (
	"bytes"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"path"
)

// Templates are template files in a file system.
type Templates struct {
	FS       fs.FS
	Patterns []string
}

// PageFiles say how the pages are made: each page is the layout's files,
// then its own file, <the layout's directory>/<name>.html (which defines
// what the layout calls), then the files every page may call.
type PageFiles struct {
	// FS holds the layout and the pages.
	FS fs.FS
	// Layout are the files common to every page; the first is the
	// template that runs.
	Layout []string
	// Names are the pages.
	Names []string
	// Shared are other template files every page may call (schemaform's).
	Shared []Templates
}

// Pages are the parsed pages of one handler.
type Pages struct {
	what  string
	log   *slog.Logger
	pages map[string]*template.Template
}

// ParsePages parses every page at once, so a broken template fails at
// start, not when someone opens the page. what names the handler in
// errors and logs ("connect", "console"); log gets the pages that fail to
// render.
func ParsePages(what string, pf PageFiles, log *slog.Logger) (*Pages, error) {
	if len(pf.Layout) == 0 {
		return nil, fmt.Errorf("%s: the pages have no layout", what)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p := &Pages{what: what, log: log, pages: map[string]*template.Template{}}
	dir := path.Dir(pf.Layout[0])
	for _, name := range pf.Names {
		files := append(append([]string{}, pf.Layout...), path.Join(dir, name+".html"))
		t, err := template.New(path.Base(pf.Layout[0])).ParseFS(pf.FS, files...)
		for _, s := range pf.Shared {
			if err == nil {
				_, err = t.ParseFS(s.FS, s.Patterns...)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("%s: parsing the %s page: %w", what, name, err)
		}
		p.pages[name] = t
	}
	return p, nil
}

// Render writes page name, made from data, with status. The page is made
// in full before anything is written, so a template that fails is a
// plain 500 (logged), never half a page.
func (p *Pages) Render(w http.ResponseWriter, status int, name string, data any) {
	var buf bytes.Buffer
	t := p.pages[name]
	err := fmt.Errorf("no page %q", name)
	if t != nil {
		err = t.Execute(&buf, data)
	}
	if err != nil {
		p.log.Error(p.what+": rendering a page", "page", name, "error", err)
		http.Error(w, "the page could not be shown", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}
