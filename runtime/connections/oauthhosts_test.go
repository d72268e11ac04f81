package connections_test

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/membrane-dev/membrane"
	"github.com/membrane-dev/membrane/internal/testkit"
	"github.com/membrane-dev/membrane/runtime/connections"
	"github.com/membrane-dev/membrane/runtime/httpx"
	"github.com/membrane-dev/membrane/runtime/oauth"
	"github.com/membrane-dev/membrane/runtime/store"
	"github.com/membrane-dev/membrane/runtime/store/crypt"
	"github.com/membrane-dev/membrane/runtime/store/storetest"
)

// oauthSetup is a Service on a workspace of files, wired as the server
// wires it: the manager's providers read the Service's workspace.
type oauthSetup struct {
	svc   *connections.Service
	st    store.Store
	clock *storetest.Clock
}

func newOAuthSetup(t *testing.T, files, vars map[string]string) *oauthSetup {
	t.Helper()
	dir := testkit.Workspace(t, files, vars)
	client := httpx.New(httpx.Config{AllowPrivate: true}) // the OAuth2 server is on loopback
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
	clients := func(string) (string, string, bool) { return testkit.OAuthClientID, testkit.OAuthClientSecret, true }
	var svc *connections.Service
	m, err := oauth.New(oauth.Options{HTTP: client, Tokens: connections.NewTokenStore(st), States: connections.NewStateStore(st),
		Providers: connections.CurrentProviders(func() *membrane.Workspace { return svc.Workspace() }, clients), Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	svc = connections.New(connections.Options{Store: st, Workspace: ws, OAuth: m, OAuthClients: clients, HTTP: client,
		Now: clock.Now, Logger: storetest.Quiet()})
	return &oauthSetup{svc: svc, st: st, clock: clock}
}

// regionalOAuth's token URL is on a subdomain a parameter gives; its
// authorization URL is fixed.
const regionalOAuth = `kind: Connector
key: regional
baseUrl: https://api.regional.example
parameters: {type: object, required: [region], properties: {region: {type: string}}}
auth:
  type: oauth2
  authorizationUrl: https://login.regional.example/authorize
  tokenUrl: https://${ connection.parameters.region }.auth.regional.example/token
`

// TestBeginOAuthRefusesAHostFromParameters: a parameter the token URL's
// host policy would refuse at the code exchange is refused by BeginOAuth,
// before the user is sent to consent: a validation error at
// /parameters/region naming the token URL, and no consent URL.
func TestBeginOAuthRefusesAHostFromParameters(t *testing.T) {
	t.Parallel()
	s := newOAuthSetup(t, map[string]string{"connector.yaml": regionalOAuth}, nil)
	for _, v := range []string{"127.0.0.1:8080#", "x@127.0.0.1/", "evil.com/", "a.b", "%2e"} {
		u, err := s.svc.BeginOAuth(t.Context(), "acme", connections.BeginOAuthRequest{Connector: "regional",
			Parameters: map[string]any{"region": v}, RedirectURI: "https://app.example/callback"})
		var ve *connections.ValidationError
		if u != "" || !errors.As(err, &ve) || len(ve.Violations) != 1 || ve.Violations[0].Pointer != "/parameters/region" ||
			!strings.Contains(ve.Violations[0].Message, "tokenUrl") {
			t.Fatalf("region %q: got %q, %v; want one violation at /parameters/region naming tokenUrl", v, u, err)
		}
	}
	u, err := s.svc.BeginOAuth(t.Context(), "acme", connections.BeginOAuthRequest{Connector: "regional",
		Parameters: map[string]any{"region": "eu"}, RedirectURI: "https://app.example/callback"})
	if err != nil || !strings.HasPrefix(u, "https://login.regional.example/authorize?") {
		t.Fatalf("a valid region: %q, %v", u, err)
	}
}

// sandboxedConnector's OAuth2 URLs are the provider's production ones,
// which cannot be reached here; the override file below moves tenant
// acme's to the OAuth2 server.
const sandboxedConnector = `kind: Connector
key: sandboxed
name: Sandboxed
baseUrl: https://api.sandboxed.example
auth:
  type: oauth2
  authorizationUrl: https://login.sandboxed.example/authorize
  tokenUrl: https://login.sandboxed.example/token
  scopes: [openid]
`

const sandboxOverride = `kind: ConnectionOverride
tenant: acme
connector: sandboxed
connectorPatch:
  auth:
    authorizationUrl: {{OAUTH}}/authorize
    tokenUrl: {{OAUTH}}/token
`

// TestOAuthFollowsOverrideFiles: consent, the code exchange and the
// refreshes of a connection all go to the authorization server an
// override file of the workspace names for its tenant (a sandbox), here
// each of the OAuth2 test servers; another tenant keeps the connector's
// own.
func TestOAuthFollowsOverrideFiles(t *testing.T) {
	t.Parallel()
	testkit.EachOAuthPeer(t, testOAuthFollowsOverrideFiles)
}

func testOAuthFollowsOverrideFiles(t *testing.T, p testkit.OAuthPeer) {
	srv := p.Start(t, 3600)
	oauthURL := srv.URL()
	s := newOAuthSetup(t, map[string]string{
		"connectors/sandboxed/connector.yaml": sandboxedConnector,
		"connections/sandbox.yaml":            sandboxOverride,
	}, map[string]string{"{{OAUTH}}": oauthURL})
	ctx := t.Context()
	const callback = "https://app.example/callback"

	other, err := s.svc.BeginOAuth(ctx, "globex", connections.BeginOAuthRequest{Connector: "sandboxed", RedirectURI: callback})
	if err != nil || !strings.HasPrefix(other, "https://login.sandboxed.example/authorize?") {
		t.Fatalf("another tenant's consent URL: %q, %v", other, err)
	}

	consentURL, err := s.svc.BeginOAuth(ctx, "acme", connections.BeginOAuthRequest{Connector: "sandboxed", RedirectURI: callback})
	if err != nil || !strings.HasPrefix(consentURL, oauthURL+"/authorize?") {
		t.Fatalf("acme's consent URL: %q, %v; want the sandbox's", consentURL, err)
	}
	code, state := consentAt(t, consentURL, callback)
	res, err := s.svc.CompleteOAuth(ctx, connections.CompleteOAuthRequest{State: state, Code: code, Tenant: "acme"})
	if err != nil || !res.Created {
		t.Fatalf("the code exchange: %+v, %v", res, err)
	}
	first, err := s.st.Tenant("acme").Connections().Get(ctx, res.Connection.ID)
	if err != nil || first.Token == nil || first.Token.RefreshToken == "" {
		t.Fatalf("stored token: %+v, %v", first, err)
	}

	// Due for a refresh: the maintenance pass refreshes it at the sandbox.
	s.clock.Advance(2 * time.Hour)
	rep, err := s.svc.MaintainOnce(ctx)
	if err != nil || rep.Refreshed != 1 {
		t.Fatalf("maintenance: %+v, %v; want one token refreshed", rep, err)
	}
	second, err := s.st.Tenant("acme").Connections().Get(ctx, res.Connection.ID)
	if err != nil || second.Token == nil || second.Token.AccessToken == first.Token.AccessToken {
		t.Fatalf("the token was not refreshed: %+v, %v", second, err)
	}
	grants := srv.Stats(t).Grants
	if grants["authorization_code"] != 1 || grants["refresh_token"] != 1 {
		t.Errorf("the OAuth2 server saw grants %v, want one code exchange and one refresh", grants)
	}
}

// consentAt plays the browser at the OAuth2 server, which consents at
// once: it opens the consent URL and reads the code and state of the
// redirect to callback.
func consentAt(t *testing.T, consentURL, callback string) (code, state string) {
	t.Helper()
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(consentURL)
	if err != nil {
		t.Fatalf("consent: %v", err)
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || resp.StatusCode != http.StatusFound || !strings.HasPrefix(loc.String(), callback+"?") {
		t.Fatalf("consent: status %d, redirected to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	return loc.Query().Get("code"), loc.Query().Get("state")
}
