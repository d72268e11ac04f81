package oauth

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/membrane-dev/membrane/internal/testkit"
	"github.com/membrane-dev/membrane/runtime/httpx"
	"github.com/membrane-dev/membrane/spec"
	"github.com/membrane-dev/membrane/spec/compile"
)

// The client the test server expects (testdata/oauth-server.mjs).
const (
	testClientID     = "membrane-test"
	testClientSecret = "membrane-test-secret"
)

// authServer is oauth2-mock-server, from npm, started by
// testdata/oauth-server.mjs for one test.
type authServer struct {
	URL string
}

// startAuthServer starts the server with a token lifetime of ttl seconds.
func startAuthServer(t *testing.T, ttl int) *authServer {
	t.Helper()
	return &authServer{URL: testkit.OAuthServer(t, ttl, testClientID, testClientSecret)}
}

// serverStats is what the server counted (GET /__control/stats).
type serverStats struct {
	TokenRequests     int            `json:"tokenRequests"`
	Grants            map[string]int `json:"grants"`
	ClientAuth        []string       `json:"clientAuth"`
	LiveRefreshTokens int            `json:"liveRefreshTokens"`
}

func (s *authServer) stats(t *testing.T) serverStats {
	t.Helper()
	var st serverStats
	s.control(t, http.MethodGet, "stats", nil, &st)
	return st
}

// tokenRequests is how many requests reached POST /token.
func (s *authServer) tokenRequests(t *testing.T) int {
	t.Helper()
	return s.stats(t).TokenRequests
}

// next changes the server's next token response: status, body, omit.
func (s *authServer) next(t *testing.T, override map[string]any) {
	t.Helper()
	s.control(t, http.MethodPost, "next", override, nil)
}

// configure sets the token lifetime (ttl) and a delay (delayMs).
func (s *authServer) configure(t *testing.T, cfg map[string]any) {
	t.Helper()
	s.control(t, http.MethodPost, "config", cfg, nil)
}

// revoke invalidates every refresh token the server issued.
func (s *authServer) revoke(t *testing.T) {
	t.Helper()
	s.control(t, http.MethodPost, "revoke", map[string]any{}, nil)
}

func (s *authServer) control(t *testing.T, method, name string, in, out any) {
	t.Helper()
	var body bytes.Buffer
	if in != nil {
		json.NewEncoder(&body).Encode(in)
	}
	req, _ := http.NewRequest(method, s.URL+"/__control/"+name, &body)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("control %s: %v", name, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("control %s: status %d", name, resp.StatusCode)
	}
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatalf("control %s: %v", name, err)
		}
	}
}

// clock is a test clock that only moves when told.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Now()} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// compileAuth compiles the auth block of a connector whose YAML is given
// (auth only, indented by two spaces), with {{URL}} replaced by url.
func compileAuth(t *testing.T, url, auth string) *compile.Auth {
	t.Helper()
	src := "kind: Connector\nkey: mock\nbaseUrl: https://api.example.com\n" +
		"parameters: {type: object, properties: {tokenPath: {type: string}}}\n" +
		"auth:\n" + strings.ReplaceAll(auth, "{{URL}}", url)
	els, diags := spec.LoadFile("connector.yaml", []byte(src))
	if diags.HasErrors() {
		t.Fatalf("connector: %v", diags)
	}
	c, ok := els[0].(*spec.Connector)
	if !ok {
		t.Fatalf("connector: got %T", els[0])
	}
	cc := compile.NewConnector(c, &diags)
	if diags.HasErrors() {
		t.Fatalf("connector: %v", diags)
	}
	return cc.Auth
}

// codeAuth is an authorization code connector on the test server; its
// token URL uses a connection parameter (tokenPath: token).
const codeAuth = `  type: oauth2
  grant: authorizationCode
  authorizationUrl: "{{URL}}/authorize"
  tokenUrl: "{{URL}}/${ connection.parameters.tokenPath }"
  scopes: [openid, contacts.read]
  scopeSeparator: ","
  authorizationParams: {prompt: consent, state: not-this-one}
`

var codeParams = map[string]any{"tokenPath": "token"}

// env is one test's manager, store and provider.
type env struct {
	srv   *authServer
	clock *clock
	store *MemStore
	m     *Manager
	p     *Provider
}

// newEnv starts a server and a manager for the auth block given.
func newEnv(t *testing.T, auth string) *env {
	t.Helper()
	srv := startAuthServer(t, 5)
	e := &env{srv: srv, clock: newClock(), store: NewMemStore()}
	e.store.Now = e.clock.Now
	e.p = &Provider{Connector: "mock", Auth: compileAuth(t, srv.URL, auth), ClientID: testClientID, ClientSecret: testClientSecret}
	e.m = e.manager(t, e.store)
	return e
}

// manager is another Manager on the same store: another replica.
func (e *env) manager(t *testing.T, store TokenStore) *Manager {
	t.Helper()
	m, err := New(Options{
		HTTP:        httpx.New(httpx.Config{AllowPrivate: true}), // the server is on loopback
		Tokens:      store,
		States:      e.store,
		StateSecret: []byte(strings.Repeat("k", 32)),
		Providers: func(_ context.Context, r ProviderRequest) (*Provider, error) {
			if r.Connector != e.p.Connector {
				return nil, nil
			}
			return e.p, nil
		},
		Now: e.clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}
