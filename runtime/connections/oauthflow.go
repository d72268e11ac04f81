package connections

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/membrane-dev/membrane"
	"github.com/membrane-dev/membrane/layers"
	"github.com/membrane-dev/membrane/runtime/oauth"
	"github.com/membrane-dev/membrane/runtime/store"
	"github.com/membrane-dev/membrane/spec"
	"github.com/membrane-dev/membrane/spec/compile"
	"github.com/membrane-dev/membrane/spec/schema"
)

// Providers is oauth.Options.Providers for a workspace: a connector's
// compiled OAuth2 auth, as the workspace's override files leave it for
// the tenant and connection (a sandbox's token URL), with the client the
// operator registered for it (clients). A connector without a client gets
// an empty client id, which the manager refuses with a message naming the
// connector.
func Providers(ws *membrane.Workspace, clients func(connector string) (clientID, clientSecret string, ok bool)) func(ctx context.Context, r oauth.ProviderRequest) (*oauth.Provider, error) {
	return CurrentProviders(func() *membrane.Workspace { return ws }, clients)
}

// CurrentProviders is Providers for a workspace that may be swapped
// (Service.SetWorkspace): each lookup reads current().
//
// Consent (Begin), the code exchange (Complete) and every refresh must
// reach the same authorization server, so the auth is resolved here
// exactly as for a connection's runs and refreshes (engineConnection):
// the same override files, in the same order. The stored overrides of the
// connection layer are left out: a stored override may not patch auth
// (fileOnlyFields), so they change nothing of it.
func CurrentProviders(current func() *membrane.Workspace, clients func(connector string) (clientID, clientSecret string, ok bool)) func(ctx context.Context, r oauth.ProviderRequest) (*oauth.Provider, error) {
	var auths authCache
	return func(_ context.Context, r oauth.ProviderRequest) (*oauth.Provider, error) {
		ws := current()
		if ws.Spec.Connectors[r.Connector] == nil {
			return nil, nil // the manager says "no connector"
		}
		auth, err := auths.get(ws, r.Connector, fileOverrides(ws, r.Tenant, r.Connector, r.ConnectionID))
		if err != nil {
			return nil, err
		}
		p := &oauth.Provider{Connector: r.Connector, Auth: auth}
		if clients != nil {
			p.ClientID, p.ClientSecret, _ = clients(r.Connector)
		}
		return p, nil
	}
}

// authCache keeps the compiled auth of connectors, compiled once each.
type authCache struct{ m sync.Map } // *spec.Connector → *compile.Auth

// get returns a connector's compiled auth as the overrides leave it: only
// an override that patches the connector (a sandbox token URL) costs a
// compilation.
func (ac *authCache) get(ws *membrane.Workspace, connector string, ovs []*spec.ConnectionOverride) (*compile.Auth, error) {
	c := ws.Spec.Connectors[connector]
	patched := slices.ContainsFunc(ovs, func(o *spec.ConnectionOverride) bool { return o.ConnectorPatch != nil })
	if !patched {
		if a, ok := ac.m.Load(c); ok {
			return a.(*compile.Auth), nil
		}
	}
	rc, diags := layers.ResolveConnector(ws.Spec, connector, ovs...)
	if err := diags.Err(); err != nil {
		return nil, err
	}
	if !patched {
		ac.m.Store(c, rc.Compiled.Auth)
	}
	return rc.Compiled.Auth, nil
}

// provider is the OAuth2 application of a connection: the operator's
// client, or for the client credentials grant the connection's own
// clientId and clientSecret when the operator registered none. Without
// either it is ErrOAuthUnavailable: the server's configuration, not the
// connection, is at fault, so its state must not change.
func (s *Service) provider(connector string, auth *compile.Auth, creds map[string]any) (*oauth.Provider, error) {
	p := &oauth.Provider{Connector: connector, Auth: auth}
	if s.o.OAuthClients != nil {
		p.ClientID, p.ClientSecret, _ = s.o.OAuthClients(connector)
	}
	if p.ClientID == "" && auth.Src.Grant == spec.GrantClientCredentials {
		p.ClientID, _ = creds["clientId"].(string)
		p.ClientSecret, _ = creds["clientSecret"].(string)
	}
	if p.ClientID == "" {
		return nil, fmt.Errorf("connector %q: %w (no OAuth client is registered for it)", connector, ErrOAuthUnavailable)
	}
	return p, nil
}

// BeginOAuthRequest starts connecting through the provider's consent page.
type BeginOAuthRequest struct {
	Connector string `json:"connector"`
	// ConnectionID re-authorises an existing connection; empty connects a
	// new one.
	ConnectionID string `json:"connectionId,omitempty"`
	// Parameters of a new connection (a subdomain the authorization URL
	// may use), checked against the connector's schema. A re-authorised
	// connection keeps its own.
	Parameters map[string]any `json:"parameters,omitempty"`
	// RedirectURI is the callback registered with the provider.
	RedirectURI string `json:"redirectUri"`
	// ReturnURL is handed back by CompleteOAuth: where to send the user.
	ReturnURL string `json:"returnUrl,omitempty"`
}

// BeginOAuth returns the provider's consent page URL to send the user to,
// behind a signed, single-use state.
func (s *Service) BeginOAuth(ctx context.Context, tenant string, r BeginOAuthRequest) (string, error) {
	if s.m == nil {
		return "", ErrOAuthUnavailable
	}
	cn, err := s.connector(r.Connector)
	if err != nil {
		return "", err
	}
	if cn.Auth == nil || cn.Auth.Type != spec.AuthOAuth2 || cn.Auth.Grant == spec.GrantClientCredentials {
		return "", invalidf("connector %q has no OAuth consent page; create its connections with credentials", cn.Key)
	}
	ws := s.ws()
	ts := s.st.Tenant(tenant)
	var params map[string]any
	if r.ConnectionID != "" {
		c, err := ts.Connections().Get(ctx, r.ConnectionID)
		if err != nil {
			return "", err
		}
		if c.Connector != cn.Key {
			return "", invalidf("connection %q is of connector %q, not %q", c.ID, c.Connector, cn.Key)
		}
		params = c.Parameters
	} else {
		var pv []schema.Violation
		if params, pv, err = s.params(cn, r.Parameters); err != nil {
			return "", err
		}
		if err := invalid(cn, pv); err != nil {
			return "", err
		}
	}
	// Every URL of the connector is rendered with the parameters before the
	// user is sent anywhere, against the host policy it will be held to
	// after consent (its token URL at the code exchange, its base URL at
	// each run): a parameter that names a host of its own is refused now,
	// at /parameters/<name>, not once the user has consented.
	ovs, err := s.overridesFor(ctx, ws, ts, cn.Key, r.ConnectionID)
	if err != nil {
		return "", err
	}
	if err := invalid(cn, s.hostViolations(ctx, ws, cn.Key, tenant, ovs, params, nil)); err != nil {
		return "", err
	}
	u, err := s.m.Begin(ctx, oauth.BeginRequest{Tenant: tenant, Connector: cn.Key, ConnectionID: r.ConnectionID,
		Parameters: params, RedirectURI: r.RedirectURI, ReturnURL: r.ReturnURL})
	var ue *compile.URLError
	if errors.As(err, &ue) {
		// What hostViolations could not pin on one parameter (a URL that
		// also reads the connection's id): still the connection's values,
		// refused before anything was sent.
		ptr := "/parameters"
		if ue.Parameter != "" {
			ptr += "/" + ue.Parameter
		}
		return "", invalid(cn, []schema.Violation{{Pointer: ptr, Message: fmt.Sprintf("%s (the connector's %s, at %s)", ue.Reason, ue.Field, ue.Pos)}})
	}
	return u, err
}

// CompleteOAuthRequest is the provider's redirect to the callback.
type CompleteOAuthRequest struct {
	State, Code string
	// Error and ErrorDescription are the redirect's error parameters.
	Error, ErrorDescription string
	// Tenant and Connector, when the callback knows them (from its
	// connect session), must be the state's.
	Tenant, Connector string
	// Name of a new connection; the connector's name when empty.
	Name string
}

// OAuthResult is a completed consent.
type OAuthResult struct {
	// Connection is the connection created or re-authorised, without its
	// secrets; nil when the user did not consent.
	Connection *Connection `json:"connection,omitempty"`
	// Created is false for a re-authorised connection.
	Created bool `json:"created"`
	// ReturnURL is BeginOAuthRequest.ReturnURL.
	ReturnURL string `json:"returnUrl,omitempty"`
}

// CompleteOAuth checks the redirect's state and exchanges its code for a
// token, then saves a new connection with connection.created, or gives an
// existing one the token, connected, with connection.reconnected — each in
// one transaction. When the user denied consent, it returns the result
// (for its ReturnURL) with an *oauth.AuthorizationError; a forged,
// replayed or expired state is oauth.ErrInvalidState.
func (s *Service) CompleteOAuth(ctx context.Context, r CompleteOAuthRequest) (*OAuthResult, error) {
	if s.m == nil {
		return nil, ErrOAuthUnavailable
	}
	a, err := s.m.Complete(ctx, oauth.CompleteRequest{State: r.State, Code: r.Code, Error: r.Error,
		ErrorDescription: r.ErrorDescription, Tenant: r.Tenant, Connector: r.Connector})
	if a == nil {
		return nil, err
	}
	out := &OAuthResult{ReturnURL: a.ReturnURL}
	if err != nil {
		return out, err
	}
	if a.Token == nil {
		return out, errors.New("connections: the provider gave no token")
	}
	ts := s.st.Tenant(a.Tenant)
	bctx, cancel := detached(ctx) // the code is spent: the token must be kept
	defer cancel()
	if a.ConnectionID != "" {
		cur, err := setState(bctx, ts, a.ConnectionID, s.now(), func(c *store.Connection) string {
			c.Token = toStoreToken(a.Token, nil)
			c.State, c.LastError = store.Connected, ""
			return EventReconnected
		})
		if err != nil {
			return out, fmt.Errorf("connections: saving the token of connection %q: %w", a.ConnectionID, err)
		}
		s.m.Forget(TokenKey(a.Tenant, a.ConnectionID))
		s.forgetRetry(a.Tenant, a.ConnectionID)
		s.log.InfoContext(ctx, "connection re-authorised", "tenant", a.Tenant, "connection", cur.ID, "connector", cur.Connector)
		out.Connection = public(cur)
		return out, nil
	}
	name := r.Name
	if name == "" {
		if cn := s.ws().Spec.Connectors[a.Connector]; cn != nil {
			name = cmp.Or(cn.Name, cn.Key)
		}
	}
	c := store.Connection{ID: newConnectionID(), Connector: a.Connector, Name: name, State: store.Connected,
		Parameters: a.Parameters, Token: toStoreToken(a.Token, nil)}
	ws := s.ws()
	var subs []*store.Subscription
	var saved *store.Connection
	err = ts.Tx(bctx, func(tx store.TenantStore) error {
		created, err := tx.Connections().Create(bctx, c)
		if err != nil {
			return err
		}
		saved = created
		out.Connection = public(created)
		if err := enqueueEvent(bctx, tx, EventCreated, created, s.now()); err != nil {
			return err
		}
		subs, err = s.autoSubscribe(bctx, ws, tx, created)
		return err
	})
	if err != nil {
		out.Connection = nil
		return out, fmt.Errorf("connections: saving the new connection: %w", err)
	}
	out.Created = true
	s.log.InfoContext(ctx, "connection created", "tenant", a.Tenant, "connection", c.ID, "connector", c.Connector)
	s.registerAutoSubscriptions(bctx, ws, a.Tenant, subs)
	if cn := ws.Spec.Connectors[c.Connector]; cn != nil && cn.Auth != nil && cn.Auth.Info != nil && cn.Auth.Test != nil {
		// What the account is (auth.info) comes from the test request;
		// a test that fails leaves the connection as the test says.
		if res, err := s.test(bctx, ts, saved); err == nil && res.Connection != nil {
			out.Connection = res.Connection
		} else if err != nil {
			s.log.InfoContext(ctx, "connection info not learnt", "tenant", a.Tenant, "connection", c.ID, "error", err.Error())
		}
	}
	return out, nil
}

// AuthorizationOrigins lists where the consent page of a tenant's
// connection to an OAuth2 connector may be: the origins its authorization
// URL's host policy allows (scheme://host[:port], a `*` standing for one
// label), the override files for the tenant and connection applied as
// Begin applies them. A page that sends the user there names them in its
// Content-Security-Policy. connID is empty for a new connection.
func (s *Service) AuthorizationOrigins(tenant, connector, connID string) ([]string, error) {
	ws := s.ws()
	if _, err := connectorOf(ws, connector); err != nil {
		return nil, err
	}
	auth, err := s.auths.get(ws, connector, fileOverrides(ws, tenant, connector, connID))
	if err != nil {
		return nil, err
	}
	if auth == nil || auth.AuthorizationURL == nil || auth.AuthorizationURL.URL == nil {
		return nil, fmt.Errorf("connector %q has no OAuth consent page", connector)
	}
	return auth.AuthorizationURL.URL.Origins(), nil
}
