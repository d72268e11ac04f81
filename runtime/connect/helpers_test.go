package connect_test

import (
	"bytes"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"math/big"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/membrane-dev/membrane"
	"github.com/membrane-dev/membrane/internal/testkit"
	"github.com/membrane-dev/membrane/runtime/api"
	"github.com/membrane-dev/membrane/runtime/connect"
	"github.com/membrane-dev/membrane/runtime/connections"
	"github.com/membrane-dev/membrane/runtime/httpx"
	"github.com/membrane-dev/membrane/runtime/oauth"
	"github.com/membrane-dev/membrane/runtime/store"
	"github.com/membrane-dev/membrane/runtime/store/crypt"
	"github.com/membrane-dev/membrane/runtime/store/storetest"
	"github.com/membrane-dev/membrane/runtime/tenancy"
)

const (
	goodKey = "key_good_0123456789abcdef"
	badKey  = "key_bad_5555555555zyxwvu"
	secret  = "a-workspace-secret-of-at-least-32-bytes!!"
	tenant  = "acme"
)

// fakeApp is the connected app: GET /me answers 200 to goodKey, and to an
// OAuth access token that the OAuth2 server at oauthURL signed (checked as
// an API would, against the server's published keys); 401, echoing the
// key it refused, to anything else.
func fakeApp(t *testing.T, oauthURL string) *httptest.Server {
	keys := &jwks{url: oauthURL + "/jwks"}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		key := r.Header.Get("X-Api-Key")
		if bearer, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok && r.URL.Path == "/me" {
			sub, err := keys.verify(bearer)
			if err != nil {
				w.WriteHeader(http.StatusUnauthorized)
				json.NewEncoder(w).Encode(map[string]any{"error": "invalid token: " + err.Error()})
				return
			}
			json.NewEncoder(w).Encode(map[string]any{"account": "oauth:" + sub})
			return
		}
		if r.URL.Path != "/me" || key != goodKey {
			w.WriteHeader(http.StatusUnauthorized)
			json.NewEncoder(w).Encode(map[string]any{"error": "invalid key " + key})
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"account": "acme"})
	}))
	t.Cleanup(srv.Close)
	return srv
}

// jwks checks RS256 JWTs against the keys an OAuth2 server publishes.
type jwks struct {
	url  string
	once sync.Once
	keys map[string]*rsa.PublicKey
	err  error
}

func (k *jwks) load() {
	resp, err := http.Get(k.url)
	if err != nil {
		k.err = err
		return
	}
	defer resp.Body.Close()
	var set struct {
		Keys []struct{ Kid, Kty, N, E string }
	}
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		k.err = err
		return
	}
	k.keys = map[string]*rsa.PublicKey{}
	for _, key := range set.Keys {
		n, err1 := base64.RawURLEncoding.DecodeString(key.N)
		e, err2 := base64.RawURLEncoding.DecodeString(key.E)
		if key.Kty != "RSA" || err1 != nil || err2 != nil {
			continue
		}
		k.keys[key.Kid] = &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
	}
}

// verify returns the subject of a valid token.
func (k *jwks) verify(tok string) (string, error) {
	k.once.Do(k.load)
	if k.err != nil {
		return "", k.err
	}
	parsed, err := jwt.Parse(tok, func(tk *jwt.Token) (any, error) {
		kid, _ := tk.Header["kid"].(string)
		if key := k.keys[kid]; key != nil {
			return key, nil
		}
		return nil, errors.New("unknown key")
	}, jwt.WithValidMethods([]string{"RS256"}), jwt.WithExpirationRequired())
	if err != nil {
		return "", err
	}
	return parsed.Claims.GetSubject()
}

// returnApp is the app the user goes back to; it records where they land.
type returnApp struct {
	*httptest.Server
	mu     sync.Mutex
	landed []*url.URL
}

func newReturnApp(t *testing.T) *returnApp {
	a := &returnApp{}
	a.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		u := *r.URL
		a.landed = append(a.landed, &u)
		a.mu.Unlock()
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, `<!doctype html><title>App</title><h1 id="back-in-app">Back in the app</h1>`)
	}))
	t.Cleanup(a.Close)
	return a
}

type env struct {
	t      *testing.T
	st     store.Store
	svc    *connections.Service
	minter *tenancy.Minter
	page   *httptest.Server // the connect page; its URL is PublicURL
	app    *returnApp
	served *testkit.Served
	clock  *storetest.Clock
	tokens []string // every JWT minted, to look for
}

type envOptions struct {
	// oauthURL is the OAuth2 server of the oauthy connector; a closed
	// port when the test does not go through it.
	oauthURL      string
	returnOrigins []string
}

// newEnv serves the connect page of the testdata workspace on a loopback
// server, over a real SQLite store and connections service.
func newEnv(t *testing.T, o envOptions) *env {
	t.Helper()
	if o.oauthURL == "" {
		o.oauthURL = "http://127.0.0.1:9"
	}
	app := fakeApp(t, o.oauthURL)
	dir := testkit.CopyWorkspace(t, filepath.Join("testdata", "workspace"), map[string]string{"{{API}}": app.URL, "{{OAUTH}}": o.oauthURL})
	client := httpx.New(httpx.Config{AllowPrivate: true})
	ws, diags, err := membrane.Load(membrane.Options{HTTP: client}, dir)
	if err != nil {
		t.Fatalf("load: %v\n%v", err, diags)
	}
	keys, err := crypt.New(crypt.Generate())
	if err != nil {
		t.Fatal(err)
	}
	clock := storetest.NewClock()
	st := storetest.SQLite(t)(t)(store.WithKeyring(keys), store.WithClock(clock.Now), store.WithLogger(storetest.Quiet()))
	clients := func(connector string) (string, string, bool) {
		switch connector {
		case "oauthy", "regional", "tenanted", "dual":
			return testkit.OAuthClientID, testkit.OAuthClientSecret, true
		}
		return "", "", false
	}
	m, err := oauth.New(oauth.Options{HTTP: client, Tokens: connections.NewTokenStore(st), States: connections.NewStateStore(st),
		Providers: connections.Providers(ws, clients), Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	svc := connections.New(connections.Options{Store: st, Workspace: ws, OAuth: m, OAuthClients: clients, HTTP: client,
		Now: clock.Now, Logger: storetest.Quiet()})
	verifier, err := tenancy.NewVerifier("connect-test", tenancy.Keys{HMACSecret: []byte(secret)}, tenancy.WithClock(tokenClock(clock)))
	if err != nil {
		t.Fatal(err)
	}
	minter, err := tenancy.NewMinter("connect-test", []byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, st: st, svc: svc, minter: minter, app: newReturnApp(t), served: &testkit.Served{}, clock: clock}
	var h http.Handler
	e.page = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	t.Cleanup(e.page.Close)
	inner, err := connect.New(connect.Options{Service: svc, Verifier: verifier, PublicURL: e.page.URL,
		ReturnOrigins: o.returnOrigins, SessionKey: []byte(strings.Repeat("k", 32)), Logger: storetest.Quiet(), Now: clock.Now,
		States: connections.NewStateStore(st)})
	if err != nil {
		t.Fatal(err)
	}
	// The REST API beside the page, as the server mounts it: its OAuth
	// links lead to the page.
	mux := http.NewServeMux()
	mux.Handle("/v1/", api.New(api.Options{Service: svc, Store: st, Verifier: verifier, OAuthLinks: inner, Logger: storetest.Quiet()}))
	mux.Handle("/", e.served.Wrap(inner, nil))
	h = mux
	return e
}

// call sends a request to the REST API with a tenant token and decodes
// the JSON answer into out.
func (e *env) call(method, path, tok string, in, out any) int {
	e.t.Helper()
	var body io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, e.page.URL+path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			e.t.Fatalf("%s %s: %d %s: %v", method, path, resp.StatusCode, b, err)
		}
	}
	return resp.StatusCode
}

// tokenClock is the wall clock (tokens are minted with it) moved on as
// far as the test clock has been.
func tokenClock(c *storetest.Clock) func() time.Time {
	start := c.Now()
	return func() time.Time { return time.Now().Add(c.Now().Sub(start)) }
}

func (e *env) token() string {
	e.t.Helper()
	return e.tokenOf(tenant)
}

// tokenOf mints a token of another tenant.
func (e *env) tokenOf(tenant string) string {
	e.t.Helper()
	tok, err := e.minter.Mint(tenancy.Claims{Tenant: tenant}, time.Hour)
	if err != nil {
		e.t.Fatal(err)
	}
	e.tokens = append(e.tokens, tok)
	return tok
}

// link is the URL an app sends its user to.
func (e *env) link(tok, connector, returnURL string, extra ...string) string {
	q := url.Values{"token": {tok}, "connector": {connector}}
	if returnURL != "" {
		q.Set("returnUrl", returnURL)
	}
	for i := 0; i+1 < len(extra); i += 2 {
		q.Set(extra[i], extra[i+1])
	}
	return e.page.URL + "/connect?" + q.Encode()
}

// client is a browser without JavaScript: cookies, no redirects followed.
func (e *env) client() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

type response struct {
	*http.Response
	body string
}

func do(t *testing.T, c *http.Client, method, u string, form url.Values) response {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{resp, string(b)}
}

// csrfOf reads the CSRF token of the page's form.
func csrfOf(t *testing.T, html string) string {
	t.Helper()
	const marker = `name="csrf" value="`
	i := strings.Index(html, marker)
	if i < 0 {
		t.Fatalf("no CSRF field in:\n%s", html)
	}
	rest := html[i+len(marker):]
	return rest[:strings.IndexByte(rest, '"')]
}

// noLeaks fails when a response of the page showed a secret or a JWT,
// or sent a token parameter in a Location.
func (e *env) noLeaks(secrets ...string) {
	e.t.Helper()
	secrets = append(secrets, e.tokens...)
	for _, r := range e.served.All() {
		for _, s := range secrets {
			if strings.Contains(r.Body, s) {
				e.t.Errorf("%s %s answered a body holding a secret %.8s…", r.Method, r.URL, s)
			}
			for k, vs := range r.Header {
				for _, v := range vs {
					if strings.Contains(v, s) {
						e.t.Errorf("%s %s: header %s holds a secret %.8s…", r.Method, r.URL, k, s)
					}
				}
			}
		}
		loc := r.Header.Get("Location")
		if u, err := url.Parse(loc); err != nil || u.Query().Has("token") {
			e.t.Errorf("%s %s: Location %q carries a token", r.Method, r.URL, loc)
		}
	}
}

func tenancyClaims() tenancy.Claims { return tenancyClaimsOf(tenant) }

func tenancyClaimsOf(t string) tenancy.Claims { return tenancy.Claims{Tenant: t} }

// httpsHandler is the env's page as served behind https.
func httpsHandler(t *testing.T, e *env) http.Handler {
	t.Helper()
	v, err := tenancy.NewVerifier("connect-test", tenancy.Keys{HMACSecret: []byte(secret)}, tenancy.WithClock(tokenClock(e.clock)))
	if err != nil {
		t.Fatal(err)
	}
	h, err := connect.New(connect.Options{Service: e.svc, Verifier: v, PublicURL: "https://connect.example.com",
		SessionKey: []byte(strings.Repeat("k", 32)), Logger: storetest.Quiet(), Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func serve(h http.Handler, method, target string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, target, nil))
	return rec
}
