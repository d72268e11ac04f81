package spec

import (
	"time"

	"github.com/membrane-dev/membrane/spec/diag"
	"github.com/membrane-dev/membrane/spec/errtype"
	"github.com/membrane-dev/membrane/spec/schema"
	"github.com/membrane-dev/membrane/spec/tree"
)

// The file kinds. Every YAML document in a workspace names one in `kind:`.
const (
	KindConnector          = "Connector"
	KindUniversalAction    = "UniversalAction"
	KindUniversalEvent     = "UniversalEvent"
	KindAction             = "Action"
	KindEvent              = "Event"
	KindConnectionOverride = "ConnectionOverride"
	KindWorkspace          = "Workspace"
)

// Kinds lists the file kinds in the order they are documented.
var Kinds = []string{KindConnector, KindUniversalAction, KindUniversalEvent, KindAction, KindEvent, KindConnectionOverride, KindWorkspace, KindConnectorTest}

// Template is a string that may hold CEL expressions inside `${ … }`. A
// template that is exactly one `${ … }` yields the expression's typed value;
// otherwise the parts are joined as text. `$${` writes a literal `${`.
type Template struct {
	Source string
	Pos    diag.Pos
	// Quoted is set when the source was written in quotes.
	Quoted bool
	// Layer is the layer the template came from, once layers are merged.
	Layer string
	// Lines locates a template written over several lines (see
	// tree.Value.Lines).
	Lines []tree.Span
}

// IsZero reports whether the template was not given.
func (t Template) IsZero() bool { return t.Source == "" && t.Pos.Line == 0 }

func (t Template) MarshalText() ([]byte, error) { return []byte(t.Source), nil }

// Schema is a JSON Schema (draft 2020-12) written inline in a spec file.
type Schema struct {
	Value *tree.Value
}

// IsZero reports whether no schema was given.
func (s *Schema) IsZero() bool { return s == nil || s.Value == nil }

func (s *Schema) MarshalJSON() ([]byte, error) { return s.Value.MarshalJSON() }

// Compile checks the schema against the draft 2020-12 metaschema and
// compiles it for validating values, as schema.Compile does; problems are
// reported at the offending keyword. A zero Schema, or one with problems,
// gives nil.
func (s *Schema) Compile(diags *diag.List) *schema.Validator {
	if s.IsZero() {
		return nil
	}
	return schema.Compile(s.Value, diags)
}

// Duration is a Go duration string such as "250ms" or "1h30m".
type Duration struct {
	time.Duration
	Pos diag.Pos
}

func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// Source says where a document was read from.
type Source struct {
	File string   `json:"-"`
	Pos  diag.Pos `json:"-"`
	// Doc is the document's own tree, for layers and explain.
	Doc *tree.Value `json:"-"`
}

// Connector describes one external app: where its API lives, how to
// authenticate, and the defaults every one of its actions shares.
type Connector struct {
	Source      `json:"-"`
	Kind        string `json:"kind"`
	Key         string `json:"key"`
	Name        string `json:"name,omitempty"`
	Description string `json:"description,omitempty"`
	// BaseURL may use `connection.parameters`, e.g. a tenant's subdomain.
	BaseURL Template `json:"baseUrl"`
	// Hosts are the hosts a URL of the connector (base, authorization,
	// token) may render to when its host uses an expression: "*" is one
	// DNS label, as in "*.zendesk.com". Without them, each template's own
	// text fixes its host (see compile.URLPolicy).
	Hosts []string `json:"hosts,omitempty"`
	// Servers are further base URLs of the API, by name (an upload host),
	// that a request picks with `server:`. Each is checked by the same
	// host policy as BaseURL, and gets the connection's credentials as
	// the base URL does: the file fixed where it points.
	Servers map[string]Template `json:"servers,omitempty"`
	// RedirectHosts are the hosts (patterns as in Hosts) a redirect to
	// another origin may be followed to, without any credential or
	// header of the connector: a download link on a CDN.
	RedirectHosts []string `json:"redirectHosts,omitempty"`
	// Parameters is the JSON Schema of the connection parameters a user gives
	// when connecting (a subdomain, a region).
	Parameters *Schema `json:"parameters,omitempty"`
	// Auth is how a connection authenticates unless it chose another of
	// AuthModes: the connector's one auth, or the first of its modes.
	Auth *Auth `json:"-"`
	// AuthModes are the ways a connection may authenticate, in the order
	// written: one, or a list for an app that offers several (OAuth2 and
	// a personal access token). A connection keeps the mode it was
	// created with.
	AuthModes AuthModes `json:"auth,omitempty"`
	// Headers are sent with every request of the connector.
	Headers   map[string]Template `json:"headers,omitempty"`
	RateLimit *RateLimit          `json:"rateLimit,omitempty"`
	Retry     *RetryPolicy        `json:"retry,omitempty"`
	HTTP      *HTTPSettings       `json:"http,omitempty"`
	Errors    []ErrorRule         `json:"errors,omitempty"`
}

// Auth types.
const (
	AuthOAuth2 = "oauth2"
	AuthAPIKey = "apiKey"
	AuthBasic  = "basic"
	AuthBearer = "bearer"
	AuthCustom = "custom"
	AuthNone   = "none"
)

// OAuth2 grants.
const (
	GrantAuthorizationCode = "authorizationCode"
	GrantClientCredentials = "clientCredentials"
)

// Auth says how requests of a connection are authenticated. Which fields
// apply depends on Type; the JSON Schema of the Connector kind enforces it.
type Auth struct {
	// Key and Label identify one of several auth modes: Key is what a
	// connection records, Label what the connect page shows.
	Key   string `json:"key,omitempty"`
	Label string `json:"label,omitempty"`
	Type  string `json:"type"`
	// Credentials is the JSON Schema of what a user types to connect (an API
	// key, a username and password). Each auth type has a default.
	Credentials *Schema `json:"credentials,omitempty"`

	// oauth2
	Grant               string            `json:"grant,omitempty"`
	AuthorizationURL    Template          `json:"authorizationUrl,omitzero"`
	TokenURL            Template          `json:"tokenUrl,omitzero"`
	Scopes              []string          `json:"scopes,omitempty"`
	ScopeSeparator      string            `json:"scopeSeparator,omitempty"`
	PKCE                *bool             `json:"pkce,omitempty"`
	AuthorizationParams map[string]string `json:"authorizationParams,omitempty"`
	// ClientAuth is how the client authenticates at the token endpoint:
	// "header" (HTTP basic, the default) or "body".
	ClientAuth string `json:"clientAuth,omitempty"`

	// apiKey: sent in a header or a query parameter named Name.
	In    string   `json:"in,omitempty"`
	Name  string   `json:"name,omitempty"`
	Value Template `json:"value,omitzero"`

	// basic
	Username Template `json:"username,omitzero"`
	Password Template `json:"password,omitzero"`

	// bearer
	Token Template `json:"token,omitzero"`

	// custom: a login request whose response yields a session token, then
	// headers and query parameters built from `session`.
	Login   *Login              `json:"login,omitempty"`
	Headers map[string]Template `json:"headers,omitempty"`
	Query   map[string]Template `json:"query,omitempty"`

	// Test is a cheap request that proves the credentials work.
	Test *Request `json:"test,omitempty"`
	// Info maps the test's response (`response`) to what the connection
	// learns of its account (an account id, a portal id): stored on the
	// connection and read as `connection.info` everywhere.
	Info *tree.Value `json:"info,omitempty"`
}

// AuthModes are a connector's ways to authenticate. In YAML, `auth:` is
// either one auth (a mapping) or a list of modes, each with a key and a
// name.
type AuthModes []*Auth

// ModeKey is how a connection names this auth mode: its key, or its type
// when the connector has just one auth, written as a mapping.
func (a *Auth) ModeKey() string {
	if a.Key != "" {
		return a.Key
	}
	return a.Type
}

// Modes returns the connector's auth modes: AuthModes, or its one Auth
// (a connector built in Go may set only that), or none.
func (c *Connector) Modes() AuthModes {
	if len(c.AuthModes) > 0 {
		return c.AuthModes
	}
	if c.Auth != nil {
		return AuthModes{c.Auth}
	}
	return nil
}

// AuthMode returns the auth mode of the given key, the default one for
// "", or nil when the connector has no such mode.
func (c *Connector) AuthMode(key string) *Auth {
	modes := c.Modes()
	if key == "" {
		if len(modes) > 0 {
			return modes[0]
		}
		return nil
	}
	for _, a := range modes {
		if a.ModeKey() == key {
			return a
		}
	}
	return nil
}

// AuthModeKeys lists the keys of the connector's auth modes, in order.
func (c *Connector) AuthModeKeys() []string {
	var keys []string
	for _, a := range c.Modes() {
		keys = append(keys, a.ModeKey())
	}
	return keys
}

// Login is the session request of a custom auth.
type Login struct {
	Request *Request `json:"request"`
	// Token extracts the session token from the login response.
	Token Template `json:"token"`
	// ExpiresIn extracts the session lifetime in seconds, if the API says.
	ExpiresIn Template `json:"expiresIn,omitzero"`
}

// RateLimit bounds the request rate of one connection, and follows the
// API's own count: when a response says no requests remain, the
// connection's next requests wait for the reset.
type RateLimit struct {
	RequestsPerSecond float64 `json:"requestsPerSecond,omitempty"`
	Burst             int     `json:"burst,omitempty"`
	// RemainingHeader and ResetHeader name the API's rate-limit headers;
	// X-RateLimit-Remaining and X-RateLimit-Reset by default.
	RemainingHeader string `json:"remainingHeader,omitempty"`
	ResetHeader     string `json:"resetHeader,omitempty"`
}

// RetryPolicy says how failed requests are retried: network errors, 429 and
// 5xx, with exponential backoff and jitter, honouring Retry-After.
type RetryPolicy struct {
	MaxAttempts    int      `json:"maxAttempts,omitempty"`
	InitialBackoff Duration `json:"initialBackoff,omitzero"`
	MaxBackoff     Duration `json:"maxBackoff,omitzero"`
	// Statuses replaces the default retryable statuses (429, 500, 502, 503, 504).
	Statuses []int `json:"statuses,omitempty"`
	// NonIdempotent allows retrying POST and PATCH requests, for APIs that
	// deduplicate them (an idempotency key).
	NonIdempotent bool `json:"nonIdempotent,omitempty"`
	// When also retries a 4xx or 5xx response the statuses do not (a 403
	// that is a rate limit): a boolean over `response`.
	When Template `json:"when,omitzero"`
	// After is the wait before retrying a response, over `response`:
	// seconds, an HTTP date or a timestamp; null takes the default
	// (Retry-After, then the rate limit's reset header, then backoff).
	After Template `json:"after,omitzero"`
}

// HTTPSettings bounds one request.
type HTTPSettings struct {
	ConnectTimeout   Duration `json:"connectTimeout,omitzero"`
	ReadTimeout      Duration `json:"readTimeout,omitzero"`
	WriteTimeout     Duration `json:"writeTimeout,omitzero"`
	MaxResponseBytes int64    `json:"maxResponseBytes,omitempty"`
	// PropagateTrace sends the trace context (traceparent) upstream while
	// tracing is on.
	PropagateTrace bool `json:"propagateTrace,omitempty"`
}

// ErrorRule maps an upstream response to a typed error. Rules are tried in
// order: the action's first, then the connector's, then the defaults by status.
type ErrorRule struct {
	// Status matches these HTTP statuses; When is a boolean expression over
	// `response`. Both given means both must hold.
	Status  []int             `json:"status,omitempty"`
	When    Template          `json:"when,omitzero"`
	Type    errtype.ErrorType `json:"type"` // one of errtype.RuleTypes
	Message Template          `json:"message,omitzero"`
}

// Pagination types.
const (
	PageCursor = "cursor"
	PageOffset = "offset"
	PageNumber = "page"
	PageLink   = "link"
)

// Pagination walks a list endpoint page by page.
type Pagination struct {
	Type string `json:"type"`
	// Items is the list of records in one page, e.g. ${ response.body.data }.
	Items Template `json:"items"`
	// Param is the query (or body) parameter that carries the cursor, the
	// offset or the page number.
	Param string `json:"param,omitempty"`
	// In is where Param goes: "query" (default) or "body".
	In string `json:"in,omitempty"`
	// NextCursor is the cursor of the next page (cursor); null or "" ends.
	NextCursor Template `json:"nextCursor,omitzero"`
	// HasMore says whether another page exists; when absent a short or
	// empty page ends.
	HasMore Template `json:"hasMore,omitzero"`
	// LimitParam and PageSize set the page size on each request. PageSize
	// is an integer or an expression the caller steers (over `input`).
	LimitParam string   `json:"limitParam,omitempty"`
	PageSize   Template `json:"pageSize,omitzero"`
	// StartPage is the first page number (page), 1 by default.
	StartPage *int `json:"startPage,omitempty"`
	// MaxPages ends the walk after that many pages (an integer or an
	// expression over `input`); 100 by default. A walk that stops there
	// says so: the output sees `pagination.truncated`.
	MaxPages Template `json:"maxPages,omitzero"`
	// StartCursor is the cursor of the first page (cursor), to resume a
	// walk an earlier run stopped; null starts at the beginning.
	StartCursor Template `json:"startCursor,omitzero"`
}

// Request is one HTTP request built from templates.
type Request struct {
	Pos    diag.Pos `json:"-"`
	Method string   `json:"method,omitempty"`
	// Server names one of the connector's servers the path is joined to
	// instead of its base URL. A name, never an expression: the file
	// chooses where a request goes.
	Server Template `json:"server,omitzero"`
	// Path is joined to the connector's base URL (or Server).
	Path    Template            `json:"path"`
	Query   map[string]Template `json:"query,omitempty"`
	Headers map[string]Template `json:"headers,omitempty"`
	// Body is any JSON tree whose strings are templates, or one template.
	Body *tree.Value `json:"body,omitempty"`
	// Encoding of the body: json (default), form, text or multipart.
	Encoding string `json:"encoding,omitempty"`
	// FormLists is how a form body writes a list: indexed (a[0]=x, the
	// default), brackets (a[]=x) or repeat (a=x&a=y).
	FormLists string `json:"formLists,omitempty"`
	// ResponseFormat is how a successful response's body is read: auto
	// (by its content type) or base64 (its bytes, for a download).
	ResponseFormat string `json:"responseFormat,omitempty"`
	// IdempotencyKey is sent as the Idempotency-Key header, evaluated once
	// per run (per item in a forEach) and kept across the retries of that
	// request, which makes retrying a POST safe where the API deduplicates
	// by it.
	IdempotencyKey Template `json:"idempotencyKey,omitzero"`
}

// UniversalAction is an app-independent contract: the input and output every
// implementation of it takes and gives.
type UniversalAction struct {
	Source      `json:"-"`
	Kind        string  `json:"kind"`
	Key         string  `json:"key"`
	Name        string  `json:"name,omitempty"`
	Description string  `json:"description,omitempty"`
	Input       *Schema `json:"input"`
	Output      *Schema `json:"output"`
}

// UniversalEvent is an app-independent event contract: the record it delivers.
type UniversalEvent struct {
	Source      `json:"-"`
	Kind        string  `json:"kind"`
	Key         string  `json:"key"`
	Name        string  `json:"name,omitempty"`
	Description string  `json:"description,omitempty"`
	Record      *Schema `json:"record"`
}

// Action is one operation of a connector: a request, or several steps.
type Action struct {
	Source      `json:"-"`
	Kind        string `json:"kind"`
	Connector   string `json:"connector"`
	Key         string `json:"key"`
	Name        string `json:"name,omitempty"`
	Description string `json:"description,omitempty"`
	// Implements names the UniversalAction whose contract this action keeps.
	Implements string `json:"implements,omitempty"`
	// Internal says the action is run by the workspace's own files (a
	// webhook's subscribe, a step's call), not offered to callers: it is
	// left out of the catalogue, the API's action lists and MCP's tools.
	Internal bool `json:"internal,omitempty"`
	// InputSchema and OutputSchema are the action's own contract; with
	// Implements they may only add to the universal one.
	InputSchema  *Schema `json:"inputSchema,omitempty"`
	OutputSchema *Schema `json:"outputSchema,omitempty"`

	Request    *Request     `json:"request,omitempty"`
	Steps      []Step       `json:"steps,omitempty"`
	Pagination *Pagination  `json:"pagination,omitempty"`
	Retry      *RetryPolicy `json:"retry,omitempty"`
	Errors     []ErrorRule  `json:"errors,omitempty"`
	// OnError runs when a step fails and nothing caught it: compensating
	// steps, then the original error or a returned output.
	OnError *OnError `json:"onError,omitempty"`
	// Record maps each paginated item (`record`) before it is collected into
	// `records`.
	Record *tree.Value `json:"record,omitempty"`
	// Output maps the result; a JSON tree whose strings are templates.
	Output *tree.Value `json:"output,omitempty"`
}

// Step is one step of a multi-step action. Later steps and the output see
// `steps.<name>.output` and its metadata (`skipped`, `status`, `attempts`).
type Step struct {
	Pos  diag.Pos `json:"-"`
	Name string   `json:"name"`
	// When skips the step when false. With ForEach, a condition that reads
	// `item` or `index` is tried per item and skips that item (its result
	// is null); one that does not skips the whole step.
	When Template `json:"when,omitzero"`
	// ForEach runs the step once per item of a list (`item`, `index`).
	ForEach Template `json:"forEach,omitzero"`
	// Concurrency bounds the items that run at once; DefaultConcurrency
	// (1, in item order) when not given.
	Concurrency int `json:"concurrency,omitempty"`
	// OnItemError is what a failing item does: OnItemFail (the default)
	// fails the step; OnItemContinue keeps going, and the step's output is
	// one result per item, {ok: true, output} or {ok: false, error}.
	OnItemError string `json:"onItemError,omitempty"`
	// MaxFailures, with OnItemContinue, stops starting items once this many
	// have failed and fails the step, its results so far attached.
	MaxFailures int `json:"maxFailures,omitempty"`
	// Let names values computed once (per item with forEach), after When
	// and before the request: `vars.<name>` in this step, and in later
	// steps and the output (a forEach step's in this step only). A map of
	// name to any value whose strings are templates.
	Let *tree.Value `json:"let,omitempty"`
	// Exactly one of Request, Action and Return.
	Request *Request    `json:"request,omitempty"`
	Action  string      `json:"action,omitempty"`
	Input   *tree.Value `json:"input,omitempty"`
	// Return ends the action with this output (when When holds); the
	// action's output mapping is not applied.
	Return *tree.Value `json:"return,omitempty"`
	// Retry and Errors apply to this step's requests before the action's
	// and the connector's; a called action's requests take Retry unless
	// the called action sets its own.
	Retry  *RetryPolicy `json:"retry,omitempty"`
	Errors []ErrorRule  `json:"errors,omitempty"`
	// OnError runs when the step fails (after its retries).
	OnError *OnError `json:"onError,omitempty"`
	// Output maps the step's result; by default the response body (request)
	// or the action's output.
	Output *tree.Value `json:"output,omitempty"`
}

// What a failing forEach item does (Step.OnItemError).
const (
	OnItemFail     = "fail"
	OnItemContinue = "continue"
)

// DefaultConcurrency is how many items of a forEach step run at once when
// the step says nothing: one, in item order, so that a workflow's writes
// happen in the order of its list and stay within any rate limit. Set
// `concurrency` for speed.
const DefaultConcurrency = 1

// OnError catches a failure: its steps run (they see `error` and the
// `steps` so far), then the action fails with the original error, or,
// with Return, goes on with that value (the step's output, or the
// action's output when on the action).
type OnError struct {
	Pos    diag.Pos    `json:"-"`
	Steps  []Step      `json:"steps,omitempty"`
	Return *tree.Value `json:"return,omitempty"`
}

// Event detects new, updated and deleted records of a connector.
type Event struct {
	Source       `json:"-"`
	Kind         string   `json:"kind"`
	Connector    string   `json:"connector"`
	Key          string   `json:"key"`
	Name         string   `json:"name,omitempty"`
	Description  string   `json:"description,omitempty"`
	Implements   string   `json:"implements,omitempty"`
	RecordSchema *Schema  `json:"recordSchema,omitempty"`
	Webhook      *Webhook `json:"webhook,omitempty"`
	Polling      *Polling `json:"polling,omitempty"`
	// Record maps one raw record (`record`) to the delivered record.
	Record *tree.Value `json:"record,omitempty"`
}

// Change types of an event record.
var ChangeTypes = []string{"created", "updated", "deleted"}

// Webhook receives pushes from the app.
type Webhook struct {
	// Subscribe runs when a connection is created; it sees `webhook.url`.
	Subscribe *WebhookCall `json:"subscribe,omitempty"`
	// SubscriptionID keeps what Unsubscribe needs, from the subscribe response.
	SubscriptionID Template `json:"subscriptionId,omitzero"`
	// Unsubscribe runs when the connection is deleted; it sees `subscription`.
	Unsubscribe *WebhookCall `json:"unsubscribe,omitempty"`
	Signature   *Signature   `json:"signature,omitempty"`
	// ConnectionKey, over `request`, names the account a payload is for; it
	// is matched against Match over `connection` (e.g. a portal id).
	ConnectionKey Template `json:"connectionKey,omitzero"`
	Match         Template `json:"match,omitzero"`
	// Records lists the raw records in one payload, over `request`.
	Records Template `json:"records"`
	// ID, Type and UpdatedAt, over `record`.
	ID        Template `json:"id"`
	Type      Template `json:"type,omitzero"`
	UpdatedAt Template `json:"updatedAt,omitzero"`
	// Response is what the app expects back (status 200 by default).
	Response *WebhookResponse `json:"response,omitempty"`
	// Keep maps the subscribe (or renew) `response` to what is kept of the
	// app's subscription besides SubscriptionID (a signing secret): sealed
	// at rest, and seen as `subscription` by unsubscribe, renew and the
	// signature's secret.
	Keep *tree.Value `json:"keep,omitempty"`
	// Renew registers the webhook again before ExpiresAt; it sees
	// `subscription` and `webhook`. Without it, subscribe runs again.
	Renew *WebhookCall `json:"renew,omitempty"`
	// ExpiresAt, over the subscribe or renew `response`, is when the app's
	// subscription lapses: RFC 3339 text or Unix seconds.
	ExpiresAt Template `json:"expiresAt,omitzero"`
	// RenewBefore is how long before ExpiresAt to renew; 1h by default.
	RenewBefore Duration `json:"renewBefore,omitzero"`
	// Filter, over `record` and `request`, keeps the records of this event
	// when one URL carries the records of several.
	Filter Template `json:"filter,omitzero"`
	// Handshake answers the app's verification requests (a challenge to
	// echo); they are answered, never stored.
	Handshake *WebhookHandshake `json:"handshake,omitempty"`
	// Enrich fetches the record of a payload that carries only its id by
	// running an action of the connector.
	Enrich *WebhookEnrich `json:"enrich,omitempty"`
	// ContentTypes are the media types a push may have; JSON and form by
	// default.
	ContentTypes []string `json:"contentTypes,omitempty"`
}

// WebhookCall is a subscribe, renew or unsubscribe of a webhook: one
// HTTP request (Request), or, when the app takes several, an action of the
// same connector (Action, with its Input over the variables the request
// would see). The action's output is then `response.body` (status 200) to
// subscriptionId, keep and expiresAt.
type WebhookCall struct {
	Pos diag.Pos `json:"-"`
	// Request is the one request, when Action is empty.
	Request *Request    `json:"-"`
	Action  string      `json:"action"`
	Input   *tree.Value `json:"input,omitempty"`
}

// WebhookHandshake is a verification request of the app and its answer.
type WebhookHandshake struct {
	// When, over `request`, tells a verification request from a push.
	When   Template `json:"when"`
	Status int      `json:"status,omitempty"`
	// Body, over `request`: a JSON tree, or a string sent as text/plain.
	Body *tree.Value `json:"body,omitempty"`
}

// WebhookEnrich names the action that fetches a pushed record and its
// input, over `record` and `request`. Its output replaces the record
// before the event's `record` mapping; deletions are not fetched.
type WebhookEnrich struct {
	Action string      `json:"action"`
	Input  *tree.Value `json:"input,omitempty"`
}

// Signature checks that a webhook payload came from the app.
type Signature struct {
	// Algorithm: hmac-sha256 (default), hmac-sha1 or hmac-sha512; or
	// ecdsa-p256-sha256 or ed25519, checked with PublicKey.
	Algorithm string `json:"algorithm,omitempty"`
	Header    string `json:"header"`
	// Encoding of the signature: hex (default) or base64.
	Encoding string `json:"encoding,omitempty"`
	// Prefix is stripped from the header value, e.g. "sha256=".
	Prefix string `json:"prefix,omitempty"`
	// Secret, over `subscription`, `app` (the workspace's app secrets of
	// the connector), `credentials`, `connection` and `tenant`.
	Secret Template `json:"secret,omitzero"`
	// PublicKey is the app's public key of an ecdsa-p256-sha256 or ed25519
	// signature, over the same variables as Secret: PEM or base64 DER
	// (PKIX), or for ed25519 the key's 32 bytes in base64 or hex.
	PublicKey Template `json:"publicKey,omitzero"`
	// Payload is what is signed, over `request`; the raw body by default.
	Payload Template `json:"payload,omitzero"`
	// Signatures lists the candidate signatures, over `request`, for a
	// header that carries more than one signature (Stripe's t=…,v1=…,
	// Standard Webhooks' space-separated v1,…); each is compared after
	// Prefix is stripped, and one without Prefix is skipped. The header's
	// value by default.
	Signatures Template `json:"signatures,omitzero"`
	// Timestamp is when the app signed, over `request`, in Unix seconds;
	// a payload signed further than Tolerance from now is refused.
	Timestamp Template `json:"timestamp,omitzero"`
	// Tolerance is how far Timestamp may be from now either way; 5m by
	// default.
	Tolerance Duration `json:"tolerance,omitzero"`
	// SecretEncoding says how the secret's text gives the HMAC key: raw
	// (default: its bytes) or base64.
	SecretEncoding string `json:"secretEncoding,omitempty"`
	// SecretPrefix is stripped from the secret before it is decoded, e.g.
	// "whsec_".
	SecretPrefix string `json:"secretPrefix,omitempty"`
}

// WebhookResponse is the reply to the app's push.
type WebhookResponse struct {
	Status int         `json:"status,omitempty"`
	Body   *tree.Value `json:"body,omitempty"`
}

// Polling lists records on an interval and compares with what it saw.
type Polling struct {
	Request    *Request    `json:"request"`
	Pagination *Pagination `json:"pagination,omitempty"`
	// Items lists the records of a response when there is no pagination.
	Items     Template `json:"items,omitzero"`
	ID        Template `json:"id"`
	UpdatedAt Template `json:"updatedAt,omitzero"`
	// Deleted says a record was deleted (an archived flag).
	Deleted Template `json:"deleted,omitzero"`
	// Cursor computes the next `state.cursor` from the run's `records`.
	Cursor   Template `json:"cursor,omitzero"`
	Interval Duration `json:"interval,omitzero"`
	// Mode is PollIncremental or PollFullScan; empty: incremental when
	// Cursor is given, else a full scan (see EffectiveMode).
	Mode string `json:"mode,omitempty"`
	// Created, over `record`, tells a created record from an updated one
	// by the app's fields; without it a record is created when first seen.
	Created Template `json:"created,omitzero"`
	// Baseline (default true): the first poll records what it sees and
	// emits nothing.
	Baseline *bool `json:"baseline,omitempty"`
}

// Polling modes.
const (
	// PollIncremental lists the records changed since `state.cursor`.
	PollIncremental = "incremental"
	// PollFullScan lists every record each time and compares each with
	// the hash kept of it: created, updated and deleted records.
	PollFullScan = "fullScan"
)

// DefaultPollInterval is how often an event polls when it does not say.
const DefaultPollInterval = 5 * time.Minute

// EffectiveMode is Mode, or its default: incremental with a cursor, else
// a full scan.
func (p *Polling) EffectiveMode() string {
	switch {
	case p.Mode != "":
		return p.Mode
	case !p.Cursor.IsZero():
		return PollIncremental
	}
	return PollFullScan
}

// EffectiveInterval is Interval, or DefaultPollInterval.
func (p *Polling) EffectiveInterval() time.Duration {
	if p.Interval.Duration > 0 {
		return p.Interval.Duration
	}
	return DefaultPollInterval
}

// TakesBaseline reports whether the first poll only records (Baseline,
// true by default).
func (p *Polling) TakesBaseline() bool { return p.Baseline == nil || *p.Baseline }

// ConnectionOverride adapts one connection (or every connection of a
// tenant to a connector) as an RFC 7386 JSON Merge Patch of the connector,
// its actions and its events.
type ConnectionOverride struct {
	Source    `json:"-"`
	Kind      string `json:"kind"`
	Connector string `json:"connector"`
	Tenant    string `json:"tenant,omitempty"`
	// Connection narrows the override to one connection id of the tenant.
	Connection  string `json:"connection,omitempty"`
	Description string `json:"description,omitempty"`
	// AuthMode picks one of the connector's auth modes by key. A
	// connection's mode is the one it was created with; a file may pick
	// one for `membrane run` and `membrane test`.
	AuthMode       string                 `json:"authMode,omitempty"`
	ConnectorPatch *tree.Value            `json:"connectorPatch,omitempty"`
	Actions        map[string]*tree.Value `json:"actions,omitempty"`
	Events         map[string]*tree.Value `json:"events,omitempty"`
}

// WorkspaceConfig is the workspace's own settings (`membrane.yaml`). It
// names secrets by the environment variables that hold them, never by value.
type WorkspaceConfig struct {
	Source      `json:"-"`
	Kind        string `json:"kind"`
	Key         string `json:"key"`
	Name        string `json:"name,omitempty"`
	Description string `json:"description,omitempty"`
	// SecretEnv names the variable holding the secret that signs tenant
	// tokens; MEMBRANE_WORKSPACE_SECRET by default.
	SecretEnv string `json:"secretEnv,omitempty"`
	// Store is a DSN without a password; StoreEnv names a variable holding
	// one with a password.
	Store        string                 `json:"store,omitempty"`
	StoreEnv     string                 `json:"storeEnv,omitempty"`
	PublicURL    string                 `json:"publicUrl,omitempty"`
	OAuthClients map[string]OAuthClient `json:"oauthClients,omitempty"`
	// WebhookSecrets names, by connector key, the variables holding the
	// secrets its vendor signs app-wide webhooks with (a Slack app's
	// signing secret), by the name `app` gives them in a webhook's
	// signature.secret: `{slack: {signingSecret: SLACK_SIGNING_SECRET}}`
	// is `app.signingSecret`. `app.clientSecret` is the OAuth client's
	// secret of oauthClients without being named here.
	WebhookSecrets map[string]map[string]string `json:"webhookSecrets,omitempty"`
	Outbound       *Outbound                    `json:"outbound,omitempty"`
	RunLogs        *RunLogSettings              `json:"runLogs,omitempty"`
	Connect        *ConnectSettings             `json:"connect,omitempty"`
	// Subscriptions lists, by connector key, the events every new
	// connection of that connector is subscribed to (event keys or the
	// universal keys they implement).
	Subscriptions map[string][]string `json:"subscriptions,omitempty"`
	// Delivery says where the workspace's events are delivered: the
	// user's backend (signed webhooks) or a NATS JetStream subject.
	Delivery *DeliverySettings `json:"delivery,omitempty"`
	// Tracing says where OpenTelemetry spans are exported; nil is off.
	Tracing *TracingSettings `json:"tracing,omitempty"`
}

// TracingSettings configure the export of spans over OTLP.
type TracingSettings struct {
	Endpoint string `json:"endpoint"`
	// Protocol is TracingHTTP (the default) or TracingGRPC.
	Protocol string `json:"protocol,omitempty"`
	// HeadersEnv names the variable holding the export headers
	// ("name=value,…"), so a collector's key stays out of the file.
	HeadersEnv string `json:"headersEnv,omitempty"`
	// SampleRatio is the share of new traces kept; nil is 1.
	SampleRatio *float64 `json:"sampleRatio,omitempty"`
}

// OTLP protocols of TracingSettings.
const (
	TracingHTTP = "http/protobuf"
	TracingGRPC = "grpc"
)

// DeliverySettings configure the delivery of events to the user's
// backend.
type DeliverySettings struct {
	Destinations []DeliveryDestination `json:"destinations,omitempty"`
	// AllowPrivateNetworks are the networks (CIDR) a webhook destination
	// may resolve into although they are private or loopback.
	AllowPrivateNetworks []string `json:"allowPrivateNetworks,omitempty"`
	// Retry is the wait before each attempt: attempt n waits Retry[n-1]
	// after attempt n-1 (the first after the event); after the last the
	// delivery is dead. Empty is the runtime's default.
	Retry        []Duration `json:"retry,omitempty"`
	DisableAfter Duration   `json:"disableAfter,omitzero"`
	LogRetention Duration   `json:"logRetention,omitzero"`
}

// DeliveryDestination is one destination of membrane.yaml: a webhook URL
// (with the variable holding its signing secret) or a NATS subject.
type DeliveryDestination struct {
	Pos         diag.Pos
	Name        string       `json:"name"`
	URL         string       `json:"url,omitempty"`
	NATS        *NATSSubject `json:"nats,omitempty"`
	SecretEnv   string       `json:"secretEnv,omitempty"`
	Events      []string     `json:"events,omitempty"`
	Connectors  []string     `json:"connectors,omitempty"`
	Tenants     []string     `json:"tenants,omitempty"`
	Concurrency int          `json:"concurrency,omitempty"`
	Timeout     Duration     `json:"timeout,omitzero"`
}

// NATSSubject is a NATS JetStream server and the subject events are
// published on.
type NATSSubject struct {
	URL     string `json:"url"`
	Subject string `json:"subject"`
}

// DefaultSecretEnv holds the workspace secret when secretEnv is not set.
const DefaultSecretEnv = "MEMBRANE_WORKSPACE_SECRET"

// OAuthClient names the variables holding a connector's OAuth client.
type OAuthClient struct {
	ClientIDEnv     string `json:"clientIdEnv"`
	ClientSecretEnv string `json:"clientSecretEnv"`
}

// Outbound opens addresses beyond the public internet to requests.
type Outbound struct {
	AllowPrivate    bool     `json:"allowPrivate,omitempty"`
	AllowedNetworks []string `json:"allowedNetworks,omitempty"`
}

// ConnectSettings configure the connect page that the app sends its users
// to.
type ConnectSettings struct {
	// ReturnOrigins are the origins (scheme://host[:port]) the page may send
	// a user back to: returnUrl must be on one of them or on publicUrl's.
	ReturnOrigins []string `json:"returnOrigins,omitempty"`
}

// RunLogSettings bound how long run logs are kept.
type RunLogSettings struct {
	Retention Duration `json:"retention,omitzero"`
}
