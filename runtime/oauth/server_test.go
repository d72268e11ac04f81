package oauth

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/membrane-dev/membrane/internal/testkit"
	"github.com/membrane-dev/membrane/runtime/httpx"
	"github.com/membrane-dev/membrane/spec"
	"github.com/membrane-dev/membrane/spec/compile"
)

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
	srv   testkit.OAuthServer
	clock *clock
	store *MemStore
	m     *Manager
	p     *Provider
}

// newEnv starts the peer's server and a manager for the auth block given.
func newEnv(t *testing.T, p testkit.OAuthPeer, auth string) *env {
	t.Helper()
	srv := p.Start(t, 5)
	e := &env{srv: srv, clock: newClock(), store: NewMemStore()}
	e.store.Now = e.clock.Now
	e.p = &Provider{Connector: "mock", Auth: compileAuth(t, srv.URL(), auth), ClientID: testkit.OAuthClientID, ClientSecret: testkit.OAuthClientSecret}
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
