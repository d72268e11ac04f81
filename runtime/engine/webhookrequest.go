package engine

import (
	"context"
	"fmt"
	"maps"

	"github.com/membrane-dev/membrane/layers"
	"github.com/membrane-dev/membrane/spec/compile"
)

// SendEventRequest sends one request of an event's webhook (subscribe,
// renew or unsubscribe) on a connection, with the connector's base URL,
// auth (refreshed once on 401), rate limit, retries and error rules, as
// an action's request. vars adds to the variables every request sees
// (`connection`, `tenant`, `now`) those of the request's place: `webhook`,
// `subscription`. It returns the `response` variable of the exchange.
func (e *Engine) SendEventRequest(ctx context.Context, ev *layers.Event, req *compile.Request, conn *Connection, vars map[string]any, opts RunOptions) (map[string]any, *Result, error) {
	if ev == nil || ev.CompiledConnector == nil || req == nil {
		return nil, &Result{}, fmt.Errorf("the event request is not resolved")
	}
	p := NewConnectorPlan(&layers.Connector{Connector: ev.Connector, Compiled: ev.CompiledConnector})
	r := &run{engine: e, plan: p, conn: conn, opts: opts}
	err := r.prepare(ctx, map[string]any{})
	var resp map[string]any
	if err == nil {
		delete(r.vars, compile.VarInput)
		maps.Copy(r.vars, vars)
		resp, err = r.call(ctx, req, r.vars, nil)
	}
	res := &Result{Log: r.log}
	if err != nil {
		return nil, res, r.redactError(err)
	}
	if rb, ok := resp["body"]; ok {
		resp["body"] = r.redact.Value(rb)
	}
	return resp, res, nil
}

// EventActionInput evaluates the input of the action an event's webhook
// call (subscribe, renew or unsubscribe) runs on a connection, over the
// variables its single request would see: `connection`, `tenant`, `now`,
// `credentials` when the input reads them, and vars (`webhook`,
// `subscription`). The action itself runs as any action run.
func (e *Engine) EventActionInput(ctx context.Context, ev *layers.Event, call *compile.WebhookCall, conn *Connection, vars map[string]any) (any, error) {
	if ev == nil || ev.CompiledConnector == nil || call == nil || call.Action == "" {
		return nil, fmt.Errorf("the event's webhook action is not resolved")
	}
	if call.Input == nil {
		return map[string]any{}, nil
	}
	p := NewConnectorPlan(&layers.Connector{Connector: ev.Connector, Compiled: ev.CompiledConnector})
	r := &run{engine: e, plan: p, conn: conn}
	if err := r.prepare(ctx, map[string]any{}); err != nil {
		return nil, r.redactError(err)
	}
	delete(r.vars, compile.VarInput)
	maps.Copy(r.vars, vars)
	if call.InputReadsCredentials {
		creds, err := r.credentialsVar(ctx)
		if err != nil {
			return nil, r.redactError(err)
		}
		r.vars[compile.VarCredentials] = creds
	}
	in, err := call.Input.Eval(ctx, r.vars)
	if err != nil {
		return nil, r.redactError(fromExpr(err))
	}
	if in == nil {
		in = map[string]any{}
	}
	return in, nil
}
