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

// The client both test servers know.
const (
	testClientID     = "membrane-test"
	testClientSecret = "membrane-test-secret"
)

// peer is one of the OAuth2 authorization servers the tests run against.
type peer struct {
	name string
	// start starts the server for one test, its access tokens living ttl
	// seconds.
	start func(t *testing.T, ttl int) authServer
	// pkceCode is the error code the server answers a code_verifier that
	// does not match the code_challenge with, and pkceSays is part of its
	// error_description.
	pkceCode, pkceSays string
}

// peers are the servers: go-oauth2, in process, always; npm's
// oauth2-mock-server where Node and the package are installed (skipped
// without them, failed when CI is set).
func peers() []peer {
	return []peer{
		{name: "go-oauth2", start: startGoServer, pkceCode: "invalid_grant", pkceSays: "grant"}, // RFC 7636 §4.6
		{name: "oauth2-mock-server", start: startNodeServer, pkceCode: "invalid_request", pkceSays: "code_verifier"},
	}
}

// eachPeer runs test once on each peer, as parallel subtests named after
// them.
func eachPeer(t *testing.T, test func(t *testing.T, p peer)) {
	t.Helper()
	for _, p := range peers() {
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			test(t, p)
		})
	}
}

// authServer is a running peer, with what the tests ask of it beyond
// OAuth2: what it counted, and failures it is told to answer.
type authServer interface {
	URL() string
	// stats is what the server counted.
	stats(t *testing.T) serverStats
	// tokenRequests is how many requests reached POST /token.
	tokenRequests(t *testing.T) int
	// next changes the server's next token response.
	next(t *testing.T, o override)
	// slow makes token requests take long enough that concurrent callers
	// arrive while one is under way, until release is called (Node's
	// server waits 200 ms in each; go-oauth2 is held until release).
	slow(t *testing.T) (release func())
	// revoke invalidates every refresh token the server issued.
	revoke(t *testing.T)
}

// serverStats is what a server counted of its token requests: how many,
// by grant, the client authentication each used ("basic", "body", or
// "bad" when refused), and the refresh tokens still valid.
type serverStats struct {
	TokenRequests     int            `json:"tokenRequests"`
	Grants            map[string]int `json:"grants"`
	ClientAuth        []string       `json:"clientAuth"`
	LiveRefreshTokens int            `json:"liveRefreshTokens"`
}

// override changes one token response. A Status of 300 or more stands in
// for the server's answer, with Body: nothing is issued, and a refresh
// token sent stays valid. Otherwise the grant runs, then Status and Body
// replace the answer's and the fields in Omit are dropped from it.
type override struct {
	Status int      `json:"status,omitempty"`
	Body   any      `json:"body,omitempty"`
	Omit   []string `json:"omit,omitempty"`
}

// nodeServer is oauth2-mock-server, from npm, started by
// testdata/oauth-server.mjs for one test.
type nodeServer struct {
	url string
}

func startNodeServer(t *testing.T, ttl int) authServer {
	t.Helper()
	return &nodeServer{url: testkit.OAuthServer(t, ttl, testClientID, testClientSecret)}
}

func (s *nodeServer) URL() string { return s.url }

func (s *nodeServer) stats(t *testing.T) serverStats {
	t.Helper()
	var st serverStats
	s.control(t, http.MethodGet, "stats", nil, &st)
	return st
}

func (s *nodeServer) tokenRequests(t *testing.T) int {
	t.Helper()
	return s.stats(t).TokenRequests
}

func (s *nodeServer) next(t *testing.T, o override) {
	t.Helper()
	s.control(t, http.MethodPost, "next", o, nil)
}

func (s *nodeServer) slow(t *testing.T) func() {
	t.Helper()
	s.control(t, http.MethodPost, "config", map[string]any{"delayMs": 200}, nil)
	return func() {}
}

func (s *nodeServer) revoke(t *testing.T) {
	t.Helper()
	s.control(t, http.MethodPost, "revoke", map[string]any{}, nil)
}

func (s *nodeServer) control(t *testing.T, method, name string, in, out any) {
	t.Helper()
	var body bytes.Buffer
	if in != nil {
		json.NewEncoder(&body).Encode(in)
	}
	req, _ := http.NewRequest(method, s.url+"/__control/"+name, &body)
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

// env is one test's server, manager, store and provider.
type env struct {
	srv   authServer
	clock *clock
	store *MemStore
	m     *Manager
	p     *Provider
}

// newEnv starts the peer's server and a manager for the auth block given.
func newEnv(t *testing.T, p peer, auth string) *env {
	t.Helper()
	srv := p.start(t, 5)
	e := &env{srv: srv, clock: newClock(), store: NewMemStore()}
	e.store.Now = e.clock.Now
	e.p = &Provider{Connector: "mock", Auth: compileAuth(t, srv.URL(), auth), ClientID: testClientID, ClientSecret: testClientSecret}
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
