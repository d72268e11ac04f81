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

// The page that continues to a consent page on the account's own
// subdomain names, in its form-action, the hosts the authorization URL's
// host policy allows, never any origin: CSP's *. for the policy's *, with
// the port the file writes; a pattern with a * further in widens only to
// the domain after it.
func TestConsentPageCSPNamesTheAllowedHosts(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	c := e.client()
	page := open(t, e, c, e.link(e.token(), "tenanted", e.app.URL+"/done"))
	if !strings.Contains(page.body, "Continue to Tenanted") {
		t.Fatalf("the form:\n%s", page.body)
	}
	csp := page.Header.Get("Content-Security-Policy")
	want := "form-action 'self' " + e.app.URL + " https://*.login.tenanted.example:8443 https://*.tenanted.example:8443;"
	if !strings.Contains(csp, want) {
		t.Fatalf("CSP %q, want %q", csp, want)
	}
	// A refused submission's page keeps the same policy.
	r := do(t, c, http.MethodPost, e.page.URL+"/connect", url.Values{"csrf": {csrfOf(t, page.body)}, "/parameters/subdomain": {"evil.com/"}})
	if r.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(r.Header.Get("Content-Security-Policy"), want) {
		t.Fatalf("refused: %d, CSP %q", r.StatusCode, r.Header.Get("Content-Security-Policy"))
	}
	// The redirect it allows is one the policy let through.
	r = do(t, c, http.MethodPost, e.page.URL+"/connect", url.Values{"csrf": {csrfOf(t, page.body)}, "/parameters/subdomain": {"acme"}})
	if r.StatusCode != http.StatusSeeOther || !strings.HasPrefix(r.Header.Get("Location"), "https://acme.login.tenanted.example:8443/authorize?") {
		t.Fatalf("continue: %d to %q\n%s", r.StatusCode, r.Header.Get("Location"), r.body)
	}

	// A tenant whose override file moves the consent page to a sandbox:
	// the form may continue there, and only there.
	c = e.client()
	page = open(t, e, c, e.link(e.tokenOf("sandboxco"), "tenanted", e.app.URL+"/done"))
	csp = page.Header.Get("Content-Security-Policy")
	if want := "form-action 'self' " + e.app.URL + " http://127.0.0.1:9;"; !strings.Contains(csp, want) {
		t.Fatalf("the sandbox tenant's CSP %q, want %q", csp, want)
	}
	r = do(t, c, http.MethodPost, e.page.URL+"/connect", url.Values{"csrf": {csrfOf(t, page.body)}, "/parameters/subdomain": {"acme"}})
	if r.StatusCode != http.StatusSeeOther || !strings.HasPrefix(r.Header.Get("Location"), "http://127.0.0.1:9/authorize?") {
		t.Fatalf("the sandbox tenant continues: %d to %q\n%s", r.StatusCode, r.Header.Get("Location"), r.body)
	}
}
