package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"time"

	"golang.org/x/oauth2"

	"github.com/membrane-dev/membrane/runtime/httpx"
)

// BeginRequest starts connecting a tenant's account through the provider's
// consent page.
type BeginRequest struct {
	Tenant    string
	Connector string // the connector's key
	// ConnectionID is the connection being re-authorised; empty for a new
	// one.
	ConnectionID string
	// AuthMode is the connector's auth mode being connected, by key; ""
	// for its first.
	AuthMode string
	// Parameters are the connection's parameters (a subdomain), which the
	// authorization and token URLs may use.
	Parameters map[string]any
	// RedirectURI is the callback registered with the provider.
	RedirectURI string
	// ReturnURL is where the caller sends the user afterwards; it is kept
	// with the state and handed back by Complete, not checked here.
	ReturnURL string
}

// CompleteRequest is the provider's redirect back to the callback.
type CompleteRequest struct {
	State string
	Code  string
	// Error is the redirect's `error` parameter (access_denied...), and
	// ErrorDescription its description, when the user did not consent.
	Error            string
	ErrorDescription string
	// Tenant and Connector are what the caller expects (its connect
	// session's). Each one set must match the state's; leave one empty only
	// when the callback has no session of its own to bind to.
	Tenant    string
	Connector string
}

// Authorization is a completed consent: who connected what, and the token.
type Authorization struct {
	Tenant       string
	Connector    string
	ConnectionID string // as given to Begin
	AuthMode     string // as given to Begin
	Parameters   map[string]any
	ReturnURL    string
	// Token is nil when the user did not consent. The caller saves it for
	// the connection (TokenStore.SaveToken) and, for a re-authorised one,
	// calls Manager.Forget.
	Token *Token
}

// AuthorizationError is the provider's refusal on the redirect (the user
// denied consent); Complete returns it with the Authorization, so the
// caller still knows where to send the user.
type AuthorizationError struct {
	Code        string
	Description string
}

func (e *AuthorizationError) Error() string {
	s := "oauth: the provider did not authorise the connection: " + e.Code
	if e.Description != "" {
		s += ": " + e.Description
	}
	return s
}

// pending is what Begin keeps, under the state's nonce, for Complete.
type pending struct {
	Tenant       string         `json:"tenant"`
	Connector    string         `json:"connector"`
	ConnectionID string         `json:"connectionId,omitempty"`
	AuthMode     string         `json:"authMode,omitempty"`
	Parameters   map[string]any `json:"parameters,omitempty"`
	RedirectURI  string         `json:"redirectUri"`
	ReturnURL    string         `json:"returnUrl,omitempty"`
	Verifier     string         `json:"verifier,omitempty"`
}

// reserved are the authorization parameters this package sets; neither
// the connector's authorizationParams nor its URL's query can change them.
var reserved = []string{"response_type", "client_id", "redirect_uri", "scope", "state", "code_challenge", "code_challenge_method"}

// Begin returns the provider's consent page URL for r, with a signed,
// expiring, single-use state and (unless the connector turns it off) a PKCE
// S256 challenge.
func (m *Manager) Begin(ctx context.Context, r BeginRequest) (string, error) {
	if m.o.States == nil {
		return "", errors.New("oauth: no StateStore configured")
	}
	if r.Tenant == "" || r.Connector == "" {
		return "", errors.New("oauth: Begin needs a tenant and a connector")
	}
	if u, err := url.Parse(r.RedirectURI); err != nil || !u.IsAbs() || (u.Scheme != "https" && u.Scheme != "http") {
		return "", fmt.Errorf("oauth: the redirect URI %q is not an absolute http(s) URL", r.RedirectURI)
	}
	p, err := m.provider(ctx, ProviderRequest{Tenant: r.Tenant, Connector: r.Connector, ConnectionID: r.ConnectionID, AuthMode: r.AuthMode})
	if err != nil {
		return "", err
	}
	if p.clientCredentials() {
		return "", fmt.Errorf("oauth: connector %q uses the client credentials grant: there is no consent page", r.Connector)
	}
	now := m.now()
	vars := templateVars(r.Tenant, r.ConnectionID, "", r.Parameters, nil, nil, now.UTC())
	u, err := endpoint(ctx, p.Auth.AuthorizationURL, vars, "authorization URL")
	if err != nil {
		return "", err
	}
	// The token URL is rendered now too, with the same parameters: one its
	// host policy refuses must stop the flow here, before the user is sent
	// to consent, not at the code exchange after they did.
	if _, err := endpoint(ctx, p.Auth.TokenURL, vars, "token URL"); err != nil {
		return "", err
	}

	// The connector's URL keeps its own query but for what this package
	// sets; a fragment has no place in it (RFC 6749 §3.1).
	params := p.src().AuthorizationParams
	q := u.Query()
	for _, k := range reserved {
		q.Del(k)
	}
	var opts []oauth2.AuthCodeOption
	for k, v := range params {
		if slices.Contains(reserved, k) {
			continue
		}
		q.Del(k)
		opts = append(opts, oauth2.SetAuthURLParam(k, v))
	}
	u.RawQuery, u.ForceQuery, u.Fragment, u.RawFragment = q.Encode(), false, "", ""

	pd := pending{
		Tenant: r.Tenant, Connector: r.Connector, ConnectionID: r.ConnectionID, AuthMode: r.AuthMode,
		Parameters: r.Parameters, RedirectURI: r.RedirectURI, ReturnURL: r.ReturnURL,
	}
	if p.pkce() {
		pd.Verifier = oauth2.GenerateVerifier() // 43 characters, RFC 7636 §4.1
		opts = append(opts, oauth2.S256ChallengeOption(pd.Verifier))
	}
	data, err := json.Marshal(pd)
	if err != nil {
		return "", fmt.Errorf("oauth: the connection parameters cannot be kept: %w", err)
	}
	exp := now.Add(m.o.StateTTL)
	sp := statePayload{Nonce: randomString(18), Tenant: r.Tenant, Connector: r.Connector, Expires: exp.Unix()}
	if err := m.o.States.SaveState(ctx, sp.Nonce, data, exp); err != nil {
		return "", fmt.Errorf("oauth: saving the state: %w", err)
	}
	cfg := p.config(p.client(), u.String(), "", r.RedirectURI)
	return cfg.AuthCodeURL(m.signState(sp), opts...), nil
}

// Complete checks the state of the provider's redirect (signature, expiry,
// single use, tenant and connector) and exchanges the code for a token. A
// state that fails a check gives ErrInvalidState and no token request.
func (m *Manager) Complete(ctx context.Context, r CompleteRequest) (*Authorization, error) {
	if m.o.States == nil {
		return nil, errors.New("oauth: no StateStore configured")
	}
	sp, err := m.openState(r.State)
	if err != nil {
		return nil, err
	}
	if r.Tenant != "" && r.Tenant != sp.Tenant {
		return nil, stateError("another tenant's")
	}
	if r.Connector != "" && r.Connector != sp.Connector {
		return nil, stateError("another connector's")
	}
	data, err := m.o.States.TakeState(ctx, sp.Nonce)
	if errors.Is(err, ErrStateNotFound) {
		return nil, stateError("already used")
	}
	if err != nil {
		return nil, fmt.Errorf("oauth: reading the state: %w", err)
	}
	var pd pending
	if err := json.Unmarshal(data, &pd); err != nil || pd.Tenant != sp.Tenant || pd.Connector != sp.Connector {
		return nil, stateError("inconsistent")
	}
	a := &Authorization{Tenant: pd.Tenant, Connector: pd.Connector, ConnectionID: pd.ConnectionID, AuthMode: pd.AuthMode, Parameters: pd.Parameters, ReturnURL: pd.ReturnURL}
	if r.Error != "" {
		return a, &AuthorizationError{Code: r.Error, Description: httpx.Excerpt([]byte(r.ErrorDescription))}
	}
	if r.Code == "" {
		return a, &AuthorizationError{Code: "invalid_request", Description: "the redirect carries no code"}
	}
	p, err := m.provider(ctx, ProviderRequest{Tenant: pd.Tenant, Connector: pd.Connector, ConnectionID: pd.ConnectionID, AuthMode: pd.AuthMode})
	if err != nil {
		return a, err
	}
	vars := templateVars(pd.Tenant, pd.ConnectionID, "", pd.Parameters, nil, nil, m.now().UTC())
	tu, err := endpoint(ctx, p.Auth.TokenURL, vars, "token URL")
	if err != nil {
		return a, err
	}
	c := p.client()
	cfg := p.config(c, "", tu.String(), pd.RedirectURI)
	var opts []oauth2.AuthCodeOption
	if pd.Verifier != "" {
		opts = append(opts, oauth2.VerifierOption(pd.Verifier))
	}
	const what = "exchanging the authorization code"
	ot, now, err := m.grant(ctx, false, func(ctx context.Context) (*oauth2.Token, error) { return cfg.Exchange(ctx, r.Code, opts...) })
	if err != nil {
		return a, tokenFailure(err, what, []string{r.Code, pd.Verifier, c.secret})
	}
	tok, err := token(ot, now, what)
	if err != nil {
		return a, err
	}
	a.Token = tok
	m.log.InfoContext(ctx, "oauth: connection authorised", "tenant", pd.Tenant, "connector", pd.Connector, "expires", expiryAttr(tok))
	return a, nil
}

func (m *Manager) provider(ctx context.Context, r ProviderRequest) (*Provider, error) {
	if m.o.Providers == nil {
		return nil, errors.New("oauth: no Providers configured")
	}
	p, err := m.o.Providers(ctx, r)
	if err != nil {
		return nil, err
	}
	if p == nil {
		return nil, fmt.Errorf("oauth: no connector %q", r.Connector)
	}
	if err := p.check(); err != nil {
		return nil, err
	}
	return p, nil
}

func expiryAttr(t *Token) any {
	if t.Expiry.IsZero() {
		return "none"
	}
	return t.Expiry.UTC().Format(time.RFC3339)
}
