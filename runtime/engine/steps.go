package engine

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/membrane-dev/membrane/runtime/httpx"
	"github.com/membrane-dev/membrane/spec"
	"github.com/membrane-dev/membrane/spec/compile"
)

// DefaultStepConcurrency is how many items of a forEach step run at once
// when the step does not say: one, in item order (spec.DefaultConcurrency).
const DefaultStepConcurrency = spec.DefaultConcurrency

// MaxCallDepth bounds actions calling actions: the files cannot call in a
// cycle (validate refuses it), so a chain this deep is a runaway.
const MaxCallDepth = 16

// stepResult is what one step gave: its output and metadata, or, for a
// return step that ran, the action's output.
type stepResult struct {
	output   any
	status   string
	attempts int64
	returned bool
}

// meta is the step's `steps.<name>` value.
func (s stepResult) meta() map[string]any {
	return map[string]any{
		"output":   s.output,
		"skipped":  s.status == compile.StepSkipped,
		"status":   s.status,
		"attempts": s.attempts,
	}
}

var skippedStep = stepResult{status: compile.StepSkipped}

// runSteps runs a multi-step action: each step sees the outputs and the
// metadata of the ones before it as `steps.<name>`, and their lets as
// `vars.<name>`.
func (r *run) runSteps(ctx context.Context) (any, error) {
	ca := r.plan.action
	steps := map[string]any{}
	vars := withVar(r.vars, compile.VarSteps, steps)
	vars[compile.VarVars] = map[string]any{}
	var last any
	for i := range ca.Steps {
		st := &ca.Steps[i]
		res, err := r.runStep(ctx, st, vars)
		if err != nil {
			e := asRunError(err)
			steps[st.Src.Name] = stepResult{output: partialOf(e, st.Src.Name), status: compile.StepFailed, attempts: res.attempts}.meta()
			if ca.OnError != nil {
				for j := i + 1; j < len(ca.Steps); j++ {
					if ca.Steps[j].Return == nil {
						steps[ca.Steps[j].Src.Name] = skippedStep.meta()
					}
				}
				v, returned, cerr := r.catch(ctx, ca.OnError, vars, e)
				if cerr != nil {
					return nil, withPartial(cerr, steps, st.Src.Name)
				}
				if returned {
					return v, nil
				}
			}
			return nil, withPartial(e, steps, st.Src.Name)
		}
		if res.returned {
			return res.output, nil
		}
		steps[st.Src.Name] = res.meta()
		last = res.output
	}
	if ca.Output == nil {
		return last, nil
	}
	out, err := ca.Output.Eval(ctx, vars)
	if err != nil {
		return nil, fromExpr(err)
	}
	return out, nil
}

// partialOf is what a failing step had done: a forEach step's results so
// far, which its error carries under its own name.
func partialOf(e *Error, step string) any {
	if e == nil || e.Partial == nil {
		return nil
	}
	return e.Partial[step]
}

// withPartial attaches the outputs of the steps that finished (and the
// failing step's results so far) to a run's error, by step name.
func withPartial(e *Error, steps map[string]any, failed string) *Error {
	p := make(map[string]any, len(steps))
	for name, m := range steps {
		m := m.(map[string]any)
		switch m["status"] {
		case compile.StepOK, compile.StepPartial:
			p[name] = m["output"]
		case compile.StepFailed:
			if name == failed && m["output"] != nil {
				p[name] = m["output"]
			}
		}
	}
	e.Partial = p
	return e
}

// asRunError is err as a run error (a copy, so that annotating it leaves
// an error another goroutine holds alone).
func asRunError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		c := *e
		return &c
	}
	return &Error{Type: ErrExpression, Message: err.Error(), Err: err}
}

// inStep says where in a multi-step action an error happened, keeping its
// type: the message is prefixed (`step "fetch": item 2: …`) and Step and
// Item are set, so that a caller's step names itself over a called one's.
func inStep(step string, item int, err error) *Error {
	e := asRunError(err)
	where := fmt.Sprintf("step %q", step)
	e.Item = nil
	if item >= 0 {
		where += fmt.Sprintf(": item %d", item)
		e.Item = &item
	}
	e.Message = where + ": " + e.Message
	e.Step = step
	return e
}

// counter counts the HTTP attempts of a step, and of the item in it; a
// run's requests add to the counters their context carries.
type counter struct {
	n      atomic.Int64
	parent *counter
}

type counterKey struct{}

func withCounter(ctx context.Context) (context.Context, *counter) {
	c := &counter{}
	c.parent, _ = ctx.Value(counterKey{}).(*counter)
	return context.WithValue(ctx, counterKey{}, c), c
}

// countAttempts adds the attempts of one exchange to the counters of ctx.
func countAttempts(ctx context.Context, n int) {
	for c, _ := ctx.Value(counterKey{}).(*counter); c != nil && n > 0; c = c.parent {
		c.n.Add(int64(n))
	}
}

func attemptsOf(resp *httpx.Response, err error) int {
	if resp != nil {
		return resp.Attempts
	}
	var he *httpx.Error
	if errors.As(err, &he) {
		return he.Attempts
	}
	return 0
}

// runStep runs one step: its when, its lets, then its request, call or
// return, once or per item. A failure its onError catches with a return
// is the step's output, status failed.
func (r *run) runStep(ctx context.Context, st *compile.Step, vars map[string]any) (stepResult, error) {
	ctx, count := withCounter(ctx)
	if st.When != nil && !st.WhenPerItem {
		ok, err := st.When.Eval(ctx, vars)
		if err != nil {
			return stepResult{}, inStep(st.Src.Name, -1, fromExpr(err))
		}
		if ok != true {
			return skippedStep, nil
		}
	}
	if st.Return != nil {
		if err := r.evalLets(ctx, st, vars, vars[compile.VarVars].(map[string]any)); err != nil {
			return stepResult{}, inStep(st.Src.Name, -1, err)
		}
		out, err := st.Return.Eval(ctx, vars)
		if err != nil {
			return stepResult{}, inStep(st.Src.Name, -1, fromExpr(err))
		}
		return stepResult{output: out, status: compile.StepOK, returned: true}, nil
	}
	var (
		res stepResult
		err error
	)
	if st.ForEach == nil {
		var out any
		if err = r.evalLets(ctx, st, vars, vars[compile.VarVars].(map[string]any)); err == nil {
			out, err = r.stepOnce(ctx, st, vars)
		}
		if err != nil {
			err = inStep(st.Src.Name, -1, err)
		}
		res = stepResult{output: out, status: compile.StepOK}
	} else {
		res, err = r.forEach(ctx, st, vars)
	}
	res.attempts = count.n.Load()
	if err == nil {
		return res, nil
	}
	e := asRunError(err)
	if st.OnError == nil {
		return res, e
	}
	v, returned, cerr := r.catch(ctx, st.OnError, vars, e)
	res.attempts = count.n.Load()
	if cerr != nil {
		return res, cerr
	}
	if !returned {
		return res, e
	}
	return stepResult{output: v, status: compile.StepFailed, attempts: res.attempts}, nil
}

// evalLets evaluates a step's lets in order into into (each sees the
// ones before it through vars, which must hold into as `vars`).
func (r *run) evalLets(ctx context.Context, st *compile.Step, vars, into map[string]any) error {
	for _, l := range st.Let {
		v, err := l.Value.Eval(ctx, vars)
		if err != nil {
			return fromExpr(err)
		}
		into[l.Name] = v
	}
	return nil
}

// forEach runs a step once per item, at most concurrency at once, by a
// fixed set of workers: a list of any length holds one result per item
// and no more goroutines than the step's concurrency.
func (r *run) forEach(ctx context.Context, st *compile.Step, vars map[string]any) (stepResult, error) {
	name := st.Src.Name
	listV, err := st.ForEach.Eval(ctx, vars)
	if err != nil {
		return stepResult{}, inStep(name, -1, fromExpr(err))
	}
	list, ok := listV.([]any)
	if !ok && listV != nil {
		return stepResult{}, inStep(name, -1, &Error{Type: ErrExpression, Message: fmt.Sprintf("%s: forEach gave %s, not a list; give it a list (null is none)", st.Src.ForEach.Pos, valueKind(listV))})
	}
	limit := st.Src.Concurrency
	if limit <= 0 {
		limit = DefaultStepConcurrency
	}
	limit = min(limit, len(list))
	keepGoing := st.Src.OnItemError == spec.OnItemContinue
	maxFailures := int64(st.Src.MaxFailures)

	outs := make([]any, len(list))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		next     atomic.Int64 // the next item to start
		started  atomic.Int64
		failures atomic.Int64
		stopped  atomic.Bool // maxFailures reached
		failMu   sync.Mutex
		failed   error // the first failure, not the cancellations it caused
		failIdx  = -1
		wg       sync.WaitGroup
	)
	record := func(i int, err error) {
		failMu.Lock()
		defer failMu.Unlock()
		if failed == nil || i < failIdx && keepGoing {
			failed, failIdx = err, i
		}
	}
	for range limit {
		wg.Go(func() {
			for {
				if ctx.Err() != nil || stopped.Load() {
					return
				}
				i := int(next.Add(1) - 1)
				if i >= len(list) {
					return
				}
				started.Add(1)
				out, err := r.item(ctx, st, vars, i, list[i])
				switch {
				case out == skippedItem:
					if keepGoing {
						outs[i] = map[string]any{"ok": true, "skipped": true, "output": nil}
					}
				case err == nil:
					if keepGoing {
						out = map[string]any{"ok": true, "output": out}
					}
					outs[i] = out
				case !keepGoing:
					record(i, err)
					cancel() // the first failure stops the rest
					return
				default:
					if ctx.Err() != nil {
						return // the caller gave up: not this item's failure
					}
					ie := err.(*itemError)
					outs[i] = map[string]any{"ok": false, "error": ie.wire()}
					record(i, ie.err)
					if n := failures.Add(1); maxFailures > 0 && n >= maxFailures {
						stopped.Store(true)
					}
				}
			}
		})
	}
	wg.Wait()
	status := compile.StepOK
	if failures.Load() > 0 {
		status = compile.StepPartial
	}
	switch {
	case failed != nil && !keepGoing:
		return stepResult{}, inStep(name, failIdx, failed)
	case stopped.Load():
		first := asRunError(failed)
		e := &Error{
			Type: first.Type, Status: first.Status, Retryable: first.Retryable,
			Message: fmt.Sprintf("%d items failed, reaching maxFailures %d, so %d of %d items were not started; the first failure: %s",
				failures.Load(), maxFailures, len(list)-int(started.Load()), len(list), first.Message),
			Partial: map[string]any{name: trimResults(outs, started.Load())},
		}
		e = inStep(name, failIdx, e)
		return stepResult{}, e
	case int(started.Load()) < len(list) || ctx.Err() != nil && keepGoing:
		// The caller gave up before every item ran.
		err := context.Cause(ctx)
		if err == nil {
			err = context.Canceled
		}
		var typ ErrorType = ErrCanceled
		if errors.Is(err, context.DeadlineExceeded) {
			typ = ErrTimeout
		}
		e := &Error{Type: typ, Message: fmt.Sprintf("stopped after %d of %d items: %v", started.Load(), len(list), err), Err: err}
		if keepGoing {
			e.Partial = map[string]any{name: trimResults(outs, started.Load())}
		}
		return stepResult{}, inStep(name, -1, e)
	}
	return stepResult{output: outs, status: status}, nil
}

// trimResults is the results of the items that started, in item order
// (items start in order, so they are a prefix).
func trimResults(outs []any, started int64) []any {
	return outs[:min(int(started), len(outs))]
}

// itemError is one failed item of a forEach step that continues on
// errors, with the attempts it made.
type itemError struct {
	err      *Error
	attempts int64
}

func (e *itemError) Error() string { return e.err.Error() }
func (e *itemError) Unwrap() error { return e.err }

// wire is the item's error in the step's results.
func (e *itemError) wire() map[string]any {
	m := map[string]any{"type": string(e.err.Type), "message": e.err.Message, "attempts": e.attempts}
	if e.err.Status != 0 {
		m["status"] = int64(e.err.Status)
	} else {
		m["status"] = nil
	}
	return m
}

// item runs one item of a forEach step: its when (when it reads the item),
// its lets, then the request or call. An item its when skips gives
// skippedItem.
func (r *run) item(ctx context.Context, st *compile.Step, vars map[string]any, i int, item any) (any, error) {
	ctx, count := withCounter(ctx)
	iv := withVar(vars, compile.VarItem, item)
	iv[compile.VarIndex] = int64(i)
	out, err := func() (any, error) {
		if st.WhenPerItem {
			ok, err := st.When.Eval(ctx, iv)
			if err != nil {
				return nil, fromExpr(err)
			}
			if ok != true {
				return skippedItem, nil
			}
		}
		if len(st.Let) > 0 {
			own := maps.Clone(vars[compile.VarVars].(map[string]any))
			iv[compile.VarVars] = own
			if err := r.evalLets(ctx, st, iv, own); err != nil {
				return nil, err
			}
		}
		return r.stepOnce(ctx, st, iv)
	}()
	if out == skippedItem {
		return out, nil
	}
	if err != nil && st.Src.OnItemError == spec.OnItemContinue {
		return nil, &itemError{err: asRunError(err), attempts: count.n.Load()}
	}
	return out, err
}

// valueKind names the JSON kind of a value, for messages.
func valueKind(v any) string {
	switch v.(type) {
	case map[string]any:
		return "an object"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case int64, uint64, float64:
		return "a number"
	}
	return fmt.Sprintf("%T", v)
}

// skippedItem marks an item its when skipped.
var skippedItem = &struct{ skipped bool }{true}

// catch runs an onError block for the failure e: its compensating steps,
// which see `error` and a copy of `steps`, then its return. It gives the
// value to go on with (returned), or the error to fail with: e itself
// (no return), or a compensation-failed error that keeps e as its cause.
func (r *run) catch(ctx context.Context, oe *compile.OnError, vars map[string]any, e *Error) (any, bool, *Error) {
	errVar := map[string]any{
		"type":    string(e.Type),
		"status":  int64(e.Status),
		"message": e.Message,
		"step":    e.Step,
		"item":    nil,
	}
	if e.Item != nil {
		errVar["item"] = int64(*e.Item)
	}
	steps := maps.Clone(vars[compile.VarSteps].(map[string]any))
	cv := withVar(vars, compile.VarError, errVar)
	cv[compile.VarSteps] = steps
	cv[compile.VarVars] = maps.Clone(vars[compile.VarVars].(map[string]any))
	for i := range oe.Steps {
		st := &oe.Steps[i]
		res, err := r.runStep(ctx, st, cv)
		if err != nil {
			ce := asRunError(err)
			cause := *e
			cause.Partial = nil
			where := ""
			if e.Step != "" {
				where = fmt.Sprintf(" of step %q", e.Step)
				if e.Item != nil {
					where += fmt.Sprintf(" (item %d)", *e.Item)
				}
			}
			return nil, false, &Error{
				Type:    ErrCompensationFailed,
				Status:  ce.Status,
				Message: fmt.Sprintf("compensating %s failed while handling the failure%s: %s; the failure it handled: %s", fmt.Sprintf("step %q", st.Src.Name), where, strings.TrimPrefix(ce.Message, fmt.Sprintf("step %q: ", st.Src.Name)), e.Message),
				Request: ce.Request,
				Body:    ce.Body,
				Step:    st.Src.Name,
				Item:    ce.Item,
				Cause:   &cause,
				Err:     ce,
			}
		}
		if res.returned {
			return res.output, true, nil
		}
		steps[st.Src.Name] = res.meta()
	}
	if oe.Return == nil {
		return nil, false, e
	}
	v, err := oe.Return.Eval(ctx, cv)
	if err != nil {
		return nil, false, asRunError(fromExpr(err))
	}
	return v, true, nil
}

// stepHTTP is what a step adds to its requests: its error rules, tried
// first, and its retry policy.
type stepHTTP struct {
	errors []compile.ErrorRule
	retry  *httpx.RetryPolicy
	retryX *compile.Retry // retry's expressions
}

func (r *run) stepOnce(ctx context.Context, st *compile.Step, vars map[string]any) (any, error) {
	if st.Request != nil {
		sh := &stepHTTP{errors: st.Errors}
		if rp := st.Src.Retry; rp != nil {
			p := retryPolicy(rp, true)
			sh.retry, sh.retryX = &p, st.Retry
		}
		resp, err := r.callStep(ctx, st.Request, vars, nil, sh)
		if err != nil {
			return nil, err
		}
		if st.Output == nil {
			return resp["body"], nil
		}
		out, err := st.Output.Eval(ctx, withVar(vars, compile.VarResponse, resp))
		if err != nil {
			return nil, fromExpr(err)
		}
		return out, nil
	}
	if r.plan.Calls == nil {
		return nil, &Error{Type: ErrExpression, Message: fmt.Sprintf("step %q calls action %q, but no resolver for called actions is set", st.Src.Name, st.Src.Action)}
	}
	if len(r.chain)+1 >= MaxCallDepth {
		chain := append(append([]string{}, r.chain...), r.plan.Key(), st.Src.Action)
		return nil, &Error{Type: ErrCallDepth, Message: fmt.Sprintf("actions call each other more than %d deep: %s; an action must not reach itself through its calls", MaxCallDepth, strings.Join(chain, " → "))}
	}
	callee, err := r.plan.Calls(st.Src.Action)
	if err != nil {
		return nil, err
	}
	input, err := st.Input.Eval(ctx, vars)
	if err != nil {
		return nil, fromExpr(err)
	}
	sub := &run{engine: r.engine, plan: callee, conn: r.conn, opts: r.opts, chain: append(append([]string{}, r.chain...), r.plan.Key())}
	// The caller's retry reaches the called action's requests, unless
	// that action sets its own.
	if callee.Resolved == nil || callee.Resolved.Action.Retry == nil {
		if rp := st.Src.Retry; rp != nil {
			p := retryPolicy(rp, true)
			sub.retry, sub.retryX = &p, st.Retry
		} else if r.retry != nil || r.plan.ownRetry {
			p := r.effectiveRetry(nil)
			sub.retry, sub.retryX = &p, r.effectiveRetryX(nil)
		}
	}
	out, err := sub.execute(ctx, input)
	r.mu.Lock()
	r.log = append(r.log, sub.log...)
	r.mu.Unlock()
	if err != nil {
		// The partial output a caller reports is of its own steps; the
		// called action's are named by its step names, not the caller's.
		e := asRunError(err)
		e.Partial = nil
		return nil, e
	}
	if st.Output == nil {
		return out, nil
	}
	res, err := st.Output.Eval(ctx, withVar(vars, compile.VarResult, out))
	if err != nil {
		return nil, fromExpr(err)
	}
	return res, nil
}

// effectiveRetryX is the expressions of effectiveRetry's policy.
func (r *run) effectiveRetryX(sh *stepHTTP) *compile.Retry {
	switch {
	case sh != nil && sh.retry != nil:
		return sh.retryX
	case r.retry != nil:
		return r.retryX
	}
	return r.plan.retryX
}

// effectiveRetry is the retry policy of a request: the step's, then the
// one a calling action handed down, then the plan's.
func (r *run) effectiveRetry(sh *stepHTTP) httpx.RetryPolicy {
	switch {
	case sh != nil && sh.retry != nil:
		return *sh.retry
	case r.retry != nil:
		return *r.retry
	}
	return r.plan.retry
}
