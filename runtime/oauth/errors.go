package oauth

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/membrane-dev/membrane/runtime/engine"
	"github.com/membrane-dev/membrane/runtime/httpx"
)

var (
	// ErrInvalidState: a callback's state is forged, expired, replayed or
	// bound to another tenant or connector. No token request was sent.
	ErrInvalidState = errors.New("oauth: invalid or expired authorization state; start connecting again")
	// ErrReauthorize: the provider refused the connection's grant (the user
	// revoked it, the refresh token expired); the connection was marked
	// disconnected and a human must connect it again.
	ErrReauthorize = errors.New("oauth: the connection must be re-authorised")
	// ErrMalformedResponse: the token endpoint answered success with
	// something that is not a usable token.
	ErrMalformedResponse = errors.New("oauth: malformed token response")
)

// TokenError is an error response of the token endpoint (RFC 6749 §5.2).
// Description is the provider's text with every known secret removed.
type TokenError struct {
	Status      int
	Code        string // invalid_grant, invalid_client...
	Description string
}

func (e *TokenError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "token endpoint answered %d", e.Status)
	if e.Code != "" {
		b.WriteString(" ")
		b.WriteString(e.Code)
	}
	if e.Description != "" {
		b.WriteString(": ")
		b.WriteString(e.Description)
	}
	return b.String()
}

// stateError says why a state was refused, for logs; callers match
// ErrInvalidState.
func stateError(why string) error { return fmt.Errorf("%w (%s)", ErrInvalidState, why) }

// reachError is a token request that got no usable answer (network,
// timeout, refused address, an oversized body): typed as the transport's
// kind maps, retryable when the transport says so.
func reachError(err error, what string) error {
	var he *httpx.Error
	e := &engine.Error{Type: engine.ErrNetwork, Message: what + ": the token endpoint could not be reached", Err: err}
	if errors.As(err, &he) {
		e.Type, e.Retryable = he.Kind.ErrorType(), he.Retryable
		e.Message += ": " + he.Message
		switch he.Kind {
		case httpx.KindInvalid:
			e.Message = what + ": the token URL is not usable: " + he.Message
		case httpx.KindTooLarge:
			// It was reached: its answer is what is wrong.
			e.Message = what + ": the token endpoint's answer is too large: " + he.Message
		}
	}
	return e
}

// refusal maps an error response of the token endpoint. Only the caller
// knows whether invalid_grant means "disconnected" (a refresh) or "start
// again" (a code exchange), so that is left to it.
func refusal(te *TokenError, what string) *engine.Error {
	e := &engine.Error{Type: engine.ErrAuth, Status: te.Status, Err: te}
	switch {
	case te.Status == 429:
		e.Type, e.Retryable = engine.ErrRateLimited, true
		e.Message = what + ": the token endpoint is rate limiting; try again later"
	case te.Status >= 500:
		e.Type, e.Retryable = engine.ErrUpstream, true
		e.Message = what + ": the token endpoint failed; try again later"
	case te.Code == "invalid_client" || te.Code == "unauthorized_client" || (te.Code == "" && te.Status == 401):
		e.Message = what + ": the token endpoint refused the client; check the OAuth app's client id and secret"
	default:
		e.Message = what + ": the token endpoint refused the request"
	}
	if te.Code != "" {
		e.Message += " (" + te.Code + ")"
	}
	if te.Description != "" {
		e.Message += ": " + te.Description
	}
	return e
}

// ctxError is a caller that gave up waiting.
func ctxError(err error, what string) error {
	e := &engine.Error{Type: engine.ErrCanceled, Message: what + ": canceled", Err: err}
	if errors.Is(err, context.DeadlineExceeded) {
		e.Type, e.Message = engine.ErrTimeout, what+": deadline exceeded"
	}
	return e
}
