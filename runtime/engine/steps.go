package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/membrane-dev/membrane/spec/compile"
)

// runSteps runs a multi-step action: each step sees the outputs of the ones
// before it as `steps.<name>.output`.
func (r *run) runSteps(ctx context.Context) (any, error) {
	ca := r.plan.action
	steps := map[string]any{}
	vars := withVar(r.vars, compile.VarSteps, steps)
	var last any
	for i := range ca.Steps {
		st := &ca.Steps[i]
		out, err := r.runStep(ctx, st, vars)
		if err != nil {
			return nil, inStep(fmt.Sprintf("step %q", st.Src.Name), err)
		}
		steps[st.Src.Name] = map[string]any{"output": out}
		last = out
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

// DefaultStepConcurrency bounds a forEach step without a concurrency.
const DefaultStepConcurrency = 4

func (r *run) runStep(ctx context.Context, st *compile.Step, vars map[string]any) (any, error) {
	if st.When != nil {
		ok, err := st.When.Eval(ctx, vars)
		if err != nil {
			return nil, fromExpr(err)
		}
		if ok != true {
			return nil, nil
		}
	}
	if st.ForEach == nil {
		return r.stepOnce(ctx, st, vars)
	}
	listV, err := st.ForEach.Eval(ctx, vars)
	if err != nil {
		return nil, fromExpr(err)
	}
	list, ok := listV.([]any)
	if !ok && listV != nil {
		return nil, &Error{Type: ErrExpression, Message: fmt.Sprintf("%s: forEach gave %T, not a list", st.Src.ForEach.Pos, listV)}
	}
	limit := st.Src.Concurrency
	if limit <= 0 {
		limit = DefaultStepConcurrency
	}
	outs := make([]any, len(list))
	var (
		failMu  sync.Mutex
		failed  error // the first failure, not the cancellations it caused
		failIdx int
	)
	sem := make(chan struct{}, limit)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	started := 0
	for i, item := range list {
		sem <- struct{}{}
		if ctx.Err() != nil {
			break
		}
		started++
		wg.Go(func() {
			defer func() { <-sem }()
			iv := withVar(vars, compile.VarItem, item)
			iv[compile.VarIndex] = int64(i)
			out, err := r.stepOnce(ctx, st, iv)
			if err != nil {
				failMu.Lock()
				if failed == nil {
					failed, failIdx = err, i
				}
				failMu.Unlock()
				cancel() // the first failure stops the rest
				return
			}
			outs[i] = out
		})
	}
	wg.Wait()
	if failed != nil {
		return nil, inStep(fmt.Sprintf("item %d", failIdx), failed)
	}
	if started < len(list) {
		// The caller gave up before every item started.
		err := ctx.Err()
		var typ ErrorType = ErrCanceled
		if errors.Is(err, context.DeadlineExceeded) {
			typ = ErrTimeout
		}
		return nil, &Error{Type: typ, Message: fmt.Sprintf("stopped after %d of %d items: %v", started, len(list), err), Err: err}
	}
	return outs, nil
}

func (r *run) stepOnce(ctx context.Context, st *compile.Step, vars map[string]any) (any, error) {
	if st.Request != nil {
		resp, err := r.call(ctx, st.Request, vars, nil)
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
	callee, err := r.plan.Calls(st.Src.Action)
	if err != nil {
		return nil, err
	}
	input, err := st.Input.Eval(ctx, vars)
	if err != nil {
		return nil, fromExpr(err)
	}
	sub := &run{engine: r.engine, plan: callee, conn: r.conn, opts: r.opts}
	out, err := sub.execute(ctx, input)
	r.mu.Lock()
	r.log = append(r.log, sub.log...)
	r.mu.Unlock()
	if err != nil {
		return nil, err
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

// inStep says where in a multi-step action an error happened, keeping
// its type: the message is prefixed, e.g. `step "fetch": item 2: …`.
func inStep(where string, err error) error {
	var e *Error
	if errors.As(err, &e) {
		c := *e
		c.Message = where + ": " + e.Message
		return &c
	}
	return fmt.Errorf("%s: %w", where, err)
}
