package membrane

import (
	"context"

	"github.com/membrane-dev/membrane/layers"
	"github.com/membrane-dev/membrane/runtime/engine"
	"github.com/membrane-dev/membrane/spec/compile"
)

// SendEventRequest sends one request of a resolved event's webhook
// (subscribe, renew, unsubscribe) on a connection through the workspace's
// engine (see engine.Engine.SendEventRequest).
func (w *Workspace) SendEventRequest(ctx context.Context, ev *layers.Event, req *compile.Request, conn engine.Connection, vars map[string]any, opts engine.RunOptions) (map[string]any, *engine.Result, error) {
	return w.engine.SendEventRequest(ctx, ev, req, &conn, vars, opts)
}

// EventActionInput evaluates the input of the action a resolved event's
// webhook call runs on a connection (see engine.Engine.EventActionInput).
func (w *Workspace) EventActionInput(ctx context.Context, ev *layers.Event, call *compile.WebhookCall, conn engine.Connection, vars map[string]any) (any, error) {
	return w.engine.EventActionInput(ctx, ev, call, &conn, vars)
}
