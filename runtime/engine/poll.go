package engine

import (
	"context"
	"fmt"

	"github.com/membrane-dev/membrane/layers"
	"github.com/membrane-dev/membrane/spec/compile"
)

// DefaultPollMaxPages ends a poll whose pagination never ends. A poll has
// no cap on records (a full scan must see every record), so this is only
// the guard against an API that keeps giving a next page: at 100 records
// a page it is ten million records.
const DefaultPollMaxPages = 100_000

// DefaultPollMaxLog is how many exchanges a poll's result keeps; the
// rest are counted in Result.Dropped.
const DefaultPollMaxLog = 200

// NewEventPlan makes the plan of an event's poll: the connector's auth,
// rate limit, retries and error rules, and the event's poll request.
func NewEventPlan(r *layers.Event) (*Plan, error) {
	if r == nil || r.Compiled == nil || r.CompiledConnector == nil {
		return nil, fmt.Errorf("the event is not resolved")
	}
	if r.Compiled.PollRequest == nil {
		return nil, fmt.Errorf("event %q of connector %q does not poll (it has no polling.request)", r.Event.Key, r.Connector.Key)
	}
	p := &Plan{connector: r.CompiledConnector, errors: r.CompiledConnector.Errors, baseURL: literalBaseURL(r.CompiledConnector.BaseURL), servers: literalServers(r.CompiledConnector), event: r.Compiled}
	p.setConnector(r.Connector, nil)
	return p, nil
}

// PollOptions tune one poll.
type PollOptions struct {
	RunOptions
	// MaxPages ends, with an error naming it, a walk that has not ended
	// after that many pages; 0 is the event's pagination.maxPages when
	// given, else DefaultPollMaxPages. A poll never stops quietly at a
	// limit: a partial list would look like deletions to a full scan.
	MaxPages int
	// MaxLog caps the exchanges kept in the result (DefaultPollMaxLog
	// when 0).
	MaxLog int
}

// PollPage is one page of a poll: the raw records its response lists,
// before any mapping.
type PollPage struct {
	// Number counts pages from 1.
	Number  int
	Records []any
}

// Poll sends an event's poll request on a connection and walks its pages
// with the event's pagination, handing each page's records to fn as it
// comes: memory holds one page, whatever the number of records. state is
// the subscription's `state` (its cursor). Requests go through the same
// auth, token refresh, rate limit, retries and error rules as actions. An
// error from fn stops the walk and is returned as it is.
func (e *Engine) Poll(ctx context.Context, p *Plan, conn *Connection, state map[string]any, opts PollOptions, fn func(ctx context.Context, page PollPage) error) (*Result, error) {
	if p.event == nil {
		return &Result{}, fmt.Errorf("the plan is not an event's poll (use NewEventPlan)")
	}
	maxLog := opts.MaxLog
	if maxLog <= 0 {
		maxLog = DefaultPollMaxLog
	}
	r := &run{engine: e, plan: p, conn: conn, opts: opts.RunOptions, maxLog: maxLog}
	err := r.poll(ctx, state, opts, fn)
	res := &Result{Log: r.log, Dropped: r.dropped}
	if err != nil {
		return res, r.redactError(err)
	}
	return res, nil
}

func (r *run) poll(ctx context.Context, state map[string]any, opts PollOptions, fn func(context.Context, PollPage) error) error {
	if err := r.prepare(ctx, map[string]any{}); err != nil {
		return err
	}
	delete(r.vars, compile.VarInput)
	if state == nil {
		state = map[string]any{}
	}
	r.vars[compile.VarState] = state
	ce := r.plan.event
	number := 0
	page := func(items []any) error {
		number++
		return fn(ctx, PollPage{Number: number, Records: items})
	}
	if ce.PollPagination == nil {
		vars := withVar(r.vars, compile.VarPage, map[string]any{"number": int64(1), "offset": int64(0), "size": int64(0), "cursor": nil})
		resp, err := r.call(ctx, ce.PollRequest, vars, nil)
		if err != nil {
			return err
		}
		var items []any
		if ce.PollItems != nil {
			v, err := ce.PollItems.Eval(ctx, withVar(vars, compile.VarResponse, resp))
			if err != nil {
				return fromExpr(err)
			}
			list, ok := v.([]any)
			if !ok && v != nil {
				return &Error{Type: ErrUpstream, Message: fmt.Sprintf("%s: polling items gave %T, not a list", ce.PollItems.Src.Pos, v)}
			}
			items = list
		} else {
			list, ok := resp["body"].([]any)
			if !ok {
				return &Error{Type: ErrUpstream, Message: fmt.Sprintf("the poll response body is %s, not a list of records; give polling.items or polling.pagination.items", kindOf(resp["body"]))}
			}
			items = list
		}
		return page(items)
	}
	limit := walkLimit{pages: opts.MaxPages, fail: true, what: "the poll's limit"}
	if limit.pages <= 0 {
		if mp := ce.PollPagination.MaxPages; mp != nil {
			n, err := mp.Eval(ctx, r.vars)
			if err != nil {
				return fromExpr(err)
			}
			limit.pages, limit.what = n, "polling.pagination.maxPages"
		} else {
			limit.pages, limit.what = DefaultPollMaxPages, "the default for polls; set polling.pagination.maxPages to change it"
		}
	}
	_, err := r.walkPages(ctx, ce.PollRequest, ce.PollPagination, r.vars, limit, func(items []any, _ map[string]any) error {
		return page(items)
	})
	return err
}

func kindOf(v any) string {
	switch v.(type) {
	case nil:
		return "empty or not JSON"
	case map[string]any:
		return "an object"
	case string:
		return "text"
	}
	return fmt.Sprintf("%T", v)
}
