package api_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/membrane-dev/membrane/internal/apitest"
	"github.com/membrane-dev/membrane/runtime/store/storetest"
)

func connBody(key string) map[string]any {
	return map[string]any{"connector": "crm", "name": "Acme CRM", "parameters": map[string]any{"region": "eu"},
		"credentials": map[string]any{"apiKey": key}}
}

func TestConnections(t *testing.T) {
	forEachStore(t, func(t *testing.T, newDB storetest.NewDB) {
		c := newTC(t, newDB)
		acme := c.Token("acme")

		// Create: the test request proves the key, then 201 with Location.
		r := c.post("/v1/connections", acme, connBody(apitest.GoodKey))
		wantStatus(t, r, http.StatusCreated)
		conn := r.object(t)
		id := conn["id"].(string)
		if r.Header.Get("Location") != "/v1/connections/"+id {
			t.Fatalf("Location %q", r.Header.Get("Location"))
		}
		if conn["state"] != "connected" || conn["tenant"] != "acme" || conn["name"] != "Acme CRM" {
			t.Fatalf("created %s", r.Body)
		}
		if _, ok := conn["credentials"]; ok {
			t.Fatalf("credentials in the response: %s", r.Body)
		}

		// A key the API refuses: 422, nothing saved.
		p := wantProblem(t, c.post("/v1/connections", acme, connBody(apitest.BadKey)), http.StatusUnprocessableEntity, "credentials-refused")
		if e := p["error"].(map[string]any); e["type"] != "auth" || e["status"] != float64(401) {
			t.Fatalf("refusal error %v", e)
		}

		// Parameters and credentials that break the connector's schemas.
		p = wantProblem(t, c.post("/v1/connections", acme, map[string]any{"connector": "crm", "parameters": map[string]any{"region": "mars"},
			"credentials": map[string]any{"apiKey": "not-a-key-value"}}), http.StatusUnprocessableEntity, "validation")
		ptrs := pointers(p)
		if !slices.Contains(ptrs, "/parameters/region") || !slices.Contains(ptrs, "/credentials/apiKey") {
			t.Fatalf("pointers %v", ptrs)
		}
		p = wantProblem(t, c.post("/v1/connections", acme, map[string]any{"connector": "crmm"}), http.StatusUnprocessableEntity, "validation")
		if ptrs := pointers(p); !slices.Equal(ptrs, []string{"/connector"}) || !strings.Contains(p["detail"].(string), `"crm"`) {
			t.Fatalf("unknown connector: %v %v", ptrs, p["detail"])
		}
		wantProblem(t, c.post("/v1/connections", acme, map[string]any{"name": "x"}), http.StatusUnprocessableEntity, "validation")
		wantProblem(t, c.post("/v1/connections", acme, map[string]any{"connector": "oauthcrm"}), http.StatusConflict, "oauth-required")

		// Listing pages, oldest first; the connector filter narrows.
		for range 2 {
			wantStatus(t, c.post("/v1/connections", acme, connBody(apitest.GoodKey)), http.StatusCreated)
		}
		var page struct {
			Items []map[string]any `json:"items"`
			Next  string           `json:"next"`
		}
		c.get("/v1/connections?limit=2", acme).decode(t, &page)
		if len(page.Items) != 2 || page.Next == "" || page.Items[0]["id"] != id {
			t.Fatalf("first page %+v", page)
		}
		var rest struct {
			Items []map[string]any `json:"items"`
			Next  *string          `json:"next"`
		}
		c.get("/v1/connections?limit=2&cursor="+url.QueryEscape(page.Next), acme).decode(t, &rest)
		if len(rest.Items) != 1 || rest.Next != nil {
			t.Fatalf("last page %+v", rest)
		}
		c.get("/v1/connections?connector=oauthcrm", acme).decode(t, &page)
		if len(page.Items) != 0 {
			t.Fatalf("filtered %+v", page)
		}

		wantStatus(t, c.get("/v1/connections/"+id, acme), http.StatusOK)

		// Test, then a revoked key: the test disconnects, a run is refused.
		var tr struct {
			OK         bool           `json:"ok"`
			Connection map[string]any `json:"connection"`
			Error      map[string]any `json:"error"`
		}
		c.post("/v1/connections/"+id+"/test", acme, nil).decode(t, &tr)
		if !tr.OK || tr.Connection["state"] != "connected" {
			t.Fatalf("test %+v", tr)
		}
		r = c.post("/v1/connections/"+id+"/reconnect", acme, map[string]any{"credentials": map[string]any{"apiKey": apitest.NewKey}})
		wantStatus(t, r, http.StatusOK)
		c.Upstream.Revoke(apitest.NewKey)
		r = c.post("/v1/connections/"+id+"/test", acme, nil)
		wantStatus(t, r, http.StatusOK)
		r.decode(t, &tr)
		if tr.OK || tr.Connection["state"] != "disconnected" || tr.Error["type"] != "auth" {
			t.Fatalf("test of a revoked key %s", r.Body)
		}
		wantProblem(t, c.post("/v1/connections/"+id+"/actions/create-contact/run", acme, map[string]any{"input": map[string]any{"email": "a@b.c"}}),
			http.StatusConflict, "connection-disconnected")
		wantProblem(t, c.post("/v1/connections/"+id+"/reconnect", acme, map[string]any{"credentials": map[string]any{"apiKey": apitest.BadKey}}),
			http.StatusUnprocessableEntity, "credentials-refused")
		wantProblem(t, c.post("/v1/connections/"+id+"/reconnect", acme, map[string]any{}), http.StatusUnprocessableEntity, "validation")
		r = c.post("/v1/connections/"+id+"/reconnect", acme, map[string]any{"credentials": map[string]any{"apiKey": apitest.GoodKey}})
		wantStatus(t, r, http.StatusOK)
		if r.object(t)["state"] != "connected" {
			t.Fatalf("reconnected %s", r.Body)
		}

		// Delete: 204, then gone.
		wantStatus(t, c.do(req{method: "DELETE", path: "/v1/connections/" + id, token: acme}), http.StatusNoContent)
		wantProblem(t, c.get("/v1/connections/"+id, acme), http.StatusNotFound, "not-found")
		wantProblem(t, c.do(req{method: "DELETE", path: "/v1/connections/" + id, token: acme}), http.StatusNotFound, "not-found")

		c.neverShown(apitest.GoodKey, apitest.NewKey, apitest.BadKey)
	})
}

// POST /v1/oauth/authorize answers with a link to the connect page, which
// starts a connect session in the browser that opens it and, on its
// Continue button, sends it to the provider's consent URL: PKCE, a state,
// the callback under the public URL. The link continues once.
func TestOAuthAuthorize(t *testing.T) {
	c := newTC(t, sqliteOnly(t))
	acme := c.Token("acme")
	r := c.post("/v1/oauth/authorize", acme, map[string]any{"connector": "oauthcrm", "returnUrl": apitest.ReturnOrigin + "/connected"})
	wantStatus(t, r, http.StatusOK)
	link := r.object(t)["authorizationUrl"].(string)
	if !strings.HasPrefix(link, apitest.PublicURL+"/connect/authorize?link=") {
		t.Fatalf("authorizationUrl %s, want the connect page's link", link)
	}
	b := &browser{t: t, h: c.Connect}
	page := b.get(link)
	if page.Code != http.StatusSeeOther || page.Header().Get("Location") != "/connect" {
		t.Fatalf("opening the link: %d %q", page.Code, page.Header().Get("Location"))
	}
	u, err := url.Parse(b.continueToProvider())
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if u.Path != "/authorize" || q.Get("redirect_uri") != apitest.PublicURL+"/connect/callback" || q.Get("client_id") != "client-1" ||
		q.Get("state") == "" || q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" {
		t.Fatalf("consent URL %s", u)
	}
	// Continued once: again, the user goes back to the app with an error.
	again := b.post("/connect", url.Values{"csrf": {b.csrf}})
	back, _ := url.Parse(again.Header().Get("Location"))
	if again.Code != http.StatusSeeOther || back.Host != strings.TrimPrefix(apitest.ReturnOrigin, "https://") || back.Query().Get("error") != "invalid_state" {
		t.Fatalf("continuing twice: %d to %s", again.Code, back)
	}

	p := wantProblem(t, c.post("/v1/oauth/authorize", acme, map[string]any{"connector": "oauthcrm", "returnUrl": "javascript:alert(1)"}), http.StatusUnprocessableEntity, "validation")
	if !slices.Equal(pointers(p), []string{"/returnUrl"}) {
		t.Fatalf("pointers %v", pointers(p))
	}
	// connect.returnOrigins holds: another origin is refused, saying where
	// to allow it.
	r = c.post("/v1/oauth/authorize", acme, map[string]any{"connector": "oauthcrm", "returnUrl": "https://evil.example/cb"})
	p = wantProblem(t, r, http.StatusUnprocessableEntity, "validation")
	if !slices.Equal(pointers(p), []string{"/returnUrl"}) || !strings.Contains(r.String(), "connect.returnOrigins") || !strings.Contains(r.String(), "https://evil.example") {
		t.Fatalf("a foreign returnUrl: %s", r)
	}
	wantProblem(t, c.post("/v1/oauth/authorize", acme, map[string]any{"connector": "crm"}), http.StatusUnprocessableEntity, "invalid-request")
	wantProblem(t, c.post("/v1/oauth/authorize", acme, map[string]any{"connector": "oauthcrm", "connectionId": "conn_nope"}), http.StatusNotFound, "not-found")
	wantProblem(t, c.post("/v1/oauth/authorize", acme, map[string]any{"connector": "nope"}), http.StatusUnprocessableEntity, "validation")
}

// browser plays a browser on the connect page, without following redirects.
type browser struct {
	t       *testing.T
	h       http.Handler
	cookies []*http.Cookie
	csrf    string
}

func (b *browser) do(req *http.Request) *httptest.ResponseRecorder {
	for _, ck := range b.cookies {
		req.AddCookie(ck)
	}
	rec := httptest.NewRecorder()
	b.h.ServeHTTP(rec, req)
	for _, ck := range rec.Result().Cookies() {
		b.cookies = slices.DeleteFunc(b.cookies, func(o *http.Cookie) bool { return o.Name == ck.Name })
		if ck.MaxAge >= 0 {
			b.cookies = append(b.cookies, ck)
		}
	}
	return rec
}

func (b *browser) get(target string) *httptest.ResponseRecorder {
	return b.do(httptest.NewRequest(http.MethodGet, target, nil))
}

func (b *browser) post(path string, form url.Values) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, apitest.PublicURL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

// continueToProvider shows the page and presses its button; it returns
// where the button leads.
func (b *browser) continueToProvider() string {
	b.t.Helper()
	page := b.get(apitest.PublicURL + "/connect")
	html := page.Body.String()
	const marker = `name="csrf" value="`
	i := strings.Index(html, marker)
	if page.Code != http.StatusOK || i < 0 || !strings.Contains(html, "Continue to") {
		b.t.Fatalf("the connect page: %d\n%s", page.Code, html)
	}
	rest := html[i+len(marker):]
	b.csrf = rest[:strings.IndexByte(rest, '"')]
	resp := b.post("/connect", url.Values{"csrf": {b.csrf}})
	if resp.Code != http.StatusSeeOther {
		b.t.Fatalf("continue: %d\n%s", resp.Code, resp.Body)
	}
	return resp.Header().Get("Location")
}

func TestCatalogue(t *testing.T) {
	c := newTC(t, sqliteOnly(t))
	acme := c.Token("acme")
	var list struct {
		Items []struct {
			Key     string `json:"key"`
			Auth    struct{ Type, Grant string }
			Actions []struct{ Key, Implements string }
		} `json:"items"`
	}
	c.get("/v1/connectors", acme).decode(t, &list)
	if len(list.Items) != 3 || list.Items[0].Key != "crm" || list.Items[0].Auth.Type != "apiKey" || len(list.Items[0].Actions) != 2 ||
		list.Items[1].Key != "deskcrm" || list.Items[1].Auth.Type != "oauth2" ||
		list.Items[2].Key != "oauthcrm" || list.Items[2].Auth.Type != "oauth2" {
		t.Fatalf("catalogue %+v", list)
	}
	r := c.get("/v1/connectors/crm", acme)
	wantStatus(t, r, http.StatusOK)
	if _, ok := r.object(t)["credentialsSchema"]; !ok {
		t.Fatalf("no credentials schema: %s", r.Body)
	}
	p := wantProblem(t, c.get("/v1/connectors/crn", acme), http.StatusNotFound, "unknown-connector")
	if !strings.Contains(p["detail"].(string), `"crm"`) {
		t.Errorf("no suggestion: %v", p["detail"])
	}
}
