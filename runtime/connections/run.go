package connections

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/membrane-dev/membrane"
	"github.com/membrane-dev/membrane/runtime/engine"
	"github.com/membrane-dev/membrane/runtime/store"
	"github.com/membrane-dev/membrane/runtime/telemetry/requestid"
)

// RunResult is an action's result and the id of its run log.
type RunResult struct {
	// RunID names the run log (RunLogs().Get). A run whose log could not
	// be written fails with *RunNotRecordedError, so a result always has
	// one.
	RunID string `json:"runId,omitempty"`
	engine.Result
}

// RunNotRecordedError is a run whose log could not be saved: the store
// failed (store.ErrUnavailable when for now). The action may have run;
// RunErr is how it ended, nil when it worked.
type RunNotRecordedError struct {
	RunErr error
	Err    error
}

func (e *RunNotRecordedError) Error() string {
	outcome := "worked"
	if e.RunErr != nil {
		outcome = "failed (" + string(engine.TypeOf(e.RunErr)) + ")"
	}
	return "the action ran and " + outcome + ", but its run log could not be saved: " + e.Err.Error()
}

func (e *RunNotRecordedError) Unwrap() error { return e.Err }

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
	if s.o.Tracer == nil {
		return s.runAction(ctx, tenant, connID, action, input, opts)
	}
	ctx, span := s.startRunSpan(ctx, tenant, connID, action)
	res, err := s.runAction(ctx, tenant, connID, action, input, opts)
	var runID string
	if res != nil {
		runID = res.RunID
	}
	endRunSpan(span, runID, err)
	return res, err
}

// runAction is Run, within the run's span when tracing is on.
func (s *Service) runAction(ctx context.Context, tenant, connID, action string, input any, opts engine.RunOptions) (*RunResult, error) {
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
	ovs, err := s.overridesFor(ctx, ws, ts, c.Connector, c.ID, c.AuthMode)
	if err != nil {
		return nil, err
	}
	ec, err := s.engineConnection(ws, c, ovs, s.m)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	res, runErr := ws.Run(ctx, membrane.RunRequest{Connector: c.Connector, Action: action, Connection: *ec,
		Overrides: ovs, Input: input, Options: opts})
	took := time.Since(start)

	bctx, cancel := detached(ctx)
	defer cancel()
	// The engine hid the credentials it used; every secret of the
	// connection is hidden again from the run log and from what the
	// caller gets: an upstream may echo one in its answer.
	rd := runRedactor(c, ec)
	var ee *engine.Error
	if errors.As(runErr, &ee) {
		ee.Message, ee.Body = rd.String(ee.Message), rd.String(ee.Body)
		if ee.Partial != nil {
			ee.Partial, _ = rd.Value(ee.Partial).(map[string]any)
		}
		if c := ee.Cause; c != nil {
			c.Message, c.Body = rd.String(c.Message), rd.String(c.Body)
		}
	}
	out := &RunResult{}
	if res != nil {
		out.Output = rd.Value(res.Output)
		out.Log = redactLog(rd, res.Log)
	}
	lctx, lcancel := context.WithTimeout(context.WithoutCancel(ctx), s.o.RunLogWait)
	defer lcancel()
	var logErr error
	sctx, sspan := s.startStoreSpan(lctx, "append run log")
	out.RunID, logErr = s.recordRun(sctx, ts, c, rd, action, out.Log, runErr, took)
	endStoreSpan(sspan, logErr)
	v := judge(ctx, runErr, false)
	if (v == verdictOK && c.State == store.Errored) || (v == verdictRefused && ec.Auth == nil) {
		actx, aspan := s.startStoreSpan(bctx, "save connection state")
		_, err := s.apply(actx, ts, c, v, runErr, nil)
		endStoreSpan(aspan, err)
		if err != nil {
			s.log.WarnContext(ctx, "connection state not saved after a run", "tenant", tenant, "connection", c.ID, "error", err)
		}
	}
	if logErr != nil {
		return out, &RunNotRecordedError{RunErr: runErr, Err: logErr}
	}
	return out, runErr
}

// runRedactor hides every secret of a connection: its credentials, its
// token, and what its authenticator holds.
func runRedactor(c *store.Connection, ec *engine.Connection) *engine.Redactor {
	secrets := engine.SecretsOf(c.Credentials, nil)
	if t := c.Token; t != nil {
		secrets = append(secrets, t.AccessToken, t.RefreshToken)
	}
	if ec.Auth != nil {
		secrets = append(secrets, ec.Auth.Secrets()...)
	}
	return engine.NewRedactor(secrets)
}

// appendWait spaces the attempts to save a run log while the store is
// unavailable, within Options.RunLogWait.
const appendWait = 200 * time.Millisecond

// recordRun appends the run log: the action, ok or the error type, the
// duration and the exchanges. The engine redacted them already; they are
// redacted again here with every secret of the connection, so that a
// secret never reaches the store even through a connector whose auth the
// engine did not know to hide. The action ran, so a store that is
// unavailable for now is tried again until ctx ends; the error is
// returned only then: a run is never answered without its log.
func (s *Service) recordRun(ctx context.Context, ts store.TenantStore, c *store.Connection, rd *engine.Redactor, action string, log []engine.Exchange, runErr error, took time.Duration) (string, error) {
	l := store.RunLog{ID: newID("run"), ConnectionID: c.ID, Action: action, Origin: originOf(ctx), Status: "ok", DurationMs: took.Milliseconds(), CreatedAt: s.now(),
		RequestID: requestid.FromContext(ctx)}
	if runErr != nil {
		if l.Status = string(engine.TypeOf(runErr)); l.Status == "" {
			l.Status = "error"
		}
		l.Error = rd.String(runErr.Error())
		if len(l.Error) > maxRunError {
			l.Error = l.Error[:maxRunError] + "…"
		}
	}
	if len(log) > 0 {
		b, err := json.Marshal(log)
		if err == nil {
			l.Entries = b
		}
	}
	var last error // the store's, while it is unavailable
	for attempt := 1; ; attempt++ {
		saved, err := ts.RunLogs().Append(ctx, l)
		if errors.Is(err, store.ErrConflict) {
			// An attempt whose answer was lost committed it after all.
			if got, gerr := ts.RunLogs().Get(ctx, l.ID); gerr == nil {
				saved, err = got, nil
			}
		}
		if err == nil {
			return saved.ID, nil
		}
		if ctx.Err() != nil && last != nil {
			err = last // the wait ran out; the store's error says why
		}
		if !store.Unavailable(err) || ctx.Err() != nil {
			s.log.ErrorContext(ctx, "run log not saved", "tenant", ts.Key(), "connection", c.ID, "action", action, "run", l.ID, "error", err)
			return "", err
		}
		last = err
		if attempt == 1 {
			s.log.WarnContext(ctx, "run log not saved yet; retrying while the store is unavailable", "tenant", ts.Key(),
				"connection", c.ID, "action", action, "run", l.ID, "error", err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(appendWait):
		}
	}
}

func redactLog(rd *engine.Redactor, log []engine.Exchange) []engine.Exchange {
	if len(log) == 0 {
		return log
	}
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
