package connect_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// A region the token URL's host policy refuses is refused before the
// user is sent to consent: on the connect page, the form again with the
// error beside the field and no redirect; through POST
// /v1/oauth/authorize, a 422 at /parameters/region and no link. Nothing
// is refused later, at the code exchange, once the user has consented.
func TestOAuthParametersRefusedBeforeConsent(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	c := e.client()
	page := open(t, e, c, e.link(e.token(), "regional", e.app.URL+"/done"))
	if !strings.Contains(page.body, `name="/parameters/region"`) || !strings.Contains(page.body, "Continue to Regional") {
		t.Fatalf("the form:\n%s", page.body)
	}
	for _, v := range []string{"evil.com/", "127.0.0.1:8080#", "x@127.0.0.1/", "a.b"} {
		r := do(t, c, http.MethodPost, e.page.URL+"/connect", url.Values{"csrf": {csrfOf(t, page.body)}, "/parameters/region": {v}})
		if r.StatusCode != http.StatusUnprocessableEntity || r.Header.Get("Location") != "" ||
			!strings.Contains(r.body, "tokenUrl") || !strings.Contains(r.body, `aria-invalid="true"`) {
			t.Fatalf("region %q: %d, Location %q\n%s", v, r.StatusCode, r.Header.Get("Location"), r.body)
		}
	}
	r := do(t, c, http.MethodPost, e.page.URL+"/connect", url.Values{"csrf": {csrfOf(t, page.body)}, "/parameters/region": {"eu"}})
	if r.StatusCode != http.StatusSeeOther || !strings.HasPrefix(r.Header.Get("Location"), "http://127.0.0.1:9/authorize?") {
		t.Fatalf("a valid region: %d, Location %q\n%s", r.StatusCode, r.Header.Get("Location"), r.body)
	}

	var p struct {
		Type   string
		Errors []struct{ Pointer, Detail string }
	}
	code := e.call(http.MethodPost, "/v1/oauth/authorize", e.token(),
		map[string]any{"connector": "regional", "parameters": map[string]any{"region": "evil.com/"}}, &p)
	if code != http.StatusUnprocessableEntity || !strings.HasSuffix(p.Type, "/validation") || len(p.Errors) != 1 ||
		p.Errors[0].Pointer != "/parameters/region" || !strings.Contains(p.Errors[0].Detail, "tokenUrl") {
		t.Fatalf("POST /v1/oauth/authorize: %d %+v", code, p)
	}
	e.noLeaks()
}
