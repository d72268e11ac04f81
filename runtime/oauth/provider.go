package oauth

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/membrane-dev/membrane/spec"

	"github.com/membrane-dev/membrane/spec/compile"
)

// Provider is one connector's OAuth2 application: what the connector
// declares and the client the operator registered with the provider.
type Provider struct {
	Connector    string // the connector's key
	Auth         *compile.Auth
	ClientID     string
	ClientSecret string // empty for a public client (PKCE only)
}

// ProviderRequest says whose OAuth2 application Options.Providers is to
// find: a connector's, for one tenant's connection (ConnectionID empty
// for a connection not made yet).
type ProviderRequest struct {
	Tenant       string
	Connector    string
	ConnectionID string
	// AuthMode is the connector's auth mode, by key; "" for its first.
	AuthMode string
}

func (p *Provider) src() *spec.Auth {
	if p.Auth == nil || p.Auth.Src == nil {
		return &spec.Auth{}
	}
	return p.Auth.Src
}

func (p *Provider) check() error {
	a := p.src()
	if a.Type != spec.AuthOAuth2 {
		return fmt.Errorf("oauth: connector %q does not use oauth2 auth", p.Connector)
	}
	if p.ClientID == "" {
		return fmt.Errorf("oauth: connector %q has no OAuth client id configured", p.Connector)
	}
	return nil
}

func (p *Provider) clientCredentials() bool {
	return p.src().Grant == spec.GrantClientCredentials
}

// pkce is on unless the connector turns it off: providers ignore the
// parameters they do not know (RFC 6749 §3.1), and OAuth 2.1 wants it.
func (p *Provider) pkce() bool {
	a := p.src()
	return a.PKCE == nil || *a.PKCE
}

func (p *Provider) scope() string {
	a := p.src()
	sep := a.ScopeSeparator
	if sep == "" {
		sep = " "
	}
	return strings.Join(a.Scopes, sep)
}

// templateVars are the variables an auth template may use (spec varsAuth).
func templateVars(tenant, connID, name string, params, info, creds map[string]any, now any) map[string]any {
	return map[string]any{
		compile.VarCredentials: orEmpty(creds),
		compile.VarConnection: map[string]any{
			"id":         connID,
			"name":       name,
			"parameters": orEmpty(params),
			"info":       orEmpty(info),
		},
		compile.VarTenant: map[string]any{"key": tenant},
		compile.VarNow:    now,
	}
}

func orEmpty(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return m
}

// endpoint evaluates a URL template; what names it in errors. The
// template's host policy, compiled with its connector, decides where the
// client secret, codes and tokens may go: a URL it refuses is a
// *compile.URLError in the chain, and nothing is sent.
func endpoint(ctx context.Context, x *compile.Expr, vars map[string]any, what string) (*url.URL, error) {
	if x == nil {
		return nil, fmt.Errorf("oauth: the connector has no %s", what)
	}
	u, err := x.EvalURL(ctx, vars)
	if err != nil {
		return nil, fmt.Errorf("oauth: %s: %w", what, err)
	}
	return u, nil
}
