// Package errtype holds the one list of error types a run can end with.
// The engine sets them, error rules in connector and action files map
// upstream answers to them, connector tests expect them, and the REST API
// turns each into a status and a problem type. Every one of those reads
// this list (or a test checks its copy against it: the JSON Schemas and
// the OpenAPI document), so a new type is added here and nowhere else
// first.
//
// The package imports nothing of Membrane, so that every layer can use it.
package errtype

// ErrorType says why a run failed. Callers branch on it; it is the
// "type" of a run error on the wire.
type ErrorType string

// The error types. Each line says what happened and what to do. They are
// untyped constants, so that they serve where an ErrorType is wanted and
// where a plain string is (a wire struct, a table keyed by string); All
// and RuleTypes give them typed.
const (
	// Auth: the upstream API refused the credentials; re-authorise.
	Auth = "auth"
	// NotFound: the record the input names does not exist upstream.
	NotFound = "not-found"
	// RateLimited: the upstream or the local rate limit was reached; retry later.
	RateLimited = "rate-limited"
	// InvalidInput: the input breaks the action's schema, or upstream refused it.
	InvalidInput = "invalid-input"
	// Conflict: upstream reports a conflict (the record exists, or changed).
	Conflict = "conflict"
	// Upstream: upstream failed or answered something unusable.
	Upstream = "upstream"
	// Network: no usable connection to upstream.
	Network = "network"
	// Timeout: a deadline passed before upstream answered.
	Timeout = "timeout"
	// InvalidOutput: the mapped output breaks the action's output schema.
	InvalidOutput = "invalid-output"
	// Expression: an expression of the integration failed at run time.
	Expression = "expression"
	// Refused: outbound safety refused the upstream address.
	Refused = "refused"
	// Canceled: the caller gave up before the run finished.
	Canceled = "canceled"
	// HostNotAllowed: a URL would go where the connector's files do not
	// allow (a connection parameter that tries to choose the host); nothing
	// was sent. Reconnect with valid parameters, or fix hosts:.
	HostNotAllowed = "host-not-allowed"
	// CompensationFailed: a step failed, and a compensating step of the
	// onError block that caught it failed too, so what the run wrote may
	// be left half done. The error names both; its cause is the first
	// failure. Check the upstream app by hand.
	CompensationFailed = "compensation-failed"
	// CallDepth: actions calling actions went deeper than the runtime
	// allows (a recursion through calls); the error names the chain. The
	// integration needs fixing.
	CallDepth = "call-depth"
)

// all is the list, in the order the schemas and the API document show it;
// rule marks the types an error rule may map an upstream answer to.
var all = []struct {
	t    ErrorType
	rule bool
}{
	{Auth, true},
	{NotFound, true},
	{RateLimited, true},
	{InvalidInput, true},
	{Conflict, true},
	{Upstream, true},
	{Network, true},
	{Timeout, true},
	{InvalidOutput, false},
	{Expression, false},
	{Refused, false},
	{Canceled, false},
	{HostNotAllowed, false},
	{CompensationFailed, false},
	{CallDepth, false},
}

// All returns every error type, in a fixed order: what a run can end with
// and a connector test can expect.
func All() []ErrorType {
	out := make([]ErrorType, len(all))
	for i, e := range all {
		out[i] = e.t
	}
	return out
}

// RuleTypes returns the types an error rule (errors: in a connector or an
// action file) may map an upstream answer to. The others say what went
// wrong on this side of the wire, which an upstream answer cannot.
func RuleTypes() []ErrorType {
	var out []ErrorType
	for _, e := range all {
		if e.rule {
			out = append(out, e.t)
		}
	}
	return out
}

// Known reports whether t is one of the list.
func (t ErrorType) Known() bool {
	for _, e := range all {
		if e.t == t {
			return true
		}
	}
	return false
}
