package oauth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"golang.org/x/oauth2"

	"github.com/membrane-dev/membrane/runtime/engine"
	"github.com/membrane-dev/membrane/runtime/httpx"
)

// authenticator is the engine.Authenticator of one OAuth2 connection. Make
// as many as needed (one per run): the refresh state lives in the Manager.
type authenticator struct {
	m     *Manager
	p     *Provider
	conn  engine.Connection
	creds client

	mu   sync.Mutex
	used string // the access token last put on a request
}

var _ engine.Authenticator = (*authenticator)(nil)

// errCannotRenew: the API refused a token that has no refresh token.
var errCannotRenew = errors.New("oauth: nothing to renew the token with")

// NewAuthenticator returns the engine.Authenticator of an OAuth2
// connection, for engine.Connection.Auth: it sends the stored access token
// as a bearer token, refreshing it ahead of expiry and after a 401.
//
// For the client credentials grant, the connection's credentials clientId
// and clientSecret, when set, take the place of the provider's client.
func (m *Manager) NewAuthenticator(p *Provider, conn *engine.Connection) engine.Authenticator {
	a := &authenticator{m: m, p: p, conn: *conn, creds: p.client()}
	a.conn.Auth = nil
	if p.clientCredentials() {
		id, _ := conn.Credentials["clientId"].(string)
		secret, _ := conn.Credentials["clientSecret"].(string)
		if id != "" {
			a.creds.id, a.creds.secret = id, secret
		}
	}
	return a
}

func (a *authenticator) Authorize(ctx context.Context, req *httpx.Request) error {
	tok, err := a.current(ctx)
	if err != nil {
		return err
	}
	if req.Header == nil {
		req.Header = http.Header{}
	}
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	a.mu.Lock()
	a.used = tok.AccessToken
	a.mu.Unlock()
	return nil
}

// AccessToken is the token Authorize sends, for a request that carries it
// elsewhere too (credentials.accessToken in a body).
func (a *authenticator) AccessToken(ctx context.Context) (string, error) {
	tok, err := a.current(ctx)
	if err != nil {
		return "", err
	}
	a.mu.Lock()
	a.used = tok.AccessToken
	a.mu.Unlock()
	return tok.AccessToken, nil
}

var _ engine.AccessTokener = (*authenticator)(nil)

// Refresh renews the token the API just refused, unless another refresher
// already replaced it: then the request is retried with that one.
func (a *authenticator) Refresh(ctx context.Context) (bool, error) {
	a.mu.Lock()
	used := a.used
	a.mu.Unlock()
	if used == "" {
		return false, nil
	}
	// Twice at most: a refresh already under way, which this call joins,
	// may have been started for another reason and return this very token.
	for range 2 {
		tok, err := a.renew(ctx, used)
		if errors.Is(err, errCannotRenew) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		if tok.AccessToken != used {
			return true, nil
		}
	}
	return false, nil
}

func (a *authenticator) Secrets() []string {
	m, id := a.m, a.conn.ID
	tok := m.cached(id)
	if tok == nil && m.o.Tokens != nil {
		// Before the first Authorize of a run; it would load the token anyway.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if t, err := m.load(ctx, id); err == nil && t != nil {
			m.remember(id, t)
			tok = t
		}
	}
	var s []string
	if tok != nil {
		s = append(s, tok.AccessToken, tok.RefreshToken)
	}
	a.mu.Lock()
	s = append(s, a.used)
	a.mu.Unlock()
	s = append(s, a.creds.secret, a.p.ClientSecret)
	out := s[:0]
	for _, v := range s {
		if v != "" {
			out = append(out, v)
		}
	}
	return out
}

// Fresh refreshes the token when it is due, as a request would. The
// background refresher calls it so that runs seldom wait on a refresh,
// and a revoked grant is found before a user needs the connection.
func (a *authenticator) Fresh(ctx context.Context) error {
	_, err := a.current(ctx)
	return err
}

// current returns the token to send: the one last seen, unless it is due
// for refresh and can be refreshed.
func (a *authenticator) current(ctx context.Context) (*Token, error) {
	m, id := a.m, a.conn.ID
	if m.o.Tokens == nil {
		return nil, errors.New("oauth: no TokenStore configured")
	}
	if err := a.p.check(); err != nil {
		return nil, &engine.Error{Type: engine.ErrAuth, Message: err.Error(), Err: err}
	}
	tok := m.cached(id)
	if tok == nil {
		t, err := m.load(ctx, id)
		if err != nil {
			return nil, fmt.Errorf("oauth: loading the token of connection %s: %w", id, err)
		}
		if t != nil {
			m.remember(id, t)
			tok = t
		}
	}
	now := m.now()
	if tok != nil && (!tok.due(now, m.o.RefreshMargin) || !a.renewable(tok)) {
		return tok, nil
	}
	valid := tok != nil && now.Before(tok.Expiry)
	if valid && m.holdingOff(id, now) {
		return tok, nil
	}
	nt, err := a.renew(ctx, "")
	var ee *engine.Error
	if err != nil && valid && errors.As(err, &ee) && ee.Retryable {
		// The early refresh failed for now; the token still works. Not
		// retried at every request meanwhile.
		m.holdOff(id, now.Add(earlyRetryWait))
		m.log.WarnContext(ctx, "oauth: refresh failed, using the token until it expires", "connection", id, "error", err)
		return tok, nil
	}
	return nt, err
}

// earlyRetryWait spaces the retries of a failed early refresh while the
// token still works.
const earlyRetryWait = 5 * time.Second

func (a *authenticator) renewable(t *Token) bool {
	return a.p.clientCredentials() || t.RefreshToken != ""
}

// renew gets a fresh token as the connection's one refresher; rejected is
// the access token the API refused, if any.
func (a *authenticator) renew(ctx context.Context, rejected string) (*Token, error) {
	return a.m.fly(ctx, a.conn.ID, func(ctx context.Context) (*Token, error) {
		var out *Token
		err := a.m.o.Tokens.WithLock(ctx, a.conn.ID, func(ctx context.Context) error {
			t, err := a.underLock(ctx, rejected)
			out = t
			return err
		})
		return out, err
	})
}

// underLock re-reads the stored token, as another holder of the lock may
// have refreshed it, and refreshes only when that one is still stale.
func (a *authenticator) underLock(ctx context.Context, rejected string) (*Token, error) {
	m, id := a.m, a.conn.ID
	cur, err := m.load(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("oauth: loading the token of connection %s: %w", id, err)
	}
	if cur != nil {
		stale := cur.AccessToken == rejected || cur.due(m.now(), m.o.RefreshMargin)
		if !stale {
			return cur, nil
		}
		if !a.renewable(cur) {
			if cur.AccessToken == rejected {
				return nil, errCannotRenew
			}
			return cur, nil // used until the API refuses it
		}
	} else if !a.p.clientCredentials() {
		return nil, &engine.Error{Type: engine.ErrAuth, Message: "the connection has no OAuth token; connect it first", Err: ErrNoToken}
	}
	nt, err := a.obtain(ctx, cur)
	if err == nil {
		// Persisted before anyone uses it: the provider may have rotated
		// the refresh token, and the old one may already be dead.
		err = m.save(ctx, id, nt)
	}
	if m.o.OnRefresh != nil {
		m.o.OnRefresh(a.p.Connector, err)
	}
	if err != nil {
		return nil, err
	}
	m.log.InfoContext(ctx, "oauth: token refreshed", "connection", id, "connector", a.p.Connector, "expires", expiryAttr(nt))
	return nt, nil
}

// obtain asks the token endpoint for a new token: client credentials, or
// the refresh token of cur.
func (a *authenticator) obtain(ctx context.Context, cur *Token) (*Token, error) {
	m, id := a.m, a.conn.ID
	vars := templateVars(a.conn.Tenant, id, a.conn.Name, a.conn.Parameters, a.conn.Info, a.conn.Credentials, m.now().UTC())
	tu, err := endpoint(ctx, a.p.Auth.TokenURL, vars, "token URL")
	if err != nil {
		return nil, &engine.Error{Type: engine.ErrInvalidInput, Message: err.Error(), Err: err}
	}
	if a.p.clientCredentials() {
		cfg := a.p.clientCredentialsConfig(a.creds, tu.String())
		const what = "getting a client credentials token"
		// Replayable: nothing is consumed by asking twice.
		ot, now, err := m.grant(ctx, true, cfg.Token)
		if err != nil {
			return nil, tokenFailure(err, what, []string{a.creds.secret})
		}
		return token(ot, now, what)
	}
	if m.refusedToken(id, cur.RefreshToken) {
		return nil, reauthError(nil)
	}
	const what = "refreshing the token"
	secrets := []string{cur.RefreshToken, cur.AccessToken, a.creds.secret}
	cfg := a.p.config(a.creds, "", tu.String(), "")
	ot, now, err := m.grant(ctx, false, func(ctx context.Context) (*oauth2.Token, error) {
		// A token without an access token is never valid, so the source
		// refreshes at once.
		return cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: cur.RefreshToken}).Token()
	})
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && re.ErrorCode == "invalid_grant" {
		te := retrieveError(re, secrets)
		m.refuse(id, cur.RefreshToken)
		reason := "the provider refused the refresh token (invalid_grant)"
		if te.Description != "" {
			reason += ": " + te.Description
		}
		if derr := m.o.Tokens.MarkDisconnected(ctx, id, reason); derr != nil {
			m.log.ErrorContext(ctx, "oauth: marking the connection disconnected failed", "connection", id, "error", derr)
		}
		m.log.WarnContext(ctx, "oauth: connection disconnected", "connection", id, "connector", a.p.Connector, "reason", reason)
		return nil, reauthError(te)
	}
	if err != nil {
		return nil, tokenFailure(err, what, secrets)
	}
	nt, err := token(ot, now, what)
	if err != nil {
		return nil, err
	}
	// RFC 6749 §6: without a new refresh token, the old one stays valid.
	if nt.RefreshToken == "" {
		nt.RefreshToken = cur.RefreshToken
	}
	if nt.Scope == "" {
		nt.Scope = cur.Scope
	}
	return nt, nil
}

func reauthError(te *TokenError) error {
	e := &engine.Error{Type: engine.ErrAuth, Message: "the provider refused the connection's grant (invalid_grant); a user must reconnect it", Err: ErrReauthorize}
	if te != nil {
		e.Status = te.Status
		e.Err = fmt.Errorf("%w: %w", ErrReauthorize, te)
	}
	return e
}

// save persists a new token, trying a few times: once the provider has
// rotated the refresh token, losing the new one loses the connection.
func (m *Manager) save(ctx context.Context, connID string, t *Token) error {
	var err error
retry:
	for i := range 3 {
		if err = m.o.Tokens.SaveToken(ctx, connID, t); err == nil {
			return nil
		}
		if i == 2 {
			break
		}
		select {
		case <-time.After(time.Duration(100<<i) * time.Millisecond):
		case <-ctx.Done():
			break retry
		}
	}
	m.log.ErrorContext(ctx, "oauth: the new token could not be saved; if the provider rotated the refresh token, the connection needs re-authorising", "connection", connID, "error", err)
	return fmt.Errorf("oauth: saving the new token of connection %s: %w", connID, err)
}
