package oauth_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/membrane-dev/membrane"
	"github.com/membrane-dev/membrane/internal/testkit"
	"github.com/membrane-dev/membrane/runtime/engine"
	"github.com/membrane-dev/membrane/runtime/httpx"
	"github.com/membrane-dev/membrane/runtime/oauth"
	"github.com/membrane-dev/membrane/spec"
	"github.com/membrane-dev/membrane/spec/compile"
)

// regionalConnector has a token URL on a subdomain a connection
// parameter gives; {{GRANT}} and {{PORT}} are filled in (see regional).
const regionalConnector = `kind: Connector
key: regional
baseUrl: https://api.example.com
parameters: {type: object, properties: {region: {type: string}}}
auth:
  type: oauth2
  grant: {{GRANT}}{{AUTHZ}}
  tokenUrl: http://${ connection.parameters.region }.auth.test:{{PORT}}/token
`

const regionalAction = "kind: Action\nconnector: regional\nkey: me\nrequest: {path: /me}\n"

// listener is a real loopback server that counts what reaches it: where
// a parameter that names a host would have sent the client secret.
func listener(t *testing.T) (*httptest.Server, *atomic.Int64, string) {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"access_token":"stolen","token_type":"bearer","expires_in":3600,"refresh_token":"r"}`))
	}))
	t.Cleanup(srv.Close)
	return srv, &n, strings.TrimPrefix(srv.URL, "http://127.0.0.1:")
}

// regional is regionalConnector for a grant and the token URL's port.
func regional(grant, port string) string {
	authz := ""
	if grant == "authorizationCode" {
		authz = "\n  authorizationUrl: https://login.example.com/authorize"
	}
	return strings.NewReplacer("{{GRANT}}", grant, "{{AUTHZ}}", authz, "{{PORT}}", port).Replace(regionalConnector)
}

func regionalProvider(t *testing.T, grant, port string) *oauth.Provider {
	t.Helper()
	src := regional(grant, port)
	els, diags := spec.LoadFile("connector.yaml", []byte(src))
	if diags.HasErrors() {
		t.Fatalf("connector: %v", diags)
	}
	cc := compile.NewConnector(els[0].(*spec.Connector), &diags)
	if diags.HasErrors() {
		t.Fatalf("connector: %v", diags)
	}
	return &oauth.Provider{Connector: "regional", Auth: cc.Auth, ClientID: testkit.OAuthClientID, ClientSecret: testkit.OAuthClientSecret}
}

// badRegions each try to move the token request to the listener on port.
func badRegions(port string) []string {
	return []string{"127.0.0.1:" + port + "#", "x@127.0.0.1:" + port + "/", "127.0.0.1:" + port + "/", "evil.com/", "a.b", "%2e", "BÜCHER", ""}
}

func newManager(t *testing.T, p *oauth.Provider, tokens *oauth.MemStore, client *httpx.Client) *oauth.Manager {
	t.Helper()
	m, err := oauth.New(oauth.Options{HTTP: client, Tokens: tokens, States: tokens,
		Providers: func(context.Context, oauth.ProviderRequest) (*oauth.Provider, error) { return p, nil }})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func wantURLError(t *testing.T, what, value string, err error) {
	t.Helper()
	var ue *compile.URLError
	if !errors.As(err, &ue) {
		t.Fatalf("%s with region %q: got %v, want a *compile.URLError", what, value, err)
	}
	if ue.Connector != "regional" || ue.Field != compile.FieldTokenURL || ue.Parameter != "region" {
		t.Errorf("%s with region %q: the error names %q, %q, %q", what, value, ue.Connector, ue.Field, ue.Parameter)
	}
	if strings.Contains(err.Error(), testkit.OAuthClientSecret) {
		t.Errorf("%s: the error holds the client secret: %v", what, err)
	}
}

// countingStates counts the states saved: a refused Begin saves none.
type countingStates struct {
	*oauth.MemStore
	saved atomic.Int64
}

func (s *countingStates) SaveState(ctx context.Context, state string, data []byte, exp time.Time) error {
	s.saved.Add(1)
	return s.MemStore.SaveState(ctx, state, data, exp)
}

// TestBeginStaysOnTheFilesHosts: a parameter the token URL's host policy
// refuses stops the flow at Begin, before the user is sent to consent
// (no consent URL, no state saved), not at the code exchange after they
// did; the exchange, which carries the workspace's client secret, can
// then never be sent to a host the parameter chose. A valid region
// begins.
func TestBeginStaysOnTheFilesHosts(t *testing.T) {
	_, n, port := listener(t)
	p := regionalProvider(t, "authorizationCode", port)
	states := &countingStates{MemStore: oauth.NewMemStore()}
	m, err := oauth.New(oauth.Options{HTTP: httpx.New(httpx.Config{AllowPrivate: true}), Tokens: states.MemStore, States: states,
		Providers: func(context.Context, oauth.ProviderRequest) (*oauth.Provider, error) { return p, nil }})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, v := range badRegions(port) {
		consent, err := m.Begin(ctx, oauth.BeginRequest{Tenant: "acme", Connector: "regional",
			Parameters: map[string]any{"region": v}, RedirectURI: "http://localhost:3000/callback"})
		if consent != "" {
			t.Errorf("region %q: Begin gave a consent URL %q", v, consent)
		}
		wantURLError(t, "Begin", v, err)
	}
	if got := states.saved.Load(); got != 0 {
		t.Errorf("%d states were saved for refused parameters", got)
	}
	if got := n.Load(); got != 0 {
		t.Errorf("the listener a parameter named received %d token requests", got)
	}
	consent, err := m.Begin(ctx, oauth.BeginRequest{Tenant: "acme", Connector: "regional",
		Parameters: map[string]any{"region": "EU-West"}, RedirectURI: "http://localhost:3000/callback"})
	if err != nil || !strings.HasPrefix(consent, "https://login.example.com/authorize?") || states.saved.Load() != 1 {
		t.Fatalf("a valid region: %q, %v (%d states saved)", consent, err, states.saved.Load())
	}
}

// TestRefreshStaysOnTheFilesHosts: neither a refresh (which carries the
// client secret and the refresh token) nor a client credentials grant is
// sent to a host a parameter chose; through the engine the run fails
// with host-not-allowed.
func TestRefreshStaysOnTheFilesHosts(t *testing.T) {
	_, n, port := listener(t)
	client := httpx.New(httpx.Config{AllowPrivate: true})
	ctx := t.Context() // a hang is left to go test's -timeout
	for _, grant := range []string{"authorizationCode", "clientCredentials"} {
		p := regionalProvider(t, grant, port)
		tokens := oauth.NewMemStore()
		m := newManager(t, p, tokens, client)
		ws := regionalWorkspace(t, grant, port, client)
		for i, v := range badRegions(port) {
			id := grant + "-" + string(rune('a'+i))
			tokens.SaveToken(ctx, id, &oauth.Token{AccessToken: "old-access", RefreshToken: "refresh-1",
				Expiry: time.Now().Add(-time.Hour), IssuedAt: time.Now().Add(-2 * time.Hour)})
			conn := &engine.Connection{ID: id, Tenant: "acme", Parameters: map[string]any{"region": v}}
			a := m.NewAuthenticator(p, conn)
			err := a.Authorize(ctx, &httpx.Request{URL: "https://api.example.com/me"})
			wantURLError(t, grant, v, err)

			conn.Auth = a
			_, err = ws.Run(ctx, membrane.RunRequest{Connector: "regional", Action: "me", Connection: *conn})
			var ee *engine.Error
			if !errors.As(err, &ee) || ee.Type != engine.ErrHostNotAllowed {
				t.Errorf("%s, region %q: the run failed with %v, want a %s error", grant, v, err, engine.ErrHostNotAllowed)
			}
		}
	}
	if got := n.Load(); got != 0 {
		t.Errorf("the listener a parameter named received %d token requests", got)
	}
}

func regionalWorkspace(t *testing.T, grant, port string, client *httpx.Client) *membrane.Workspace {
	t.Helper()
	dir := t.TempDir()
	conn := regional(grant, port)
	for name, text := range map[string]string{"connector.yaml": conn, "me.yaml": regionalAction} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ws, diags, err := membrane.Load(membrane.Options{HTTP: client}, dir)
	if err != nil {
		t.Fatalf("load: %v\n%v", err, diags)
	}
	return ws
}

// TestRegionalTokenURLWorks: a valid region, in any case, reaches the
// token endpoint on that subdomain (the real OAuth2 server, dialed in
// place of DNS).
func TestRegionalTokenURLWorks(t *testing.T) {
	for _, peer := range testkit.OAuthPeers() {
		t.Run(peer.Name, func(t *testing.T) {
			srv := peer.Start(t, 3600)
			addr := strings.TrimPrefix(srv.URL(), "http://")
			_, port, _ := net.SplitHostPort(addr)
			var (
				mu     sync.Mutex
				dialed []string
			)
			client := httpx.New(httpx.Config{Dial: func(a string) (net.Conn, error) {
				mu.Lock()
				dialed = append(dialed, a)
				mu.Unlock()
				return net.Dial("tcp", addr)
			}})
			p := regionalProvider(t, "clientCredentials", port)
			m := newManager(t, p, oauth.NewMemStore(), client)
			a := m.NewAuthenticator(p, &engine.Connection{ID: "c1", Tenant: "acme", Parameters: map[string]any{"region": "EU-West"}})
			req := &httpx.Request{URL: "https://api.example.com/me"}
			if err := a.Authorize(context.Background(), req); err != nil {
				t.Fatalf("authorize: %v", err)
			}
			if !strings.HasPrefix(req.Header.Get("Authorization"), "Bearer ") {
				t.Errorf("no bearer token: %v", req.Header)
			}
			if got := srv.TokenRequests(t); got != 1 {
				t.Errorf("token requests = %d, want 1", got)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(dialed) == 0 || dialed[0] != "eu-west.auth.test:"+port {
				t.Errorf("dialed %v, want eu-west.auth.test:%s", dialed, port)
			}
		})
	}
}
