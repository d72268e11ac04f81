package connect_test

import (
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/membrane-dev/membrane/runtime/connections"
	"github.com/membrane-dev/membrane/runtime/store"
)

// checkHeaders asserts what every page of the connect page carries.
func checkHeaders(t *testing.T, r response) {
	t.Helper()
	h := r.Header
	want := map[string]string{"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff",
		"Cross-Origin-Opener-Policy": "same-origin", "Cross-Origin-Resource-Policy": "same-origin"}
	for k, v := range want {
		if h.Get(k) != v {
			t.Errorf("%s %s: %s = %q, want %q", r.Request.Method, r.Request.URL.Path, k, h.Get(k), v)
		}
	}
	csp := h.Get("Content-Security-Policy")
	for _, d := range []string{"default-src 'none'", "style-src 'self'", "frame-ancestors 'none'", "base-uri 'none'"} {
		if !strings.Contains(csp, d) {
			t.Errorf("%s: CSP %q lacks %q", r.Request.URL.Path, csp, d)
		}
	}
	if strings.Contains(csp, "script-src") || strings.Contains(csp, "unsafe-inline") {
		t.Errorf("CSP %q allows scripts or inline code", csp)
	}
}

// open follows the app's link: it must leave the token behind at once.
func open(t *testing.T, e *env, c *http.Client, link string) response {
	t.Helper()
	r := do(t, c, http.MethodGet, link, nil)
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/connect" {
		t.Fatalf("GET link: %d Location %q\n%s", r.StatusCode, r.Header.Get("Location"), r.body)
	}
	checkHeaders(t, r)
	page := do(t, c, http.MethodGet, e.page.URL+"/connect", nil)
	if page.StatusCode != http.StatusOK {
		t.Fatalf("GET /connect: %d\n%s", page.StatusCode, page.body)
	}
	checkHeaders(t, page)
	return page
}

func TestSessionCookie(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	c := e.client()
	r := do(t, c, http.MethodGet, e.link(e.token(), "keyed", e.app.URL+"/done"), nil)
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("status %d", r.StatusCode)
	}
	cookies := r.Cookies()
	if len(cookies) != 1 {
		t.Fatalf("cookies %v", cookies)
	}
	ck := cookies[0]
	if !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Path != "/connect" || ck.MaxAge != 1800 || ck.Secure {
		t.Errorf("cookie %+v: want HttpOnly, SameSite=Lax, Path=/connect, Max-Age=1800, not Secure over http", ck)
	}
	if strings.Contains(ck.Value, e.tokens[0]) {
		t.Errorf("the cookie holds the JWT")
	}
	// Tampering with the session's payload breaks its signature.
	payload, sig, _ := strings.Cut(ck.Value, ".")
	forged := &http.Cookie{Name: ck.Name, Value: payload[:len(payload)-2] + "AA." + sig}
	u, _ := url.Parse(e.page.URL + "/connect")
	c2 := e.client()
	c2.Jar.SetCookies(u, []*http.Cookie{forged})
	if r := do(t, c2, http.MethodGet, e.page.URL+"/connect", nil); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("forged session: %d, want 401", r.StatusCode)
	}
	e.noLeaks()
}

func TestSecureCookieOverHTTPS(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	// The same page behind https: the cookie must be Secure.
	h := httpsHandler(t, e)
	rec := serve(h, http.MethodGet, "https://connect.example.com/connect?"+url.Values{"token": {e.token()}, "connector": {"keyed"}}.Encode())
	ck := rec.Result().Cookies()
	if rec.Code != http.StatusSeeOther || len(ck) != 1 || !ck[0].Secure || !ck[0].HttpOnly {
		t.Fatalf("status %d cookies %+v", rec.Code, ck)
	}
}

func TestBadToken(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	c := e.client()
	expired, _ := e.minter.Mint(tenancyClaims(), time.Hour)
	e.clock.Advance(2 * time.Hour)
	var bodies []string
	for _, tok := range []string{"", "not-a-jwt", expired, e.token()[:40] + "x"} {
		r := do(t, c, http.MethodGet, e.link(tok, "keyed", e.app.URL+"/done"), nil)
		if r.StatusCode != http.StatusUnauthorized || len(r.Cookies()) != 0 {
			t.Errorf("token %.10q: %d cookies %v, want 401 and no session", tok, r.StatusCode, r.Cookies())
		}
		checkHeaders(t, r)
		bodies = append(bodies, r.body)
	}
	for _, b := range bodies[1:] {
		if b != bodies[0] {
			t.Errorf("401 pages differ, which tells why a token failed")
		}
	}
	// No session at all.
	if r := do(t, c, http.MethodGet, e.page.URL+"/connect", nil); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("no session: %d", r.StatusCode)
	}
	e.noLeaks(expired)
}

func TestReturnURLRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	c := e.client()
	for _, ret := range []string{
		"https://evil.example/cb",
		"//evil.example/cb",
		"/relative",
		"javascript:alert(1)",
		"https://127.0.0.1.evil.example/cb",
		"http://127.0.0.1@evil.example/cb",
		`http://127.0.0.1\@evil.example/`,
		"http://127.0.0.1:1/\ncb",
		"ftp://127.0.0.1/cb",
	} {
		r := do(t, c, http.MethodGet, e.link(e.token(), "keyed", ret), nil)
		if r.StatusCode != http.StatusBadRequest || r.Header.Get("Location") != "" || len(r.Cookies()) != 0 {
			t.Errorf("returnUrl %q: %d Location %q, want 400", ret, r.StatusCode, r.Header.Get("Location"))
		}
	}
	r := do(t, c, http.MethodGet, e.link(e.token(), "keyed", "https://evil.example/cb"), nil)
	for _, want := range []string{"https://evil.example", "connect.returnOrigins", "membrane.yaml", "returnOrigins: [https://evil.example]"} {
		if !strings.Contains(r.body, want) {
			t.Errorf("the refusal does not say %q:\n%s", want, r.body)
		}
	}
	checkHeaders(t, r)
}

func TestReturnOriginsConfigured(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{returnOrigins: []string{"https://app.example.com"}})
	c := e.client()
	// Configured origins close loopback, which is for development only.
	if r := do(t, c, http.MethodGet, e.link(e.token(), "keyed", e.app.URL+"/done"), nil); r.StatusCode != http.StatusBadRequest {
		t.Errorf("loopback returnUrl with origins configured: %d, want 400", r.StatusCode)
	}
	for _, ok := range []string{"https://app.example.com/integrations?x=1#top", "https://APP.example.com:443/", e.page.URL + "/elsewhere"} {
		if r := do(t, c, http.MethodGet, e.link(e.token(), "keyed", ok), nil); r.StatusCode != http.StatusSeeOther {
			t.Errorf("returnUrl %q: %d, want 303\n%s", ok, r.StatusCode, r.body)
		}
	}
}

func TestBadLinks(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	c := e.client()
	cases := map[string]struct {
		link   string
		status int
	}{
		"no connector":      {e.link(e.token(), "", ""), http.StatusBadRequest},
		"unknown connector": {e.link(e.token(), "nope", ""), http.StatusBadRequest},
		"unknown conn":      {e.link(e.token(), "keyed", "", "connectionId", "conn_nope"), http.StatusNotFound},
	}
	for name, tc := range cases {
		if r := do(t, c, http.MethodGet, tc.link, nil); r.StatusCode != tc.status {
			t.Errorf("%s: %d, want %d", name, r.StatusCode, tc.status)
		}
	}
	if r := do(t, c, http.MethodGet, e.page.URL+"/connect/nope", nil); r.StatusCode != http.StatusNotFound {
		t.Errorf("unknown page: %d", r.StatusCode)
	}
	if r := do(t, c, http.MethodDelete, e.page.URL+"/connect", nil); r.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("DELETE: %d", r.StatusCode)
	}
	css := do(t, c, http.MethodGet, e.page.URL+"/connect/style.css", nil)
	if css.StatusCode != 200 || !strings.HasPrefix(css.Header.Get("Content-Type"), "text/css") {
		t.Errorf("style.css: %d %s", css.StatusCode, css.Header.Get("Content-Type"))
	}
}

func TestCSRF(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	c := e.client()
	page := open(t, e, c, e.link(e.token(), "keyed", e.app.URL+"/done"))
	csrf := csrfOf(t, page.body)
	form := url.Values{"/parameters/region": {"0"}, "/credentials/apiKey": {goodKey}}
	for name, tok := range map[string]string{"missing": "", "wrong": csrf[:len(csrf)-2] + "xx"} {
		f := url.Values{}
		for k, v := range form {
			f[k] = v
		}
		if tok != "" {
			f.Set("csrf", tok)
		}
		if r := do(t, c, http.MethodPost, e.page.URL+"/connect", f); r.StatusCode != http.StatusForbidden {
			t.Errorf("%s CSRF token: %d, want 403", name, r.StatusCode)
		}
	}
	// Another browser's session with this page's CSRF token.
	other := e.client()
	open(t, e, other, e.link(e.token(), "keyed", ""))
	form.Set("csrf", csrf)
	if r := do(t, other, http.MethodPost, e.page.URL+"/connect", form); r.StatusCode != http.StatusForbidden {
		t.Errorf("a CSRF token of another session: %d, want 403", r.StatusCode)
	}
	if n := countConnections(t, e); n != 0 {
		t.Fatalf("%d connections were created by refused forms", n)
	}
	// The right token connects.
	r := do(t, c, http.MethodPost, e.page.URL+"/connect", form)
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("POST: %d\n%s", r.StatusCode, r.body)
	}
	e.noLeaks(goodKey)
}

func TestExpiredSession(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	c := e.client()
	page := open(t, e, c, e.link(e.token(), "keyed", e.app.URL+"/done"))
	csrf := csrfOf(t, page.body)
	e.clock.Advance(31 * time.Minute)
	r := do(t, c, http.MethodPost, e.page.URL+"/connect", url.Values{"csrf": {csrf}, "/parameters/region": {"0"}, "/credentials/apiKey": {goodKey}})
	loc, _ := url.Parse(r.Header.Get("Location"))
	if r.StatusCode != http.StatusSeeOther || loc == nil || loc.Query().Get("error") != "session_expired" || !strings.HasPrefix(loc.String(), e.app.URL+"/done?") {
		t.Fatalf("expired session: %d Location %q", r.StatusCode, r.Header.Get("Location"))
	}
	if n := countConnections(t, e); n != 0 {
		t.Fatalf("an expired session created %d connections", n)
	}
	// Without a returnUrl, a page says so.
	c2 := e.client()
	open(t, e, c2, e.link(e.token(), "keyed", ""))
	e.clock.Advance(31 * time.Minute)
	if r := do(t, c2, http.MethodGet, e.page.URL+"/connect", nil); r.StatusCode != http.StatusUnauthorized || !strings.Contains(r.body, "expired") {
		t.Fatalf("expired session without returnUrl: %d\n%s", r.StatusCode, r.body)
	}
}

// The API-key form without a browser: per-field errors, the API's
// refusal, typed values kept and secrets never echoed, then success.
func TestAPIKeyForm(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	c := e.client()
	page := open(t, e, c, e.link(e.token(), "keyed", ""))
	checkAccessible(t, page.body)
	for _, want := range []string{`<select id="f1" name="/parameters/region" required`, `type="password"`, `type="checkbox"`, `type="number"`, "(required)", "Find it in Keyed under Settings, API."} {
		if !strings.Contains(page.body, want) {
			t.Errorf("the form lacks %q:\n%s", want, page.body)
		}
	}
	csrf := csrfOf(t, page.body)

	r := do(t, c, http.MethodPost, e.page.URL+"/connect", url.Values{"csrf": {csrf}, "/parameters/label": {"Main <account>"}, "/parameters/pageSize": {"1.5"}})
	if r.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(r.body, "Enter a whole number.") {
		t.Fatalf("bad number: %d\n%s", r.StatusCode, r.body)
	}
	r = do(t, c, http.MethodPost, e.page.URL+"/connect", url.Values{"csrf": {csrf}, "/parameters/label": {"Main <account>"}})
	if r.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("empty form: %d\n%s", r.StatusCode, r.body)
	}
	checkAccessible(t, r.body)
	for _, want := range []string{"API key is required.", "Choose region.", `value="Main &lt;account&gt;"`, `aria-invalid="true"`, "There is a problem", "<title>Error: "} {
		if !strings.Contains(r.body, want) {
			t.Errorf("the refused form lacks %q:\n%s", want, r.body)
		}
	}

	r = do(t, c, http.MethodPost, e.page.URL+"/connect", url.Values{"csrf": {csrf}, "/parameters/region": {"1"}, "/credentials/apiKey": {badKey}})
	if r.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(r.body, "Keyed API did not accept these credentials") {
		t.Fatalf("wrong key: %d\n%s", r.StatusCode, r.body)
	}
	if !strings.Contains(r.body, `<option value="1" selected>us</option>`) {
		t.Errorf("the region chosen was not kept:\n%s", r.body)
	}

	r = do(t, c, http.MethodPost, e.page.URL+"/connect", url.Values{"csrf": {csrf}, "/parameters/region": {"0"}, "/parameters/sandbox": {"true"}, "/credentials/apiKey": {" " + goodKey + " "}})
	if r.StatusCode != http.StatusOK || !strings.Contains(r.body, "Your Keyed API account is connected") {
		t.Fatalf("right key, no returnUrl: %d\n%s", r.StatusCode, r.body)
	}
	conns, err := e.svc.List(t.Context(), tenant, connections.ListRequest{})
	if err != nil || len(conns.Items) != 1 {
		t.Fatalf("connections %+v %v", conns, err)
	}
	if p := conns.Items[0].Parameters; p["region"] != "eu" || p["sandbox"] != true {
		t.Errorf("parameters %v", p)
	}
	// The session ended with the connection.
	if r := do(t, c, http.MethodGet, e.page.URL+"/connect", nil); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("after connecting, the page: %d, want 401", r.StatusCode)
	}
	e.noLeaks(goodKey, badKey)
}

// Re-authorising an API-key connection asks for credentials only and
// replaces them.
func TestReconnect(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	conn, err := e.svc.Create(t.Context(), tenant, connections.CreateRequest{Connector: "keyed",
		Parameters: map[string]any{"region": "us"}, Credentials: map[string]any{"apiKey": goodKey}})
	if err != nil {
		t.Fatal(err)
	}
	c := e.client()
	page := open(t, e, c, e.link(e.token(), "keyed", e.app.URL+"/done", "connectionId", conn.ID))
	if strings.Contains(page.body, "/parameters/") || !strings.Contains(page.body, "Reconnect Keyed API") {
		t.Fatalf("the reconnect form:\n%s", page.body)
	}
	r := do(t, c, http.MethodPost, e.page.URL+"/connect", url.Values{"csrf": {csrfOf(t, page.body)}, "/credentials/apiKey": {goodKey}})
	loc, _ := url.Parse(r.Header.Get("Location"))
	if r.StatusCode != http.StatusSeeOther || loc.Query().Get("connectionId") != conn.ID {
		t.Fatalf("reconnect: %d %q\n%s", r.StatusCode, r.Header.Get("Location"), r.body)
	}
	// Another tenant's connection id is not found.
	other, _ := e.minter.Mint(tenancyClaimsOf("initech"), time.Hour)
	if r := do(t, e.client(), http.MethodGet, e.link(other, "keyed", "", "connectionId", conn.ID), nil); r.StatusCode != http.StatusNotFound {
		t.Errorf("another tenant's connection: %d, want 404", r.StatusCode)
	}
	e.noLeaks(goodKey)
}

// The OAuth form starts consent; a denial and a forged state come back to
// the app as errors. (The full consent is the browser test's.)
func TestOAuthErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	c := e.client()
	page := open(t, e, c, e.link(e.token(), "oauthy", e.app.URL+"/done"))
	if !strings.Contains(page.body, "Continue to OAuthy") {
		t.Fatalf("the OAuth page:\n%s", page.body)
	}
	if csp := page.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "form-action 'self' "+e.app.URL+" http://127.0.0.1:9") {
		t.Errorf("CSP %q does not let the form continue to the app and the provider", csp)
	}
	begin := func() url.Values {
		t.Helper()
		r := do(t, c, http.MethodPost, e.page.URL+"/connect", url.Values{"csrf": {csrfOf(t, page.body)}})
		loc, err := url.Parse(r.Header.Get("Location"))
		if r.StatusCode != http.StatusSeeOther || err != nil || !strings.HasPrefix(loc.String(), "http://127.0.0.1:9/authorize?") {
			t.Fatalf("POST: %d Location %q\n%s", r.StatusCode, r.Header.Get("Location"), r.body)
		}
		q := loc.Query()
		if q.Get("redirect_uri") != e.page.URL+"/connect/callback" || q.Get("state") == "" {
			t.Fatalf("authorization URL %s", loc)
		}
		return q
	}
	q := begin()
	r := do(t, c, http.MethodGet, e.page.URL+"/connect/callback?"+url.Values{"state": {q.Get("state")}, "error": {"access_denied"}, "error_description": {"The user said no"}}.Encode(), nil)
	loc, _ := url.Parse(r.Header.Get("Location"))
	if r.StatusCode != http.StatusSeeOther || loc.Query().Get("error") != "access_denied" || loc.Query().Get("error_description") != "The user said no" {
		t.Fatalf("denied: %d %q", r.StatusCode, r.Header.Get("Location"))
	}
	// A forged state, with a session.
	page = open(t, e, c, e.link(e.token(), "oauthy", e.app.URL+"/done"))
	r = do(t, c, http.MethodGet, e.page.URL+"/connect/callback?state=forged&code=abc", nil)
	loc, _ = url.Parse(r.Header.Get("Location"))
	if r.StatusCode != http.StatusSeeOther || loc.Query().Get("error") != "invalid_state" {
		t.Fatalf("forged state: %d %q", r.StatusCode, r.Header.Get("Location"))
	}
	// A real state in a browser without the session that started it.
	page = open(t, e, c, e.link(e.token(), "oauthy", e.app.URL+"/done"))
	q = begin()
	r = do(t, e.client(), http.MethodGet, e.page.URL+"/connect/callback?"+url.Values{"state": {q.Get("state")}, "code": {"abc"}}.Encode(), nil)
	if r.StatusCode != http.StatusBadRequest || !strings.Contains(r.body, "invalid_state") {
		t.Fatalf("callback without a session: %d\n%s", r.StatusCode, r.body)
	}
	e.noLeaks()
}

var (
	inputRE = regexp.MustCompile(`<(input|select|textarea)\b[^>]*>`)
	idRE    = regexp.MustCompile(`\bid="([^"]+)"`)
	descRE  = regexp.MustCompile(`\baria-describedby="([^"]+)"`)
)

// checkAccessible: every visible control has a <label for>, and every id
// aria-describedby names exists.
func checkAccessible(t *testing.T, html string) {
	t.Helper()
	for _, tag := range inputRE.FindAllString(html, -1) {
		if strings.Contains(tag, `type="hidden"`) {
			continue
		}
		m := idRE.FindStringSubmatch(tag)
		if m == nil || !strings.Contains(html, `<label for="`+m[1]+`"`) {
			t.Errorf("control without a label: %s", tag)
		}
		if d := descRE.FindStringSubmatch(tag); d != nil {
			for _, id := range strings.Fields(d[1]) {
				if !strings.Contains(html, `id="`+id+`"`) {
					t.Errorf("%s: aria-describedby names %q, which is not on the page", tag, id)
				}
			}
		}
	}
}

func countConnections(t *testing.T, e *env) int {
	t.Helper()
	p, err := e.svc.List(t.Context(), tenant, connections.ListRequest{})
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		t.Fatal(err)
	}
	return len(p.Items)
}
