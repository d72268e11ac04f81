// Package engine runs actions: it turns a resolved, compiled action into
// HTTP requests, sends them through runtime/httpx and maps the responses
// back, following the pipeline of DESIGN.md step by step.
package engine

import (
	"errors"
	"fmt"
	"strings"

	"github.com/membrane-dev/membrane/runtime/httpx"
	"github.com/membrane-dev/membrane/spec"
)

// Error types. Callers branch on them; the REST API maps them to statuses.
const (
	ErrAuth          = "auth"           // credentials refused; re-authorise
	ErrNotFound      = "not-found"      // the record does not exist upstream
	ErrRateLimited   = "rate-limited"   // upstream or local rate limit
	ErrInvalidInput  = "invalid-input"  // the input breaks the schema, or upstream refused it
	ErrConflict      = "conflict"       // upstream reports a conflict
	ErrUpstream      = "upstream"       // upstream failed or answered nonsense
	ErrNetwork       = "network"        // no usable connection
	ErrTimeout       = "timeout"        // a deadline passed
	ErrInvalidOutput = "invalid-output" // the mapped output breaks the output schema
	ErrExpression    = "expression"     // an expression failed at run time
	ErrRefused       = "refused"        // outbound safety refused the address
	ErrCanceled      = "canceled"       // the caller gave up
	// ErrHostNotAllowed: a URL would go where the connector's files do
	// not allow (a connection parameter that tries to choose the host);
	// nothing was sent. Reconnect with valid parameters, or fix hosts:.
	ErrHostNotAllowed = "host-not-allowed"
)

// Violation is one way a value breaks a JSON Schema.
type Violation = spec.Violation

// Error is the one error type a run returns.
type Error struct {
	Type string `json:"type"`
	// Status is the upstream HTTP status, when a response came.
	Status  int    `json:"status,omitempty"`
	Message string `json:"message"`
	// Request names the request that failed, e.g. "POST https://api.x.com/v1/a"
	// (no query string: it may hold secrets).
	Request string `json:"request,omitempty"`
	// Body is a short, redacted excerpt of the upstream response.
	Body       string      `json:"body,omitempty"`
	Violations []Violation `json:"violations,omitempty"`
	// Retryable says the same call may succeed later.
	Retryable bool  `json:"retryable,omitempty"`
	Err       error `json:"-"`
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Type)
	b.WriteString(": ")
	b.WriteString(e.Message)
	if e.Status != 0 {
		fmt.Fprintf(&b, " (status %d)", e.Status)
	}
	if e.Request != "" {
		b.WriteString(" [")
		b.WriteString(e.Request)
		b.WriteString("]")
	}
	for _, v := range e.Violations {
		fmt.Fprintf(&b, "\n  %s: %s", orRoot(v.Pointer), v.Message)
	}
	if e.Body != "" {
		b.WriteString("\n  response: ")
		b.WriteString(e.Body)
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

func orRoot(p string) string {
	if p == "" {
		return "/"
	}
	return p
}

// TypeOf returns the type of a run error, or "" for another error.
func TypeOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Type
	}
	return ""
}

// fromHTTP turns a transport error into a run error.
func fromHTTP(err error, request string) *Error {
	var he *httpx.Error
	if !errors.As(err, &he) {
		return &Error{Type: ErrNetwork, Message: err.Error(), Request: request, Err: err}
	}
	e := &Error{Message: he.Message, Request: request, Status: he.Status, Retryable: he.Retryable, Err: err}
	switch he.Kind {
	case httpx.KindTimeout:
		e.Type = ErrTimeout
	case httpx.KindTooLarge:
		e.Type = ErrUpstream
	case httpx.KindRefused:
		e.Type = ErrRefused
	case httpx.KindRateLimited:
		e.Type = ErrRateLimited
	case httpx.KindCanceled:
		e.Type = ErrCanceled
	case httpx.KindInvalid:
		e.Type = ErrInvalidInput
	default:
		e.Type = ErrNetwork
	}
	return e
}

// fromExpr turns an expression failure into a run error naming the
// expression, its file:line and layer.
func fromExpr(err error) error {
	var xe *spec.ExprError
	if errors.As(err, &xe) {
		return &Error{Type: ErrExpression, Message: xe.Error(), Err: err}
	}
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	return &Error{Type: ErrExpression, Message: err.Error(), Err: err}
}

// fromURL turns a URL that its host policy refused (*spec.URLError,
// wherever it is in err's chain: an OAuth2 authenticator wraps it) into
// a host-not-allowed run error; any other error is returned as it is.
func fromURL(err error) error {
	var ue *spec.URLError
	if !errors.As(err, &ue) {
		return err
	}
	var e *Error
	if errors.As(err, &e) && e.Type == ErrHostNotAllowed {
		return err
	}
	return &Error{Type: ErrHostNotAllowed, Message: ue.Error(), Err: err}
}

// defaultErrorType maps a failing status when no rule matched.
func defaultErrorType(status int) string {
	switch {
	case status == 401 || status == 403:
		return ErrAuth
	case status == 404 || status == 410:
		return ErrNotFound
	case status == 429:
		return ErrRateLimited
	case status == 400 || status == 422:
		return ErrInvalidInput
	case status == 409:
		return ErrConflict
	}
	return ErrUpstream
}
