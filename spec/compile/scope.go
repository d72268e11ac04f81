package compile

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/membrane-dev/membrane/spec"
	"github.com/membrane-dev/membrane/spec/diag"
	"github.com/membrane-dev/membrane/spec/expr"
	"github.com/membrane-dev/membrane/spec/suggest"
	"github.com/membrane-dev/membrane/spec/tree"
)

// Variable names expressions may use. Which ones a place sees is fixed by
// the place (see the Vars* lists): a name used where it is not declared is a
// load-time error.
const (
	VarInput        = "input"
	VarConnection   = "connection"
	VarTenant       = "tenant"
	VarCredentials  = "credentials"
	VarSession      = "session"
	VarResponse     = "response"
	VarRequest      = "request"
	VarPage         = "page"
	VarState        = "state"
	VarRecord       = "record"
	VarRecords      = "records"
	VarSteps        = "steps"
	VarItem         = "item"
	VarIndex        = "index"
	VarResult       = "result"
	VarWebhook      = "webhook"
	VarSubscription = "subscription"
	// VarApp holds the secrets of the vendor app the workspace registered
	// (membrane.yaml's webhookSecrets, and the OAuth client's secret as
	// clientSecret), by name: only a webhook signature's secret reads it.
	VarApp = "app"
	VarNow = "now"
	// VarVars holds the values steps named with let; VarError the failure
	// an onError block caught.
	VarVars  = "vars"
	VarError = "error"
	// VarPagination is how a paginated action's walk ended, for its output.
	VarPagination = "pagination"
)

// Types of the variables whose shape does not depend on the spec.
var (
	TenantType   = expr.Object("tenant", map[string]*expr.Type{"key": expr.String})
	ResponseType = expr.Object("response", map[string]*expr.Type{
		"status":  expr.Int,
		"headers": expr.MapOf(expr.String, expr.String),
		"body":    expr.Dyn,
	})
	RequestType = expr.Object("request", map[string]*expr.Type{
		"method":  expr.String,
		"url":     expr.String,
		"path":    expr.String,
		"headers": expr.MapOf(expr.String, expr.String),
		"query":   expr.MapOf(expr.String, expr.String),
		"form":    expr.MapOf(expr.String, expr.String),
		"body":    expr.Dyn,
		"rawBody": expr.String,
	})
	PageType = expr.Object("page", map[string]*expr.Type{
		"number": expr.Int,
		"offset": expr.Int,
		"size":   expr.Int,
		"cursor": expr.Dyn,
	})
	// PaginationType: pages walked; truncated when the walk stopped at
	// maxPages while the API had more, nextCursor then being what
	// resumes it (a cursor, an offset, a page number or a link).
	PaginationType = expr.Object("pagination", map[string]*expr.Type{
		"pages":      expr.Int,
		"truncated":  expr.Bool,
		"nextCursor": expr.Dyn,
	})
	WebhookType = expr.Object("webhook", map[string]*expr.Type{"url": expr.String})
	SessionType = expr.Object("session", map[string]*expr.Type{"token": expr.String})
	anyMap      = expr.MapOf(expr.String, expr.Dyn)
)

// Scope holds the types of every variable an element's expressions may use;
// each place then picks the variables it sees. Scopes are cheap: types and
// environments are cached by their structure. A Scope is safe for
// concurrent use.
type Scope struct {
	types map[string]*expr.Type
	// connector names the connector whose `servers` a request may pick;
	// "" when it is unknown (a missing connector, reported elsewhere).
	connector string
	servers   []string

	mu     sync.Mutex
	envs   map[string]envResult   // by the names of the variables declared
	inputs map[*tree.Value]*Scope // WithInput, by schema
}

type envResult struct {
	env *expr.Env
	err error
}

// NewScope builds the scope of a connector's expressions: `connection` is
// typed from its parameters schema and `credentials` from its auth.
func NewScope(c *spec.Connector) *Scope {
	params := anyMap
	if c != nil && !c.Parameters.IsZero() {
		params = expr.FromSchema("connection.parameters", c.Parameters.Value.Interface())
	}
	s := &Scope{types: map[string]*expr.Type{
		VarConnection: expr.Object("connection", map[string]*expr.Type{
			"id":         expr.String,
			"name":       expr.String,
			"parameters": params,
			"info":       anyMap,
		}),
		VarTenant:       TenantType,
		VarResponse:     ResponseType,
		VarRequest:      RequestType,
		VarPage:         PageType,
		VarPagination:   PaginationType,
		VarState:        anyMap,
		VarRecord:       expr.Dyn,
		VarRecords:      expr.ListOf(expr.Dyn),
		VarItem:         expr.Dyn,
		VarIndex:        expr.Int,
		VarResult:       expr.Dyn,
		VarWebhook:      WebhookType,
		VarSession:      SessionType,
		VarSubscription: expr.Dyn,
		VarApp:          expr.MapOf(expr.String, expr.String),
		VarNow:          expr.Timestamp,
		VarInput:        anyMap,
		VarSteps:        expr.Object("steps", nil),
		VarVars:         expr.Object("vars", nil),
		VarError:        ErrorVarType,
	}}
	if c != nil {
		s.connector = c.Key
		s.servers = slices.Sorted(maps.Keys(c.Servers))
	}
	if c != nil && c.Auth != nil {
		s.types[VarCredentials] = expr.FromSchema("credentials", spec.CredentialsSchema(c.Auth).Interface())
	} else {
		s.types[VarCredentials] = anyMap
	}
	return s
}

// With returns a copy of the scope where name has type t.
func (s *Scope) With(name string, t *expr.Type) *Scope {
	types := make(map[string]*expr.Type, len(s.types))
	for k, v := range s.types {
		types[k] = v
	}
	types[name] = t
	return &Scope{types: types, connector: s.connector, servers: s.servers}
}

// checkServer reads a request's `server:`: the name of one of the
// connector's servers, reported with the names it has when it has not
// that one. The request then goes to its base URL (nothing runs with a
// load error).
func (s *Scope) checkServer(t spec.Template, diags *diag.List) string {
	name := t.Source
	if name == "" || s.connector == "" {
		return name
	}
	if slices.Contains(s.servers, name) {
		return name
	}
	if len(s.servers) == 0 {
		diags.Errorf(t.Pos, "unknown-reference", "server %q: connector %q declares no servers; add it to the connector's servers: (e.g. servers: {%s: https://…}), or remove server: to use its baseUrl", name, s.connector, name)
		return name
	}
	diags.Errorf(t.Pos, "unknown-reference", "server %q is not one of connector %q's servers (%s)%s", name, s.connector, strings.Join(s.servers, ", "), suggest.DidYouMean(name, s.servers))
	return name
}

// WithInput types `input` by a JSON Schema. The scope is kept per schema:
// the actions that implement one universal action share it, and so share
// their compiled expressions.
func (s *Scope) WithInput(schema *tree.Value) *Scope {
	if schema == nil {
		return s
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if in, ok := s.inputs[schema]; ok {
		return in
	}
	in := s.With(VarInput, expr.FromSchema("input", schema.Interface()))
	if s.inputs == nil {
		s.inputs = map[*tree.Value]*Scope{}
	}
	s.inputs[schema] = in
	return in
}

// Env returns the environment declaring the named variables.
func (s *Scope) Env(names ...string) (*expr.Env, error) {
	key := strings.Join(names, ",")
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.envs[key]; ok {
		return r.env, r.err
	}
	vars := make(map[string]*expr.Type, len(names))
	var r envResult
	for _, n := range names {
		t, ok := s.types[n]
		if !ok {
			r.err = fmt.Errorf("unknown variable %q", n)
			break
		}
		vars[n] = t
	}
	if r.err == nil {
		r.env, r.err = expr.NewEnv(vars)
	}
	if s.envs == nil {
		s.envs = map[string]envResult{}
	}
	s.envs[key] = r
	return r.env, r.err
}

// Compile compiles a template in an environment of the named variables and
// reports issues at their place in the file. A zero template, or one with
// issues, gives nil.
//
// The template compiles in an environment of only the variables its text
// names: `${ response.body.id }` is then the same compiled template in every
// action, whatever their inputs, and compiles once. When that fails, it
// compiles again with every variable of the place, so that the messages are
// those of the place ("variables here: …").
func (s *Scope) Compile(t spec.Template, want *expr.Type, diags *diag.List, names ...string) *Expr {
	if t.IsZero() {
		return nil
	}
	used := usedVars(t.Source, names)
	env, err := s.Env(used...)
	if err != nil {
		diags.Errorf(t.Pos, "internal", "%v", err)
		return nil
	}
	tmpl, issues := env.Compile(t.Source, want)
	if issues != nil && len(used) < len(names) {
		if env, err = s.Env(names...); err == nil {
			tmpl, issues = env.Compile(t.Source, want)
		}
	}
	for _, is := range issues {
		diags.Errorf(posAt(t, is.Offset), "expression", "%s", is.Message)
	}
	if tmpl == nil {
		return nil
	}
	return &Expr{Template: tmpl, Src: t}
}

// usedVars returns the names that src holds as identifiers (not after a
// dot: `input` in `${ input.id }`, not in `${ response.body.input }`), in
// the order of names. It may name more than the expressions use (a name in
// a string or the text around them), never fewer.
func usedVars(src string, names []string) []string {
	if !strings.Contains(src, "${") {
		return nil
	}
	var used []string
	for _, n := range names {
		for i := 0; ; {
			j := strings.Index(src[i:], n)
			if j < 0 {
				break
			}
			j += i
			end := j + len(n)
			if (j == 0 || !isIdentChar(src[j-1]) && src[j-1] != '.') && (end == len(src) || !isIdentChar(src[end])) {
				used = append(used, n)
				break
			}
			i = end
		}
	}
	return used
}

func isIdentChar(c byte) bool {
	return c == '_' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

// posAt finds the file position of a byte offset in a template's source:
// exact for text on one line and for text over several lines whose lines
// the file located (a block scalar), the template's start otherwise.
func posAt(t spec.Template, offset int) diag.Pos {
	if p, ok := tree.At(t.Source, t.Lines, offset, t.Pos); ok {
		return p
	}
	p := t.Pos
	if p.Line == 0 || strings.ContainsAny(t.Source, "\n\\") || offset < 0 || offset > len(t.Source) {
		return p
	}
	p.Col += len([]rune(t.Source[:offset]))
	if t.Quoted {
		p.Col++
	}
	return p
}

// CompileValue compiles a JSON tree (a body, a mapping) whose strings are
// templates; map keys are literal text. When contract is given (a JSON
// Schema), a field whose type is known must agree with it.
func (s *Scope) CompileValue(v, contract *tree.Value, diags *diag.List, names ...string) *Mapping {
	return s.compileValue(v, contract, "", diags, names)
}

// compileValue is CompileValue at path, the place of v in the tree
// ("contact.tags[0]"), for messages.
func (s *Scope) compileValue(v, contract *tree.Value, path string, diags *diag.List, names []string) *Mapping {
	if v == nil {
		return nil
	}
	what := "this"
	if path != "" {
		what = quote(path)
	}
	switch v.Kind {
	case tree.String:
		x := s.Compile(valueTemplate(v), nil, diags, names...)
		if x == nil {
			return &Mapping{lit: v.Str}
		}
		if x.IsLiteral() {
			lit, _ := x.Template.Eval(nil)
			return &Mapping{lit: lit}
		}
		if len(x.Vars()) == 0 {
			// A constant null (`${ null }`) is written on purpose: a
			// literal, which a request body keeps (see omitNulls).
			if v, err := x.Template.Eval(nil); err == nil && v == nil {
				return &Mapping{lit: nil}
			}
		}
		if contract != nil {
			if want := schemaTypeName(contract); want != "" && !typeFits(x.Type(), want) {
				diags.Errorf(v.Pos, "contract", "%s gives %s, but the contract wants %s", what, x.Type(), want)
			}
		}
		return &Mapping{expr: x}
	case tree.Map:
		m := &Mapping{isMap: true, keys: make([]string, 0, len(v.Fields)), fields: make([]*Mapping, 0, len(v.Fields))}
		props := contract.Get("properties")
		for _, f := range v.Fields {
			if f.Key == MergeKey && f.Value.Kind == tree.String {
				m.base, m.basePos, m.baseLayer = s.compileMergeBase(f.Value, v.Pos, diags, names), v.Pos, v.Layer
				continue
			}
			m.keys = append(m.keys, f.Key)
			sub := f.Key
			if path != "" {
				sub = path + "." + f.Key
			}
			m.fields = append(m.fields, s.compileValue(f.Value, props.Get(f.Key), sub, diags, names))
		}
		if m.base != nil {
			return m
		}
		return m.literalIfConstant()
	case tree.List:
		m := &Mapping{isList: true, items: make([]*Mapping, len(v.Items))}
		items := contract.Get("items")
		for i, it := range v.Items {
			m.items[i] = s.compileValue(it, items, fmt.Sprintf("%s[%d]", path, i), diags, names)
		}
		return m.literalIfConstant()
	}
	if contract != nil {
		if want := schemaTypeName(contract); want != "" && !literalFits(v, want) {
			diags.Errorf(v.Pos, "contract", "%s is %s, but the contract wants %s", what, v.Kind, want)
		}
	}
	return &Mapping{lit: v.Interface()}
}

// compileMergeBase compiles the value of a `$merge` field: an expression
// that gives an object. A misfit is reported at the object at pos, whose
// fields (an override's) are what cannot merge.
func (s *Scope) compileMergeBase(v *tree.Value, pos diag.Pos, diags *diag.List, names []string) *Expr {
	x := s.Compile(valueTemplate(v), nil, diags, names...)
	if x == nil {
		return nil
	}
	switch x.Type().Kind() {
	case expr.KindMap, expr.KindObject, expr.KindDyn, expr.KindNull:
		return x
	}
	diags.Errorf(pos, "expression", "these fields are merged into the value of %s (at %s), which must be an object, not %s; write the fields whole, or patch that expression", v.Str, v.Pos, x.Type())
	return nil
}

// literalIfConstant folds a tree with no template below it into one value,
// built once.
func (m *Mapping) literalIfConstant() *Mapping {
	for _, c := range append(m.fields, m.items...) {
		if c.expr != nil || c.isMap || c.isList {
			return m
		}
	}
	v, _ := m.Eval(context.Background(), nil)
	return &Mapping{lit: v}
}

func valueTemplate(v *tree.Value) spec.Template {
	return spec.Template{Source: v.Str, Pos: v.Pos, Quoted: v.Quoted, Layer: v.Layer, Lines: v.Lines}
}

func quote(s string) string { return `"` + s + `"` }
