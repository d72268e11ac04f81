package engine

import (
	"context"
	"fmt"
	"net/url"
	"time"

	"github.com/membrane-dev/membrane/layers"
	"github.com/membrane-dev/membrane/runtime/httpx"
	"github.com/membrane-dev/membrane/runtime/internal/quickschema"
	"github.com/membrane-dev/membrane/spec"
	"github.com/membrane-dev/membrane/spec/compile"
	"github.com/membrane-dev/membrane/spec/diag"
	"github.com/membrane-dev/membrane/spec/expr"
	"github.com/membrane-dev/membrane/spec/schema"
)

// Plan is an action resolved through its layers and compiled: CEL
// programs, JSON Schemas and HTTP settings. It is built once and run many
// times, concurrently; nothing is parsed or compiled per run.
type Plan struct {
	Resolved  *layers.Action
	connector *compile.Connector
	action    *compile.Action
	// event is set instead of action in the plan of an event's poll.
	event *compile.Event

	input, output *schema.Validator
	inputSchema   any // the raw input schema, to type JSON numbers
	// normalizer normalizes a copy of each run's input by inputSchema.
	normalizer *expr.Normalizer
	// quickIn and quickOut vouch for the values of simple schemas without
	// the general validator (see runtime/internal/quickschema); nil when they cannot.
	quickIn, quickOut *quickschema.Schema
	// baseURL is the connector's base URL parsed once, when it is a
	// literal; nil when it depends on the connection.
	baseURL *url.URL
	// servers are the connector's servers that are literals, parsed
	// once; one that depends on the connection is evaluated per run.
	servers map[string]*url.URL

	errors []compile.ErrorRule // the action's, then the connector's
	retry  httpx.RetryPolicy
	// retryX is retry's expressions (when, after), from the same policy.
	retryX *compile.Retry
	// rateHeaders name the API's rate-limit headers.
	rateHeaders httpx.RateHeaders
	// ownRetry says the action sets its retry: the actions it calls use it.
	ownRetry bool
	settings httpx.Settings
	rate     httpx.Rate
	// Calls resolves the actions that steps call, by key.
	Calls func(key string) (*Plan, error)
}

// NewPlan compiles a resolved action into a plan.
func NewPlan(r *layers.Action) (*Plan, error) {
	if r == nil || r.Compiled == nil || r.CompiledConnector == nil {
		return nil, fmt.Errorf("the action is not resolved")
	}
	p := &Plan{Resolved: r, connector: r.CompiledConnector, action: r.Compiled}
	var diags diag.List
	if r.Input != nil {
		p.input = (&spec.Schema{Value: r.Input}).Compile(&diags)
		p.inputSchema = r.Input.Interface()
		p.quickIn = quickschema.Compile(p.inputSchema)
	}
	if r.Output != nil {
		p.output = (&spec.Schema{Value: r.Output}).Compile(&diags)
		p.quickOut = quickschema.Compile(r.Output.Interface())
	}
	p.baseURL, p.servers = literalBaseURL(r.CompiledConnector.BaseURL), literalServers(r.CompiledConnector)
	if err := diags.Err(); err != nil {
		return nil, err
	}
	p.normalizer = expr.NewNormalizer(p.inputSchema)
	p.errors = append(append([]compile.ErrorRule{}, r.Compiled.Errors...), r.CompiledConnector.Errors...)
	p.setConnector(r.Connector, r.Action.Retry)
	if r.Action.Retry != nil {
		p.retryX = r.Compiled.Retry
	}
	return p, nil
}

// NewConnectorPlan makes a plan of a connector alone, for the requests a
// connection sends outside any action: its test request.
func NewConnectorPlan(rc *layers.Connector) *Plan {
	p := &Plan{connector: rc.Compiled, errors: rc.Compiled.Errors, baseURL: literalBaseURL(rc.Compiled.BaseURL), servers: literalServers(rc.Compiled)}
	p.setConnector(rc.Connector, nil)
	return p
}

// setConnector takes the connector's HTTP settings: retry (the action's
// policy wins), timeouts and rate limit.
func (p *Plan) setConnector(c *spec.Connector, actionRetry *spec.RetryPolicy) {
	if rp := firstRetry(actionRetry, c.Retry); rp != nil {
		p.retry = retryPolicy(rp, actionRetry != nil)
	}
	p.ownRetry = actionRetry != nil
	if actionRetry == nil && p.connector != nil {
		p.retryX = p.connector.Retry
	}
	if h := c.HTTP; h != nil {
		p.settings = httpx.Settings{
			ConnectTimeout:   h.ConnectTimeout.Duration,
			ReadTimeout:      h.ReadTimeout.Duration,
			WriteTimeout:     h.WriteTimeout.Duration,
			MaxResponseBytes: h.MaxResponseBytes,
		}
	}
	if rl := c.RateLimit; rl != nil {
		p.rate = httpx.Rate{PerSecond: rl.RequestsPerSecond, Burst: rl.Burst}
		p.rateHeaders = httpx.RateHeaders{Remaining: rl.RemainingHeader, Reset: rl.ResetHeader}
	}
}

// BaseURL is the base URL the plan's requests go to on conn.
func (p *Plan) BaseURL(ctx context.Context, conn *Connection) (*url.URL, error) {
	if p.baseURL != nil {
		return p.baseURL, nil
	}
	vars := map[string]any{
		compile.VarConnection: map[string]any{"id": conn.ID, "name": conn.Name, "parameters": orEmpty(conn.Parameters), "info": orEmpty(conn.Info)},
		compile.VarTenant:     map[string]any{"key": conn.Tenant},
		compile.VarNow:        time.Now().UTC(),
	}
	return p.connector.BaseURL.EvalURL(ctx, vars)
}

// literalBaseURL is a base URL that is plain text, as the run would
// have it; nil when it depends on the connection (or is refused: the
// run then says why).
func literalBaseURL(x *compile.Expr) *url.URL {
	if x == nil || x.Template == nil || !x.IsLiteral() {
		return nil
	}
	u, err := x.EvalURL(context.Background(), nil)
	if err != nil {
		return nil
	}
	return u
}

// literalServers are the connector's servers that are plain text, parsed
// as literalBaseURL parses the base URL.
func literalServers(cc *compile.Connector) map[string]*url.URL {
	var out map[string]*url.URL
	for name, x := range cc.Servers {
		if u := literalBaseURL(x); u != nil {
			if out == nil {
				out = make(map[string]*url.URL, len(cc.Servers))
			}
			out[name] = u
		}
	}
	return out
}

// ServerURLs are the URLs of the connector's servers on conn, by name;
// a server its host policy refuses is left out (a run says why).
func (p *Plan) ServerURLs(ctx context.Context, conn *Connection) map[string]*url.URL {
	vars := map[string]any{
		compile.VarConnection: map[string]any{"id": conn.ID, "name": conn.Name, "parameters": orEmpty(conn.Parameters), "info": orEmpty(conn.Info)},
		compile.VarTenant:     map[string]any{"key": conn.Tenant},
		compile.VarNow:        time.Now().UTC(),
	}
	out := make(map[string]*url.URL, len(p.connector.Servers))
	for name, x := range p.connector.Servers {
		if u, err := x.EvalURL(ctx, vars); err == nil {
			out[name] = u
		}
	}
	return out
}

// retryPolicy is a file's retry policy for httpx. A policy written on an
// action or a step (explicit) retries every method: its author asked for
// retries of those very requests. The connector's, which covers requests
// its author did not see, retries a POST or a PATCH only with
// nonIdempotent or an Idempotency-Key header.
func retryPolicy(rp *spec.RetryPolicy, explicit bool) httpx.RetryPolicy {
	return httpx.RetryPolicy{
		MaxAttempts:    rp.MaxAttempts,
		InitialBackoff: rp.InitialBackoff.Duration,
		MaxBackoff:     rp.MaxBackoff.Duration,
		Statuses:       rp.Statuses,
		NonIdempotent:  rp.NonIdempotent || explicit,
	}
}

func firstRetry(ps ...*spec.RetryPolicy) *spec.RetryPolicy {
	for _, p := range ps {
		if p != nil {
			return p
		}
	}
	return nil
}

// Key is the action's key.
func (p *Plan) Key() string { return p.Resolved.Action.Key }
