package web

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"
)

var pageFS = fstest.MapFS{
	"t/layout.html": {Data: []byte(`<title>{{.Title}}</title>{{template "content" .}}{{template "footer" .}}`)},
	"t/parts.html":  {Data: []byte(`{{define "footer"}}<footer>{{template "shared" .}}</footer>{{end}}`)},
	"t/hello.html":  {Data: []byte(`{{define "content"}}<p>{{.Text}}</p>{{end}}`)},
	"t/broken.html": {Data: []byte(`{{define "content"}}<p>{{.Text}}</p>{{.Missing.Field}}{{end}}`)},
	"s/shared.html": {Data: []byte(`{{define "shared"}}shared{{end}}`)},
}

type helloPage struct{ Title, Text string }

func parseTest(t *testing.T, log *slog.Logger, names ...string) *Pages {
	t.Helper()
	p, err := ParsePages("test", PageFiles{FS: pageFS, Layout: []string{"t/layout.html", "t/parts.html"}, Names: names,
		Shared: []Templates{{FS: pageFS, Patterns: []string{"s/shared.html"}}}}, log)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRender(t *testing.T) {
	p := parseTest(t, nil, "hello")
	rec := httptest.NewRecorder()
	p.Render(rec, http.StatusTeapot, "hello", helloPage{Title: "Hi", Text: "<script>x</script>"})
	body := rec.Body.String()
	if rec.Code != http.StatusTeapot || rec.Header().Get("Content-Type") != "text/html; charset=utf-8" {
		t.Errorf("%d %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	if body != "<title>Hi</title><p>&lt;script&gt;x&lt;/script&gt;</p><footer>shared</footer>" {
		t.Errorf("body %q: want the layout, the page and the shared template, escaped", body)
	}
}

// A page that fails to render is a plain 500, logged, never half a page.
func TestRenderFails(t *testing.T) {
	var logged bytes.Buffer
	p := parseTest(t, slog.New(slog.NewTextHandler(&logged, nil)), "broken")
	for _, name := range []string{"broken", "nope"} {
		logged.Reset()
		rec := httptest.NewRecorder()
		p.Render(rec, http.StatusOK, name, helloPage{Title: "Hi", Text: "partial"})
		if rec.Code != http.StatusInternalServerError || strings.Contains(rec.Body.String(), "partial") ||
			!strings.HasPrefix(rec.Header().Get("Content-Type"), "text/plain") {
			t.Errorf("%s: %d %q", name, rec.Code, rec.Body.String())
		}
		if !strings.Contains(logged.String(), "test: rendering a page") || !strings.Contains(logged.String(), "page="+name) {
			t.Errorf("%s: logged %q", name, logged.String())
		}
	}
}

// A broken template fails at start, naming the page.
func TestParsePagesFails(t *testing.T) {
	fsys := fstest.MapFS{"t/layout.html": {Data: []byte(`{{template "content" .}}`)}, "t/bad.html": {Data: []byte(`{{define "content"}}{{.X{{end}}`)}}
	_, err := ParsePages("test", PageFiles{FS: fsys, Layout: []string{"t/layout.html"}, Names: []string{"bad"}}, nil)
	if err == nil || !strings.Contains(err.Error(), "test: parsing the bad page") {
		t.Errorf("err %v", err)
	}
	_, err = ParsePages("test", PageFiles{FS: fsys, Layout: []string{"t/layout.html"}, Names: []string{"missing"}}, nil)
	if err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("a page without its file: %v", err)
	}
	if _, err = ParsePages("test", PageFiles{FS: fsys, Names: []string{"bad"}}, nil); err == nil {
		t.Error("no layout: no error")
	}
}
