package connect_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/membrane-dev/membrane/runtime/connections"
)

// TestAuthModeChoice connects to an app that offers OAuth2 consent and an
// API key: the page offers both, the user picks the API key, and the
// connection keeps that mode.
func TestAuthModeChoice(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	c := e.client()
	page := open(t, e, c, e.link(e.token(), "dual", ""))
	checkAccessible(t, page.body)
	for _, want := range []string{`aria-label="Ways to connect"`, `<strong aria-current="true">Sign in with Dual</strong>`, `href="/connect?mode=api-key">API key</a>`, "Continue to Dual"} {
		if !strings.Contains(page.body, want) {
			t.Errorf("the default (OAuth2) mode's page lacks %q:\n%s", want, page.body)
		}
	}
	if strings.Contains(page.body, `type="password"`) {
		t.Errorf("the OAuth2 mode asks for a key:\n%s", page.body)
	}

	picked := do(t, c, http.MethodGet, e.page.URL+"/connect?mode=api-key", nil)
	if picked.StatusCode != http.StatusOK || !strings.Contains(picked.body, `type="password"`) || !strings.Contains(picked.body, `<strong aria-current="true">API key</strong>`) {
		t.Fatalf("picking the API key: %d\n%s", picked.StatusCode, picked.body)
	}
	checkAccessible(t, picked.body)
	r := do(t, c, http.MethodPost, e.page.URL+"/connect", url.Values{"csrf": {csrfOf(t, picked.body)}, "/credentials/apiKey": {goodKey}})
	if r.StatusCode != http.StatusOK || !strings.Contains(r.body, "is connected") {
		t.Fatalf("connecting with the key: %d\n%s", r.StatusCode, r.body)
	}
	conns, err := e.svc.List(t.Context(), tenant, connections.ListRequest{})
	if err != nil || len(conns.Items) != 1 || conns.Items[0].AuthMode != "api-key" || conns.Items[0].Connector != "dual" {
		t.Fatalf("connections: %+v %v", conns.Items, err)
	}
	e.noLeaks(goodKey)

	// The app may pick the mode in its link; a mode the connector does not
	// have is the developer's mistake, said plainly.
	pre := open(t, e, e.client(), e.link(e.token(), "dual", "", "mode", "api-key"))
	if !strings.Contains(pre.body, `type="password"`) {
		t.Errorf("a link with mode=api-key does not open the key form:\n%s", pre.body)
	}
	bad := do(t, e.client(), http.MethodGet, e.link(e.token(), "dual", "", "mode", "password"), nil)
	if bad.StatusCode != http.StatusBadRequest || !strings.Contains(bad.body, "oauth, api-key") {
		t.Errorf("a link with an unknown mode: %d\n%s", bad.StatusCode, bad.body)
	}
}
