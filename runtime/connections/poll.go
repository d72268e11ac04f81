package connections

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/membrane-dev/membrane"
	"github.com/membrane-dev/membrane/layers"
	"github.com/membrane-dev/membrane/runtime/engine"
	"github.com/membrane-dev/membrane/runtime/events"
	"github.com/membrane-dev/membrane/runtime/store"
)

// PollResult is what one poll saw and did, and the id of its run log.
type PollResult struct {
	RunID string `json:"runId,omitempty"`
	// Interval is the event's polling interval as this connection's
	// overrides resolve it; zero when the poll failed before resolving.
	Interval time.Duration `json:"-"`
	events.PollResult
}

// PollOptions tune one poll.
type PollOptions struct {
	engine.RunOptions
	// Progress is called after each committed page (a scheduler renews
	// its lease there); an error from it stops the poll.
	Progress func(ctx context.Context, pages int) error
	// MaxPages ends a poll whose pagination never ends (0: the event's
	// pagination.maxPages, else engine.DefaultPollMaxPages).
	MaxPages int
}

// pollLogPrefix marks a run log as a poll's: its Action is
// "poll:<event key>".
const pollLogPrefix = "poll:"

// Poll polls a subscription once, as Run runs an action: through the
// connection's overrides (their event patches), with its auth and token
// refresh, the connector's rate limit and retries shared with actions,
// and a redacted run log whose action is "poll:<event>". A connection the
// API refuses is disconnected, one in the error state that polls fine is
// reconnected, as runs do. A disconnected connection is not polled
// (*DisconnectedError).
//
// The subscription's backoff fields are kept: a failed poll adds one to
// Failures and sets LastError; a poll that works resets both (LastError
// then says how many records were skipped, if any). LastRunAt is set
// either way. NextRunAt is the scheduler's. sub is updated in place with
// what the store holds after the poll.
func (s *Service) Poll(ctx context.Context, sub *store.Subscription) (*PollResult, error) {
	return s.PollWith(ctx, sub, PollOptions{})
}

// PollWith is Poll with options.
func (s *Service) PollWith(ctx context.Context, sub *store.Subscription, o PollOptions) (*PollResult, error) {
	out := &PollResult{}
	ws := s.ws()
	ts := s.st.Tenant(sub.Tenant)
	c, err := ts.Connections().Get(ctx, sub.ConnectionID)
	if err != nil {
		return out, s.pollFailed(ctx, ts, sub, err)
	}
	if c.State == store.Disconnected {
		return out, s.pollFailed(ctx, ts, sub, &DisconnectedError{ConnectionID: c.ID, Reason: c.LastError})
	}
	plan, ec, err := s.pollPlan(ctx, ws, ts, c, sub.Event)
	if err != nil {
		return out, s.pollFailed(ctx, ts, sub, err)
	}
	if pl := plan.Resolved.Event.Polling; pl != nil {
		out.Interval = pl.EffectiveInterval()
	}
	poller := &events.Poller{Engine: ws.Engine(), Now: s.now, MaxPages: o.MaxPages}
	start := time.Now()
	res, pollErr := poller.Poll(ctx, events.PollRequest{Store: ts, Subscription: sub, Plan: plan, Connection: ec, Options: o.RunOptions, Progress: o.Progress})
	took := time.Since(start)

	bctx, cancel := detached(ctx)
	defer cancel()
	rd := runRedactor(c, ec)
	var ee *engine.Error
	if errors.As(pollErr, &ee) {
		ee.Message, ee.Body = rd.String(ee.Message), rd.String(ee.Body)
	}
	var log []engine.Exchange
	if res != nil {
		out.PollResult = *res
		if res.Log != nil {
			log = redactLog(rd, res.Log.Log)
		}
	}
	lctx, lcancel := context.WithTimeout(context.WithoutCancel(ctx), s.o.RunLogWait)
	defer lcancel()
	var logErr error
	out.RunID, logErr = s.recordRun(lctx, ts, c, rd, pollLogPrefix+sub.Event, log, pollErr, took)

	var backwards *events.CursorBackwardsError
	v := judge(ctx, pollErr, false)
	if errors.As(pollErr, &backwards) {
		v = verdictOK // the API answered; the cursor is the event's business
	}
	if (v == verdictOK && c.State == store.Errored) || (v == verdictRefused && ec.Auth == nil) {
		if _, err := s.apply(bctx, ts, c, v, pollErr, nil); err != nil {
			s.log.WarnContext(ctx, "connection state not saved after a poll", "tenant", sub.Tenant, "connection", c.ID, "error", err)
		}
	}
	if err := s.pollDone(bctx, ts, sub, res, pollErr, rd); err != nil {
		s.log.WarnContext(ctx, "subscription not updated after a poll", "tenant", sub.Tenant, "subscription", sub.ID, "error", err)
	}
	if logErr != nil && pollErr == nil {
		return out, &RunNotRecordedError{Err: logErr}
	}
	return out, pollErr
}

// pollPlan resolves a subscription's event through the connection's
// overrides and makes the engine connection it polls through.
func (s *Service) pollPlan(ctx context.Context, ws *membrane.Workspace, ts store.TenantStore, c *store.Connection, event string) (*events.Plan, *engine.Connection, error) {
	ovs, err := s.overridesFor(ctx, ws, ts, c.Connector, c.ID)
	if err != nil {
		return nil, nil, err
	}
	r, diags := layers.ResolveEvent(ws.Spec, c.Connector, event, ovs...)
	if r == nil || diags.HasErrors() {
		return nil, nil, fmt.Errorf("event %q of connector %q cannot be polled: %w", event, c.Connector, diags.Err())
	}
	plan, err := events.NewPlan(r)
	if err != nil {
		return nil, nil, err
	}
	if plan.Poll == nil {
		return nil, nil, fmt.Errorf("event %q of connector %q has no polling: it is received by webhook only", event, c.Connector)
	}
	ec, err := s.engineConnection(ws, c, ovs, s.m)
	if err != nil {
		return nil, nil, err
	}
	return plan, ec, nil
}

// pollFailed records a poll that could not start, and returns err.
func (s *Service) pollFailed(ctx context.Context, ts store.TenantStore, sub *store.Subscription, err error) error {
	bctx, cancel := detached(ctx)
	defer cancel()
	if uerr := s.pollDone(bctx, ts, sub, nil, err, nil); uerr != nil {
		s.log.WarnContext(ctx, "subscription not updated after a poll", "tenant", sub.Tenant, "subscription", sub.ID, "error", uerr)
	}
	return err
}

// pollDone keeps the outcome of a poll in the subscription's backoff
// fields.
func (s *Service) pollDone(ctx context.Context, ts store.TenantStore, sub *store.Subscription, res *events.PollResult, pollErr error, rd *engine.Redactor) error {
	if errors.Is(pollErr, store.ErrNotFound) {
		// The subscription or its connection is gone: nothing to keep.
		if _, err := ts.Subscriptions().Get(ctx, sub.ID); errors.Is(err, store.ErrNotFound) {
			return nil
		}
	}
	now := s.now()
	msg := ""
	var backwards *events.CursorBackwardsError
	failed := pollErr != nil && !errors.As(pollErr, &backwards)
	switch {
	case pollErr != nil:
		msg = lastError(pollErr)
	case res != nil && res.Skipped > 0:
		msg = fmt.Sprintf("%d records skipped; first: %s", res.Skipped, res.Errors[0])
	}
	if rd != nil {
		msg = rd.String(msg)
	}
	updated, err := ts.Subscriptions().Update(ctx, sub.ID, func(cur *store.Subscription) error {
		cur.LastRunAt, cur.LastError = now, msg
		if failed {
			cur.Failures++
		} else {
			cur.Failures = 0
		}
		return nil
	})
	if err != nil {
		return err
	}
	*sub = *updated
	return nil
}
