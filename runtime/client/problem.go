package client

import (
	"fmt"
	"strings"
	"time"
)

// Problem is an error the API answered: an RFC 9457 problem details body.
type Problem struct {
	// Type is "https://membrane.dev/problems/<slug>" ("about:blank" for
	// 401 and 403); Kind returns the slug.
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
	// Errors places each invalid value: a JSON Pointer into the request
	// body ("/input/email"), or a query parameter.
	Errors []FieldError `json:"errors,omitempty"`
	// Diagnostics are an override document's problems.
	Diagnostics []Diagnostic `json:"diagnostics,omitempty"`
	// RunID names the run log of a failed run.
	RunID string `json:"runId,omitempty"`
	// Cause is the run or credentials check error behind the problem (the
	// "error" member).
	Cause *RunError `json:"error,omitempty"`
	// ConnectionState is set after an upstream auth failure:
	// "disconnected" when the connection must be reconnected.
	ConnectionState string `json:"connectionState,omitempty"`
	// RetryAfter is the answer's Retry-After: set with 503
	// store-unavailable and 409 idempotency-key-in-flight, when retrying
	// later is the remedy.
	RetryAfter time.Duration `json:"-"`
}

// FieldError is one invalid value of a request.
type FieldError struct {
	Pointer   string `json:"pointer,omitempty"`
	Parameter string `json:"parameter,omitempty"`
	Detail    string `json:"detail"`
}

// RunError is why a run or a connection test failed.
type RunError struct {
	// Type is one of the error types of spec/errtype: auth, not-found,
	// rate-limited, invalid-input, conflict, upstream, network, timeout,
	// invalid-output, expression, refused, canceled or host-not-allowed.
	Type      string `json:"type"`
	Status    int    `json:"status,omitempty"`
	Message   string `json:"message"`
	Retryable bool   `json:"retryable,omitempty"`
}

// Diagnostic is a problem of an override document, at its place.
type Diagnostic struct {
	Pos struct {
		File   string `json:"file"`
		Line   int    `json:"line,omitempty"`
		Column int    `json:"column,omitempty"`
	} `json:"pos"`
	Severity string `json:"severity"`
	Rule     string `json:"rule"`
	Message  string `json:"message"`
}

func (d Diagnostic) String() string {
	return fmt.Sprintf("%s:%d:%d: %s: %s [%s]", d.Pos.File, d.Pos.Line, d.Pos.Column, d.Severity, d.Message, d.Rule)
}

const problemBase = "https://membrane.dev/problems/"

// Kind is the problem type's slug ("not-found", "run-invalid-input"), or
// the title in lower case for the 401 and 403 of about:blank.
func (p *Problem) Kind() string {
	if s, ok := strings.CutPrefix(p.Type, problemBase); ok {
		return s
	}
	return strings.ToLower(p.Title)
}

// Error reads like "422 run-invalid-input: … (/input/email: …)".
func (p *Problem) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "membrane: %d %s: %s", p.Status, p.Kind(), p.Detail)
	for _, e := range p.Errors {
		where := e.Pointer
		if e.Parameter != "" {
			where = e.Parameter
		}
		fmt.Fprintf(&b, "\n  %s: %s", where, e.Detail)
	}
	for _, d := range p.Diagnostics {
		b.WriteString("\n  " + d.String())
	}
	if p.Cause != nil {
		fmt.Fprintf(&b, "\n  %s: %s", p.Cause.Type, p.Cause.Message)
	}
	if p.RunID != "" {
		b.WriteString("\n  run log: " + p.RunID)
	}
	return b.String()
}
