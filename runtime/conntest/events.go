package conntest

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/membrane-dev/membrane/layers"
	"github.com/membrane-dev/membrane/runtime/engine"
	"github.com/membrane-dev/membrane/runtime/events"
	"github.com/membrane-dev/membrane/runtime/events/local"
	"github.com/membrane-dev/membrane/runtime/httpx"
	"github.com/membrane-dev/membrane/spec"
)

// eventStore is the SQLite store of the event cases' subscriptions, in a
// temporary directory, opened by the first event case.
type eventStore struct {
	once sync.Once
	st   *local.Store
	err  error
	n    atomic.Int64 // numbers the cases' connections
}

func (e *eventStore) open(ctx context.Context) (*local.Store, error) {
	e.once.Do(func() { e.st, e.err = local.Open(context.WithoutCancel(ctx), "") })
	return e.st, e.err
}

// runEventCase runs a case that polls an event or receives a webhook.
func (r *Runner) runEventCase(ctx context.Context, c Case, now time.Time) ([]string, time.Duration) {
	tc := c.Spec()
	conn, overrides := r.connection(c)
	resolved, diags := layers.ResolveEvent(r.rt.Spec, c.Test.Connector, c.Action(), overrides...)
	if diags.HasErrors() {
		return []string{"cannot resolve the event: " + diags.Err().Error()}, 0
	}
	if tc.Webhook != nil {
		return r.runWebhookCase(ctx, c, resolved, conn, now)
	}
	plan, err := events.NewPlan(resolved)
	if err != nil {
		return []string{"cannot plan the event: " + err.Error()}, 0
	}
	if tc.Baseline != nil {
		plan.Baseline = *tc.Baseline
	}
	st, err := r.events.open(ctx)
	if err != nil {
		return []string{"cannot open the store of event cases: " + err.Error()}, 0
	}
	// Each case polls on a connection of its own: nothing carries over
	// from another case.
	conn.ID = fmt.Sprintf("test-%d", r.events.n.Add(1))
	sub, err := st.Subscribe(ctx, local.Connection{Tenant: conn.Tenant, ID: conn.ID, Connector: c.Test.Connector,
		Name: conn.Name, Parameters: conn.Parameters, Credentials: conn.Credentials}, plan.Key())
	if err != nil {
		return []string{"cannot subscribe: " + err.Error()}, 0
	}
	var lines []string
	var waited time.Duration
	for i := range tc.Polls {
		p := &tc.Polls[i]
		at := now
		if p.Now != "" {
			at, _ = time.Parse(time.RFC3339, p.Now) // checked when loaded
		}
		x := newExchanges(p.Requests, p.Responses)
		if plan.Poll != nil {
			if base, err := plan.Poll.BaseURL(ctx, &conn); err == nil {
				x.relativeTo(base.EscapedPath(), serverPaths(ctx, plan.Poll, &conn)...)
			}
		}
		dial, release := r.up.register(x)
		clock := &virtualClock{t: at}
		client := httpx.New(httpx.Config{Dial: dial, Sleep: clock.sleep, Now: clock.now, MaxIdleConnDuration: time.Second})
		eng := engine.New(engine.Options{HTTP: client, Now: func() time.Time { return at }})
		poller := &events.Poller{Engine: eng, Now: func() time.Time { return at }}
		res, changes, pollErr := st.Poll(ctx, poller, events.PollRequest{Subscription: sub, Plan: plan, Connection: &conn})
		client.CloseIdleConnections()
		release()
		waited += clock.skipped()
		pl := comparePoll(p, x, res, changes, pollErr, sub.State)
		for _, l := range pl {
			lines = append(lines, fmt.Sprintf("poll %d: %s", i+1, l))
		}
		if ctx.Err() != nil {
			break
		}
	}
	return lines, waited
}

// comparePoll lists how one poll differs from what the case wants.
func comparePoll(p *spec.TestPoll, x *exchanges, res *events.PollResult, changes []events.Payload, pollErr error, state json.RawMessage) []string {
	lines, unexpected := x.report("the poll")
	if unexpected {
		return lines
	}
	switch {
	case p.Error != nil && pollErr == nil:
		lines = append(lines, fmt.Sprintf("error: want %s, got a poll that succeeded", p.Error.Type))
	case pollErr != nil:
		lines = append(lines, compareResult(&spec.TestCase{Error: p.Error}, nil, pollErr)...)
	}
	lines = append(lines, compareChanges(p.Changes, changes)...)
	if p.State != nil {
		var got any
		if len(state) > 0 {
			if err := json.Unmarshal(state, &got); err != nil {
				lines = append(lines, "state: not JSON: "+err.Error())
			}
		}
		d := &differ{what: "state"}
		d.compare("", plain(p.State.Interface()), got)
		lines = append(lines, d.lines...)
	}
	if len(lines) > 0 && res != nil {
		// What the poll left out explains a missing change.
		for _, e := range res.Errors {
			lines = append(lines, "  skipped "+e.String())
		}
	}
	return lines
}

// compareChanges lists how the changes detected differ from those wanted,
// in order.
func compareChanges(want []spec.TestChange, got []events.Payload) []string {
	var lines []string
	if len(want) != len(got) {
		lines = append(lines, fmt.Sprintf("changes: want %s, got %s: %s", count(len(want), "change"), count(len(got), "change"), listChanges(got)))
	}
	for i := range min(len(want), len(got)) {
		w, g := &want[i], &got[i]
		what := fmt.Sprintf("change %d", i+1)
		if string(g.Change) != w.Type || g.RecordID != w.ID {
			lines = append(lines, fmt.Sprintf("%s: want %s %s, got %s %s", what, w.Type, w.ID, g.Change, g.RecordID))
			continue
		}
		if w.Record == nil {
			continue
		}
		d := &differ{what: what + " record", partial: w.RecordMatch == spec.MatchPartial}
		d.compare("", plain(w.Record.Interface()), plain(g.Record))
		lines = append(lines, d.lines...)
	}
	return lines
}

func listChanges(cs []events.Payload) string {
	if len(cs) == 0 {
		return "none"
	}
	parts := make([]string, len(cs))
	for i, c := range cs {
		parts[i] = string(c.Change) + " " + c.RecordID
	}
	return strings.Join(parts, ", ")
}
