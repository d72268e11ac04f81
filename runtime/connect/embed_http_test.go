package connect_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// embed.js is a script another origin's page may load; opener.js, the
// popup's own, is not.
func TestEmbedScripts(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	c := e.client()
	for _, tc := range []struct{ path, corp, holds string }{
		{"/connect/embed.js", "cross-origin", "window.Membrane.connect = connect"},
		{"/connect/opener.js", "same-origin", "window.opener.postMessage(message, origin)"},
	} {
		path, corp := tc.path, tc.corp
		r := do(t, c, http.MethodGet, e.page.URL+path, nil)
		if r.StatusCode != http.StatusOK || r.Header.Get("Content-Type") != "text/javascript; charset=utf-8" ||
			r.Header.Get("X-Content-Type-Options") != "nosniff" || r.Header.Get("Cross-Origin-Resource-Policy") != corp {
			t.Errorf("GET %s: %d %v", path, r.StatusCode, r.Header)
		}
		if !strings.Contains(r.body, tc.holds) {
			t.Errorf("GET %s is not the script:\n%s", path, r.body)
		}
	}
}

// A link with an opener is held to the allowed origins, as a returnUrl
// is: a refused one keeps the page cut off from its opener and posts
// nothing; an allowed one starts a session whose pages keep the opener.
func TestOpenerLinks(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{returnOrigins: []string{"https://app.example.com"}})
	c := e.client()
	for _, tc := range []struct{ opener, returnURL, says string }{
		{"https://evil.example", "", "returnOrigins: [https://evil.example]"},
		{"https://app.example.com/path", "", "opener has a path"},
		{"javascript:alert(1)", "", "opener is not a URL"},
		{"ftp://app.example.com", "", "opener starts with neither https:// nor http://"},
		{"https://app.example.com", "https://app.example.com/done", "both opener and returnUrl"},
	} {
		extra := []string{"opener", tc.opener}
		r := do(t, c, http.MethodGet, e.link(e.token(), "keyed", tc.returnURL, extra...), nil)
		if r.StatusCode != http.StatusBadRequest || !strings.Contains(r.body, tc.says) {
			t.Errorf("opener %q returnUrl %q: %d, want 400 saying %q:\n%s", tc.opener, tc.returnURL, r.StatusCode, tc.says, r.body)
		}
		if r.Header.Get("Cross-Origin-Opener-Policy") != "same-origin" || strings.Contains(r.body, "opener.js") || len(r.Cookies()) != 0 {
			t.Errorf("opener %q: a refusal keeps COOP same-origin, posts nothing and starts no session: %v", tc.opener, r.Header)
		}
	}

	r := do(t, c, http.MethodGet, e.link(e.token(), "keyed", "", "opener", "https://APP.example.com:443"), nil)
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Cross-Origin-Opener-Policy") != "unsafe-none" {
		t.Fatalf("an allowed opener: %d %v\n%s", r.StatusCode, r.Header, r.body)
	}
	page := do(t, c, http.MethodGet, e.page.URL+"/connect", nil)
	if page.StatusCode != http.StatusOK || page.Header.Get("Cross-Origin-Opener-Policy") != "unsafe-none" || !strings.Contains(page.body, `name="cancel"`) {
		t.Fatalf("the form of an opener's session: %d %v\n%s", page.StatusCode, page.Header, page.body)
	}
	done := do(t, c, http.MethodPost, e.page.URL+"/connect", url.Values{"csrf": {csrfOf(t, page.body)}, "cancel": {"1"}})
	csp := done.Header.Get("Content-Security-Policy")
	if done.StatusCode != http.StatusOK || !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") ||
		!strings.Contains(done.body, `data-origin="https://app.example.com"`) || !strings.Contains(done.body, "access_denied") {
		t.Errorf("cancelling: %d CSP %q\n%s", done.StatusCode, csp, done.body)
	}
	e.noLeaks()
}
