package connect_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/membrane-dev/membrane/internal/testkit"
	"github.com/membrane-dev/membrane/runtime/store"
)

// authorize is POST /v1/oauth/authorize for tenant: the link to send the
// user to.
func (e *env) authorize(tenant, connector, returnURL string) string {
	e.t.Helper()
	var out struct {
		AuthorizationURL string `json:"authorizationUrl"`
	}
	if code := e.call(http.MethodPost, "/v1/oauth/authorize", e.tokenOf(tenant), map[string]any{"connector": connector, "returnUrl": returnURL}, &out); code != http.StatusOK {
		e.t.Fatalf("POST /v1/oauth/authorize: %d", code)
	}
	if !strings.HasPrefix(out.AuthorizationURL, e.page.URL+"/connect/authorize?link=") {
		e.t.Fatalf("authorizationUrl %q, want a link to the connect page", out.AuthorizationURL)
	}
	return out.AuthorizationURL
}

// connectionsOf lists a tenant's connections through the API.
func (e *env) connectionsOf(tenant string) []map[string]any {
	e.t.Helper()
	var page struct{ Items []map[string]any }
	if code := e.call(http.MethodGet, "/v1/connections", e.tokenOf(tenant), nil, &page); code != http.StatusOK {
		e.t.Fatalf("GET /v1/connections: %d", code)
	}
	return page.Items
}

// lastStatus is the status of the last request of the page whose URL
// starts with prefix (the browser may ask for more, a favicon, after it).
func (e *env) lastStatus(prefix string) int {
	all := e.served.All()
	for i := len(all) - 1; i >= 0; i-- {
		if strings.HasPrefix(all[i].URL, prefix) {
			return all[i].Status
		}
	}
	return 0
}

// An app's backend connects an OAuth2 account through the REST API: it
// asks POST /v1/oauth/authorize for a link and sends the user's browser
// there; the user continues to the real OAuth2 server, which sends them
// back to the callback and on to the app. The connection exists, and an
// action run through the API reaches the connected app with the token the
// OAuth2 server issued.
func TestBrowserOAuthThroughTheAPI(t *testing.T) {
	t.Parallel()
	ctx := newBrowser(t)
	srv := startAuthServer(t)
	e := newEnv(t, envOptions{oauthURL: srv.URL()})
	ret := e.app.URL + "/integrations/done"
	link := e.authorize(tenant, "oauthy", ret)

	steps(t, ctx, "open the link", chromedp.Navigate(link), chromedp.WaitVisible(`button[type=submit]`))
	// Opening the link alone goes no further than this page.
	if loc := get(t, ctx, chromedp.Location()); loc != e.page.URL+"/connect" {
		t.Fatalf("the link led to %q, want the connect page", loc)
	}
	if txt := get(t, ctx, chromedp.Text(`button[type=submit]`)); txt != "Continue to OAuthy" {
		t.Errorf("the button says %q", txt)
	}
	screenshot(t, ctx, "1-continue")
	steps(t, ctx, "consent", chromedp.Click(`button[type=submit]`), chromedp.WaitVisible(`#back-in-app`))
	loc, err := url.Parse(get(t, ctx, chromedp.Location()))
	if err != nil || !strings.HasPrefix(loc.String(), ret+"?") || loc.Query().Has("error") {
		t.Fatalf("landed on %v", loc)
	}
	id := loc.Query().Get("connectionId")
	c, err := e.st.Tenant(tenant).Connections().Get(t.Context(), id)
	if err != nil {
		t.Fatalf("the connection %q of the returnUrl: %v", id, err)
	}
	if c.Connector != "oauthy" || c.State != store.Connected || c.Token == nil || c.Token.AccessToken == "" || c.Token.RefreshToken == "" {
		t.Fatalf("connection %+v token %+v", c, c.Token)
	}

	var run struct {
		RunID  string         `json:"runId"`
		Output map[string]any `json:"output"`
	}
	code := e.call(http.MethodPost, "/v1/connections/"+id+"/actions/whoami/run", e.token(), map[string]any{"input": map[string]any{}}, &run)
	// The app answers with the subject of a token the OAuth2 server
	// signed; it refuses anything else.
	if code != http.StatusOK || run.RunID == "" || run.Output["account"] != "oauth:"+testkit.OAuthSubject {
		t.Fatalf("run: %d %+v", code, run)
	}
	if n := srv.TokenRequests(t); n != 1 {
		t.Errorf("token requests = %d, want 1 (the code exchange)", n)
	}
	e.noLeaks(c.Token.AccessToken, c.Token.RefreshToken)
}

// An attacker (a user of tenant mallory) asks for a link, opens it in his
// own browser and presses Continue, then hands the provider's consent URL
// it led to, or the link itself, to a victim. Nothing he hands over
// attaches an account anywhere: the consent URL completes only in the
// browser holding the link's connect session (elsewhere: invalid_state,
// and no token request is made), the link continues once, and the
// victim's own connection in progress is not affected. The flow completes
// in the attacker's browser, into the attacker's tenant only.
func TestBrowserOAuthLinkIsBound(t *testing.T) {
	t.Parallel()
	victim := newBrowser(t)
	srv := startAuthServer(t)
	oauthURL := srv.URL()
	e := newEnv(t, envOptions{oauthURL: oauthURL})
	attackerReturn := e.app.URL + "/mallory"

	// The attacker's browser: cookies, no JavaScript, no redirects followed.
	attacker := e.client()
	link := e.authorize("mallory", "oauthy", attackerReturn)
	if r := do(t, attacker, http.MethodGet, link, nil); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("opening the link: %d", r.StatusCode)
	}
	page := do(t, attacker, http.MethodGet, e.page.URL+"/connect", nil)
	cont := do(t, attacker, http.MethodPost, e.page.URL+"/connect", url.Values{"csrf": {csrfOf(t, page.body)}})
	consent := cont.Header.Get("Location")
	if cont.StatusCode != http.StatusSeeOther || !strings.HasPrefix(consent, oauthURL+"/authorize?") {
		t.Fatalf("continue: %d to %q, want the provider", cont.StatusCode, consent)
	}

	// 1. The consent URL in a browser without a connect session.
	steps(t, victim, "open the consent URL", chromedp.Navigate(consent), chromedp.WaitVisible(`h1`))
	if txt := get(t, victim, chromedp.Text(`main`)); !strings.Contains(txt, "Not connected") || !strings.Contains(txt, "invalid_state") {
		t.Errorf("the consent URL in another browser shows %q", txt)
	}
	if st := e.lastStatus("/connect/callback?"); st != http.StatusBadRequest {
		t.Errorf("the callback without a session answered %d, want 400", st)
	}

	// 2. The consent URL in a browser in the middle of its own connect
	// (tenant acme): the victim goes back to the app with invalid_state.
	victimReturn := e.app.URL + "/acme"
	steps(t, victim, "start the victim's own connect", chromedp.Navigate(e.authorize(tenant, "oauthy", victimReturn)), chromedp.WaitVisible(`button[type=submit]`))
	steps(t, victim, "open the consent URL", chromedp.Navigate(consent), chromedp.WaitVisible(`#back-in-app`))
	loc, _ := url.Parse(get(t, victim, chromedp.Location()))
	if !strings.HasPrefix(loc.String(), victimReturn+"?") || loc.Query().Get("error") != "invalid_state" || loc.Query().Has("connectionId") {
		t.Errorf("the consent URL in the victim's session landed on %v", loc)
	}

	// 3. The link itself, already continued by the attacker: its page
	// shows, but continuing is refused before any provider is involved.
	steps(t, victim, "open the used link", chromedp.Navigate(link), chromedp.WaitVisible(`button[type=submit]`))
	steps(t, victim, "continue", chromedp.Click(`button[type=submit]`), chromedp.WaitVisible(`#back-in-app`))
	loc, _ = url.Parse(get(t, victim, chromedp.Location()))
	if !strings.HasPrefix(loc.String(), attackerReturn+"?") || loc.Query().Get("error") != "invalid_state" || loc.Query().Has("connectionId") {
		t.Errorf("continuing a used link landed on %v", loc)
	}

	if n := len(e.connectionsOf(tenant)) + len(e.connectionsOf("mallory")); n != 0 {
		t.Fatalf("%d connections were made", n)
	}
	if n := srv.TokenRequests(t); n != 0 {
		t.Fatalf("token requests = %d, want 0: no code may be exchanged", n)
	}

	// The state was not spent by any of it: the attacker's own browser
	// completes, and the connection is the attacker's tenant's.
	auth := do(t, attacker, http.MethodGet, consent, nil)
	callback := auth.Header.Get("Location")
	if auth.StatusCode != http.StatusFound || !strings.HasPrefix(callback, e.page.URL+"/connect/callback?") {
		t.Fatalf("the provider answered %d to %q", auth.StatusCode, callback)
	}
	done := do(t, attacker, http.MethodGet, callback, nil)
	back, _ := url.Parse(done.Header.Get("Location"))
	if done.StatusCode != http.StatusSeeOther || !strings.HasPrefix(back.String(), attackerReturn+"?") || !back.Query().Has("connectionId") {
		t.Fatalf("the attacker's callback: %d to %v", done.StatusCode, back)
	}
	if a, v := e.connectionsOf("mallory"), e.connectionsOf(tenant); len(a) != 1 || len(v) != 0 {
		t.Fatalf("connections: mallory %d, acme %d; want 1 and 0", len(a), len(v))
	}
}

// The link of POST /v1/oauth/authorize: opening it only starts a session
// (twice is fine: a link checker spends nothing), its page asks for a
// click and nothing else, and a forged, altered or expired link, or one
// left too long before continuing, is refused.
func TestOAuthLinks(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	ret := e.app.URL + "/done"
	link := e.authorize(tenant, "oauthy", ret)

	c := e.client()
	open(t, e, c, link)
	page := open(t, e, c, link)
	if !strings.Contains(page.body, "Continue to OAuthy") || strings.Contains(page.body, `name="/parameters`) {
		t.Fatalf("the link's page:\n%s", page.body)
	}
	if csp := page.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "form-action 'self' "+e.app.URL+" http://127.0.0.1:9") {
		t.Errorf("CSP %q does not let the form continue to the app and the provider", csp)
	}
	// Without the page's CSRF token, nothing.
	if r := do(t, c, http.MethodPost, e.page.URL+"/connect", url.Values{"csrf": {"forged"}}); r.StatusCode != http.StatusForbidden {
		t.Fatalf("continue without the CSRF token: %d", r.StatusCode)
	}
	r := do(t, c, http.MethodPost, e.page.URL+"/connect", url.Values{"csrf": {csrfOf(t, page.body)}})
	loc, _ := url.Parse(r.Header.Get("Location"))
	if r.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc.String(), "http://127.0.0.1:9/authorize?") || loc.Query().Get("redirect_uri") != e.page.URL+"/connect/callback" {
		t.Fatalf("continue: %d to %v", r.StatusCode, loc)
	}

	refused := func(what, link, says string) {
		t.Helper()
		r := do(t, e.client(), http.MethodGet, link, nil)
		if r.StatusCode != http.StatusBadRequest || !strings.Contains(r.body, says) || r.Header.Get("Set-Cookie") != "" {
			t.Errorf("%s: %d\n%s", what, r.StatusCode, r.body)
		}
	}
	u, _ := url.Parse(link)
	v := u.Query().Get("link")
	payload, sig, _ := strings.Cut(v, ".")
	withLink := func(v string) string { return e.page.URL + "/connect/authorize?" + url.Values{"link": {v}}.Encode() }
	refused("no link", e.page.URL+"/connect/authorize", "not valid")
	refused("a forged signature", withLink(payload+"."+strings.Repeat("A", len(sig))), "not valid")
	raw, _ := base64.RawURLEncoding.DecodeString(payload)
	var l map[string]any
	json.Unmarshal(raw, &l)
	l["t"] = "globex"
	raw, _ = json.Marshal(l)
	refused("another tenant", withLink(base64.RawURLEncoding.EncodeToString(raw)+"."+sig), "not valid")

	// Opened in time but continued too late: back to the app.
	link = e.authorize(tenant, "oauthy", ret)
	c = e.client()
	page = open(t, e, c, link)
	e.clock.Advance(11 * time.Minute)
	r = do(t, c, http.MethodPost, e.page.URL+"/connect", url.Values{"csrf": {csrfOf(t, page.body)}})
	loc, _ = url.Parse(r.Header.Get("Location"))
	if r.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc.String(), ret+"?") || loc.Query().Get("error") != "invalid_state" {
		t.Fatalf("continuing an expired link: %d to %v", r.StatusCode, loc)
	}
	refused("an expired link", link, "expired")
	e.noLeaks()
}
