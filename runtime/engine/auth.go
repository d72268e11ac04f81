package engine

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/membrane-dev/membrane/runtime/httpx"
	"github.com/membrane-dev/membrane/spec"
	"github.com/membrane-dev/membrane/spec/compile"
)

// Authenticator adds a connection's credentials to its requests. The
// built-in ones cover API keys, basic, bearer, a static OAuth2 access token
// and custom session logins; a connection manager supplies its own for
// OAuth2 with refresh.
type Authenticator interface {
	// Authorize adds credentials to a request about to be sent.
	Authorize(ctx context.Context, req *httpx.Request) error
	// Refresh renews the credentials after the API answered 401. It returns
	// false when there is nothing to renew; the request is then not retried.
	Refresh(ctx context.Context) (bool, error)
	// Secrets lists values to hide in logs and errors.
	Secrets() []string
}

// AccessTokener is an Authenticator that keeps an OAuth2 access token
// (one that refreshes it): requests that carry the token outside the
// Authorization header read it as credentials.accessToken.
type AccessTokener interface {
	// AccessToken returns the token Authorize would send now.
	AccessToken(ctx context.Context) (string, error)
}

// builtinAuth implements the auth types a connector declares.
type builtinAuth struct {
	r    *run
	auth *compile.Auth
	vars map[string]any // credentials, connection, tenant, now
	key  string         // of the login session; see sessionKey
}

// sessionKey names a custom login session: the connection and a digest
// of its credentials and parameters. A connection given new credentials
// (reconnected, perhaps to another account) logs in again at once, on
// every replica, instead of using the session of the old ones.
func (a *builtinAuth) sessionKey() string {
	if a.key == "" {
		h := sha256.New()
		json.NewEncoder(h).Encode([]any{a.r.conn.credentials(), a.r.conn.Parameters})
		a.key = a.r.conn.ID + "\x00" + hex.EncodeToString(h.Sum(nil)[:12])
	}
	return a.key
}

func (r *run) authenticator() Authenticator {
	if r.conn.Auth != nil {
		return r.conn.Auth
	}
	ca := r.plan.connector.Auth
	if ca == nil || ca.Src.Type == spec.AuthNone {
		return nil
	}
	vars := map[string]any{
		compile.VarCredentials: r.conn.credentials(),
		compile.VarConnection:  r.vars[compile.VarConnection],
		compile.VarTenant:      r.vars[compile.VarTenant],
		compile.VarNow:         r.vars[compile.VarNow],
	}
	return &builtinAuth{r: r, auth: ca, vars: vars}
}

func (a *builtinAuth) Secrets() []string {
	s := SecretsOf(a.vars[compile.VarCredentials], nil)
	if sess := a.r.engine.session(a.sessionKey(), false); sess != nil {
		if tok := sess.current(); tok != "" {
			s = append(s, tok)
		}
	}
	return s
}

// value evaluates an auth template, or takes a credential by its default name.
func (a *builtinAuth) value(ctx context.Context, x *compile.Expr, credential string) (string, error) {
	if x != nil {
		v, err := x.Eval(ctx, a.vars)
		if err != nil {
			return "", fromExpr(err)
		}
		return text(v), nil
	}
	creds, _ := a.vars[compile.VarCredentials].(map[string]any)
	v, ok := creds[credential]
	if !ok || v == nil {
		return "", &Error{Type: ErrAuth, Message: fmt.Sprintf("the connection has no credential %q; reconnect with it", credential)}
	}
	return text(v), nil
}

func (a *builtinAuth) Authorize(ctx context.Context, req *httpx.Request) error {
	src := a.auth.Src
	switch src.Type {
	case spec.AuthAPIKey:
		v, err := a.value(ctx, a.auth.Value, "apiKey")
		if err != nil {
			return err
		}
		if src.In == "query" {
			return setQuery(req, src.Name, v)
		}
		req.Header.Set(src.Name, v)
	case spec.AuthBasic:
		user, err := a.value(ctx, a.auth.Username, "username")
		if err != nil {
			return err
		}
		pass, err := a.value(ctx, a.auth.Password, "password")
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(user+":"+pass)))
	case spec.AuthBearer:
		tok, err := a.value(ctx, a.auth.Token, "token")
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+tok)
	case spec.AuthOAuth2:
		tok, err := a.value(ctx, nil, "accessToken")
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+tok)
	case spec.AuthCustom:
		return a.authorizeSession(ctx, req)
	}
	return nil
}

func (a *builtinAuth) Refresh(ctx context.Context) (bool, error) {
	if a.auth.Src.Type != spec.AuthCustom || a.auth.Login == nil {
		return false, nil
	}
	sess := a.r.engine.session(a.sessionKey(), true)
	_, err := sess.get(ctx, a, true)
	return err == nil, err
}

func (a *builtinAuth) authorizeSession(ctx context.Context, req *httpx.Request) error {
	vars := a.vars
	if a.auth.Login != nil {
		tok, err := a.r.engine.session(a.sessionKey(), true).get(ctx, a, false)
		if err != nil {
			return err
		}
		vars = withVar(a.vars, compile.VarSession, map[string]any{"token": tok})
		a.r.hideSecret(tok)
	}
	for _, nv := range a.auth.Headers {
		v, err := nv.Expr.Eval(ctx, vars)
		if err != nil {
			return fromExpr(err)
		}
		req.Header.Set(nv.Name, text(v))
	}
	for _, nv := range a.auth.Query {
		v, err := nv.Expr.Eval(ctx, vars)
		if err != nil {
			return fromExpr(err)
		}
		if err := setQuery(req, nv.Name, text(v)); err != nil {
			return err
		}
	}
	return nil
}

func setQuery(req *httpx.Request, name, value string) error {
	u, err := url.Parse(req.URL)
	if err != nil {
		return &Error{Type: ErrInvalidInput, Message: err.Error()}
	}
	q := u.Query()
	q.Set(name, value)
	u.RawQuery = q.Encode()
	req.URL = u.String()
	return nil
}

func withVar(vars map[string]any, name string, v any) map[string]any {
	out := make(map[string]any, len(vars)+1)
	for k, x := range vars {
		out[k] = x
	}
	out[name] = v
	return out
}

// session is a custom auth's login token for one connection. One login
// runs at a time; the others wait for its token.
type session struct {
	mu      sync.Mutex
	token   string
	expires time.Time // zero: until the API refuses it
}

func (s *session) current() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.token
}

// sessionMargin renews a session this long before it expires.
const sessionMargin = 30 * time.Second

func (s *session) get(ctx context.Context, a *builtinAuth, force bool) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := a.r.engine.now()
	if !force && s.token != "" && (s.expires.IsZero() || now.Add(sessionMargin).Before(s.expires)) {
		return s.token, nil
	}
	b, err := a.r.buildRequest(ctx, a.auth.Login, a.vars, nil, "")
	if err != nil {
		return "", err
	}
	resp, body, err := a.r.send(ctx, b, nil)
	if err != nil {
		return "", err
	}
	vars := withVar(a.vars, compile.VarResponse, responseVar(resp, body))
	if resp.Status >= 400 {
		return "", &Error{Type: ErrAuth, Status: resp.Status, Message: "the login request was refused; check the credentials", Request: b.label, Body: a.r.redact.Excerpt(resp.Body)}
	}
	tok, err := a.auth.LoginToken.Eval(ctx, vars)
	if err != nil {
		return "", fromExpr(err)
	}
	if tok == nil || text(tok) == "" {
		return "", &Error{Type: ErrAuth, Message: "the login response gave no session token", Request: b.label}
	}
	s.token, s.expires = text(tok), time.Time{}
	if a.auth.LoginExpiresIn != nil {
		exp, err := a.auth.LoginExpiresIn.Eval(ctx, vars)
		if err != nil {
			return "", fromExpr(err)
		}
		if secs, err := strconv.ParseFloat(text(exp), 64); err == nil && secs > 0 {
			s.expires = now.Add(time.Duration(secs * float64(time.Second)))
		}
	}
	a.r.hideSecret(s.token)
	return s.token, nil
}
