package spec

import (
	"github.com/membrane-dev/membrane/spec/diag"
	"github.com/membrane-dev/membrane/spec/errtype"
	"github.com/membrane-dev/membrane/spec/tree"
)

// KindConnectorTest is the kind of an offline test of a connector's actions.
const KindConnectorTest = "ConnectorTest"

// Match modes of a request's query and body, and of an output.
const (
	MatchExact   = "exact"
	MatchPartial = "partial"
)

// ConnectorTest holds test cases of one connector's actions: for each, an
// input, the requests the action must send, the canned responses it gets
// and the output (or error) it must give. `membrane test` runs them with
// no network.
type ConnectorTest struct {
	Source      `json:"-"`
	Kind        string `json:"kind"`
	Connector   string `json:"connector"`
	Description string `json:"description,omitempty"`
	// Action is the default action of the cases: the connector's action
	// key or a universal action key it implements.
	Action string `json:"action,omitempty"`
	// Connection is the default connection of the cases.
	Connection *TestConnection `json:"connection,omitempty"`
	Cases      []TestCase      `json:"cases"`
}

// TestConnection is the connection a case runs on.
type TestConnection struct {
	Tenant string `json:"tenant,omitempty"`
	// Parameters are the connection parameters (a subdomain).
	Parameters *tree.Value `json:"parameters,omitempty"`
	// Credentials are sent as written; a value written `env:NAME` is the
	// text itself offline and the variable's value under --record.
	Credentials *tree.Value `json:"credentials,omitempty"`
	// Override is the connection layer: merge patches of the connector
	// and of its actions, as a ConnectionOverride gives.
	Override *TestOverride `json:"override,omitempty"`
}

// TestOverride is an inline connection override.
type TestOverride struct {
	ConnectorPatch *tree.Value            `json:"connectorPatch,omitempty"`
	Actions        map[string]*tree.Value `json:"actions,omitempty"`
}

// TestCase is one run of an action and what it must do.
type TestCase struct {
	Pos  diag.Pos `json:"-"`
	Name string   `json:"name"`
	// Action replaces the file's default action.
	Action string `json:"action,omitempty"`
	// Connection replaces the fields of the file's connection it gives.
	Connection *TestConnection `json:"connection,omitempty"`
	// Now is the clock of `now`, RFC 3339; 2024-01-01T00:00:00Z by default.
	Now   string      `json:"now,omitempty"`
	Input *tree.Value `json:"input,omitempty"`
	// Requests are the requests the action must send, in order; without
	// them requests are not checked, only counted against Responses.
	Requests []TestRequest `json:"requests,omitempty"`
	// Responses answer the requests in order.
	Responses []TestResponse `json:"responses,omitempty"`
	// Output is the output the run must give; OutputMatch says whether it
	// must be equal (exact, the default) or contain it (partial).
	Output      *tree.Value `json:"output,omitempty"`
	OutputMatch string      `json:"outputMatch,omitempty"`
	Error       *TestError  `json:"error,omitempty"`
}

// TestRequest is what one outgoing request must be. Method, path and the
// headers it names must equal; query and body must equal (exact) or
// contain (partial) what it gives.
type TestRequest struct {
	Pos    diag.Pos `json:"-"`
	Method string   `json:"method,omitempty"`
	// Path is the URL path, without the query.
	Path string `json:"path,omitempty"`
	// Query values are text, a list for a repeated parameter, or null for
	// one that must be absent.
	Query map[string]*tree.Value `json:"query,omitempty"`
	// Headers are matched by name whatever the case; null means absent.
	Headers map[string]*tree.Value `json:"headers,omitempty"`
	// Body is matched against the JSON, form or text body sent.
	Body  *tree.Value `json:"body,omitempty"`
	Match string      `json:"match,omitempty"`
}

// TestResponse is a canned response.
type TestResponse struct {
	Pos diag.Pos `json:"-"`
	// Status is 200 by default.
	Status  int                    `json:"status,omitempty"`
	Headers map[string]*tree.Value `json:"headers,omitempty"`
	// Body is sent as JSON, or as it is when it is text.
	Body *tree.Value `json:"body,omitempty"`
}

// TestError is the error a run must end with.
type TestError struct {
	Type errtype.ErrorType `json:"type"` // one of errtype.All
	// Status is the upstream status the error carries.
	Status int `json:"status,omitempty"`
	// Message must be part of the error's message.
	Message string `json:"message,omitempty"`
}
