package compile

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/membrane-dev/membrane/spec"
	"github.com/membrane-dev/membrane/spec/diag"
	"github.com/membrane-dev/membrane/spec/expr"
)

// Expr is a compiled template together with where it was written, so that
// a failure at run time names its file, line and layer.
type Expr struct {
	*expr.Template
	Src spec.Template
	// URL is the host policy of a connector URL template (see EvalURL);
	// nil for any other template.
	URL *URLPolicy
}

// ExprError is an expression that failed at run time.
type ExprError struct {
	Pos   diag.Pos
	Layer string
	Expr  string
	Msg   string
	Err   error
}

func (e *ExprError) Error() string {
	layer := ""
	if e.Layer != "" {
		layer = " (" + e.Layer + " layer)"
	}
	return fmt.Sprintf("%s%s: ${ %s }: %s", e.Pos, layer, e.Expr, e.Msg)
}

func (e *ExprError) Unwrap() error { return e.Err }

// Eval evaluates the expression; a nil Expr yields nil.
func (x *Expr) Eval(ctx context.Context, vars map[string]any) (any, error) {
	if x == nil || x.Template == nil {
		return nil, nil
	}
	v, err := x.EvalContext(ctx, vars)
	if err != nil {
		var ee *expr.EvalError
		if errors.As(err, &ee) {
			return nil, &ExprError{Pos: posAt(x.Src, ee.Offset), Layer: x.Src.Layer, Expr: ee.Expr, Msg: ee.Message, Err: err}
		}
		return nil, &ExprError{Pos: x.Src.Pos, Layer: x.Src.Layer, Expr: x.Src.Source, Msg: err.Error(), Err: err}
	}
	return v, nil
}

// Named is a compiled template with the name it is given to: a header, a
// query parameter.
type Named struct {
	Name string
	Expr *Expr
}

// Mapping is a compiled JSON tree whose strings are templates: a request
// body, an output mapping.
type Mapping struct {
	lit    any   // a value with no template below it
	expr   *Expr // a string template
	keys   []string
	fields []*Mapping
	items  []*Mapping
	isMap  bool
	isList bool
	// base is what the object's fields are merged into: the value of a
	// `$merge` field, written by an override that patched a body written
	// as one expression (see MergeKey). basePos is where the object is.
	base      *Expr
	basePos   diag.Pos
	baseLayer string
	// omitNull leaves out of an object the fields whose expression gives
	// null (a request body's absent optional values); a field written as a
	// literal null, or `${ null }`, is a literal and stays.
	omitNull bool
}

// Eval builds the tree's value. A nil Mapping yields nil.
func (m *Mapping) Eval(ctx context.Context, vars map[string]any) (any, error) {
	switch {
	case m == nil:
		return nil, nil
	case m.expr != nil:
		return m.expr.Eval(ctx, vars)
	case m.base != nil:
		return m.evalMerged(ctx, vars)
	case m.isMap:
		out := make(map[string]any, len(m.keys))
		for i, k := range m.keys {
			v, err := m.fields[i].Eval(ctx, vars)
			if err != nil {
				return nil, err
			}
			if !m.Omitted(i, v) {
				out[k] = v
			}
		}
		return out, nil
	case m.isList:
		out := make([]any, len(m.items))
		for i, it := range m.items {
			v, err := it.Eval(ctx, vars)
			if err != nil {
				return nil, err
			}
			out[i] = v
		}
		return out, nil
	}
	switch m.lit.(type) {
	case map[string]any, []any:
		// Each evaluation gets its own copy: callers may modify what they
		// get (an output, a body a page cursor is added to).
		return copyLiteral(m.lit), nil
	}
	return m.lit, nil
}

// Keys returns the keys of a mapping that is an object of fields, in the
// order they are evaluated, or nil for any other mapping (a template, a
// list, a value with no template in it).
func (m *Mapping) Keys() []string {
	if m == nil || !m.isMap || m.base != nil {
		return nil
	}
	return m.keys
}

// Omitted reports whether field i of an object mapping is left out when
// it gives v: null from an expression, in a request body.
func (m *Mapping) Omitted(i int, v any) bool {
	return v == nil && m.omitNull && m.fields[i].expr != nil
}

// reads reports whether a template of the tree reads the variable name.
func (m *Mapping) reads(name string) bool {
	if m == nil {
		return false
	}
	if reads(m.expr, name) || reads(m.base, name) {
		return true
	}
	for _, c := range append(slices.Clip(m.fields), m.items...) {
		if c.reads(name) {
			return true
		}
	}
	return false
}

// omitNulls makes the objects of the tree leave out fields whose
// expression gives null. Values an expression gives whole are kept as
// they are.
func (m *Mapping) omitNulls() {
	if m == nil {
		return
	}
	m.omitNull = m.isMap
	for _, c := range append(slices.Clip(m.fields), m.items...) {
		c.omitNulls()
	}
}

// EvalField evaluates field i of an object mapping (see Keys): Eval of the
// object is EvalField of each key in turn, into a map, less the fields
// Omitted.
func (m *Mapping) EvalField(ctx context.Context, vars map[string]any, i int) (any, error) {
	return m.fields[i].Eval(ctx, vars)
}

// MergeKey names the field of an object whose value (an expression giving
// an object) the object's other fields are merged into, as a JSON Merge
// Patch would: `{$merge: "${ {...} }", metadata: {color: red}}`. Layers
// write it when an override's object patches a body written as one
// expression, so that the override adds to the body instead of replacing
// it.
const MergeKey = "$merge"

// evalMerged evaluates an object with a base: the base's fields, then the
// object's, a field written as an object merging into the base's object
// of that name (a field left out as null keeps the base's value).
func (m *Mapping) evalMerged(ctx context.Context, vars map[string]any) (any, error) {
	bv, err := m.base.Eval(ctx, vars)
	if err != nil {
		return nil, err
	}
	var out map[string]any
	switch b := bv.(type) {
	case nil:
		out = make(map[string]any, len(m.keys))
	case map[string]any:
		out = make(map[string]any, len(b)+len(m.keys))
		for k, v := range b {
			out[k] = v
		}
	default:
		src := strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(m.base.Src.Source), "${"), "}"))
		return nil, &ExprError{Pos: m.basePos, Layer: m.baseLayer, Expr: src,
			Msg: fmt.Sprintf("the fields written here are merged into the value of this expression (at %s), which must be an object, not %s", m.base.Src.Pos, jsonKind(bv)), Err: errMergeBase}
	}
	for i, k := range m.keys {
		f := m.fields[i]
		v, err := f.Eval(ctx, vars)
		if err != nil {
			return nil, err
		}
		if m.Omitted(i, v) {
			continue
		}
		if pm, ok := v.(map[string]any); ok && f.expr == nil {
			if bm, ok := out[k].(map[string]any); ok {
				v = mergeMaps(bm, pm)
			}
		}
		out[k] = v
	}
	return out, nil
}

var errMergeBase = errors.New("merge base is not an object")

// mergeMaps returns base with patch's fields merged in, objects into
// objects; neither is modified.
func mergeMaps(base, patch map[string]any) map[string]any {
	out := make(map[string]any, len(base)+len(patch))
	for k, v := range base {
		out[k] = v
	}
	for k, v := range patch {
		if pm, ok := v.(map[string]any); ok {
			if bm, ok := out[k].(map[string]any); ok {
				v = mergeMaps(bm, pm)
			}
		}
		out[k] = v
	}
	return out
}

// jsonKind names a value's JSON type, for messages.
func jsonKind(v any) string {
	switch v.(type) {
	case []any:
		return "an array"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case map[string]any:
		return "an object"
	}
	return "a number"
}

func copyLiteral(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, x := range t {
			out[k] = copyLiteral(x)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, x := range t {
			out[i] = copyLiteral(x)
		}
		return out
	}
	return v
}

// Request is a request ready to build.
type Request struct {
	Src    *spec.Request
	Method string
	// Server is the connector server the path is joined to ("" for the
	// base URL); the load checked that the connector has it.
	Server string
	Path   *Expr
	// PathParts splits a path that mixes text and expressions, such as
	// /contacts/${ input.id }: the runtime escapes each expression's value
	// as one path segment, so an id cannot add segments, climb out with ..
	// or start a query. Nil for a literal path, and for a path that is one
	// expression, which gives the whole path as written.
	PathParts []PathPart
	Query     []Named
	Headers   []Named
	Body      *Mapping
	Encoding  string
	// IdempotencyKey is sent as the Idempotency-Key header.
	IdempotencyKey *Expr
	// ReadsCredentials says the request carries a credential beyond what
	// the auth adds (a key in the body): the runtime then gives its
	// templates `credentials`, the current ones.
	ReadsCredentials bool
}

// PathPart is literal path text (Expr nil) or an expression.
type PathPart struct {
	Text string
	Expr *Expr
}

// Pagination is a pagination ready to walk.
type Pagination struct {
	Src         *spec.Pagination
	Items       *Expr
	NextCursor  *Expr
	HasMore     *Expr
	PageSize    *Count // nil: not sent
	MaxPages    *Count // nil: the default
	StartCursor *Expr
}

// Count is a count a spec writes as an integer or as an expression
// (pageSize, maxPages).
type Count struct {
	Lit  int   // when Expr is nil
	Expr *Expr // an int expression, evaluated per run
	What string
}

// Eval returns the count for a run's variables: a positive integer, or
// an error naming the field and where it is written.
func (c *Count) Eval(ctx context.Context, vars map[string]any) (int, error) {
	if c.Expr == nil {
		return c.Lit, nil
	}
	v, err := c.Expr.Eval(ctx, vars)
	if err != nil {
		return 0, err
	}
	var n int64
	switch x := v.(type) {
	case int64:
		n = x
	case uint64:
		n = int64(min(x, math.MaxInt32))
	case float64:
		if x != math.Trunc(x) {
			return 0, c.fail(fmt.Sprintf("%s gave %v, not an integer", c.What, x))
		}
		n = int64(max(min(x, math.MaxInt32), math.MinInt32))
	default:
		return 0, c.fail(fmt.Sprintf("%s gave %s, not an integer", c.What, describe(v)))
	}
	if n < 1 {
		return 0, c.fail(fmt.Sprintf("%s gave %d; it must be at least 1", c.What, n))
	}
	return int(min(n, math.MaxInt32)), nil
}

func (c *Count) fail(msg string) error {
	src := c.Expr.Src
	return &ExprError{Pos: src.Pos, Layer: src.Layer, Expr: strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(src.Source), "${"), "}")), Msg: msg}
}

func describe(v any) string {
	if v == nil {
		return "null"
	}
	return fmt.Sprintf("%T %v", v, v)
}

// Retry holds the expressions of a retry policy; nil when it has none.
type Retry struct {
	When  *Expr // a bool over `response`
	After *Expr // the wait over `response`
}

// ErrorRule is an error mapping rule ready to match.
type ErrorRule struct {
	Src     *spec.ErrorRule
	When    *Expr
	Message *Expr
}

// Connector holds a connector's compiled expressions.
type Connector struct {
	Src     *spec.Connector
	BaseURL *Expr
	// Servers are the connector's further base URLs by name, each with
	// the host policy of BaseURL.
	Servers map[string]*Expr
	// RedirectHosts are where a redirect to another origin may be
	// followed, without credentials.
	RedirectHosts []HostPattern
	Headers       []Named
	// HeadersReadCredentials says a header carries a credential.
	HeadersReadCredentials bool
	Errors                 []ErrorRule
	Retry                  *Retry
	Auth                   *Auth
}

// Auth holds an auth's compiled expressions.
type Auth struct {
	Src              *spec.Auth
	AuthorizationURL *Expr
	TokenURL         *Expr
	Value            *Expr
	Username         *Expr
	Password         *Expr
	Token            *Expr
	Headers          []Named
	Query            []Named
	Login            *Request
	LoginToken       *Expr
	LoginExpiresIn   *Expr
	Test             *Request
	// Info maps the test's response to the connection's info.
	Info *Mapping
}

// Step is one step of a multi-step action.
type Step struct {
	Src  *spec.Step
	When *Expr
	// WhenPerItem says When reads `item` or `index`: with ForEach it is
	// tried per item, and skips that item only.
	WhenPerItem bool
	ForEach     *Expr
	Let         []Let
	Request     *Request
	Input       *Mapping
	Return      *Mapping
	Errors      []ErrorRule
	Retry       *Retry
	OnError     *OnError
	Output      *Mapping
}

// Let is one name of a step's let block, evaluated in order.
type Let struct {
	Name  string
	Value *Mapping
}

// OnError is a compiled onError block: compensating steps, then an
// optional value to go on with.
type OnError struct {
	Src    *spec.OnError
	Steps  []Step
	Return *Mapping
}

// Action holds an action's compiled expressions.
type Action struct {
	Src        *spec.Action
	Request    *Request
	Errors     []ErrorRule
	Retry      *Retry
	Pagination *Pagination
	Record     *Mapping
	Steps      []Step
	OnError    *OnError
	Output     *Mapping
}

// WebhookCall is a compiled subscribe, renew or unsubscribe: one Request,
// or the Action of the connector it runs and its Input.
type WebhookCall struct {
	Request *Request
	Action  string
	Input   *Mapping
	// InputReadsCredentials says the input reads `credentials`, which are
	// then given to it.
	InputReadsCredentials bool
}

// Event holds an event's compiled expressions.
type Event struct {
	Src    *spec.Event
	Record *Mapping

	Subscribe        *WebhookCall
	SubscriptionID   *Expr
	Unsubscribe      *WebhookCall
	SignatureSecret  *Expr
	SignaturePayload *Expr
	Signature        *Signature
	ConnectionKey    *Expr
	Match            *Expr
	Records          *Expr
	ID               *Expr
	Type             *Expr
	UpdatedAt        *Expr
	ResponseBody     *Mapping
	// Keep, Renew and ExpiresAt keep the app's subscription alive;
	// Filter, Handshake and Enrich shape what a push carries.
	Keep          *Mapping
	Renew         *WebhookCall
	ExpiresAt     *Expr
	Filter        *Expr
	HandshakeWhen *Expr
	HandshakeBody *Mapping
	EnrichInput   *Mapping

	PollRequest    *Request
	PollPagination *Pagination
	PollItems      *Expr
	PollID         *Expr
	PollUpdatedAt  *Expr
	PollDeleted    *Expr
	PollCursor     *Expr
	PollCreated    *Expr
}
