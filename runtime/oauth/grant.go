package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/membrane-dev/membrane/runtime/engine"
	"github.com/membrane-dev/membrane/runtime/httpx"
)

// The grants' wire format is golang.org/x/oauth2's: the authorization URL
// with PKCE, the code exchange, refresh and client credentials. What is
// this package's: every token request goes over runtime/httpx (through an
// *http.Client whose transport is the guarded client, handed to x/oauth2
// in the context), the client authentication is never auto-detected, and
// x/oauth2's results are read here: invalid_grant, a retryable failure and
// a malformed answer each become their own error, with the provider's text
// scrubbed of every secret of the request.

// client is who authenticates at the token endpoint.
type client struct {
	id, secret string
	inBody     bool // clientAuth: body
}

func (p *Provider) client() client {
	return client{id: p.ClientID, secret: p.ClientSecret, inBody: p.src().ClientAuth == "body"}
}

// authStyle is the connector's clientAuth, always set: x/oauth2's
// AuthStyleAutoDetect would send a refused request again with the secret
// the other way, so one grant could cost two token requests (and a single
// use code or refresh token would be spent by the first). A public client
// (no secret) names itself in the body, as RFC 6749 §2.3.1 has it.
func (c client) authStyle() oauth2.AuthStyle {
	if c.inBody || c.secret == "" {
		return oauth2.AuthStyleInParams
	}
	return oauth2.AuthStyleInHeader
}

// config is the x/oauth2 configuration of one grant. The scopes are joined
// with the connector's separator here, as x/oauth2 would join them with a
// space.
func (p *Provider) config(c client, authURL, tokenURL, redirectURI string) *oauth2.Config {
	cfg := &oauth2.Config{
		ClientID:     c.id,
		ClientSecret: c.secret,
		Endpoint:     oauth2.Endpoint{AuthURL: authURL, TokenURL: tokenURL, AuthStyle: c.authStyle()},
		RedirectURL:  redirectURI,
	}
	if s := p.scope(); s != "" {
		cfg.Scopes = []string{s}
	}
	return cfg
}

func (p *Provider) clientCredentialsConfig(c client, tokenURL string) *clientcredentials.Config {
	cfg := &clientcredentials.Config{ClientID: c.id, ClientSecret: c.secret, TokenURL: tokenURL, AuthStyle: c.authStyle()}
	if s := p.scope(); s != "" {
		cfg.Scopes = []string{s}
	}
	return cfg
}

// grant runs one token request of x/oauth2 over the guarded client.
// replayable allows resending after a failure the server may have seen:
// only for a grant nothing is spent by (client credentials), never for a
// code or a rotating refresh token. It returns x/oauth2's token and error
// as they are, with the time the request was sent: a lifetime counts from
// no later.
func (m *Manager) grant(ctx context.Context, replayable bool, run func(ctx context.Context) (*oauth2.Token, error)) (*oauth2.Token, time.Time, error) {
	hc := m.once
	if replayable {
		hc = m.replay
	}
	now := m.now()
	ot, err := run(context.WithValue(ctx, oauth2.HTTPClient, hc))
	return ot, now, err
}

// token reads x/oauth2's token into this package's, or says what is wrong
// with it.
func token(ot *oauth2.Token, now time.Time, what string) (*Token, error) {
	t := &Token{AccessToken: ot.AccessToken, TokenType: ot.TokenType, RefreshToken: ot.RefreshToken, IssuedAt: now}
	// expires_in is read here rather than from ot.Expiry, which x/oauth2
	// counts from its own clock, and ot.ExpiresIn, which it leaves unset
	// for a form answer and for client credentials.
	secs, ok := expiresIn(ot.Extra("expires_in"))
	if !ok {
		return nil, malformed("expires_in is not a number", what)
	}
	if secs > 0 {
		t.Expiry = now.Add(time.Duration(secs * float64(time.Second)))
	}
	switch s := ot.Extra("scope").(type) {
	case nil:
	case string:
		t.Scope = s
	case []any: // a list, from a few providers
		parts := make([]string, 0, len(s))
		for _, x := range s {
			parts = append(parts, fmt.Sprint(x))
		}
		t.Scope = strings.Join(parts, " ")
	default:
		t.Scope = fmt.Sprint(s)
	}
	return t, nil
}

// tokenFailure maps a failed grant: the token endpoint's refusal, no
// usable answer at all, or an answer that is not a token. secrets are
// scrubbed from the provider's text; x/oauth2's own text is not passed on,
// since it may quote the response body.
func tokenFailure(err error, what string, secrets []string) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		return refusal(retrieveError(re, secrets), what)
	}
	var he *httpx.Error
	if errors.As(err, &he) {
		return reachError(he, what)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return ctxError(err, what)
	}
	// x/oauth2 read a success status but no token: its messages for that
	// are fixed, and only "missing access_token" is worth telling apart.
	if strings.Contains(err.Error(), "missing access_token") {
		return malformed("no access_token", what)
	}
	return malformed("the body is not a JSON object or form of token fields, or a field has the wrong type", what)
}

// retrieveError is x/oauth2's error response as a TokenError. It keeps
// the fields, not the error: RetrieveError holds the response body, which
// a provider may have filled with what it was sent.
func retrieveError(re *oauth2.RetrieveError, secrets []string) *TokenError {
	te := &TokenError{Code: re.ErrorCode, Description: scrub(re.ErrorDescription, secrets)}
	if re.Response != nil {
		te.Status = re.Response.StatusCode
	}
	return te
}

func malformed(problem, what string) error {
	return &engine.Error{Type: engine.ErrUpstream,
		Message: what + ": the token endpoint's answer is not a usable token: " + problem,
		Err:     fmt.Errorf("%w: %s", ErrMalformedResponse, problem)}
}

// expiresIn reads seconds given as a number or, by some providers, a
// numeric string. Absent or null is 0: no expiry known.
func expiresIn(v any) (float64, bool) {
	var s string
	switch x := v.(type) {
	case nil:
		return 0, true
	case float64: // JSON
		s = strconv.FormatFloat(x, 'g', -1, 64)
	case int64: // a form, read by x/oauth2
		s = strconv.FormatInt(x, 10)
	case json.Number:
		s = x.String()
	case string:
		s = strings.TrimSpace(x)
		if s == "" {
			return 0, true
		}
	default:
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	if f > maxExpiresIn { // would overflow a Duration; as good as never
		return 0, true
	}
	return f, true
}

// maxExpiresIn is ten years, in seconds.
const maxExpiresIn = 10 * 365 * 24 * 3600

// scrub removes secrets from the provider's error text and bounds it.
func scrub(s string, secrets []string) string {
	for _, sec := range secrets {
		if len(sec) >= 4 {
			s = strings.ReplaceAll(s, sec, "[redacted]")
		}
	}
	return httpx.Excerpt([]byte(s))
}
