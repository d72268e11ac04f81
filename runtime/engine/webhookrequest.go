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
