package console_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/membrane-dev/membrane/runtime/tenancy"
)

// signIn opens the console with an admin token, as `membrane serve`
// asks, and returns the browser holding the session.
func (e *env) signIn() *http.Client {
	e.t.Helper()
	c := client()
	r := e.do(c, "GET", "/console?token="+url.QueryEscape(e.token(tenancy.Claims{Tenant: "ops", Admin: true})), nil)
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/console/" {
		e.t.Fatalf("admin sign-in: %d to %q", r.StatusCode, r.Header.Get("Location"))
	}
	return c
}

// inline finds a script without src, a style element or attribute, or an
// event handler attribute: what the policy forbids.
var inline = regexp.MustCompile(`<script>|<script [^>]*>[^<]|<style|\sstyle=|\son[a-z]+=`)

func TestHeaders(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{noSource: true})
	c := e.signIn()
	for _, path := range []string{"/console/", "/console/nope", "/console/connectors/crm"} {
		r := e.do(c, "GET", path, nil)
		h := r.Header
		csp := h.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'", "form-action 'self'", "frame-ancestors 'none'", "base-uri 'none'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("%s: CSP %q lacks %q", path, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe") {
			t.Errorf("%s: CSP %q allows unsafe sources", path, csp)
		}
		for k, want := range map[string]string{"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff",
			"Cache-Control": "no-store", "Referrer-Policy": "same-origin", "Cross-Origin-Opener-Policy": "same-origin"} {
			if got := h.Get(k); got != want {
				t.Errorf("%s: %s is %q, want %q", path, k, got, want)
			}
		}
		if inline.MatchString(r.body) {
			t.Errorf("%s: inline script, style or handler: %q", path, inline.FindString(r.body))
		}
	}
	// No source (serve): no script, no stream, and the page says why.
	r := e.do(c, "GET", "/console/", nil)
	if strings.Contains(r.body, "console.js") || strings.Contains(r.body, "data-events") {
		t.Error("the page loads the live script without a source")
	}
	if !strings.Contains(r.body, "No live diagnostics under serve") {
		t.Error("the page does not say there are no live diagnostics")
	}
	if r := e.do(c, "GET", "/console/events", nil); r.StatusCode != http.StatusNotFound {
		t.Errorf("/console/events without a source: %d", r.StatusCode)
	}
	for name, ctype := range map[string]string{"console.css": "text/css; charset=utf-8", "console.js": "text/javascript; charset=utf-8"} {
		r := e.do(client(), "GET", "/console/static/"+name, nil)
		if r.StatusCode != 200 || r.Header.Get("Content-Type") != ctype || r.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: %d %q", name, r.StatusCode, r.Header.Get("Content-Type"))
		}
	}
	e.noLeaks()
}

// Under serve only an admin token opens the console; why a token is
// refused is not said.
func TestAdminOnly(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{noSource: true})
	if r := e.do(client(), "GET", "/console/", nil); r.StatusCode != http.StatusUnauthorized || !strings.Contains(r.body, "admin token") {
		t.Errorf("no session: %d", r.StatusCode)
	}
	if r := e.do(client(), "GET", "/console", nil); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("/console without a token or session: %d", r.StatusCode)
	}
	// A tenant's token: 403; the cookie is not set.
	c := client()
	r := e.do(c, "GET", "/console?token="+e.token(tenancy.Claims{Tenant: tenant}), nil)
	if r.StatusCode != http.StatusForbidden || len(r.Cookies()) != 0 {
		t.Errorf("a tenant token: %d, cookies %v", r.StatusCode, r.Cookies())
	}
	if r := e.do(c, "GET", "/console/", nil); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("after a tenant token: %d", r.StatusCode)
	}
	// Bad tokens: expired, forged, garbage; all the same page.
	expired, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"iss": wsKey, "sub": "ops", "isAdmin": true,
		"exp": time.Now().Add(-time.Hour).Unix()}).SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	other, _ := tenancy.NewMinter(wsKey, []byte(strings.Repeat("x", 40)))
	forged, _ := other.Mint(tenancy.Claims{Tenant: "ops", Admin: true}, time.Hour)
	e.tokens = append(e.tokens, expired, forged)
	var first string
	for _, tok := range []string{expired, forged, "garbage"} {
		r := e.do(client(), "GET", "/console?token="+tok, nil)
		if r.StatusCode != http.StatusUnauthorized || len(r.Cookies()) != 0 {
			t.Errorf("a bad token: %d", r.StatusCode)
		}
		if first == "" {
			first = r.body
		} else if r.body != first {
			t.Errorf("bad tokens get different pages")
		}
	}
	// An admin token: moved into an HttpOnly, SameSite=Strict cookie.
	c = client()
	r = e.do(c, "GET", "/console?token="+e.token(tenancy.Claims{Tenant: "ops", Admin: true}), nil)
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/console/" {
		t.Fatalf("admin token: %d %q", r.StatusCode, r.Header.Get("Location"))
	}
	ck := r.Cookies()
	if len(ck) != 1 || !ck[0].HttpOnly || ck[0].SameSite != http.SameSiteStrictMode || ck[0].Path != "/console" {
		t.Fatalf("session cookie %+v", ck)
	}
	if r := e.do(c, "GET", "/console/", nil); r.StatusCode != 200 || !strings.Contains(r.body, "Sign out") {
		t.Errorf("signed in: %d", r.StatusCode)
	}
	// A cookie changed by hand is no session.
	bad := client()
	u, _ := url.Parse("http://127.0.0.1/console/")
	bad.Jar.SetCookies(u, []*http.Cookie{{Name: ck[0].Name, Value: ck[0].Value[:len(ck[0].Value)-2] + "AA", Path: "/console"}})
	if r := e.do(bad, "GET", "/console/", nil); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("a forged cookie: %d", r.StatusCode)
	}
	// Signing out ends the session.
	if r := e.do(c, "POST", "/console/logout", url.Values{"csrf": {csrfOf(t, e.do(c, "GET", "/console/", nil).body)}}); r.StatusCode != 200 {
		t.Errorf("sign out: %d", r.StatusCode)
	}
	if r := e.do(c, "GET", "/console/", nil); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("after signing out: %d", r.StatusCode)
	}
	e.noLeaks()
}

// A session lasts as long as its admin token, on the console's clock:
// the cookie's Max-Age says the same as its signed expiry.
func TestSessionExpiry(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var ahead time.Duration
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return time.Now().Add(ahead) }
	advance := func(d time.Duration) { mu.Lock(); ahead += d; mu.Unlock() }
	e := newEnv(t, envOptions{noSource: true, now: now})
	tok := e.token(tenancy.Claims{Tenant: "ops", Admin: true}) // an hour, on the wall clock
	advance(30 * time.Minute)
	c := client()
	r := e.do(c, "GET", "/console?token="+url.QueryEscape(tok), nil)
	ck := r.Cookies()
	if r.StatusCode != http.StatusSeeOther || len(ck) != 1 || ck[0].MaxAge < 1790 || ck[0].MaxAge > 1800 {
		t.Fatalf("sign-in half an hour before the token expires: %d, cookies %+v; want Max-Age 1800", r.StatusCode, ck)
	}
	if r := e.do(c, "GET", "/console/", nil); r.StatusCode != http.StatusOK {
		t.Fatalf("signed in: %d", r.StatusCode)
	}
	advance(31 * time.Minute)
	if r := e.do(c, "GET", "/console/", nil); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("after the token's expiry: %d, want 401", r.StatusCode)
	}
	e.noLeaks()
}

// A form is run only with the session's CSRF token and from the console's
// own origin.
func TestCSRF(t *testing.T) {
	t.Parallel()
	for _, open := range []bool{false, true} {
		e := newEnv(t, envOptions{open: open})
		conn := e.connect()
		c := client()
		if !open {
			c = e.signIn()
		}
		page := "/console/connectors/crm/actions/create-contact"
		r := e.do(c, "GET", page+"?tenant="+tenant, nil)
		csrf := csrfOf(t, r.body)
		form := url.Values{"tenant": {tenant}, "connection": {conn.ID}, "/input/email": {"ada@example.com"}}
		for name, f := range map[string]url.Values{"no token": form, "a wrong token": with(form, "csrf", csrf+"x")} {
			if r := e.do(c, "POST", page, f); r.StatusCode != http.StatusForbidden || strings.Contains(r.body, contact) {
				t.Errorf("open=%v, %s: %d", open, name, r.StatusCode)
			}
		}
		// Another browser's session (Open makes one for anyone) does not help.
		if r := e.do(client(), "POST", page, with(form, "csrf", csrf)); r.StatusCode != http.StatusForbidden && r.StatusCode != http.StatusUnauthorized {
			t.Errorf("open=%v, another session: %d", open, r.StatusCode)
		}
		if r := e.do(c, "POST", page, with(form, "csrf", csrf), "Origin", "https://evil.example"); r.StatusCode != http.StatusForbidden {
			t.Errorf("open=%v, a foreign origin: %d", open, r.StatusCode)
		}
		r = e.do(c, "POST", page, with(form, "csrf", csrf), "Origin", "http://127.0.0.1")
		if r.StatusCode != http.StatusOK || !strings.Contains(r.body, contact) {
			t.Errorf("open=%v, the right token: %d\n%s", open, r.StatusCode, r.body)
		}
		e.noLeaks()
	}
}

func with(v url.Values, kv ...string) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = vs
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out.Set(kv[i], kv[i+1])
	}
	return out
}

// Open (dev) answers loopback host names only, against DNS rebinding.
func TestOpenLoopbackOnly(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{open: true})
	for host, want := range map[string]int{"127.0.0.1:8080": 200, "localhost:8080": 200, "[::1]:8080": 200, "app.localhost": 200,
		"evil.example": 403, "evil.example:8080": 403, "10.0.0.1": 403} {
		req, _ := http.NewRequest("GET", "http://"+host+"/console/", nil)
		req.Host, req.RemoteAddr = host, "127.0.0.1:50000"
		rec := newRecorder()
		e.front.ServeHTTP(rec, req)
		if rec.Code != want {
			t.Errorf("Host %s: %d, want %d", host, rec.Code, want)
		}
	}
	// Another machine, even naming localhost.
	req, _ := http.NewRequest("GET", "http://localhost/console/", nil)
	req.RemoteAddr = "192.168.1.20:50000"
	rec := newRecorder()
	e.front.ServeHTTP(rec, req)
	if rec.Code != http.StatusForbidden {
		t.Errorf("a request from another machine: %d", rec.Code)
	}
}

func TestNotFound(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{open: true})
	c := client()
	for _, path := range []string{"/console/connectors/nope", "/console/connectors/nope/actions/create-contact",
		"/console/connectors/crm/actions/nope", "/console/connectors/crm/events/nope", "/console/tenants/acme/runs/run_nope",
		"/console/tenants/bad%20key", "/console/nothing-here"} {
		if r := e.do(c, "GET", path, nil); r.StatusCode != http.StatusNotFound {
			t.Errorf("%s: %d", path, r.StatusCode)
		}
	}
	for _, path := range []string{"/console/connectors/crm", "/console/connectors/crm/actions/create-contact",
		"/console/connectors/crm/events/contact-changed", "/console/diagnostics", "/console/tenants", "/console/tenants/acme"} {
		if r := e.do(c, "GET", path, nil); r.StatusCode != http.StatusOK {
			t.Errorf("%s: %d", path, r.StatusCode)
		}
	}
	// An action named by the universal action it implements.
	if r := e.do(c, "GET", "/console/connectors/crm/actions/create-contact", nil); !strings.Contains(r.body, "Where the contact is reached.") {
		t.Error("the action page shows no input schema")
	}
}

// A run that fails shows the engine's error, each violation by its field,
// and nothing is sent; a connection of another tenant is not found.
func TestRunErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{open: true})
	conn := e.connect()
	c := client()
	page := "/console/connectors/crm/actions/create-contact"
	csrf := csrfOf(t, e.do(c, "GET", page+"?tenant="+tenant, nil).body)
	r := e.do(c, "POST", page, url.Values{"csrf": {csrf}, "tenant": {tenant}, "connection": {conn.ID}, "/input/firstName": {"Ada"}})
	if r.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(r.body, "invalid-input") || !strings.Contains(r.body, "Email is required.") {
		t.Errorf("invalid input: %d\n%s", r.StatusCode, r.body)
	}
	r = e.do(c, "POST", page, url.Values{"csrf": {csrf}, "tenant": {"other"}, "connection": {conn.ID}, "/input/email": {"ada@example.com"}})
	if r.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(r.body, "no such connection") {
		t.Errorf("another tenant's connection: %d", r.StatusCode)
	}
	r = e.do(c, "POST", page, url.Values{"csrf": {csrf}, "tenant": {tenant}, "/input/email": {"ada@example.com"}})
	if r.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(r.body, "Choose a connection") {
		t.Errorf("no connection: %d", r.StatusCode)
	}
	e.noLeaks()
}

// The tenant page links to the connect page through the console, which
// mints the token at the click; without a minter it shows the API way.
func TestConnectLink(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{open: true})
	c := client()
	r := e.do(c, "GET", "/console/tenants/acme", nil)
	if !strings.Contains(r.body, `href="/console/tenants/acme/connect?connector=crm"`) {
		t.Fatalf("no connect link:\n%s", r.body)
	}
	r = e.do(c, "GET", "/console/tenants/acme/connect?connector=crm", nil)
	loc, _ := url.Parse(r.Header.Get("Location"))
	if r.StatusCode != http.StatusSeeOther || loc.Path != "/connect" || loc.Query().Get("connector") != "crm" || strings.Contains(r.body, "token") {
		t.Fatalf("connect: %d %v", r.StatusCode, loc)
	}
	v, _ := tenancy.NewVerifier(wsKey, tenancy.Keys{HMACSecret: []byte(secret)})
	claims, err := v.Verify(loc.Query().Get("token"))
	if err != nil || claims.Tenant != tenant || claims.Admin || time.Until(claims.ExpiresAt) > 6*time.Minute {
		t.Errorf("the minted token: %+v %v", claims, err)
	}
	if r := e.do(c, "GET", "/console/tenants/acme/connect?connector=nope", nil); r.StatusCode != http.StatusNotFound {
		t.Errorf("an unknown connector: %d", r.StatusCode)
	}

	e = newEnv(t, envOptions{open: true, noMinter: true})
	r = e.do(client(), "GET", "/console/tenants/acme", nil)
	if strings.Contains(r.body, "/connect?connector=") || !strings.Contains(r.body, "POST /v1/connections") {
		t.Errorf("without a minter the page should show the API way")
	}
}

// A failed multi-step run shows where it failed and what it had done.
func TestRunViewShowsPartialOutput(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{open: true})
	e.addAction("two-steps", `kind: Action
connector: crm
key: two-steps
steps:
  - name: create
    request: {method: POST, path: /contacts, body: {email: ada@example.com}}
    output: {id: "${ response.body.id }"}
  - name: tag
    forEach: ${ ['vip'] }
    request: {method: POST, path: /nowhere}
`)
	conn := e.connect()
	c := client()
	page := "/console/connectors/crm/actions/two-steps"
	csrf := csrfOf(t, e.do(c, "GET", page+"?tenant="+tenant, nil).body)
	r := e.do(c, "POST", page, url.Values{"csrf": {csrf}, "tenant": {tenant}, "connection": {conn.ID}})
	for _, want := range []string{`Failed at step <code>tag</code>, item 0.`, `id="partial"`, contact} {
		if !strings.Contains(r.body, want) {
			t.Errorf("the run view lacks %q:\n%s", want, r.body)
		}
	}
	e.noLeaks()
}
