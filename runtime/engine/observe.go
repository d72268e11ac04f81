package engine

import (
	"errors"
	"time"

	"github.com/membrane-dev/membrane/runtime/httpx"
)

// Observer is told what runs do, for metrics. It is optional: an Engine
// without one pays nothing. Its methods run on the run's goroutine and
// must return at once (count, never block).
type Observer interface {
	// RunDone is called once as a run ends: its connector and action
	// keys, how long it took, and its error (nil when it worked).
	RunDone(connector, action string, took time.Duration, err error)
	// Upstream is called after each request to the app, with all its
	// attempts.
	Upstream(connector string, u Upstream)
}

// Upstream is one request to the app, as an Observer sees it.
type Upstream struct {
	// Status is the final answer's, 0 when none arrived (Err then says
	// why).
	Status int
	// Took runs from the first attempt to the final answer: retries and
	// rate-limit waits included.
	Took time.Duration
	// Attempts is how many tries it took; more than one means retries.
	Attempts int
	// RateWait is how long the attempts waited for the local rate limiter.
	RateWait time.Duration
	Err      error
}

// observeRun reports a run's end to the engine's observer.
func (e *Engine) observeRun(p *Plan, start time.Time, err error) {
	if e.observer != nil {
		e.observer.RunDone(p.connector.Src.Key, p.Key(), time.Since(start), err)
	}
}

// observeUpstream reports one request to the app to the engine's
// observer.
func (r *run) observeUpstream(resp *httpx.Response, err error, start time.Time) {
	o := r.engine.observer
	if o == nil {
		return
	}
	u := Upstream{Took: time.Since(start), Attempts: attemptsOf(resp, err), Err: err}
	if resp != nil {
		u.Status, u.RateWait = resp.Status, resp.RateWait
	}
	if err != nil {
		u.RateWait = rateWaitOf(err)
	}
	o.Upstream(r.plan.connector.Src.Key, u)
}

// rateWaitOf is the rate-limit wait of a request that failed; apart, so
// that the error's target escapes only on failure.
func rateWaitOf(err error) time.Duration {
	var he *httpx.Error
	if errors.As(err, &he) {
		return he.RateWait
	}
	return 0
}
