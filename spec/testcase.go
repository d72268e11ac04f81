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
	// Event is the default event of the cases that poll or receive a
	// webhook: the connector's event key or a universal event key it
	// implements.
	Event string `json:"event,omitempty"`
	// Connection is the default connection of the cases.
	Connection *TestConnection `json:"connection,omitempty"`
	// App is the default `app` of the webhook cases' signatures: the app
	// secrets by name.
	App   map[string]string `json:"app,omitempty"`
	Cases []TestCase        `json:"cases"`
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
	// AuthMode picks one of the connector's auth modes by key, so each
	// mode can be tested.
	AuthMode       string                 `json:"authMode,omitempty"`
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
	// Event replaces the file's default event in a case that polls or
	// receives a webhook.
	Event string `json:"event,omitempty"`
	// Polls run the event's polling one after another on one subscription
	// (its state and record memory carry over), each against its own
	// canned responses, and list the changes each must detect.
	Polls []TestPoll `json:"polls,omitempty"`
	// Baseline replaces the event's `baseline` for the first poll: false
	// emits every record the first poll sees.
	Baseline *bool `json:"baseline,omitempty"`
	// Webhook is one incoming webhook request and what must come of it.
	Webhook *TestWebhook `json:"webhook,omitempty"`
}

// TestPoll is one poll of an event case: the requests it must send, the
// canned responses, and the changes it must detect, in order.
type TestPoll struct {
	Pos diag.Pos `json:"-"`
	// Now is the clock of this poll, RFC 3339; the case's by default.
	Now       string         `json:"now,omitempty"`
	Requests  []TestRequest  `json:"requests,omitempty"`
	Responses []TestResponse `json:"responses,omitempty"`
	// Changes are the changes the poll must detect, in order; none when
	// empty (a baseline, or nothing new).
	Changes []TestChange `json:"changes,omitempty"`
	// State, when given, is what the subscription's state must be after
	// the poll (e.g. `{cursor: 1700000000}`), compared exactly.
	State *tree.Value `json:"state,omitempty"`
	// Error is the error the poll must end with; the subscription keeps its
	// state and the next poll starts from it.
	Error *TestError `json:"error,omitempty"`
}

// TestWebhook is an incoming webhook request, the signing secret it is
// checked with, and its outcome: verified with the changes it carries, or
// refused.
type TestWebhook struct {
	Pos     diag.Pos      `json:"-"`
	Request *TestIncoming `json:"request"`
	// Secret is the signing secret the signature is checked with, in place
	// of what the event's `signature.secret` computes; for a public-key
	// algorithm, the public key in place of `signature.publicKey`.
	Secret string `json:"secret,omitempty"`
	// Subscription is what subscribing at the app kept (its id, a signing
	// secret), as `subscription` reads it.
	Subscription *tree.Value `json:"subscription,omitempty"`
	// App is the app secrets the signature reads as `app`, in place of
	// the file's.
	App map[string]string `json:"app,omitempty"`
	// Verified says whether the signature must be accepted (true, the
	// default) or refused.
	Verified *bool `json:"verified,omitempty"`
	// Response, when given, is the status (and body) the app must get back,
	// e.g. a handshake's echoed challenge.
	Response *TestResponse `json:"response,omitempty"`
	// Requests and Responses are the calls the event makes to enrich a
	// payload that carries only ids, and their canned answers.
	Requests  []TestRequest  `json:"requests,omitempty"`
	Responses []TestResponse `json:"responses,omitempty"`
	// Changes are the changes the payload must give, in order.
	Changes []TestChange `json:"changes,omitempty"`
}

// TestIncoming is a request the app sends to Membrane.
type TestIncoming struct {
	Pos diag.Pos `json:"-"`
	// Method is POST by default.
	Method string `json:"method,omitempty"`
	// Path is the path of the webhook URL; /webhooks/test by default.
	Path  string                 `json:"path,omitempty"`
	Query map[string]*tree.Value `json:"query,omitempty"`
	// Headers are sent as written, e.g. `{Stripe-Signature: "t=…,v1=…"}`.
	Headers map[string]*tree.Value `json:"headers,omitempty"`
	// Body is sent as it is when it is text (what a signature covers), as
	// JSON otherwise.
	Body *tree.Value `json:"body,omitempty"`
}

// TestChange is one change an event case must detect.
type TestChange struct {
	Pos diag.Pos `json:"-"`
	// Type is created, updated or deleted.
	Type string `json:"type"`
	// ID is the record's id.
	ID string `json:"id"`
	// Record is the delivered (mapped) record; not checked when absent.
	Record *tree.Value `json:"record,omitempty"`
	// RecordMatch is exact (the default) or partial.
	RecordMatch string `json:"recordMatch,omitempty"`
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
