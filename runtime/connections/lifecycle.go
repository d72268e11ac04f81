package connections

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"reflect"

	"github.com/membrane-dev/membrane"
	"github.com/membrane-dev/membrane/runtime/engine"
	"github.com/membrane-dev/membrane/runtime/oauth"
	"github.com/membrane-dev/membrane/runtime/store"
	"github.com/membrane-dev/membrane/spec"
)

// CreateRequest is what a user gives to connect with credentials.
type CreateRequest struct {
	Connector string `json:"connector"`
	// Name is how the connection is shown; the connector's name when empty.
	Name        string         `json:"name,omitempty"`
	Parameters  map[string]any `json:"parameters,omitempty"`
	Credentials map[string]any `json:"credentials,omitempty"`
	// OnSave, when set, runs inside the transaction that saves the
	// connection, given the connection as Create returns it: what answers
	// for the creation (an idempotency key's answer) then commits with
	// it, or neither does. An error aborts the creation.
	OnSave func(ctx context.Context, tx store.TenantStore, c *Connection) error `json:"-"`
}

// Create checks the parameters and credentials against the connector's
// schemas, proves the credentials with the connector's test request
// (auth.test), and only then saves the connection with its
// connection.created event. Refused credentials give a
// *CredentialsRefusedError; a test that could not reach a verdict (the API
// is down) gives the run error; in both cases nothing is saved. A
// connector without a test request is saved unchecked.
//
// OAuth2 connectors with the authorization code grant connect through
// BeginOAuth (ErrOAuthRequired), unless the credentials carry a static
// accessToken; client-credentials ones are created here.
func (s *Service) Create(ctx context.Context, tenant string, r CreateRequest) (*Connection, error) {
	ws := s.ws()
	cn, err := connectorOf(ws, r.Connector)
	if err != nil {
		return nil, err
	}
	if needsConsent(cn, r.Credentials) {
		return nil, fmt.Errorf("connector %q: %w", cn.Key, ErrOAuthRequired)
	}
	params, pv, err := s.params(cn, r.Parameters)
	if err != nil {
		return nil, err
	}
	creds, cv, err := s.credentials(cn, r.Credentials)
	if err != nil {
		return nil, err
	}
	if err := invalid(cn, append(pv, cv...)); err != nil {
		return nil, err
	}
	name := r.Name
	if name == "" {
		name = cmp.Or(cn.Name, cn.Key)
	}
	c := &store.Connection{ID: newConnectionID(), Tenant: tenant, Connector: cn.Key, Name: name,
		State: store.Connected, Parameters: params, Credentials: creds}
	ts := s.st.Tenant(tenant)
	ovs, err := s.overridesFor(ctx, ws, ts, cn.Key, "")
	if err != nil {
		return nil, err
	}
	if err := invalid(cn, s.hostViolations(ctx, ws, cn.Key, tenant, ovs, params, creds)); err != nil {
		return nil, err
	}
	tok, info, err := s.trial(ctx, ws, c, ovs)
	if err != nil {
		return nil, err
	}
	c.Token, c.Info = tok, info
	var out *store.Connection
	var subs []*store.Subscription
	err = ts.Tx(ctx, func(tx store.TenantStore) error {
		created, err := tx.Connections().Create(ctx, *c)
		if err != nil {
			return err
		}
		out = created
		if err := enqueueEvent(ctx, tx, EventCreated, created, s.now()); err != nil {
			return err
		}
		if subs, err = s.autoSubscribe(ctx, ws, tx, created); err != nil {
			return err
		}
		if r.OnSave != nil {
			return r.OnSave(ctx, tx, public(created))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "connection created", "tenant", tenant, "connection", out.ID, "connector", out.Connector)
	s.registerAutoSubscriptions(ctx, ws, tenant, subs)
	return public(out), nil
}

// needsConsent reports an OAuth2 authorization-code connector given no
// static access token: only the provider's consent page can connect it.
func needsConsent(cn *spec.Connector, creds map[string]any) bool {
	a := cn.Auth
	if a == nil || a.Type != spec.AuthOAuth2 || a.Grant == spec.GrantClientCredentials {
		return false
	}
	_, static := creds["accessToken"]
	return !static
}

// trial runs the test request on a connection that is not saved yet (or
// not with these credentials). It returns the token to save with it (the
// one a client-credentials connection obtained) and what the test learnt
// of the account (auth.info, nil when nothing); an error when the
// credentials are refused (*CredentialsRefusedError) or could not be
// checked.
func (s *Service) trial(ctx context.Context, ws *membrane.Workspace, c *store.Connection, ovs []*spec.ConnectionOverride) (*store.Token, map[string]any, error) {
	m := s.m
	var mem *oauth.MemStore
	if a := ws.Spec.Connectors[c.Connector].Auth; a != nil && a.Type == spec.AuthOAuth2 && a.Grant == spec.GrantClientCredentials {
		// The shared manager would save the token to a connection that
		// does not exist yet: this one keeps it in memory until it does.
		mem = oauth.NewMemStore()
		var err error
		if m, err = oauth.New(oauth.Options{HTTP: s.o.HTTP, Tokens: mem, Now: s.now, Logger: s.log}); err != nil {
			return nil, nil, err
		}
	}
	res, err := s.runTest(ctx, ws, c, ovs, m)
	switch {
	case err == nil, errors.Is(err, engine.ErrNoTestRequest):
	default:
		var ee *engine.Error
		if errors.As(err, &ee) && ee.Type == engine.ErrAuth {
			return nil, nil, &CredentialsRefusedError{Connector: c.Connector, Err: ee}
		}
		return nil, nil, fmt.Errorf("the credentials could not be checked, so nothing was saved: %w", err)
	}
	var info map[string]any
	if res != nil {
		info = res.Info
	}
	if mem == nil {
		return c.Token, info, nil
	}
	tok, err := mem.LoadToken(ctx, TokenKey(c.Tenant, c.ID))
	if err != nil {
		return nil, nil, err
	}
	return toStoreToken(tok, nil), info, nil
}

// runTest sends the connector's test request on c, through the
// overrides that apply to it.
func (s *Service) runTest(ctx context.Context, ws *membrane.Workspace, c *store.Connection, ovs []*spec.ConnectionOverride, m *oauth.Manager) (*engine.Result, error) {
	ec, err := s.engineConnection(ws, c, ovs, m)
	if err != nil {
		return nil, err
	}
	return ws.TestConnection(ctx, c.Connector, *ec, ovs...)
}

// engineConnection is what the engine knows of c. An OAuth2 connection
// with a token, or of the client credentials grant, gets m's refreshing
// authenticator, with the connector's auth as the overrides leave it (a
// sandbox token URL); the others the engine's built-in auth.
func (s *Service) engineConnection(ws *membrane.Workspace, c *store.Connection, ovs []*spec.ConnectionOverride, m *oauth.Manager) (*engine.Connection, error) {
	ec := &engine.Connection{ID: c.ID, Name: c.Name, Tenant: c.Tenant, Parameters: c.Parameters, Info: c.Info, Credentials: c.Credentials}
	raw := ws.Spec.Connectors[c.Connector]
	if raw == nil || raw.Auth == nil || raw.Auth.Type != spec.AuthOAuth2 || (raw.Auth.Grant != spec.GrantClientCredentials && c.Token == nil) {
		return ec, nil
	}
	if m == nil {
		return nil, fmt.Errorf("connector %q: %w", c.Connector, ErrOAuthUnavailable)
	}
	auth, err := s.auths.get(ws, c.Connector, ovs)
	if err != nil {
		return nil, err
	}
	p, err := s.provider(c.Connector, auth, c.Credentials)
	if err != nil {
		return nil, err
	}
	keyed := *ec
	keyed.ID = TokenKey(c.Tenant, c.ID)
	ec.Auth = m.NewAuthenticator(p, &keyed)
	return ec, nil
}

// Get returns a connection, without its secrets.
func (s *Service) Get(ctx context.Context, tenant, id string) (*Connection, error) {
	c, err := s.st.Tenant(tenant).Connections().Get(ctx, id)
	if err != nil {
		return nil, err
	}
	return public(c), nil
}

// ListRequest pages through a tenant's connections, oldest first.
type ListRequest struct {
	// Connector narrows to one connector's connections.
	Connector string
	// Cursor is the Next of the previous page.
	Cursor string
	// Limit is the page size, 1 to 1000; 0 means 50.
	Limit int
}

// List pages through a tenant's connections, without their secrets.
func (s *Service) List(ctx context.Context, tenant string, r ListRequest) (store.Page[*Connection], error) {
	return s.st.Tenant(tenant).Connections().List(ctx, store.ConnectionFilter{Connector: r.Connector, Cursor: r.Cursor, Limit: r.Limit})
}

// Delete deletes a connection, its stored overrides and its
// subscriptions, with its connection.deleted event, and forgets what the
// OAuth manager remembers of it. Each subscription's webhook is removed at
// the app first; a refusal is logged as a warning and the connection
// deleted all the same.
func (s *Service) Delete(ctx context.Context, tenant, id string) error {
	ts := s.st.Tenant(tenant)
	if _, err := ts.Connections().Get(ctx, id); err != nil {
		return err
	}
	if err := s.unsubscribeConnection(ctx, ts, id); err != nil {
		return err
	}
	var deleted *store.Connection
	err := ts.Tx(ctx, func(tx store.TenantStore) error {
		c, err := tx.Connections().Get(ctx, id)
		if err != nil {
			return err
		}
		if err := tx.Connections().Delete(ctx, id); err != nil {
			return err
		}
		deleted = c
		return enqueueEvent(ctx, tx, EventDeleted, c, s.now())
	})
	if err != nil {
		return err
	}
	if s.m != nil {
		s.m.Forget(TokenKey(tenant, id))
	}
	s.ws().ForgetConnection(id)
	s.forgetOverrides(tenant, deleted.Connector, id)
	s.forgetRetry(tenant, id)
	s.log.InfoContext(ctx, "connection deleted", "tenant", tenant, "connection", id, "connector", deleted.Connector)
	return nil
}

// TestResult is the outcome of a connection's test request.
type TestResult struct {
	// Connection is the connection after the test, without its secrets.
	Connection *Connection `json:"connection"`
	// OK says the API accepted the credentials.
	OK bool `json:"ok"`
	// Error is why it did not (redacted): type auth means the connection
	// is now disconnected; network, timeout, upstream and rate-limited
	// put it in the error state, retried by Maintain.
	Error *engine.Error `json:"error,omitempty"`
	// Log holds the test's exchanges, redacted.
	Log []engine.Exchange `json:"log,omitempty"`
}

// Test sends the connector's test request on a connection and moves its
// state: accepted → connected (with connection.reconnected when it was
// not); refused (401, 403) → disconnected (connection.disconnected: a
// human must re-authorise); anything else (network, timeout, 5xx, rate
// limited) → error with LastError, which Maintain retries. It fails with
// engine.ErrNoTestRequest when the connector has no test request, and
// leaves the state alone when ctx ends first.
func (s *Service) Test(ctx context.Context, tenant, id string) (*TestResult, error) {
	ts := s.st.Tenant(tenant)
	c, err := ts.Connections().Get(ctx, id)
	if err != nil {
		return nil, err
	}
	return s.test(ctx, ts, c)
}

func (s *Service) test(ctx context.Context, ts store.TenantStore, c *store.Connection) (*TestResult, error) {
	ws := s.ws()
	ovs, err := s.overridesFor(ctx, ws, ts, c.Connector, c.ID)
	if err != nil {
		return nil, err
	}
	res, testErr := s.runTest(ctx, ws, c, ovs, s.m)
	if errors.Is(testErr, engine.ErrNoTestRequest) || errors.Is(testErr, ErrOAuthUnavailable) {
		return nil, testErr // says nothing of the connection
	}
	out := &TestResult{OK: testErr == nil}
	if res != nil {
		out.Log = res.Log
	}
	var ee *engine.Error
	if errors.As(testErr, &ee) {
		out.Error = ee
	} else if testErr != nil {
		out.Error = &engine.Error{Type: engine.ErrUpstream, Message: testErr.Error()}
	}
	v := judge(ctx, testErr, true)
	if v == verdictNone {
		return nil, testErr
	}
	bctx, cancel := detached(ctx)
	defer cancel()
	var info map[string]any
	if res != nil && testErr == nil {
		info = res.Info
	}
	cur, err := s.apply(bctx, ts, c, v, testErr, info)
	if err != nil {
		return nil, err
	}
	out.Connection = public(cur)
	return out, nil
}

// verdict is what a test or a run says of a connection's state.
type verdict int

const (
	verdictNone      verdict = iota // nothing learnt: the caller gave up
	verdictOK                       // the API accepted the credentials
	verdictRefused                  // the API refused them: re-authorise
	verdictTransient                // the API could not be used; retry
)

// judge reads a test's or a run's error. A run's 403 says the action is
// not allowed, not that the credentials are wrong: only a test request's
// 403 (whose whole point is the credentials) disconnects.
func judge(ctx context.Context, err error, test bool) verdict {
	if err == nil {
		return verdictOK
	}
	var ee *engine.Error
	if !errors.As(err, &ee) {
		if ctx.Err() != nil || errors.Is(err, context.Canceled) {
			return verdictNone
		}
		return verdictTransient
	}
	switch ee.Type {
	case engine.ErrAuth:
		if !test && ee.Status == 403 {
			return verdictNone
		}
		return verdictRefused
	case engine.ErrCanceled:
		return verdictNone
	}
	if ctx.Err() != nil {
		return verdictNone
	}
	return verdictTransient
}

// apply moves the state of read, the connection as it was when the test
// or run began, by the verdict, with the event in the same transaction. A
// verdict on a connection whose state, credentials or parameters changed
// meanwhile (a reconnect, a concurrent test) is stale and dropped: it may
// be about the credentials just replaced.
func (s *Service) apply(ctx context.Context, ts store.TenantStore, read *store.Connection, v verdict, cause error, info map[string]any) (*store.Connection, error) {
	msg := lastError(cause)
	cur, err := setState(ctx, ts, read.ID, s.now(), func(c *store.Connection) string {
		if c.State != read.State || !reflect.DeepEqual(c.Credentials, read.Credentials) || !reflect.DeepEqual(c.Parameters, read.Parameters) {
			return ""
		}
		if info != nil && v == verdictOK {
			// What the test learnt of the account (auth.info) is kept.
			c.Info = info
		}
		switch v {
		case verdictOK:
			if c.State == store.Connected {
				c.LastError = ""
				return ""
			}
			c.State, c.LastError = store.Connected, ""
			return EventReconnected
		case verdictRefused:
			if c.State == store.Disconnected {
				return ""
			}
			c.State, c.LastError = store.Disconnected, msg
			return EventDisconnected
		case verdictTransient:
			if c.State != store.Disconnected { // an outage proves nothing of the grant
				c.State, c.LastError = store.Errored, msg
			}
		}
		return ""
	})
	if err != nil {
		return nil, err
	}
	if cur.State != read.State {
		s.log.InfoContext(ctx, "connection state changed", "tenant", cur.Tenant, "connection", cur.ID,
			"connector", cur.Connector, "from", read.State, "to", cur.State, "error", cur.LastError)
	}
	return cur, nil
}

// lastError words an error for Connection.LastError: short, and redacted
// by the engine already.
func lastError(err error) string {
	if err == nil {
		return ""
	}
	var msg string
	var ee *engine.Error
	if errors.As(err, &ee) {
		msg = string(ee.Type) + ": " + ee.Message
		if ee.Status != 0 {
			msg += fmt.Sprintf(" (status %d)", ee.Status)
		}
	} else {
		msg = err.Error()
	}
	if len(msg) > 1000 {
		msg = msg[:1000] + "…"
	}
	return msg
}

// Reconnect replaces a connection's credentials once the test request
// accepts them, and sets it connected, with connection.reconnected.
// Refused credentials give a *CredentialsRefusedError and change nothing.
// An OAuth2 consent connection is re-authorised with BeginOAuth instead.
func (s *Service) Reconnect(ctx context.Context, tenant, id string, credentials map[string]any) (*Connection, error) {
	ws := s.ws()
	ts := s.st.Tenant(tenant)
	c, err := ts.Connections().Get(ctx, id)
	if err != nil {
		return nil, err
	}
	cn, err := connectorOf(ws, c.Connector)
	if err != nil {
		return nil, err
	}
	if needsConsent(cn, credentials) {
		return nil, fmt.Errorf("connector %q: %w (with the connection id, to re-authorise it)", cn.Key, ErrOAuthRequired)
	}
	creds, cv, err := s.credentials(cn, credentials)
	if err != nil {
		return nil, err
	}
	if err := invalid(cn, cv); err != nil {
		return nil, err
	}
	ovs, err := s.overridesFor(ctx, ws, ts, c.Connector, c.ID)
	if err != nil {
		return nil, err
	}
	candidate := *c
	candidate.Credentials = creds
	if a := cn.Auth; a != nil && a.Type == spec.AuthOAuth2 {
		candidate.Token = nil // the new client's token, or the static access token
	}
	tok, info, err := s.trial(ctx, ws, &candidate, ovs)
	if err != nil {
		return nil, err
	}
	cur, err := setState(ctx, ts, id, s.now(), func(c *store.Connection) string {
		c.Credentials, c.Token = creds, tok
		if info != nil {
			c.Info = info
		}
		c.State, c.LastError = store.Connected, ""
		return EventReconnected
	})
	if err != nil {
		return nil, err
	}
	if s.m != nil {
		s.m.Forget(TokenKey(tenant, id))
	}
	s.ws().ForgetConnection(id)
	s.forgetRetry(tenant, id)
	s.log.InfoContext(ctx, "connection reconnected", "tenant", tenant, "connection", id, "connector", cur.Connector)
	return public(cur), nil
}
