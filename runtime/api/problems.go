package api

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/membrane-dev/membrane/runtime/engine"
	"github.com/membrane-dev/membrane/spec/diag"
)

// problemBase prefixes every problem type: "https://membrane.dev/problems/not-found".
const problemBase = "https://membrane.dev/problems/"

// Problem is an RFC 9457 problem details body. The members after Detail
// are this API's extensions, each present only where it says something.
type Problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
	// Errors places each violation in the request: a JSON Pointer into
	// the body, or the name of a query parameter.
	Errors []FieldError `json:"errors,omitempty"`
	// Diagnostics are an override document's problems, at file:line:col.
	Diagnostics diag.List `json:"diagnostics,omitempty"`
	// RunID names the run log of a failed run.
	RunID string `json:"runId,omitempty"`
	// Error is the run or test error that caused the problem.
	Error *RunError `json:"error,omitempty"`
	// ConnectionState is the connection's state after an upstream auth
	// failure: "disconnected" when a user must reconnect it.
	ConnectionState string `json:"connectionState,omitempty"`

	// retryAfter, when positive, is sent as Retry-After (seconds).
	retryAfter int
}

// FieldError is one violation: where (Pointer into the body, or a query
// Parameter) and what is wrong.
type FieldError struct {
	Pointer   string `json:"pointer,omitempty"`
	Parameter string `json:"parameter,omitempty"`
	Detail    string `json:"detail"`
}

// RunError is an engine error as a caller may see it. The upstream body
// excerpt is left out: it is the API's data, and echoes what it refused.
type RunError struct {
	Type      string `json:"type"`
	Status    int    `json:"status,omitempty"`
	Message   string `json:"message"`
	Retryable bool   `json:"retryable,omitempty"`
	// Step and Item name where a multi-step action failed; Partial is
	// what it had done (the outputs of the steps that finished).
	Step    string         `json:"step,omitempty"`
	Item    *int           `json:"item,omitempty"`
	Partial map[string]any `json:"partial,omitempty"`
	// Cause is the failure a failed compensation was handling.
	Cause *RunError `json:"cause,omitempty"`
}

func runError(e *engine.Error) *RunError {
	if e == nil {
		return nil
	}
	return &RunError{Type: string(e.Type), Status: e.Status, Message: e.Message, Retryable: e.Retryable,
		Step: e.Step, Item: e.Item, Partial: e.Partial, Cause: runError(e.Cause)}
}

// problem builds a problem of a slug, its status and title.
func problem(status int, slug, detail string) *Problem {
	return &Problem{Type: problemBase + slug, Title: titles[slug], Status: status, Detail: detail}
}

// titles are the fixed, short summaries of each problem type (RFC 9457
// §3.1.3: the same for every occurrence). openapi.json lists the same.
var titles = map[string]string{
	"not-found":                 "Not found",
	"method-not-allowed":        "Method not allowed",
	"malformed-json":            "Malformed JSON",
	"invalid-request":           "Invalid request",
	"invalid-query":             "Invalid query parameter",
	"unsupported-media-type":    "Unsupported media type",
	"body-too-large":            "Request body too large",
	"validation":                "Validation failed",
	"unknown-connector":         "Unknown connector",
	"unknown-action":            "Unknown action",
	"credentials-refused":       "Credentials refused",
	"oauth-required":            "OAuth consent required",
	"oauth-unavailable":         "OAuth not available",
	"no-test-request":           "No test request",
	"connection-disconnected":   "Connection disconnected",
	"invalid-override":          "Invalid override",
	"precondition-failed":       "Precondition failed",
	"conflict":                  "Conflict",
	"upstream-unreachable":      "Upstream API unreachable",
	"internal":                  "Internal server error",
	"unavailable":               "Service unavailable",
	"store-unavailable":         "Store temporarily unavailable",
	"request-timeout":           "Request body too slow",
	"json-too-deep":             "JSON nested too deeply",
	"idempotency-key-in-flight": "Request with this idempotency key in flight",
	"idempotency-key-reused":    "Idempotency key reused",
	"run-invalid-input":         "Invalid action input",
	"run-not-found":             "Record not found upstream",
	"run-conflict":              "Upstream conflict",
	"run-rate-limited":          "Rate limited",
	"run-auth":                  "Upstream refused the credentials",
	"run-upstream":              "Upstream API failed",
	"run-network":               "Upstream API unreachable",
	"run-timeout":               "Upstream API timed out",
	"run-refused":               "Outbound address refused",
	"run-invalid-output":        "Invalid action output",
	"run-expression":            "Expression failed",
	"run-canceled":              "Run canceled",
	"run-host-not-allowed":      "Host not allowed",
	"run-compensation-failed":   "Compensation failed",
	"run-call-depth":            "Action calls too deep",
	"already-subscribed":        "Already subscribed",
	"subscribe-failed":          "Subscribing at the app failed",
	"unsubscribe-failed":        "Unsubscribing at the app failed",
	"file-destination":          "Destination defined in membrane.yaml",
	"not-a-webhook":             "Not a webhook destination",
	"no-match":                  "Nothing matches the filter",
	"forbidden":                 "Forbidden",
}

func writeProblem(w http.ResponseWriter, p *Problem) {
	b, err := json.Marshal(p)
	if err != nil {
		// Only a diagnostics list could fail to marshal; keep the status.
		b, _ = json.Marshal(problem(p.Status, "internal", "The error could not be encoded."))
	}
	b = append(b, '\n')
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	if p.retryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(p.retryAfter))
	}
	w.WriteHeader(p.Status)
	_, _ = w.Write(b)
}

// internalError logs an error the caller cannot act on and answers 500
// without its text, which may name tables, hosts or files.
func (a *api) internalError(w http.ResponseWriter, r *http.Request, err error) {
	a.log.LogAttrs(r.Context(), slog.LevelError, "api: request failed", slog.String("route", r.Pattern), slog.String("error", err.Error()))
	writeProblem(w, problem(http.StatusInternalServerError, "internal", "The server failed to handle the request; the operator's log has the cause. Retry later, and report it if it persists."))
}

// errorAs is errors.As for a target type, returning the match.
func errorAs[T error](err error) (T, bool) {
	var t T
	ok := errors.As(err, &t)
	return t, ok
}
