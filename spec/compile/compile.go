package compile

import (
	"maps"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/membrane-dev/membrane/spec"
	"github.com/membrane-dev/membrane/spec/diag"
	"github.com/membrane-dev/membrane/spec/expr"
	"github.com/membrane-dev/membrane/spec/schema"
	"github.com/membrane-dev/membrane/spec/tree"
)

// The variables each place of a spec sees.
var (
	varsConnector = []string{VarConnection, VarTenant, VarNow}
	// The connector's headers go on every request, to its hosts only, and
	// may carry a credential (a `token` header beside Authorization).
	varsConnHeaders = []string{VarConnection, VarTenant, VarNow, VarCredentials}
	varsAuth        = []string{VarCredentials, VarConnection, VarTenant, VarNow}
	varsSession     = []string{VarSession, VarCredentials, VarConnection, VarTenant, VarNow}
	varsLoginResp   = []string{VarResponse, VarCredentials, VarConnection, VarTenant, VarNow}
	varsConnError   = []string{VarResponse, VarConnection, VarTenant, VarNow}

	varsRequest  = []string{VarInput, VarConnection, VarTenant, VarNow, VarPage, VarCredentials}
	varsPage     = []string{VarResponse, VarInput, VarConnection, VarTenant, VarNow, VarPage}
	varsError    = []string{VarResponse, VarInput, VarConnection, VarTenant, VarNow}
	varsRecord   = []string{VarRecord, VarInput, VarConnection, VarTenant, VarNow}
	varsStepCond = []string{VarInput, VarConnection, VarTenant, VarNow, VarSteps}
	// An action's output: of its one request, of its steps, of its pages.
	varsOutput      = []string{VarInput, VarConnection, VarTenant, VarNow, VarResponse}
	varsStepsOutput = []string{VarInput, VarConnection, VarTenant, VarNow, VarSteps, VarVars}
	varsListOutput  = []string{VarInput, VarConnection, VarTenant, VarNow, VarRecords, VarPagination}
	varsStep        = []string{VarInput, VarConnection, VarTenant, VarNow, VarSteps, VarItem, VarIndex, VarPage}

	// The webhook's own requests read `credentials` as an action's do: an
	// API that takes its key in the body (Mandrill) has no other place.
	varsSubscribe     = []string{VarWebhook, VarConnection, VarTenant, VarNow, VarCredentials}
	varsSubscribed    = []string{VarResponse, VarWebhook, VarConnection, VarTenant, VarNow}
	varsUnsubscribe   = []string{VarSubscription, VarConnection, VarTenant, VarNow, VarCredentials}
	varsSecret        = []string{VarSubscription, VarApp, VarCredentials, VarConnection, VarTenant}
	varsIncoming      = []string{VarRequest}
	varsMatch         = []string{VarConnection, VarSubscription}
	varsIncomingRec   = []string{VarRecord, VarRequest}
	varsPollRequest   = []string{VarState, VarConnection, VarTenant, VarNow, VarPage}
	varsPollPage      = []string{VarResponse, VarState, VarConnection, VarTenant, VarNow, VarPage}
	varsPollRecord    = []string{VarRecord, VarState, VarConnection, VarTenant, VarNow}
	varsPollCursor    = []string{VarRecords, VarState, VarConnection, VarTenant, VarNow}
	varsEventMapping  = []string{VarRecord, VarConnection, VarTenant, VarNow}
	varsWebhookAnswer = []string{VarRequest}
	varsKept          = []string{VarResponse, VarWebhook, VarSubscription, VarConnection, VarTenant, VarNow}
	varsRenew         = []string{VarWebhook, VarSubscription, VarConnection, VarTenant, VarNow, VarCredentials}
)

var (
	listOrDyn = expr.ListOf(expr.Dyn)
)

// Check compiles every expression of a loaded workspace in the place it
// stands, and reports what does not compile or does not fit its contract.
// It is the step after spec.Load (see layers.Load, which runs both).
// Elements compile in parallel; each distinct expression compiles once per
// environment (spec/expr caches by source, for the life of the process, so
// a reload compiles only what changed), and the elements of a connector
// share its scope, so that environments are built once too.
func Check(ws *spec.Workspace) diag.List {
	scopes := map[string]*Scope{}
	scope := func(conn string) *Scope {
		s, ok := scopes[conn]
		if !ok {
			s = workspaceScope(ws, ws.Connectors[conn])
			scopes[conn] = s
		}
		return s
	}
	var jobs []func(*diag.List)
	for _, key := range sortedKeys(ws.Connectors) {
		c, s := ws.Connectors[key], scope(key)
		jobs = append(jobs, func(d *diag.List) { compileConnector(s, c, d); compileOtherModes(ws, c, d) })
	}
	for _, conn := range sortedKeys(ws.Actions) {
		s := scope(conn)
		for _, key := range sortedKeys(ws.Actions[conn]) {
			a := ws.Actions[conn][key]
			var uin, uout *spec.Schema
			if ua := ws.UniversalActions[a.Implements]; ua != nil && a.Implements != "" {
				uin, uout = ua.Input, ua.Output
			}
			in, out := checkedSchema(ws, uin, a.InputSchema), checkedSchema(ws, uout, a.OutputSchema)
			callees := func(key string) *tree.Value { return actionOutput(ws, conn, key) }
			jobs = append(jobs, func(d *diag.List) { compileAction(s.WithInput(in), a, out, callees, d) })
		}
	}
	for _, conn := range sortedKeys(ws.Events) {
		s := scope(conn)
		for _, key := range sortedKeys(ws.Events[conn]) {
			e := ws.Events[conn][key]
			var urec *spec.Schema
			if ue := ws.UniversalEvents[e.Implements]; ue != nil && e.Implements != "" {
				urec = ue.Record
			}
			rec := checkedSchema(ws, urec, e.RecordSchema)
			inputs := func(key string) *tree.Value { return actionInput(ws, conn, key) }
			jobs = append(jobs, func(d *diag.List) { compileEvent(s, e, rec, inputs, d) })
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
	var diags diag.List
	for _, r := range results {
		diags = append(diags, r...)
	}
	return diags
}

// workspaceScope is NewScope for the checks of a workspace: a parameters
// or credentials schema with errors of its own types its variable as any
// object, so that the expressions reading it are not reported as well.
func workspaceScope(ws *spec.Workspace, c *spec.Connector) *Scope {
	if c == nil {
		return NewScope(nil)
	}
	if ws.SchemaBroken(c.Parameters) {
		cc := *c
		cc.Parameters = nil
		c = &cc
	}
	s := NewScope(c)
	if c.Auth != nil && ws.SchemaBroken(c.Auth.Credentials) {
		s.types[VarCredentials] = anyMap
	}
	return s
}

// actionOutput is the output schema of a connector's action, the
// universal one extended by its own, or nil (untyped) when it has none,
// it is missing, or a schema of it is broken.
func actionOutput(ws *spec.Workspace, conn, key string) *tree.Value {
	a := ws.Action(conn, key)
	if a == nil {
		return nil
	}
	var uout *spec.Schema
	if ua := ws.UniversalActions[a.Implements]; ua != nil && a.Implements != "" {
		uout = ua.Output
	}
	return checkedSchema(ws, uout, a.OutputSchema)
}

// actionInput is the input schema of a connector's action, the universal
// one extended by its own, or nil (untyped) as actionOutput.
func actionInput(ws *spec.Workspace, conn, key string) *tree.Value {
	a := ws.Action(conn, key)
	if a == nil {
		return nil
	}
	var uin *spec.Schema
	if ua := ws.UniversalActions[a.Implements]; ua != nil && a.Implements != "" {
		uin = ua.Input
	}
	return checkedSchema(ws, uin, a.InputSchema)
}

// checkedSchema is the contract a workspace's expressions are checked
// against: the universal schema extended by the element's own, or nil
// (anything goes) when either has errors of its own, which are reported;
// an expression that reads the schema's fields is then not reported as
// well.
func checkedSchema(ws *spec.Workspace, universal, own *spec.Schema) *tree.Value {
	if ws.SchemaBroken(universal) || ws.SchemaBroken(own) {
		return nil
	}
	var base, add *tree.Value
	if !universal.IsZero() {
		base = universal.Value
	}
	if !own.IsZero() {
		add = own.Value
	}
	return schema.Extend(base, add)
}

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}

// NewConnector compiles the expressions of a connector.
func NewConnector(c *spec.Connector, diags *diag.List) *Connector {
	return compileConnector(NewScope(c), c, diags)
}

func compileConnector(s *Scope, c *spec.Connector, diags *diag.List) *Connector {
	cc := &Connector{
		Src:     c,
		BaseURL: s.Compile(c.BaseURL, expr.Scalar, diags, varsConnector...),
		Headers: compileNamed(s, c.Headers, diags, varsConnHeaders),
		Errors:  compileErrors(s, c.Errors, diags, varsConnError),
		Retry:   compileRetry(s, c.Retry, diags, varsConnError),
	}
	for _, h := range cc.Headers {
		cc.HeadersReadCredentials = cc.HeadersReadCredentials || reads(h.Expr, VarCredentials)
	}
	hosts := compileHosts(c, diags)
	declared := len(c.Hosts) > 0
	compileURL(s, cc.BaseURL, c.Key, FieldBaseURL, hosts, declared, diags, varsConnector)
	if len(c.Servers) > 0 {
		cc.Servers = make(map[string]*Expr, len(c.Servers))
		for _, name := range sortedKeys(c.Servers) {
			x := s.Compile(c.Servers[name], expr.Scalar, diags, varsConnector...)
			compileURL(s, x, c.Key, FieldServers+"."+name, hosts, declared, diags, varsConnector)
			if x != nil {
				cc.Servers[name] = x
			}
		}
	}
	cc.RedirectHosts = compileHostList(c, "redirectHosts", c.RedirectHosts, diags)
	if c.Auth != nil {
		cc.Auth = compileAuth(s, c, c.Auth, hosts, declared, diags)
	}
	return cc
}

// compileAuth compiles one auth mode of a connector, in a scope whose
// `credentials` are that mode's.
func compileAuth(s *Scope, c *spec.Connector, a *spec.Auth, hosts []HostPattern, declared bool, diags *diag.List) *Auth {
	// A session exists only where a login opens one.
	authVars := varsSession
	if a.Login == nil {
		authVars = varsAuth
	}
	ca := &Auth{
		Src:              a,
		AuthorizationURL: s.Compile(a.AuthorizationURL, expr.Scalar, diags, varsAuth...),
		TokenURL:         s.Compile(a.TokenURL, expr.Scalar, diags, varsAuth...),
		Value:            s.Compile(a.Value, expr.Scalar, diags, varsAuth...),
		Username:         s.Compile(a.Username, expr.Scalar, diags, varsAuth...),
		Password:         s.Compile(a.Password, expr.Scalar, diags, varsAuth...),
		Token:            s.Compile(a.Token, expr.Scalar, diags, varsAuth...),
		Headers:          compileNamed(s, a.Headers, diags, authVars),
		Query:            compileNamed(s, a.Query, diags, authVars),
		Test:             compileRequest(s, a.Test, diags, varsAuth),
		Info:             s.CompileValue(a.Info, nil, diags, varsConnError...),
	}
	if a.Info != nil && a.Test == nil {
		diags.Errorf(a.Info.Pos, "missing-field", "auth.info maps the response of auth.test, which this auth does not have; add a test request")
	}

	compileURL(s, ca.AuthorizationURL, c.Key, FieldAuthorizationURL, hosts, declared, diags, varsAuth)
	compileURL(s, ca.TokenURL, c.Key, FieldTokenURL, hosts, declared, diags, varsAuth)
	if a.Login != nil {
		ca.Login = compileRequest(s, a.Login.Request, diags, varsAuth)
		ca.LoginToken = s.Compile(a.Login.Token, expr.Scalar, diags, varsLoginResp...)
		ca.LoginExpiresIn = s.Compile(a.Login.ExpiresIn, expr.Scalar, diags, varsLoginResp...)
	}
	return ca
}

// compileOtherModes compiles the auth modes of a connector but its first
// (compileConnector's), each with its own credentials, for the
// diagnostics: a connection compiles the one it uses.
func compileOtherModes(ws *spec.Workspace, c *spec.Connector, diags *diag.List) {
	modes := c.Modes()
	if len(modes) < 2 {
		return
	}
	hosts := compileHosts(c, &diag.List{}) // reported with the first mode
	for _, a := range modes[1:] {
		mc := *c
		mc.Auth = a
		compileAuth(workspaceScope(ws, &mc), &mc, a, hosts, len(c.Hosts) > 0, diags)
	}
}

// NewAction compiles the expressions of an action whose input and
// output are checked against the given schemas (nil: unchecked). c may be
// nil when the connector is missing; expressions still compile.
//
// The outputs of the actions its steps call are untyped here: an override
// may have added to them. Check types them from the workspace's files.
func NewAction(c *spec.Connector, a *spec.Action, input, output *tree.Value, diags *diag.List) *Action {
	return compileAction(NewScope(c).WithInput(input), a, output, nil, diags)
}

// compileAction compiles an action in a scope whose `input` is typed.
func compileAction(s *Scope, a *spec.Action, output *tree.Value, callees CalleeOutputs, diags *diag.List) *Action {
	ca := &Action{
		Src:     a,
		Request: compileRequest(s, a.Request, diags, varsRequest),
		Errors:  compileErrors(s, a.Errors, diags, varsError),
		Retry:   compileRetry(s, a.Retry, diags, varsError),
		Record:  s.CompileValue(a.Record, nil, diags, varsRecord...),
	}
	if a.Pagination != nil {
		ca.Pagination = compilePagination(s, a.Pagination, diags, varsPage)
	}
	sc := &stepCompiler{callees: callees, output: output, diags: diags}
	known := stepsSoFar{steps: map[string]*expr.Type{}, vars: map[string]*expr.Type{}}
	ca.Steps = sc.steps(s, a.Steps, &known, false)
	if a.OnError != nil {
		catch := known.clone()
		ca.OnError = sc.onError(s, a.OnError, &catch, output)
	}
	outVars := varsOutput
	switch {
	case len(a.Steps) > 0:
		s = known.scope(s)
		outVars = varsStepsOutput
	case a.Pagination != nil:
		outVars = varsListOutput
	}
	ca.Output = s.CompileValue(a.Output, output, diags, outVars...)
	return ca
}

// NewEvent compiles the expressions of an event.
//
// The input of an action a webhook call runs is untyped here: an override
// may have changed the action. Check types it from the workspace's files.
func NewEvent(c *spec.Connector, e *spec.Event, record *tree.Value, diags *diag.List) *Event {
	return compileEvent(NewScope(c), e, record, nil, diags)
}

// ActionInputs gives the input schema of a connector's action by key, or
// nil when it is unknown or untyped.
type ActionInputs func(key string) *tree.Value

func compileEvent(s *Scope, e *spec.Event, record *tree.Value, inputs ActionInputs, diags *diag.List) *Event {
	ce := &Event{Src: e, Record: s.CompileValue(e.Record, record, diags, varsEventMapping...)}
	if w := e.Webhook; w != nil {
		ce.Subscribe = compileWebhookCall(s, w.Subscribe, inputs, diags, varsSubscribe)
		ce.SubscriptionID = s.Compile(w.SubscriptionID, nil, diags, varsSubscribed...)
		ce.Unsubscribe = compileWebhookCall(s, w.Unsubscribe, inputs, diags, varsUnsubscribe)
		if w.Signature != nil {
			ce.Signature = compileSignature(s, w.Signature, e.Doc.Lookup("/webhook/signature"), diags)
			ce.SignatureSecret, ce.SignaturePayload = ce.Signature.Secret, ce.Signature.Payload
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
		ce.Keep = s.CompileValue(w.Keep, nil, diags, varsKept...)
		ce.Renew = compileWebhookCall(s, w.Renew, inputs, diags, varsRenew)
		ce.ExpiresAt = s.Compile(w.ExpiresAt, expr.Scalar, diags, varsKept...)
		ce.Filter = s.Compile(w.Filter, expr.Bool, diags, varsIncomingRec...)
		if h := w.Handshake; h != nil {
			ce.HandshakeWhen = s.Compile(h.When, expr.Bool, diags, varsIncoming...)
			ce.HandshakeBody = s.CompileValue(h.Body, nil, diags, varsWebhookAnswer...)
		}
		if en := w.Enrich; en != nil {
			ce.EnrichInput = s.CompileValue(en.Input, nil, diags, varsIncomingRec...)
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
		ce.PollCreated = s.Compile(p.Created, expr.Bool, diags, varsPollRecord...)
		checkPollMode(e, diags)
	}
	return ce
}

func compileNamed(s *Scope, m map[string]spec.Template, diags *diag.List, vars []string) []Named {
	var out []Named
	for _, k := range sortedKeys(m) {
		if x := s.Compile(m[k], expr.Scalar, diags, vars...); x != nil {
			out = append(out, Named{Name: k, Expr: x})
		}
	}
	return out
}

// compileWebhookCall compiles a webhook's subscribe, renew or unsubscribe:
// its request, or the input of the action it runs, over the variables the
// request would see, checked against the action's input schema when
// inputs knows it.
func compileWebhookCall(s *Scope, c *spec.WebhookCall, inputs ActionInputs, diags *diag.List, vars []string) *WebhookCall {
	if c == nil {
		return nil
	}
	if c.Action == "" {
		return &WebhookCall{Request: compileRequest(s, c.Request, diags, vars)}
	}
	var contract *tree.Value
	if inputs != nil {
		contract = inputs(c.Action)
	}
	wc := &WebhookCall{Action: c.Action, Input: s.CompileValue(c.Input, contract, diags, vars...)}
	wc.InputReadsCredentials = wc.Input.reads(VarCredentials)
	return wc
}

func compileRequest(s *Scope, r *spec.Request, diags *diag.List, vars []string) *Request {
	if r == nil {
		return nil
	}
	cr := &Request{
		Src:      r,
		Method:   r.Method,
		Server:   s.checkServer(r.Server, diags),
		Path:     s.Compile(r.Path, expr.Scalar, diags, vars...),
		Headers:  compileNamed(s, r.Headers, diags, vars),
		Body:     s.CompileValue(r.Body, nil, diags, vars...),
		Encoding: r.Encoding,

		IdempotencyKey: s.Compile(r.IdempotencyKey, expr.Scalar, diags, vars...),
	}
	cr.Body.omitNulls()
	if r.Encoding == "multipart" {
		checkMultipart(r.Body, diags)
	}
	if r.FormLists != "" && r.Encoding != "form" {
		diags.Errorf(r.Pos, "invalid-value", "request.formLists says how a form body writes a list, but this request's encoding is %s; set encoding: form, or remove formLists", orDefault(r.Encoding, "json"))
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
	cr.ReadsCredentials = reads(cr.Path, VarCredentials) || cr.Body.reads(VarCredentials)
	for _, nv := range append(slices.Clip(cr.Headers), cr.Query...) {
		cr.ReadsCredentials = cr.ReadsCredentials || reads(nv.Expr, VarCredentials)
	}
	return cr
}

// checkMultipart checks the parts of a multipart body written in the
// file: each field a scalar (text), {base64, filename, contentType} (a
// file), {json: value}, or a list of those. Values an expression gives
// are checked when the request is built.
func checkMultipart(body *tree.Value, diags *diag.List) {
	if body == nil || body.Kind == tree.String {
		return
	}
	if body.Kind != tree.Map {
		diags.Errorf(body.Pos, "invalid-value", "a multipart body is an object of parts, not %s", body.Kind)
		return
	}
	var part func(name string, v *tree.Value, inList bool)
	part = func(name string, v *tree.Value, inList bool) {
		switch v.Kind {
		case tree.List:
			if inList {
				diags.Errorf(v.Pos, "invalid-value", "part %q: a list inside a list; a list gives several parts of one name", name)
				return
			}
			for _, it := range v.Items {
				part(name, it, true)
			}
		case tree.Map:
			if v.Get("json") != nil && len(v.Fields) == 1 {
				return
			}
			if v.Get("base64") == nil {
				diags.Errorf(v.Pos, "invalid-value", "part %q is an object: write a file as {base64, filename, contentType}, a JSON part as {json: value}, or text", name)
				return
			}
			for _, f := range v.Fields {
				if f.Key != "base64" && f.Key != "filename" && f.Key != "contentType" {
					diags.Errorf(f.KeyPos, "unknown-field", "file part %q has %q; a file part has base64, filename and contentType", name, f.Key)
				}
			}
		}
	}
	for _, f := range body.Fields {
		part(f.Key, f.Value, false)
	}
}

// reads reports whether an expression reads the variable name.
func reads(x *Expr, name string) bool {
	return x != nil && x.Template != nil && slices.Contains(x.Vars(), name)
}

// compilePathParts compiles each expression of a path that mixes text and
// expressions on its own (see Request.PathParts). The whole path
// compiled already, so its parts do too; their issues were reported.
func compilePathParts(s *Scope, t spec.Template, vars []string) []PathPart {
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
		sub := spec.Template{Source: "${" + pt.Text + "}", Pos: posAt(t, pt.Offset-2), Layer: t.Layer}
		x := s.Compile(sub, expr.Scalar, &ignored, vars...)
		if x == nil {
			return nil
		}
		parts = append(parts, PathPart{Expr: x})
	}
	return parts
}

func compileErrors(s *Scope, rules []spec.ErrorRule, diags *diag.List, vars []string) []ErrorRule {
	out := make([]ErrorRule, 0, len(rules))
	for i := range rules {
		r := &rules[i]
		out = append(out, ErrorRule{
			Src:     r,
			When:    s.Compile(r.When, expr.Bool, diags, vars...),
			Message: s.Compile(r.Message, expr.Scalar, diags, vars...),
		})
	}
	return out
}

// compileRetry compiles a retry policy's expressions; nil when it has
// none.
func compileRetry(s *Scope, rp *spec.RetryPolicy, diags *diag.List, vars []string) *Retry {
	if rp == nil || rp.When.IsZero() && rp.After.IsZero() {
		return nil
	}
	return &Retry{
		When:  s.Compile(rp.When, expr.Bool, diags, vars...),
		After: s.Compile(rp.After, nil, diags, vars...),
	}
}

func compilePagination(s *Scope, p *spec.Pagination, diags *diag.List, vars []string) *Pagination {
	before := beforeFirstPage(vars)
	return &Pagination{
		Src:         p,
		Items:       s.Compile(p.Items, listOrDyn, diags, vars...),
		NextCursor:  s.Compile(p.NextCursor, expr.Scalar, diags, vars...),
		HasMore:     s.Compile(p.HasMore, expr.Bool, diags, vars...),
		PageSize:    compileCount(s, p.PageSize, "pageSize", diags, before),
		MaxPages:    compileCount(s, p.MaxPages, "maxPages", diags, before),
		StartCursor: s.Compile(p.StartCursor, expr.Scalar, diags, before...),
	}
}

// beforeFirstPage are the variables of what is known before the first
// request of a walk (page size, page limit, start cursor): a page's,
// without `response` and `page`.
func beforeFirstPage(vars []string) []string {
	return slices.DeleteFunc(slices.Clone(vars), func(v string) bool { return v == VarResponse || v == VarPage })
}

// compileCount compiles a count written as an integer or an expression
// (pageSize, maxPages); nil when not given.
func compileCount(s *Scope, t spec.Template, what string, diags *diag.List, vars []string) *Count {
	if t.IsZero() {
		return nil
	}
	if !strings.Contains(t.Source, "${") {
		n, err := strconv.Atoi(strings.TrimSpace(t.Source))
		if err != nil || n < 1 {
			diags.Errorf(t.Pos, "invalid-value", "%s must be an integer of at least 1 or an expression such as ${ input.?limit.orValue(100) }, not %q", what, t.Source)
			return nil
		}
		return &Count{Lit: n, What: what}
	}
	x := s.Compile(t, expr.Int, diags, vars...)
	if x == nil {
		return nil
	}
	return &Count{Expr: x, What: what}
}

// schemaTypeName is a schema's single `type`, or "" when it allows several.
func schemaTypeName(schema *tree.Value) string {
	if t := schema.Get("type"); t != nil && t.Kind == tree.String {
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

func literalFits(v *tree.Value, want string) bool {
	switch v.Kind {
	case tree.Null:
		return true
	case tree.Bool:
		return want == "boolean"
	case tree.Int:
		return want == "integer" || want == "number"
	case tree.Float:
		return want == "number"
	}
	return true
}
