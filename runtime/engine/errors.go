// Package engine runs actions: it turns a resolved, compiled action into
// HTTP requests, sends them through runtime/httpx and maps the responses
// back, following the pipeline that Engine.Run lists step by step.
package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/membrane-dev/membrane/runtime/httpx"
	"github.com/membrane-dev/membrane/spec/compile"
	"github.com/membrane-dev/membrane/spec/errtype"
	"github.com/membrane-dev/membrane/spec/schema"
)

// ErrorType says why a run failed; spec/errtype holds the one list.
type ErrorType = errtype.ErrorType

// Error types, by their engine names (untyped, as spec/errtype's are).
// Callers branch on them; the REST API maps them to statuses. spec/errtype
// documents each.
const (
	ErrAuth           = errtype.Auth
	ErrNotFound       = errtype.NotFound
	ErrRateLimited    = errtype.RateLimited
	ErrInvalidInput   = errtype.InvalidInput
	ErrConflict       = errtype.Conflict
	ErrUpstream       = errtype.Upstream
	ErrNetwork        = errtype.Network
	ErrTimeout        = errtype.Timeout
	ErrInvalidOutput  = errtype.InvalidOutput
	ErrExpression     = errtype.Expression
	ErrRefused        = errtype.Refused
	ErrCanceled       = errtype.Canceled
	ErrHostNotAllowed = errtype.HostNotAllowed

	ErrCompensationFailed = errtype.CompensationFailed
	ErrCallDepth          = errtype.CallDepth
)

// Violation is one way a value breaks a JSON Schema.
type Violation = schema.Violation

// Error is the one error type a run returns.
type Error struct {
	Type ErrorType `json:"type"`
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
	Retryable bool `json:"retryable,omitempty"`
	// Step names the step of a multi-step action that failed, and Item
	// the index of its forEach item, when it failed in one.
	Step string `json:"step,omitempty"`
	Item *int   `json:"item,omitempty"`
	// Partial is what the run had done when it failed: the outputs of the
	// steps that finished, by name, and a failing forEach step's results
	// so far.
	Partial map[string]any `json:"partial,omitempty"`
	// Cause is the failure a failed compensation was handling
	// (compensation-failed).
	Cause *Error `json:"cause,omitempty"`
	Err   error  `json:"-"`
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(string(e.Type))
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
	if e.Cause != nil {
		b.WriteString("\n  while handling: ")
		b.WriteString(strings.ReplaceAll(e.Cause.Error(), "\n", "\n  "))
	}
	if len(e.Partial) > 0 {
		// What had been done, so that a run log says what was written.
		if p, err := json.Marshal(e.Partial); err == nil {
			b.WriteString("\n  done before the failure: ")
			if len(p) > maxPartialText {
				b.Write(p[:maxPartialText])
				b.WriteString("…")
			} else {
				b.Write(p)
			}
		}
	}
	return b.String()
}

// maxPartialText bounds the partial output an error's text shows; the
// error's Partial field keeps all of it.
const maxPartialText = 2000

func (e *Error) Unwrap() error { return e.Err }

func orRoot(p string) string {
	if p == "" {
		return "/"
	}
	return p
}

// TypeOf returns the type of a run error, or "" for another error.
func TypeOf(err error) ErrorType {
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
	return &Error{Type: he.Kind.ErrorType(), Message: he.Message, Request: request, Status: he.Status, Retryable: he.Retryable, Err: err}
}

// fromExpr turns an expression failure into a run error naming the
// expression, its file:line and layer.
func fromExpr(err error) error {
	var xe *compile.ExprError
	if errors.As(err, &xe) {
		return &Error{Type: ErrExpression, Message: xe.Error(), Err: err}
	}
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	return &Error{Type: ErrExpression, Message: err.Error(), Err: err}
}

// fromURL turns a URL that its host policy refused (*compile.URLError,
// wherever it is in err's chain: an OAuth2 authenticator wraps it) into
// a host-not-allowed run error; any other error is returned as it is.
func fromURL(err error) error {
	var ue *compile.URLError
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
func defaultErrorType(status int) ErrorType {
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
