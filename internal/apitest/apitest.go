// Package apitest runs the REST API for tests: the real handler on a
// loopback server, over a real store, a connections.Service and a small
// workspace (runtime/api/testdata/ws) whose connectors talk to a loopback
// app, Upstream, playing the connected API. The api and client tests share
// it.
package apitest

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

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
	// Workspace is the tokens' issuer.
	Workspace = "api-test"
	// GoodKey is the API key Upstream accepts; BadKey one it refuses.
	// Both are long enough for the engine to redact.
	GoodKey = "key_good_0123456789abcdef"
	NewKey  = "key_new_9876543210fedcba"
	BadKey  = "key_bad_5555555555555555"
	// PublicURL is the server's public URL (the OAuth redirect's base).
	PublicURL = "https://membrane.test"
	// ReturnOrigin is the app's origin, where a returnUrl may be.
	ReturnOrigin = "https://app.example"
)

// Secret signs the tokens.
var Secret = []byte("api-test-secret-0123456789-abcdefghijklmnop")

// Env is a running API.
type Env struct {
	T        testing.TB
	URL      string // the API server, e.g. http://127.0.0.1:PORT
	Handler  http.Handler
	Connect  http.Handler // the connect page at PublicURL, where POST /v1/oauth/authorize leads (not served)
	Store    store.Store
	Service  *connections.Service
	Upstream *Upstream
	Minter   *tenancy.Minter
	Verifier *tenancy.Verifier
	logs     *testkit.Buffer
}

// New starts an API over the store open gives; tweaks adjust the
// connections service's options.
func New(t testing.TB, open storetest.Opener, tweaks ...func(*connections.Options)) *Env {
	t.Helper()
	return NewWithFiles(t, open, nil, tweaks...)
}

// NewWithFiles is New with more workspace files, by name (a membrane.yaml
// with the workspace's settings, say).
func NewWithFiles(t testing.TB, open storetest.Opener, files map[string]string, tweaks ...func(*connections.Options)) *Env {
	t.Helper()
	return NewWithAPI(t, open, files, nil, tweaks...)
}

// NewWithAPI is NewWithFiles whose API options apiTweak adjusts (the
// stream's timings, the networks a destination may point into).
func NewWithAPI(t testing.TB, open storetest.Opener, files map[string]string, apiTweak func(*api.Options), tweaks ...func(*connections.Options)) *Env {
	t.Helper()
	up := newUpstream(t)
	client := httpx.New(httpx.Config{AllowPrivate: true})
	dirs := []string{WorkspaceDir(), up.patchDir(t)}
	if len(files) > 0 {
		dir := t.TempDir()
		for name, doc := range files {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(doc), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		dirs = append(dirs, dir)
	}
	ws, diags, err := membrane.Load(membrane.Options{HTTP: client}, dirs...)
	if err != nil {
		t.Fatalf("load the test workspace: %v\n%v", err, diags)
	}
	keys, err := crypt.New(crypt.Generate())
	if err != nil {
		t.Fatal(err)
	}
	st := open(store.WithKeyring(keys), store.WithLogger(storetest.Quiet()))
	clients := func(connector string) (string, string, bool) {
		if connector == "oauthcrm" {
			return "client-1", "client-secret-1", true
		}
		return "", "", false
	}
	m, err := oauth.New(oauth.Options{HTTP: client, Tokens: connections.NewTokenStore(st), States: connections.NewStateStore(st),
		Providers: connections.Providers(ws, clients)})
	if err != nil {
		t.Fatal(err)
	}
	o := connections.Options{Store: st, Workspace: ws, OAuth: m, OAuthClients: clients, HTTP: client, Logger: storetest.Quiet()}
	for _, tw := range tweaks {
		tw(&o)
	}
	svc := connections.New(o)
	v, err := tenancy.NewVerifier(Workspace, tenancy.Keys{HMACSecret: Secret})
	if err != nil {
		t.Fatal(err)
	}
	minter, err := tenancy.NewMinter(Workspace, Secret)
	if err != nil {
		t.Fatal(err)
	}
	page, err := connect.New(connect.Options{Service: svc, Verifier: v, PublicURL: PublicURL, ReturnOrigins: []string{ReturnOrigin},
		SessionKey: Secret, States: connections.NewStateStore(st), Logger: storetest.Quiet()})
	if err != nil {
		t.Fatal(err)
	}
	logs := &testkit.Buffer{}
	ao := api.Options{Service: svc, Store: st, Verifier: v, OAuthLinks: page, PublicURL: PublicURL,
		Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	if apiTweak != nil {
		apiTweak(&ao)
	}
	h := api.New(ao)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &Env{T: t, URL: srv.URL, Handler: h, Connect: page, Store: st, Service: svc, Upstream: up, Minter: minter, Verifier: v, logs: logs}
}

// WorkspaceDir is runtime/api/testdata/ws, wherever the test runs from.
func WorkspaceDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "runtime", "api", "testdata", "ws")
}

// Token mints a tenant token valid for an hour.
func (e *Env) Token(tenant string) string { return e.mint(tenancy.Claims{Tenant: tenant}) }

// AdminToken mints an admin token of tenant.
func (e *Env) AdminToken(tenant string) string {
	return e.mint(tenancy.Claims{Tenant: tenant, Admin: true})
}

func (e *Env) mint(c tenancy.Claims) string {
	e.T.Helper()
	tok, err := e.Minter.Mint(c, time.Hour)
	if err != nil {
		e.T.Fatal(err)
	}
	return tok
}

// Logs is every line the API logged so far.
func (e *Env) Logs() string { return e.logs.String() }

// Upstream is the connected app: a CRM taking an X-Api-Key header.
//
//	GET  /me             200 (the test request)
//	POST /contacts       200 {id: c_1}; email taken@example.com 409, boom@example.com 500
//	GET  /contacts/{id}  200 for c_1, else 404
//
// A refused key is echoed in the error body, and an accepted one in
// /contacts' answer: the runtime must hide both.
type Upstream struct {
	srv *httptest.Server

	mu    sync.Mutex
	keys  map[string]bool
	calls int
	// hold, when set, holds the next POST /contacts until it is closed;
	// arrived is closed when that request arrives.
	hold, arrived chan struct{}
}

// HoldNext holds the next POST /contacts until release is called;
// arrived is closed when it reaches the upstream.
func (u *Upstream) HoldNext() (arrived <-chan struct{}, release func()) {
	u.mu.Lock()
	defer u.mu.Unlock()
	hold, arr := make(chan struct{}), make(chan struct{})
	u.hold, u.arrived = hold, arr
	return arr, sync.OnceFunc(func() { close(hold) })
}

func newUpstream(t testing.TB) *Upstream {
	u := &Upstream{keys: map[string]bool{GoodKey: true, NewKey: true}}
	u.srv = httptest.NewServer(http.HandlerFunc(u.serve))
	t.Cleanup(u.srv.Close)
	return u
}

// URL is the upstream's base URL.
func (u *Upstream) URL() string { return u.srv.URL }

// Revoke makes the upstream refuse key from now on.
func (u *Upstream) Revoke(key string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	delete(u.keys, key)
}

// Calls counts the requests the upstream accepted.
func (u *Upstream) Calls() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.calls
}

func reply(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (u *Upstream) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	key := r.Header.Get("X-Api-Key")
	u.mu.Lock()
	ok := u.keys[key]
	if ok {
		u.calls++
	}
	u.mu.Unlock()
	if !ok {
		reply(w, http.StatusUnauthorized, map[string]any{"error": "invalid key " + key})
		return
	}
	switch {
	case r.Method == "GET" && r.URL.Path == "/me":
		reply(w, http.StatusOK, map[string]any{"account": "acme", "region": r.Header.Get("X-Region")})
	case r.Method == "POST" && r.URL.Path == "/contacts":
		u.mu.Lock()
		hold, arrived := u.hold, u.arrived
		u.hold, u.arrived = nil, nil
		u.mu.Unlock()
		if hold != nil {
			close(arrived)
			<-hold
		}
		var in map[string]any
		_ = json.Unmarshal(body, &in)
		switch in["email"] {
		case "taken@example.com":
			reply(w, http.StatusConflict, map[string]any{"error": "a contact has this email"})
		case "boom@example.com":
			reply(w, http.StatusInternalServerError, map[string]any{"error": "boom"})
		default:
			reply(w, http.StatusOK, map[string]any{"id": "c_1", "debug": "called with " + key})
		}
	case r.Method == "GET" && strings.HasPrefix(r.URL.Path, "/contacts/"):
		if r.URL.Path != "/contacts/c_1" {
			reply(w, http.StatusNotFound, map[string]any{"error": "no such contact"})
			return
		}
		reply(w, http.StatusOK, map[string]any{"id": "c_1", "email": "ada@example.com"})
	default:
		reply(w, http.StatusNotFound, map[string]any{"error": "no route"})
	}
}

// RegionalTenant is a tenant whose crm connections reach the API on a
// subdomain their region parameter names (RegionalHost), by a workspace
// file: how a tenant's values meet the connector's host policy.
const (
	RegionalTenant = "regional"
	RegionalHost   = "crm.test"
)

// patchDir writes an override file pointing the crm connector at
// the upstream, for every tenant: their baseUrl in testdata is a
// placeholder, since the upstream's port changes with every run. Tenant
// RegionalTenant's go to <region>.RegionalHost on the upstream's port.
func (u *Upstream) patchDir(t testing.TB) string {
	dir := t.TempDir()
	_, port, _ := strings.Cut(strings.TrimPrefix(u.srv.URL, "http://"), ":")
	for name, doc := range map[string]string{
		"upstream.yaml": "kind: ConnectionOverride\nconnector: crm\nconnectorPatch:\n  baseUrl: " + u.srv.URL + "\n",
		"deskcrm.yaml":  "kind: ConnectionOverride\nconnector: deskcrm\nconnectorPatch:\n  baseUrl: " + u.srv.URL + "\n",
		"regional.yaml": "kind: ConnectionOverride\ntenant: " + RegionalTenant + "\nconnector: crm\nconnectorPatch:\n" +
			"  baseUrl: http://${ connection.parameters.region }." + RegionalHost + ":" + port + "\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}
