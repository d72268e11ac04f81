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
// compiles once per environment (expr caches by source), and the elements
// of a connector share its scope, so that environments are built once too.
func compileExpressions(ws *Workspace, diags *diag.List) {
	scopes := map[string]*Scope{}
	scope := func(conn string) *Scope {
		s, ok := scopes[conn]
		if !ok {
			s = ws.newScope(ws.Connectors[conn])
			scopes[conn] = s
		}
		return s
	}
	var jobs []func(*diag.List)
	for _, key := range sortedKeys(ws.Connectors) {
		c, s := ws.Connectors[key], scope(key)
		jobs = append(jobs, func(d *diag.List) { compileConnector(s, c, d) })
	}
	for _, conn := range sortedKeys(ws.Actions) {
		s := scope(conn)
		for _, key := range sortedKeys(ws.Actions[conn]) {
			a := ws.Actions[conn][key]
			var uin, uout *Schema
			if ua := ws.universalOf(a); ua != nil {
				uin, uout = ua.Input, ua.Output
			}
			in, out := ws.checkedSchema(uin, a.InputSchema), ws.checkedSchema(uout, a.OutputSchema)
			jobs = append(jobs, func(d *diag.List) { compileAction(s.WithInput(in), a, out, d) })
		}
	}
	for _, conn := range sortedKeys(ws.Events) {
		s := scope(conn)
		for _, key := range sortedKeys(ws.Events[conn]) {
			e := ws.Events[conn][key]
			var urec *Schema
			if ue := ws.UniversalEvents[e.Implements]; ue != nil && e.Implements != "" {
				urec = ue.Record
			}
			rec := ws.checkedSchema(urec, e.RecordSchema)
			jobs = append(jobs, func(d *diag.List) { compileEvent(s, e, rec, d) })
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

// newScope is NewScope for the checks of a workspace: a parameters or
// credentials schema with errors of its own types its variable as any
// object, so that the expressions reading it are not reported as well.
func (w *Workspace) newScope(c *Connector) *Scope {
	if c == nil {
		return NewScope(nil)
	}
	if w.schemaBroken(c.Parameters) {
		cc := *c
		cc.Parameters = nil
		c = &cc
	}
	s := NewScope(c)
	if c.Auth != nil && w.schemaBroken(c.Auth.Credentials) {
		s.types[VarCredentials] = anyMap
	}
	return s
}

// CompileConnector compiles the expressions of a connector.
func CompileConnector(c *Connector, diags *diag.List) *CompiledConnector {
	return compileConnector(NewScope(c), c, diags)
}

func compileConnector(s *Scope, c *Connector, diags *diag.List) *CompiledConnector {
	cc := &CompiledConnector{
		Src:     c,
		BaseURL: s.Compile(c.BaseURL, expr.Scalar, diags, varsConnector...),
		Headers: compileNamed(s, c.Headers, diags, varsConnector),
		Errors:  compileErrors(s, c.Errors, diags, varsConnError),
	}
	hosts := compileHosts(c, diags)
	declared := len(c.Hosts) > 0
	compileURL(s, cc.BaseURL, c.Key, FieldBaseURL, hosts, declared, diags, varsConnector)
	a := c.Auth
	if a == nil {
		return cc
	}
	ca := &CompiledAuth{
		Src:              a,
		AuthorizationURL: s.Compile(a.AuthorizationURL, expr.Scalar, diags, varsAuth...),
		TokenURL:         s.Compile(a.TokenURL, expr.Scalar, diags, varsAuth...),
		Value:            s.Compile(a.Value, expr.Scalar, diags, varsAuth...),
		Username:         s.Compile(a.Username, expr.Scalar, diags, varsAuth...),
		Password:         s.Compile(a.Password, expr.Scalar, diags, varsAuth...),
		Token:            s.Compile(a.Token, expr.Scalar, diags, varsAuth...),
		Headers:          compileNamed(s, a.Headers, diags, varsSession),
		Query:            compileNamed(s, a.Query, diags, varsSession),
		Test:             compileRequest(s, a.Test, diags, varsConnector),
	}
	compileURL(s, ca.AuthorizationURL, c.Key, FieldAuthorizationURL, hosts, declared, diags, varsAuth)
	compileURL(s, ca.TokenURL, c.Key, FieldTokenURL, hosts, declared, diags, varsAuth)
	if a.Login != nil {
		ca.Login = compileRequest(s, a.Login.Request, diags, varsAuth)
		ca.LoginToken = s.Compile(a.Login.Token, expr.Scalar, diags, varsLoginResp...)
		ca.LoginExpiresIn = s.Compile(a.Login.ExpiresIn, expr.Scalar, diags, varsLoginResp...)
	}
	cc.Auth = ca
	return cc
}

// CompileAction compiles the expressions of an action whose input and
// output are checked against the given schemas (nil: unchecked). c may be
// nil when the connector is missing; expressions still compile.
func CompileAction(c *Connector, a *Action, input, output *Value, diags *diag.List) *CompiledAction {
	return compileAction(NewScope(c).WithInput(input), a, output, diags)
}

// compileAction compiles an action in a scope whose `input` is typed.
func compileAction(s *Scope, a *Action, output *Value, diags *diag.List) *CompiledAction {
	ca := &CompiledAction{
		Src:     a,
		Request: compileRequest(s, a.Request, diags, varsRequest),
		Errors:  compileErrors(s, a.Errors, diags, varsError),
		Record:  s.CompileValue(a.Record, nil, diags, varsRecord...),
	}
	if a.Pagination != nil {
		ca.Pagination = compilePagination(s, a.Pagination, diags, varsPage)
	}
	var done []string
	for i := range a.Steps {
		st := &a.Steps[i]
		ss := s.WithSteps(done)
		outVars := slices.Concat(varsStep, []string{VarResponse})
		if st.Action != "" {
			outVars = slices.Concat(varsStep, []string{VarResult})
		}
		ca.Steps = append(ca.Steps, CompiledStep{
			Src:     st,
			When:    ss.Compile(st.When, expr.Bool, diags, varsStepCond...),
			ForEach: ss.Compile(st.ForEach, listOrDyn, diags, varsStepCond...),
			Request: compileRequest(ss, st.Request, diags, varsStep),
			Input:   ss.CompileValue(st.Input, nil, diags, varsStep...),
			Output:  ss.CompileValue(st.Output, nil, diags, outVars...),
		})
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
	ca.Output = s.CompileValue(a.Output, output, diags, outVars...)
	return ca
}

// CompileEvent compiles the expressions of an event.
func CompileEvent(c *Connector, e *Event, record *Value, diags *diag.List) *CompiledEvent {
	return compileEvent(NewScope(c), e, record, diags)
}

func compileEvent(s *Scope, e *Event, record *Value, diags *diag.List) *CompiledEvent {
	ce := &CompiledEvent{Src: e, Record: s.CompileValue(e.Record, record, diags, varsEventMapping...)}
	if w := e.Webhook; w != nil {
		ce.Subscribe = compileRequest(s, w.Subscribe, diags, varsSubscribe)
		ce.SubscriptionID = s.Compile(w.SubscriptionID, nil, diags, varsSubscribed...)
		ce.Unsubscribe = compileRequest(s, w.Unsubscribe, diags, varsUnsubscribe)
		if w.Signature != nil {
			ce.SignatureSecret = s.Compile(w.Signature.Secret, expr.Scalar, diags, varsSecret...)
			ce.SignaturePayload = s.Compile(w.Signature.Payload, expr.Scalar, diags, varsIncoming...)
		}
		ce.ConnectionKey = s.Compile(w.ConnectionKey, expr.Scalar, diags, varsIncoming...)
		ce.Match = s.Compile(w.Match, expr.Scalar, diags, varsMatch...)
		ce.Records = s.Compile(w.Records, listOrDyn, diags, varsIncoming...)
		ce.ID = s.Compile(w.ID, expr.Scalar, diags, varsIncomingRec...)
		ce.Type = s.Compile(w.Type, expr.Scalar, diags, varsIncomingRec...)
		ce.UpdatedAt = s.Compile(w.UpdatedAt, expr.Scalar, diags, varsIncomingRec...)
		if w.Response != nil {
			ce.ResponseBody = s.CompileValue(w.Response.Body, nil, diags, varsWebhookAnswer...)
		}
	}
	if p := e.Polling; p != nil {
		ce.PollRequest = compileRequest(s, p.Request, diags, varsPollRequest)
		if p.Pagination != nil {
			ce.PollPagination = compilePagination(s, p.Pagination, diags, varsPollPage)
		}
		ce.PollItems = s.Compile(p.Items, listOrDyn, diags, varsPollPage...)
		ce.PollID = s.Compile(p.ID, expr.Scalar, diags, varsPollRecord...)
		ce.PollUpdatedAt = s.Compile(p.UpdatedAt, expr.Scalar, diags, varsPollRecord...)
		ce.PollDeleted = s.Compile(p.Deleted, expr.Bool, diags, varsPollRecord...)
		ce.PollCursor = s.Compile(p.Cursor, expr.Scalar, diags, varsPollCursor...)
	}
	return ce
}

func compileNamed(s *Scope, m map[string]Template, diags *diag.List, vars []string) []Named {
	var out []Named
	for _, k := range sortedKeys(m) {
		if x := s.Compile(m[k], expr.Scalar, diags, vars...); x != nil {
			out = append(out, Named{Name: k, Expr: x})
		}
	}
	return out
}

func compileRequest(s *Scope, r *Request, diags *diag.List, vars []string) *CompiledRequest {
	if r == nil {
		return nil
	}
	cr := &CompiledRequest{
		Src:      r,
		Method:   r.Method,
		Path:     s.Compile(r.Path, expr.Scalar, diags, vars...),
		Headers:  compileNamed(s, r.Headers, diags, vars),
		Body:     s.CompileValue(r.Body, nil, diags, vars...),
		Encoding: r.Encoding,
	}
	if cr.Path != nil {
		cr.PathParts = compilePathParts(s, r.Path, vars)
	}
	if cr.Method == "" {
		cr.Method = "GET"
	}
	if cr.Encoding == "" {
		cr.Encoding = "json"
	}
	for _, k := range sortedKeys(r.Query) {
		// A query value may be a list: the parameter repeats.
		if x := s.Compile(r.Query[k], nil, diags, vars...); x != nil {
			cr.Query = append(cr.Query, Named{Name: k, Expr: x})
		}
	}
	return cr
}

// compilePathParts compiles each expression of a path that mixes text and
// expressions on its own (see CompiledRequest.PathParts). The whole path
// compiled already, so its parts do too; their issues were reported.
func compilePathParts(s *Scope, t Template, vars []string) []PathPart {
	p, err := expr.Parse(t.Source)
	if err != nil || p.IsLiteral() || p.IsSingle() {
		return nil
	}
	var ignored diag.List
	parts := make([]PathPart, 0, len(p.Parts))
	for _, pt := range p.Parts {
		if !pt.Expr {
			parts = append(parts, PathPart{Text: pt.Text})
			continue
		}
		// The part's own template starts at its `${`, two bytes earlier.
		sub := Template{Source: "${" + pt.Text + "}", Pos: t.issuePos(pt.Offset - 2), Layer: t.Layer}
		x := s.Compile(sub, expr.Scalar, &ignored, vars...)
		if x == nil {
			return nil
		}
		parts = append(parts, PathPart{Expr: x})
	}
	return parts
}

func compileErrors(s *Scope, rules []ErrorRule, diags *diag.List, vars []string) []CompiledErrorRule {
	out := make([]CompiledErrorRule, 0, len(rules))
	for i := range rules {
		r := &rules[i]
		out = append(out, CompiledErrorRule{
			Src:     r,
			When:    s.Compile(r.When, expr.Bool, diags, vars...),
			Message: s.Compile(r.Message, expr.Scalar, diags, vars...),
		})
	}
	return out
}

func compilePagination(s *Scope, p *Pagination, diags *diag.List, vars []string) *CompiledPagination {
	return &CompiledPagination{
		Src:        p,
		Items:      s.Compile(p.Items, listOrDyn, diags, vars...),
		NextCursor: s.Compile(p.NextCursor, expr.Scalar, diags, vars...),
		HasMore:    s.Compile(p.HasMore, expr.Bool, diags, vars...),
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
