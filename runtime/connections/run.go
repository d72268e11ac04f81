package connections

import (
	"context"
	"encoding/json"
	"time"

	"github.com/membrane-dev/membrane/runtime"
	"github.com/membrane-dev/membrane/runtime/engine"
	"github.com/membrane-dev/membrane/runtime/store"
)

// RunResult is an action's result and the id of its run log.
type RunResult struct {
	// RunID names the run log (RunLogs().Get); empty when it could not
	// be written.
	RunID string `json:"runId,omitempty"`
	engine.Result
}

// maxRunError bounds the error text kept in a run log.
const maxRunError = 4000

// Run runs an action on a connection through its overrides (see
// overridesFor), records a redacted run log, and keeps the connection's
// state: a run that works on a connection in the error state reconnects it
// (connection.reconnected); credentials the API refuses (an auth error
// other than 403, which is about the action) disconnect a connection that
// uses them (connection.disconnected); an OAuth2 grant the provider
// refuses is disconnected by the OAuth manager. A disconnected connection
// is not run: *DisconnectedError. A transient failure (the API is down)
// leaves the state as it is: the engine retried already, and one action's
// endpoint failing says little of the connection; Test and Maintain own
// the error state.
//
// The result comes back with the run error, as engine.Engine.Run gives it.
func (s *Service) Run(ctx context.Context, tenant, connID, action string, input any, opts engine.RunOptions) (*RunResult, error) {
	ws := s.ws() // the whole run uses this one, even if the workspace is swapped
	ts := s.st.Tenant(tenant)
	c, err := ts.Connections().Get(ctx, connID)
	if err != nil {
		return nil, err
	}
	if c.State == store.Disconnected {
		return nil, &DisconnectedError{ConnectionID: c.ID, Reason: c.LastError}
	}
	if _, err := s.findAction(ws, c.Connector, action); err != nil {
		return nil, err
	}
	ovs, err := s.overridesFor(ctx, ws, ts, c.Connector, c.ID)
	if err != nil {
		return nil, err
	}
	ec, err := s.engineConnection(ws, c, ovs, s.m)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	res, runErr := ws.Run(ctx, runtime.RunRequest{Connector: c.Connector, Action: action, Connection: *ec,
		Overrides: ovs, Input: input, Options: opts})
	took := time.Since(start)

	bctx, cancel := detached(ctx)
	defer cancel()
	out := &RunResult{RunID: s.recordRun(bctx, ts, c, ec, action, res, runErr, took)}
	if res != nil {
		out.Result = *res
	}
	v := judge(ctx, runErr, false)
	if (v == verdictOK && c.State == store.Errored) || (v == verdictRefused && ec.Auth == nil) {
		if _, err := s.apply(bctx, ts, c, v, runErr); err != nil {
			s.log.WarnContext(ctx, "connection state not saved after a run", "tenant", tenant, "connection", c.ID, "error", err)
		}
	}
	return out, runErr
}

// recordRun appends the run log: the action, ok or the error type, the
// duration and the exchanges. The engine redacted them already; they are
// redacted again here with every secret of the connection, so that a
// secret never reaches the store even through a connector whose auth the
// engine did not know to hide. A failure to write is logged, not returned:
// the action ran.
func (s *Service) recordRun(ctx context.Context, ts store.TenantStore, c *store.Connection, ec *engine.Connection, action string, res *engine.Result, runErr error, took time.Duration) string {
	secrets := engine.SecretsOf(c.Credentials, nil)
	if t := c.Token; t != nil {
		secrets = append(secrets, t.AccessToken, t.RefreshToken)
	}
	if ec.Auth != nil {
		secrets = append(secrets, ec.Auth.Secrets()...)
	}
	rd := engine.NewRedactor(secrets)
	l := store.RunLog{ConnectionID: c.ID, Action: action, Status: "ok", DurationMs: took.Milliseconds(), CreatedAt: s.now()}
	if runErr != nil {
		if l.Status = engine.TypeOf(runErr); l.Status == "" {
			l.Status = "error"
		}
		l.Error = rd.String(runErr.Error())
		if len(l.Error) > maxRunError {
			l.Error = l.Error[:maxRunError] + "…"
		}
	}
	if res != nil && len(res.Log) > 0 {
		b, err := json.Marshal(redactLog(rd, res.Log))
		if err == nil {
			l.Entries = b
		}
	}
	saved, err := ts.RunLogs().Append(ctx, l)
	if err != nil {
		s.log.WarnContext(ctx, "run log not saved", "tenant", ts.Key(), "connection", c.ID, "action", action, "error", err)
		return ""
	}
	return saved.ID
}

func redactLog(rd *engine.Redactor, log []engine.Exchange) []engine.Exchange {
	out := make([]engine.Exchange, len(log))
	for i, x := range log {
		x.URL, x.Error = rd.String(x.URL), rd.String(x.Error)
		x.RequestBody, x.ResponseBody = rd.String(x.RequestBody), rd.String(x.ResponseBody)
		if x.RequestHeaders != nil {
			x.RequestHeaders = rd.Header(x.RequestHeaders)
		}
		if x.ResponseHeaders != nil {
			x.ResponseHeaders = rd.Header(x.ResponseHeaders)
		}
		out[i] = x
	}
	return out
}
