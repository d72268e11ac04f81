package connectors_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/membrane-dev/membrane/internal/testkit"
	"github.com/membrane-dev/membrane/layers"
	"github.com/membrane-dev/membrane/runtime/httpx"
	"github.com/membrane-dev/membrane/runtime/oauth"
	"github.com/membrane-dev/membrane/spec"
	"github.com/membrane-dev/membrane/spec/tree"
)

// TestOAuthModes runs the authorization code flow of a connector's oauth
// mode, as the catalogue declares it, against real OAuth2 servers: the
// consent URL asks for the mode's scopes with a PKCE challenge, and the
// code exchange authenticates the client as the vendor wants it. Only the
// authorization and token URLs are moved to the test server, by a
// connector patch as a sandbox's would be.
func TestOAuthModes(t *testing.T) {
	t.Parallel()
	ws, diags := layers.Load(".")
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	for _, tc := range []struct {
		connector  string
		scope      string
		clientAuth string // as the server saw it: basic or body
		// The mode a connection that records none stays on.
		defaultMode, defaultType string
	}{
		// Klaviyo: PKCE required, the client by HTTP basic.
		{"klaviyo", "accounts:read profiles:read profiles:write lists:read lists:write data-privacy:write", "basic", "api-key", spec.AuthAPIKey},
		// PagerDuty: the client id and secret in the form.
		{"pagerduty", "abilities.read incidents.read incidents.write webhook_subscriptions.write", "body", "api-key", spec.AuthAPIKey},
		// Slack's OAuth v2: scopes joined by commas, the client in the
		// form (the PKCE challenge the runtime always sends is one a
		// server without PKCE ignores).
		{"slack", "chat:write,channels:read,channels:manage,channels:history,groups:read,users:read,users:read.email,files:read,files:write", "body", "bot-token", spec.AuthBearer},
	} {
		t.Run(tc.connector, func(t *testing.T) {
			t.Parallel()
			if def := ws.Connectors[tc.connector].AuthMode(""); def == nil || def.Key != tc.defaultMode || def.Type != tc.defaultType {
				t.Fatalf("the default mode is %+v, want the %s mode", def, tc.defaultMode)
			}
			testkit.EachOAuthPeer(t, func(t *testing.T, p testkit.OAuthPeer) {
				srv := p.Start(t, 3600)
				rc, diags := layers.ResolveConnector(ws, tc.connector, &spec.ConnectionOverride{
					Connector: tc.connector,
					AuthMode:  "oauth",
					ConnectorPatch: mapOf("auth", &tree.Value{Kind: tree.Map, Fields: []tree.Field{
						{Key: "authorizationUrl", Value: &tree.Value{Kind: tree.String, Str: srv.URL() + "/authorize"}},
						{Key: "tokenUrl", Value: &tree.Value{Kind: tree.String, Str: srv.URL() + "/token"}},
					}}),
				})
				if diags.HasErrors() {
					t.Fatal(diags)
				}
				store := oauth.NewMemStore()
				prov := &oauth.Provider{Connector: tc.connector, Auth: rc.Compiled.Auth, ClientID: testkit.OAuthClientID, ClientSecret: testkit.OAuthClientSecret}
				m, err := oauth.New(oauth.Options{
					HTTP:        httpx.New(httpx.Config{AllowPrivate: true}), // the server is on loopback
					Tokens:      store,
					States:      store,
					StateSecret: []byte(strings.Repeat("k", 32)),
					Providers: func(_ context.Context, r oauth.ProviderRequest) (*oauth.Provider, error) {
						if r.Connector != tc.connector || r.AuthMode != "oauth" {
							return nil, nil
						}
						return prov, nil
					},
				})
				if err != nil {
					t.Fatal(err)
				}
				const callback = "https://membrane.example.com/connect/callback"
				authURL, err := m.Begin(context.Background(), oauth.BeginRequest{Tenant: "acme", Connector: tc.connector, AuthMode: "oauth", RedirectURI: callback})
				if err != nil {
					t.Fatalf("Begin: %v", err)
				}
				u, err := url.Parse(authURL)
				if err != nil {
					t.Fatal(err)
				}
				q := u.Query()
				for k, want := range map[string]string{"scope": tc.scope, "code_challenge_method": "S256", "client_id": testkit.OAuthClientID, "redirect_uri": callback} {
					if got := q.Get(k); got != want {
						t.Errorf("consent URL %s = %q, want %q", k, got, want)
					}
				}

				// The browser: the server consents at once and redirects
				// to the callback with a code.
				c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
				resp, err := c.Get(authURL)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				loc, err := url.Parse(resp.Header.Get("Location"))
				if err != nil || resp.StatusCode != http.StatusFound {
					t.Fatalf("consent: %d to %q (%v)", resp.StatusCode, resp.Header.Get("Location"), err)
				}
				a, err := m.Complete(context.Background(), oauth.CompleteRequest{State: loc.Query().Get("state"), Code: loc.Query().Get("code"), Tenant: "acme", Connector: tc.connector})
				if err != nil {
					t.Fatalf("Complete: %v", err)
				}
				if a.Token.AccessToken == "" || a.Token.RefreshToken == "" {
					t.Errorf("the code exchange gave token %v, want an access and a refresh token", a.Token)
				}
				// The server checked the verifier against the challenge.
				st := srv.Stats(t)
				if st.Grants["authorization_code"] != 1 || strings.Join(st.ClientAuth, ",") != tc.clientAuth {
					t.Errorf("token requests %v, client auth %v; want one authorization_code, by %s", st.Grants, st.ClientAuth, tc.clientAuth)
				}
			})
		})
	}
}

func mapOf(key string, v *tree.Value) *tree.Value {
	return &tree.Value{Kind: tree.Map, Fields: []tree.Field{{Key: key, Value: v}}}
}
