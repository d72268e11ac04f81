package spec

import (
	"runtime"
	"slices"
	"sync"

	"github.com/membrane-dev/membrane/spec/diag"
	"github.com/membrane-dev/membrane/spec/expr"
)

// The variables each place of a spec sees.
var (
	varsConnector = []string{VarConnection, VarTenant, VarNow}
	varsAuth      = []string{VarCredentials, VarConnection, VarTenant, VarNow}
	varsSession   = []string{VarSession, VarCredentials, VarConnection, VarTenant, VarNow}
	varsLoginResp = []string{VarResponse, VarCredentials, VarConnection, VarTenant, VarNow}
	varsConnError = []string{VarResponse, VarConnection, VarTenant, VarNow}

	varsRequest  = []string{VarInput, VarConnection, VarTenant, VarNow, VarPage}
	varsPage     = []string{VarResponse, VarInput, VarConnection, VarTenant, VarNow, VarPage}
	varsError    = []string{VarResponse, VarInput, VarConnection, VarTenant, VarNow}
	varsRecord   = []string{VarRecord, VarInput, VarConnection, VarTenant, VarNow}
	varsStepCond = []string{VarInput, VarConnection, VarTenant, VarNow, VarSteps}
	varsStep     = []string{VarInput, VarConnection, VarTenant, VarNow, VarSteps, VarItem, VarIndex, VarPage}

	varsSubscribe     = []string{VarWebhook, VarConnection, VarTenant, VarNow}
	varsSubscribed    = []string{VarResponse, VarWebhook, VarConnection, VarTenant, VarNow}
	varsUnsubscribe   = []string{VarSubscription, VarConnection, VarTenant, VarNow}
	varsSecret        = []string{VarSubscription, VarCredentials, VarConnection, VarTenant}
	varsIncoming      = []string{VarRequest}
	varsMatch         = []string{VarConnection, VarSubscription}
	varsIncomingRec   = []string{VarRecord, VarRequest}
	varsPollRequest   = []string{VarState, VarConnection, VarTenant, VarNow, VarPage}
	varsPollPage      = []string{VarResponse, VarState, VarConnection, VarTenant, VarNow, VarPage}
	varsPollRecord    = []string{VarRecord, VarState, VarConnection, VarTenant, VarNow}
	varsPollCursor    = []string{VarRecords, VarState, VarConnection, VarTenant, VarNow}
	varsEventMapping  = []string{VarRecord, VarConnection, VarTenant, VarNow}
	varsWebhookAnswer = []string{VarRequest}
)

var (
	listOrDyn = expr.ListOf(expr.Dyn)
)

// compileExpressions compiles every expression of the workspace in the
// place it stands. Elements compile in parallel; each distinct expression
// compiles once per environment (expr caches by source).
func compileExpressions(ws *Workspace, diags *diag.List) {
	var jobs []func(*diag.List)
	for _, key := range sortedKeys(ws.Connectors) {
		c := ws.Connectors[key]
		jobs = append(jobs, func(d *diag.List) { CompileConnector(c, d) })
	}
	for _, conn := range sortedKeys(ws.Actions) {
		for _, key := range sortedKeys(ws.Actions[conn]) {
			a := ws.Actions[conn][key]
			jobs = append(jobs, func(d *diag.List) {
				CompileAction(ws.Connectors[a.Connector], a, ws.InputSchema(a), ws.OutputSchema(a), d)
			})
		}
	}
	for _, conn := range sortedKeys(ws.Events) {
		for _, key := range sortedKeys(ws.Events[conn]) {
			e := ws.Events[conn][key]
			jobs = append(jobs, func(d *diag.List) {
				CompileEvent(ws.Connectors[e.Connector], e, ws.RecordSchema(e), d)
			})
		}
	}
	results := make([]diag.List, len(jobs))
	work := make(chan int)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), max(1, len(jobs))) {
		wg.Go(func() {
			for i := range work {
				jobs[i](&results[i])
			}
		})
	}
	for i := range jobs {
		work <- i
	}
	close(work)
	wg.Wait()
	for _, r := range results {
		*diags = append(*diags, r...)
	}
}

// CompileConnector compiles the expressions of a connector.
func CompileConnector(c *Connector, diags *diag.List) {
	s := NewScope(c)
	s.Compile(c.BaseURL, expr.Scalar, diags, varsConnector...)
	for _, k := range sortedKeys(c.Headers) {
		s.Compile(c.Headers[k], expr.Scalar, diags, varsConnector...)
	}
	compileErrors(s, c.Errors, diags, varsConnError)
	if c.Pagination != nil {
		compilePagination(s, c.Pagination, diags, varsPage)
	}
	a := c.Auth
	if a == nil {
		return
	}
	for _, t := range []Template{a.AuthorizationURL, a.TokenURL, a.Value, a.Username, a.Password, a.Token} {
		s.Compile(t, expr.Scalar, diags, varsAuth...)
	}
	for _, k := range sortedKeys(a.Headers) {
		s.Compile(a.Headers[k], expr.Scalar, diags, varsSession...)
	}
	for _, k := range sortedKeys(a.Query) {
		s.Compile(a.Query[k], expr.Scalar, diags, varsSession...)
	}
	if a.Login != nil {
		compileRequest(s, a.Login.Request, diags, varsAuth)
		s.Compile(a.Login.Token, expr.Scalar, diags, varsLoginResp...)
		s.Compile(a.Login.ExpiresIn, expr.Scalar, diags, varsLoginResp...)
	}
	compileRequest(s, a.Test, diags, varsConnector)
}

// CompileAction compiles the expressions of an action whose input and
// output are checked against the given schemas (nil: unchecked). c may be
// nil when the connector is missing; expressions still compile.
func CompileAction(c *Connector, a *Action, input, output *Value, diags *diag.List) {
	s := NewScope(c).WithInput(input)
	compileRequest(s, a.Request, diags, varsRequest)
	compileErrors(s, a.Errors, diags, varsError)
	if a.Pagination != nil {
		compilePagination(s, a.Pagination, diags, varsPage)
	}
	s.CompileValue(a.Record, nil, diags, varsRecord...)

	var done []string
	for _, st := range a.Steps {
		ss := s.WithSteps(done)
		ss.Compile(st.When, expr.Bool, diags, varsStepCond...)
		ss.Compile(st.ForEach, listOrDyn, diags, varsStepCond...)
		compileRequest(ss, st.Request, diags, varsStep)
		ss.CompileValue(st.Input, nil, diags, varsStep...)
		outVars := slices.Concat(varsStep, []string{VarResponse})
		if st.Action != "" {
			outVars = slices.Concat(varsStep, []string{VarResult})
		}
		ss.CompileValue(st.Output, nil, diags, outVars...)
		done = append(done, st.Name)
	}

	outVars := []string{VarInput, VarConnection, VarTenant, VarNow}
	switch {
	case len(a.Steps) > 0:
		s = s.WithSteps(done)
		outVars = append(outVars, VarSteps)
	case a.Pagination != nil:
		outVars = append(outVars, VarRecords)
	default:
		outVars = append(outVars, VarResponse)
	}
	compileMapping(s, a.Output, output, diags, outVars)
}

// CompileEvent compiles the expressions of an event.
func CompileEvent(c *Connector, e *Event, record *Value, diags *diag.List) {
	s := NewScope(c)
	if w := e.Webhook; w != nil {
		compileRequest(s, w.Subscribe, diags, varsSubscribe)
		s.Compile(w.SubscriptionID, nil, diags, varsSubscribed...)
		compileRequest(s, w.Unsubscribe, diags, varsUnsubscribe)
		if w.Signature != nil {
			s.Compile(w.Signature.Secret, expr.Scalar, diags, varsSecret...)
			s.Compile(w.Signature.Payload, expr.Scalar, diags, varsIncoming...)
		}
		s.Compile(w.ConnectionKey, expr.Scalar, diags, varsIncoming...)
		s.Compile(w.Match, expr.Scalar, diags, varsMatch...)
		s.Compile(w.Records, listOrDyn, diags, varsIncoming...)
		s.Compile(w.ID, expr.Scalar, diags, varsIncomingRec...)
		s.Compile(w.Type, expr.Scalar, diags, varsIncomingRec...)
		s.Compile(w.UpdatedAt, expr.Scalar, diags, varsIncomingRec...)
		if w.Response != nil {
			s.CompileValue(w.Response.Body, nil, diags, varsWebhookAnswer...)
		}
	}
	if p := e.Polling; p != nil {
		compileRequest(s, p.Request, diags, varsPollRequest)
		if p.Pagination != nil {
			compilePagination(s, p.Pagination, diags, varsPollPage)
		}
		s.Compile(p.Items, listOrDyn, diags, varsPollPage...)
		s.Compile(p.ID, expr.Scalar, diags, varsPollRecord...)
		s.Compile(p.UpdatedAt, expr.Scalar, diags, varsPollRecord...)
		s.Compile(p.Deleted, expr.Bool, diags, varsPollRecord...)
		s.Compile(p.Cursor, expr.Scalar, diags, varsPollCursor...)
	}
	compileMapping(s, e.Record, record, diags, varsEventMapping)
}

func compileRequest(s *Scope, r *Request, diags *diag.List, vars []string) {
	if r == nil {
		return
	}
	s.Compile(r.Path, expr.Scalar, diags, vars...)
	for _, k := range sortedKeys(r.Query) {
		s.Compile(r.Query[k], nil, diags, vars...) // a list repeats the parameter
	}
	for _, k := range sortedKeys(r.Headers) {
		s.Compile(r.Headers[k], expr.Scalar, diags, vars...)
	}
	s.CompileValue(r.Body, nil, diags, vars...)
}

func compileErrors(s *Scope, rules []ErrorRule, diags *diag.List, vars []string) {
	for _, r := range rules {
		s.Compile(r.When, expr.Bool, diags, vars...)
		s.Compile(r.Message, expr.Scalar, diags, vars...)
	}
}

func compilePagination(s *Scope, p *Pagination, diags *diag.List, vars []string) {
	s.Compile(p.Items, listOrDyn, diags, vars...)
	s.Compile(p.NextCursor, expr.Scalar, diags, vars...)
	s.Compile(p.HasMore, expr.Bool, diags, vars...)
}

// compileMapping compiles an output mapping and, where the contract's schema
// says what a field must be and the expression's type is known, checks that
// they agree.
func compileMapping(s *Scope, mapping, contract *Value, diags *diag.List, vars []string) {
	if mapping == nil {
		return
	}
	checkMapped(s, mapping, contract, diags, vars)
}

func checkMapped(s *Scope, m, schema *Value, diags *diag.List, vars []string) {
	switch m.Kind {
	case String:
		t := s.Compile(Template{Source: m.Str, Pos: m.Pos, Quoted: m.Quoted}, nil, diags, vars...)
		if t != nil && schema != nil {
			if want := schemaTypeName(schema); want != "" && !typeFits(t.Type(), want) {
				diags.Errorf(m.Pos, "contract", "this gives %s, but the contract wants %s", t.Type(), want)
			}
		}
	case Map:
		var props *Value
		if schema != nil {
			props = schema.Get("properties")
		}
		for _, f := range m.Fields {
			checkMapped(s, f.Value, props.Get(f.Key), diags, vars)
		}
	case List:
		var items *Value
		if schema != nil {
			items = schema.Get("items")
		}
		for _, it := range m.Items {
			checkMapped(s, it, items, diags, vars)
		}
	default:
		if schema != nil {
			if want := schemaTypeName(schema); want != "" && !literalFits(m, want) {
				diags.Errorf(m.Pos, "contract", "this is %s, but the contract wants %s", m.Kind, want)
			}
		}
	}
}

// schemaTypeName is a schema's single `type`, or "" when it allows several.
func schemaTypeName(schema *Value) string {
	if t := schema.Get("type"); t != nil && t.Kind == String {
		return t.Str
	}
	return ""
}

// typeFits reports whether an expression of type t can give a JSON value of
// the schema type want. Dynamic types are checked at run time.
func typeFits(t *expr.Type, want string) bool {
	switch t.Kind() {
	case expr.KindDyn, expr.KindNull, expr.KindOptional:
		return true
	case expr.KindString, expr.KindTimestamp, expr.KindDuration, expr.KindBytes:
		return want == "string"
	case expr.KindInt, expr.KindUint:
		return want == "integer" || want == "number"
	case expr.KindDouble:
		return want == "number"
	case expr.KindBool:
		return want == "boolean"
	case expr.KindList:
		return want == "array"
	case expr.KindMap, expr.KindObject:
		return want == "object"
	}
	return true
}

func literalFits(v *Value, want string) bool {
	switch v.Kind {
	case Null:
		return true
	case Bool:
		return want == "boolean"
	case Int:
		return want == "integer" || want == "number"
	case Float:
		return want == "number"
	}
	return true
}
