package engine

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/membrane-dev/membrane/runtime/httpx"
	"github.com/membrane-dev/membrane/runtime/telemetry/tracing"
	"github.com/membrane-dev/membrane/spec"
	"github.com/membrane-dev/membrane/spec/compile"
	"github.com/membrane-dev/membrane/spec/schema"
)

// Engine runs plans. Make one and share it: it holds the HTTP client and
// the custom-auth sessions of connections.
type Engine struct {
	http     *httpx.Client
	now      func() time.Time
	tracer   *tracing.Tracer
	sessions sync.Map // connection id → *session
	observer Observer
}

// Options configure an Engine.
type Options struct {
	// HTTP sends every request; nil makes a client with safe defaults.
	HTTP *httpx.Client
	// Now is the clock of `now` and of session expiry; nil is time.Now.
	Now func() time.Time
	// Observer, when set, is told of every run and upstream request
	// (metrics).
	Observer Observer
	// Tracer, when set, gives each upstream request a span; nil is off.
	Tracer *tracing.Tracer
}

// New returns an Engine.
func New(o Options) *Engine {
	e := &Engine{http: o.HTTP, now: o.Now, observer: o.Observer, tracer: o.Tracer}
	if e.http == nil {
		e.http = httpx.New(httpx.Config{})
	}
	if e.now == nil {
		e.now = time.Now
	}
	return e
}

func (e *Engine) session(connID string, create bool) *session {
	if s, ok := e.sessions.Load(connID); ok {
		return s.(*session)
	}
	if !create {
		return nil
	}
	s, _ := e.sessions.LoadOrStore(connID, &session{})
	return s.(*session)
}

// ForgetSessions drops the custom login sessions of a connection, when it
// is deleted or given new credentials. Sessions are keyed by credentials
// too, so this frees memory rather than guards correctness.
func (e *Engine) ForgetSessions(connID string) {
	prefix := connID + "\x00"
	e.sessions.Range(func(k, _ any) bool {
		if strings.HasPrefix(k.(string), prefix) {
			e.sessions.Delete(k)
		}
		return true
	})
}

// Connection is what a run knows of the connection it acts through.
type Connection struct {
	ID     string
	Name   string
	Tenant string
	// Parameters given when connecting (a subdomain), checked against the
	// connector's parameters schema by whoever stores them.
	Parameters map[string]any
	// Info the connection learnt about its account.
	Info map[string]any
	// Credentials for the built-in auth types: apiKey; username and
	// password; token; accessToken; or what a custom auth's schema names.
	Credentials map[string]any
	// Auth, when set, replaces the built-in auth (OAuth2 with refresh).
	Auth Authenticator
}

func (c *Connection) credentials() map[string]any {
	if c.Credentials == nil {
		return map[string]any{}
	}
	return c.Credentials
}

// RunOptions tune one run.
type RunOptions struct {
	// Log keeps every exchange in Result.Log with headers and bodies
	// (redacted); without it the log keeps method, URL, status and timing.
	Log bool
}

// Exchange is one request and its response, redacted.
type Exchange struct {
	Method          string        `json:"method"`
	URL             string        `json:"url"`
	RequestHeaders  http.Header   `json:"requestHeaders,omitempty"`
	RequestBody     string        `json:"requestBody,omitempty"`
	Status          int           `json:"status,omitempty"`
	ResponseHeaders http.Header   `json:"responseHeaders,omitempty"`
	ResponseBody    string        `json:"responseBody,omitempty"`
	Attempts        int           `json:"attempts,omitempty"`
	Duration        time.Duration `json:"-"` // durationMs in JSON; see MarshalJSON
	Error           string        `json:"error,omitempty"`
}

// Result is what a run gives back.
type Result struct {
	Output any        `json:"output"`
	Log    []Exchange `json:"log"`
	// Dropped counts the exchanges left out of Log past its cap (polls).
	Dropped int `json:"dropped,omitempty"`
	// Info is what a connection test learnt of the account (auth.info),
	// to store on the connection; nil when the connector maps nothing.
	Info map[string]any `json:"info,omitempty"`
	// Pagination says how a paginated action's walk ended; Truncated
	// when it stopped at maxPages with more pages left.
	Pagination *PageInfo `json:"pagination,omitempty"`
}

// run is the state of one action run.
type run struct {
	engine *Engine
	plan   *Plan
	conn   *Connection
	opts   RunOptions
	base   *url.URL
	// servers are the connector's servers this run evaluated, by name.
	servers map[string]*url.URL
	vars    map[string]any
	auth    Authenticator
	redact  *Redactor
	// retry, when set, is the retry policy a calling action handed down;
	// chain the keys of the actions that called this one, outermost first.
	retry  *httpx.RetryPolicy
	retryX *compile.Retry // retry's expressions
	chain  []string

	// pagination is how the action's own walk ended, when it paginates.
	pagination *PageInfo

	mu  sync.Mutex
	log []Exchange
	// maxLog caps log (0: no cap); dropped counts what the cap left out.
	maxLog, dropped int
}

// Run executes a plan on a connection with an input, following the
// pipeline: validate input → build request → auth → rate limit → send with
// retries → decode → map errors → paginate → map output → validate output.
func (e *Engine) Run(ctx context.Context, p *Plan, conn *Connection, input any, opts RunOptions) (*Result, error) {
	r := &run{engine: e, plan: p, conn: conn, opts: opts}
	start := time.Now()
	out, err := r.execute(ctx, input)
	e.observeRun(p, start, err)
	// An upstream may echo a credential in its answer (an error body, a
	// debug field): the output hides secrets as the log does.
	res := &Result{Output: r.redact.Value(out), Log: r.log, Pagination: r.pagination}
	if r.pagination != nil && r.pagination.NextCursor != nil {
		c := *r.pagination
		c.NextCursor = r.redact.Value(c.NextCursor)
		res.Pagination = &c
	}
	if err != nil {
		return res, r.redactError(err)
	}
	return res, nil
}

// ErrNoTestRequest says a connector declares no auth.test request, so its
// credentials cannot be checked before they are used.
var ErrNoTestRequest = errors.New("the connector has no auth.test request to check credentials with")

// TestConnection sends the connector's test request (auth.test) on a
// connection. It returns nil when the API accepts the credentials, an
// *Error otherwise (type auth: the credentials are refused and a human
// must re-authorise; network, timeout, upstream: try again later), or
// ErrNoTestRequest.
func (e *Engine) TestConnection(ctx context.Context, p *Plan, conn *Connection, opts RunOptions) (*Result, error) {
	a := p.connector.Auth
	if a == nil || a.Test == nil {
		return &Result{}, ErrNoTestRequest
	}
	r := &run{engine: e, plan: p, conn: conn, opts: opts}
	err := r.prepare(ctx, map[string]any{})
	var info map[string]any
	if err == nil {
		var resp map[string]any
		resp, err = r.call(ctx, a.Test, r.vars, nil)
		if err == nil && a.Info != nil {
			info, err = r.info(ctx, a, resp)
		}
	}
	res := &Result{Log: r.log}
	if err != nil {
		return res, r.redactError(err)
	}
	if info != nil {
		res.Info, _ = r.redact.Value(info).(map[string]any)
	}
	return res, nil
}

// info maps the test's response to what the connection learns of its
// account (auth.info).
func (r *run) info(ctx context.Context, a *compile.Auth, resp map[string]any) (map[string]any, error) {
	v, err := a.Info.Eval(ctx, withVar(r.vars, compile.VarResponse, resp))
	if err != nil {
		return nil, fromExpr(err)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, &Error{Type: ErrExpression, Message: fmt.Sprintf("%s: auth.info gave %s, not an object", a.Src.Info.Pos, describeValue(v))}
	}
	return m, nil
}

func (r *run) execute(ctx context.Context, input any) (any, error) {
	p := r.plan
	// Normalize rewrites maps in place: it works on a copy, so the caller's
	// input (maybe shared by concurrent runs) and the plan's literals stay
	// as they are.
	input = p.normalizer.NormalizeCopy(input)
	if input == nil {
		input = map[string]any{}
	}
	if p.input != nil && !p.quickIn.Valid(input) {
		if err := p.input.Validate(input); err != nil {
			return nil, &Error{Type: ErrInvalidInput, Message: "the input does not match the action's input schema; nothing was sent", Violations: schema.Violations(err)}
		}
	}
	if err := r.prepare(ctx, input); err != nil {
		return nil, err
	}

	ca := p.action
	var (
		out any
		err error
	)
	switch {
	case len(ca.Steps) > 0:
		out, err = r.runSteps(ctx)
	case ca.Pagination != nil:
		out, err = r.runPaginated(ctx)
	default:
		out, err = r.runSingle(ctx)
	}
	if err != nil {
		return nil, err
	}
	if p.output != nil && !p.quickOut.Valid(out) {
		if err := p.output.Validate(out); err != nil {
			return out, &Error{Type: ErrInvalidOutput, Message: "the mapped output does not match the action's output schema", Violations: schema.Violations(err)}
		}
	}
	return out, nil
}

// prepare sets what every request of a run needs: the variables, the base
// URL, the authenticator and the redactor.
func (r *run) prepare(ctx context.Context, input any) error {
	p := r.plan
	r.vars = map[string]any{
		compile.VarInput: input,
		compile.VarConnection: map[string]any{
			"id":         r.conn.ID,
			"name":       r.conn.Name,
			"parameters": orEmpty(r.conn.Parameters),
			"info":       orEmpty(r.conn.Info),
		},
		compile.VarTenant: map[string]any{"key": r.conn.Tenant},
		compile.VarNow:    r.engine.now().UTC(),
	}
	if r.base = p.baseURL; r.base == nil {
		// The connector's host policy decides where the requests, and
		// the credentials they carry, may go.
		base, err := p.connector.BaseURL.EvalURL(ctx, r.vars)
		if err != nil {
			return fromURLOrExpr(err)
		}
		r.base = base
	}
	r.auth = r.authenticator()
	var secrets []string
	if r.auth != nil {
		secrets = r.auth.Secrets()
	}
	// Beside an external authenticator (OAuth2), the connection may
	// hold credentials a request carries (credentials.x).
	secrets = SecretsOf(r.conn.Credentials, secrets)
	r.redact = NewRedactor(secrets, authHeaderName(p))

	return nil
}

// fromURLOrExpr turns the failure of a URL template into a run error.
func fromURLOrExpr(err error) error {
	if e := fromURL(err); e != err {
		return e
	}
	return fromExpr(err)
}

// sameOrigin refuses an absolute URL (a path written whole, a next-page
// link) that would leave base's origin (the base URL's, or the named
// server's): its scheme, host and port, which the host policy vetted.
// httpx checks the host again as it sends.
func sameOrigin(base *url.URL, server string, u *url.URL, what string) error {
	if strings.EqualFold(u.Scheme, base.Scheme) && u.User == nil && hostPortOf(u) == hostPortOf(base) {
		return nil
	}
	whose := "the connector's base URL"
	if server != "" {
		whose = fmt.Sprintf("the connector's server %q", server)
	}
	return &Error{Type: ErrHostNotAllowed, Message: fmt.Sprintf("%s %s://%s is not on the origin of %s, %s://%s; nothing was sent", what, u.Scheme, u.Host, whose, base.Scheme, base.Host)}
}

// serverURL is the URL a request's path joins: the base URL, or the
// connector server it names, evaluated once per run by the same host
// policy as the base URL.
func (r *run) serverURL(ctx context.Context, name string) (*url.URL, error) {
	if name == "" {
		return r.base, nil
	}
	if u := r.plan.servers[name]; u != nil {
		return u, nil
	}
	r.mu.Lock()
	u := r.servers[name]
	r.mu.Unlock()
	if u != nil {
		return u, nil
	}
	x := r.plan.connector.Servers[name]
	if x == nil {
		// The load reports an unknown server; a plan built around it
		// (a connector changed under a stored override) says so here.
		return nil, &Error{Type: ErrInvalidInput, Message: fmt.Sprintf("connector %q has no server %q; add it to the connector's servers: or remove the request's server:; nothing was sent", r.plan.connector.Src.Key, name)}
	}
	u, err := x.EvalURL(ctx, r.vars)
	if err != nil {
		return nil, fromURLOrExpr(err)
	}
	r.mu.Lock()
	if r.servers == nil {
		r.servers = map[string]*url.URL{}
	}
	r.servers[name] = u
	r.mu.Unlock()
	return u, nil
}

// hostPortOf is a URL's lower-case host and port, the scheme's default
// when none is written.
func hostPortOf(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = "443"
		if strings.EqualFold(u.Scheme, "http") {
			port = "80"
		}
	}
	return strings.ToLower(strings.TrimSuffix(u.Hostname(), ".")) + ":" + port
}

func authHeaderName(p *Plan) string {
	if a := p.connector.Auth; a != nil && a.Src.Type == spec.AuthAPIKey && a.Src.In != "query" {
		return a.Src.Name
	}
	return ""
}

func orEmpty(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return m
}

// runSingle sends the action's one request and maps its output.
func (r *run) runSingle(ctx context.Context) (any, error) {
	ca := r.plan.action
	resp, err := r.call(ctx, ca.Request, r.vars, nil)
	if err != nil {
		return nil, err
	}
	if ca.Output == nil {
		return resp["body"], nil
	}
	// The run's variables gain `response` in place: nothing else reads
	// them from here on.
	r.vars[compile.VarResponse] = resp
	out, err := ca.Output.Eval(ctx, r.vars)
	if err != nil {
		return nil, fromExpr(err)
	}
	return out, nil
}

// call builds, sends and checks one request; it returns the `response`
// variable of a successful exchange.
func (r *run) call(ctx context.Context, cr *compile.Request, vars map[string]any, page *pageParams) (map[string]any, error) {
	return r.callStep(ctx, cr, vars, page, nil)
}

// callStep is call with what a step adds (sh may be nil): its error rules
// and its retry policy.
func (r *run) callStep(ctx context.Context, cr *compile.Request, vars map[string]any, page *pageParams, sh *stepHTTP) (map[string]any, error) {
	var extra map[string]any
	in := ""
	if page != nil {
		extra, in = page.params, page.in
	}
	b, err := r.buildRequest(ctx, cr, vars, extra, in)
	if err != nil {
		return nil, err
	}
	if page != nil && page.url != "" {
		u, err := url.Parse(page.url)
		if err != nil {
			return nil, &Error{Type: ErrUpstream, Message: "the next-page link is not a URL: " + err.Error()}
		}
		if err := sameOrigin(b.base, b.server, u, "the next-page link"); err != nil {
			return nil, err
		}
		b.req.URL, b.pageURL = page.url, page.url
	}
	if page != nil {
		page.sent = b.req.URL
	}
	b.req.Retry = r.effectiveRetry(sh)
	r.retryExprs(ctx, &b.req.Retry, r.effectiveRetryX(sh), vars)
	b.req.RateHeaders = r.plan.rateHeaders
	rules := r.plan.errors
	if sh != nil && len(sh.errors) > 0 {
		rules = append(append(make([]compile.ErrorRule, 0, len(sh.errors)+len(rules)), sh.errors...), rules...)
	}
	resp, body, err := r.send(ctx, b, r.auth)
	if err != nil {
		return nil, err
	}
	rv := responseVar(resp, body)
	var evars map[string]any // only error rules read it
	if len(rules) > 0 {
		evars = withVar(vars, compile.VarResponse, rv)
	}
	if err := r.mapError(ctx, b, resp, evars, rules); err != nil {
		return nil, err
	}
	return rv, nil
}

// send sends a request with auth, refreshing once on 401, and decodes the
// response. A 4xx or 5xx is returned, not an error: error rules map it.
func (r *run) send(ctx context.Context, b *built, auth Authenticator) (*httpx.Response, any, error) {
	refreshed := false
	for {
		req := *b.req
		req.Header = b.req.Header.Clone()
		if auth != nil {
			if err := auth.Authorize(ctx, &req); err != nil {
				return nil, nil, fromURL(err)
			}
			if _, builtin := auth.(*builtinAuth); !builtin {
				// An external authenticator (OAuth2) may have learnt a new
				// token just now: hide it from here on.
				r.hideSecret(auth.Secrets()...)
			}
		}
		resp, err := r.do(ctx, &req, b.base)
		if err != nil {
			return nil, nil, r.tooLarge(fromHTTP(err, b.label), b)
		}
		if resp.Status == http.StatusUnauthorized && auth != nil && !refreshed {
			ok, err := auth.Refresh(ctx)
			if err != nil {
				return nil, nil, fromURL(err)
			}
			if ok {
				refreshed = true
				if b.rebuild != nil {
					nb, err := b.rebuild(ctx)
					if err != nil {
						return nil, nil, err
					}
					// What the caller set after building stays.
					nb.req.URL, nb.req.Retry = rebuiltURL(b, nb), b.req.Retry
					b = nb
				}
				continue
			}
		}
		if unfollowed(resp.Status) && len(r.plan.connector.RedirectHosts) > 0 {
			if resp, err = r.followRedirects(ctx, b, resp); err != nil {
				return nil, nil, err
			}
		}
		if b.base64 && resp.Status < 400 {
			return resp, base64.StdEncoding.EncodeToString(resp.Body), nil
		}
		body, err := decodeBody(resp)
		if err != nil && resp.Status >= 400 {
			// A failure status says more than its unreadable body (a
			// gateway's HTML 404 page): error mapping decides, over a null
			// body, and the error keeps the raw excerpt.
			return resp, nil, nil
		}
		if err != nil {
			return nil, nil, &Error{Type: ErrUpstream, Status: resp.Status, Message: err.Error(), Request: b.label, Body: r.redact.Excerpt(resp.Body)}
		}
		return resp, body, nil
	}
}

// do sends one request (its retries and same-origin redirects
// included), traced, logged and counted.
func (r *run) do(ctx context.Context, req *httpx.Request, base *url.URL) (*httpx.Response, error) {
	start := time.Now()
	var resp *httpx.Response
	var err error
	if r.engine.tracer == nil {
		resp, err = r.engine.http.Do(ctx, req)
	} else {
		sctx, span := r.startUpstreamSpan(ctx, req, base)
		resp, err = r.engine.http.Do(sctx, req)
		endUpstreamSpan(span, resp, err)
	}
	r.record(req, resp, err, time.Since(start))
	countAttempts(ctx, attemptsOf(resp, err))
	r.observeUpstream(resp, err, start)
	return resp, err
}

// tooLarge says which limit a response over the size cap broke and how
// to raise it; a download meets it first.
func (r *run) tooLarge(e *Error, b *built) *Error {
	var he *httpx.Error
	if !errors.As(e, &he) || he.Kind != httpx.KindTooLarge {
		return e
	}
	limit := r.plan.settings.MaxResponseBytes
	if limit <= 0 {
		limit = httpx.DefaultMaxResponseBytes
	}
	what := "the response"
	if b.base64 {
		what = "the download"
	}
	e.Message = fmt.Sprintf("%s is over the size limit: larger than %d bytes, the connector's http.maxResponseBytes; raise it in the connector's http: block if such a size is expected", what, limit)
	return e
}

// rebuiltURL is the URL of a request built again after a refresh: the new
// one, unless the first was sent to a next-page link instead of its own.
func rebuiltURL(old, nb *built) string {
	if old.pageURL != "" {
		return old.pageURL
	}
	return nb.req.URL
}

// record keeps an exchange in the run log, redacted.
func (r *run) record(req *httpx.Request, resp *httpx.Response, err error, d time.Duration) {
	// The URL may carry a query-string API key: the redactor hides its value.
	x := Exchange{Method: req.Method, URL: r.redact.String(req.URL), Duration: d}
	if x.Method == "" {
		x.Method = "GET"
	}
	if resp != nil {
		x.Status, x.Attempts = resp.Status, resp.Attempts
	}
	if err != nil {
		x.Error = r.redact.String(err.Error())
	}
	if r.opts.Log {
		x.RequestHeaders = r.redact.Header(req.Header)
		x.RequestBody = r.redact.String(string(req.Body))
		if resp != nil {
			x.ResponseHeaders = r.redact.Header(resp.Header)
			x.ResponseBody = r.redact.String(string(resp.Body))
		}
	}
	r.mu.Lock()
	if r.maxLog > 0 && len(r.log) >= r.maxLog {
		r.dropped++
	} else {
		r.log = append(r.log, x)
	}
	r.mu.Unlock()
}

// hideSecret redacts a secret learnt during the run (a session token)
// from now on, and from the exchanges already logged: the login response
// that carried it was logged before it was known.
func (r *run) hideSecret(s ...string) {
	if !r.redact.Add(s...) {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range r.log {
		x := &r.log[i]
		x.URL, x.Error = r.redact.String(x.URL), r.redact.String(x.Error)
		x.RequestBody, x.ResponseBody = r.redact.String(x.RequestBody), r.redact.String(x.ResponseBody)
		if x.RequestHeaders != nil {
			x.RequestHeaders = r.redact.Header(x.RequestHeaders)
		}
		if x.ResponseHeaders != nil {
			x.ResponseHeaders = r.redact.Header(x.ResponseHeaders)
		}
	}
}

// mapError applies the error rules: the action's, then the connector's,
// then the defaults by status.
//
// A rule with `when` sees every response its statuses allow, 2xx
// included (an API that reports errors inside a 200); a rule with only
// `status` sees those statuses, never a success. A connector's rule
// meets responses of every shape, so a `when` that cannot be evaluated
// on one (a field it reads is not there, the body is a list or not
// JSON) is not about that response and does not match it; one that
// gives a value other than a boolean is a mistake and fails the run.
func (r *run) mapError(ctx context.Context, b *built, resp *httpx.Response, vars map[string]any, rules []compile.ErrorRule) error {
	for _, rule := range rules {
		if len(rule.Src.Status) > 0 && !containsInt(rule.Src.Status, resp.Status) {
			continue
		}
		if rule.When != nil {
			ok, err := rule.When.Eval(ctx, vars)
			if err != nil {
				if ctx.Err() != nil {
					return fromExpr(err)
				}
				continue
			}
			if _, isBool := ok.(bool); !isBool && ok != nil {
				return &Error{Type: ErrExpression, Status: resp.Status, Request: b.label, Message: fmt.Sprintf("%s: an error rule's when gave %s, not a boolean", rule.Src.When.Pos, describeValue(ok))}
			}
			if ok != true {
				continue
			}
		} else if resp.Status < 400 && !unfollowed(resp.Status) {
			continue // a status-only rule never fires on success
		}
		msg := fmt.Sprintf("the API answered %d", resp.Status)
		if rule.Message != nil {
			m, err := rule.Message.Eval(ctx, vars)
			if err != nil {
				return fromExpr(err)
			}
			if m != nil && text(m) != "" {
				msg = text(m)
			}
		}
		return &Error{Type: rule.Src.Type, Status: resp.Status, Message: r.redact.String(msg), Request: b.label, Body: r.redact.Excerpt(resp.Body), Retryable: resp.Status == 429 || resp.Status >= 500}
	}
	if unfollowed(resp.Status) {
		return r.redirectError(b, resp)
	}
	if resp.Status < 400 {
		return nil
	}
	return &Error{Type: defaultErrorType(resp.Status), Status: resp.Status, Message: fmt.Sprintf("the API answered %d %s", resp.Status, http.StatusText(resp.Status)), Request: b.label, Body: r.redact.Excerpt(resp.Body), Retryable: resp.Status == 429 || resp.Status >= 500}
}

// describeValue names a value's JSON kind and a short rendering, for an
// error: never more than a few characters of it (it may be a secret).
func describeValue(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case int64, uint64, float64:
		return "a number"
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("a %T", v)
}

func containsInt(list []int, v int) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// redactError hides secrets in an error's text before it leaves.
func (r *run) redactError(err error) error {
	var e *Error
	if errors.As(err, &e) && r.redact != nil {
		e.Message = r.redact.String(e.Message)
		e.Body = r.redact.String(e.Body)
		if e.Partial != nil {
			e.Partial, _ = r.redact.Value(e.Partial).(map[string]any)
		}
		if e.Cause != nil {
			e.Cause.Message, e.Cause.Body = r.redact.String(e.Cause.Message), r.redact.String(e.Cause.Body)
		}
		return e
	}
	return err
}
