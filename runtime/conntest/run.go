package conntest

import (
	"context"
	"errors"
	"fmt"
	goruntime "runtime"
	"strings"
	"sync"
	"time"

	"github.com/membrane-dev/membrane"
	"github.com/membrane-dev/membrane/runtime/engine"
	"github.com/membrane-dev/membrane/runtime/httpx"
	"github.com/membrane-dev/membrane/spec"
	"github.com/membrane-dev/membrane/spec/tree"
)

// DefaultNow is the time `now` reads in a case that sets none, so that
// a run is the same every day.
var DefaultNow = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// Options tune a Runner.
type Options struct {
	// Parallel bounds the cases run at once; GOMAXPROCS by default.
	Parallel int
	// Timeout bounds one case; a minute by default. Retry waits and rate
	// limits do not count: the case's clock skips them.
	Timeout time.Duration
}

// Runner runs cases of one workspace offline. Plans compile once per
// action (and inline override) and are shared by every case.
type Runner struct {
	rt     *membrane.Workspace
	up     *upstream
	opts   Options
	events eventStore
	// arrive, when set (by tests), sees each request before it is
	// matched, and done once it is answered.
	arrive func(r sentRequest) (done func())
}

// New makes a Runner of a loaded workspace without errors. Close it.
func New(ws *spec.Workspace, o Options) *Runner {
	if o.Parallel <= 0 {
		o.Parallel = goruntime.GOMAXPROCS(0)
	}
	if o.Timeout <= 0 {
		o.Timeout = time.Minute
	}
	return &Runner{rt: membrane.New(membrane.Options{}, ws), up: newUpstream(), opts: o}
}

// Close stops the fake upstream and removes the event cases' store.
func (r *Runner) Close() {
	r.up.Close()
	if r.events.st != nil {
		_ = r.events.st.Close()
	}
}

// Result is the outcome of one case.
type Result struct {
	Case Case
	// Failures are the mismatches, one line each; none when it passed.
	Failures []string
	Duration time.Duration
	// Waited is the time the case's clock skipped for retry backoff and
	// rate limits: what a live run would have waited, and this one did not.
	Waited time.Duration
}

// Passed reports whether the case passed.
func (r *Result) Passed() bool { return len(r.Failures) == 0 }

// Run runs cases in parallel and returns their results in the same order.
func (r *Runner) Run(ctx context.Context, cases []Case) []Result {
	out := make([]Result, len(cases))
	work := make(chan int)
	var wg sync.WaitGroup
	for range min(r.opts.Parallel, max(1, len(cases))) {
		wg.Go(func() {
			for i := range work {
				start := time.Now()
				failures, waited := r.runCase(ctx, cases[i])
				out[i] = Result{Case: cases[i], Failures: failures, Waited: waited}
				out[i].Duration = time.Since(start)
			}
		})
	}
	for i := range cases {
		work <- i
	}
	close(work)
	wg.Wait()
	return out
}

// runCase runs one case against the fake and returns its mismatches and
// the time its clock skipped.
func (r *Runner) runCase(ctx context.Context, c Case) ([]string, time.Duration) {
	tc := c.Spec()
	now := DefaultNow
	if tc.Now != "" {
		now, _ = time.Parse(time.RFC3339, tc.Now) // checked when loaded
	}
	if tc.IsEvent() {
		ctx, cancel := context.WithTimeout(ctx, r.opts.Timeout)
		defer cancel()
		return r.runEventCase(ctx, c, now)
	}
	conn, overrides := r.connection(c)
	plan, err := r.rt.Plan(c.Test.Connector, c.Action(), overrides...)
	if err != nil {
		return []string{"cannot resolve the action: " + err.Error()}, 0
	}
	x := newExchanges(tc.Requests, tc.Responses)
	x.arrive = r.arrive
	if base, err := plan.BaseURL(ctx, &conn); err == nil {
		x.relativeTo(base.EscapedPath(), serverPaths(ctx, plan, &conn)...)
	}
	dial, release := r.up.register(x)
	defer release()
	clock := &virtualClock{t: now}
	client := httpx.New(httpx.Config{Dial: dial, Sleep: clock.sleep, Now: clock.now, MaxIdleConnDuration: time.Second})
	defer client.CloseIdleConnections()
	eng := engine.New(engine.Options{HTTP: client, Now: func() time.Time { return now }})
	ctx, cancel := context.WithTimeout(ctx, r.opts.Timeout)
	defer cancel()
	res, runErr := eng.Run(ctx, plan, &conn, input(tc), engine.RunOptions{})
	var output any
	if res != nil {
		output = res.Output
	}
	return compareRun(tc, x, output, runErr), clock.skipped()
}

// serverPaths are the paths of the connector's servers on conn.
func serverPaths(ctx context.Context, plan *engine.Plan, conn *engine.Connection) []string {
	var out []string
	for _, u := range plan.ServerURLs(ctx, conn) {
		out = append(out, u.EscapedPath())
	}
	return out
}

// input is the case's input; none is an empty object.
func input(tc *spec.TestCase) any {
	if tc.Input == nil {
		return map[string]any{}
	}
	return tc.Input.Interface()
}

// connection builds the case's connection (the file's, with the fields the
// case gives replaced) and its connection layer: the workspace's override
// files for its tenant, then the inline override.
func (r *Runner) connection(c Case) (engine.Connection, []*spec.ConnectionOverride) {
	tc := c.Spec()
	merged := spec.TestConnection{}
	for _, tcn := range []*spec.TestConnection{c.Test.Connection, tc.Connection} {
		if tcn == nil {
			continue
		}
		if tcn.Tenant != "" {
			merged.Tenant = tcn.Tenant
		}
		if tcn.Parameters != nil {
			merged.Parameters = tcn.Parameters
		}
		if tcn.Credentials != nil {
			merged.Credentials = tcn.Credentials
		}
		if tcn.Override != nil {
			merged.Override = tcn.Override
		}
	}
	conn := engine.Connection{
		ID:          fmt.Sprintf("test-%d", c.Index+1),
		Name:        c.Name,
		Tenant:      merged.Tenant,
		Parameters:  objectOf(merged.Parameters),
		Credentials: objectOf(merged.Credentials),
	}
	if conn.Tenant == "" {
		conn.Tenant = "test"
	}
	var overrides []*spec.ConnectionOverride
	for _, tenantWide := range []bool{true, false} {
		for _, o := range r.rt.Spec.Overrides {
			if o.Connector == c.Test.Connector && o.Connection == "" && (o.Tenant == "") == tenantWide && (tenantWide || o.Tenant == conn.Tenant) {
				overrides = append(overrides, o)
			}
		}
	}
	if merged.Override != nil {
		node := c.Test.Source.Doc.Get("connection").Get("override")
		if tc.Connection != nil && tc.Connection.Override != nil {
			node = c.Test.CaseNode(c.Index).Get("connection").Get("override")
		}
		overrides = append(overrides, &spec.ConnectionOverride{
			Source:         spec.Source{File: c.Test.Source.File, Pos: node.Pos, Doc: node},
			Kind:           spec.KindConnectionOverride,
			Connector:      c.Test.Connector,
			Tenant:         conn.Tenant,
			AuthMode:       merged.Override.AuthMode,
			ConnectorPatch: merged.Override.ConnectorPatch,
			Actions:        merged.Override.Actions,
		})
	}
	return conn, overrides
}

func objectOf(v *tree.Value) map[string]any {
	if m, ok := v.Interface().(map[string]any); ok {
		return m
	}
	return map[string]any{}
}

// compareRun lists how a run differs from its case.
func compareRun(tc *spec.TestCase, x *exchanges, output any, runErr error) []string {
	lines, unexpected := x.report("the action")
	if unexpected {
		return lines // what follows is the 501's doing
	}
	return append(lines, compareResult(tc, output, runErr)...)
}

// compareResult compares the output or the error of a run with the case's.
func compareResult(tc *spec.TestCase, output any, runErr error) []string {
	var e *engine.Error
	if runErr != nil && !errors.As(runErr, &e) {
		e = &engine.Error{Type: "error", Message: runErr.Error()}
	}
	want := tc.Error
	switch {
	case want == nil && e != nil:
		return append([]string{"error: want success, got " + describeError(e)}, violations(e)...)
	case want != nil && e == nil:
		return []string{fmt.Sprintf("error: want %s, got success with output %s", want.Type, show(plain(output)))}
	case want != nil:
		var lines []string
		if e.Type != want.Type {
			lines = append(lines, fmt.Sprintf("error type: want %q, got %q (%s)", want.Type, e.Type, e.Message))
			lines = append(lines, violations(e)...)
		}
		if want.Status != 0 && e.Status != want.Status {
			lines = append(lines, fmt.Sprintf("error status: want %d, got %d", want.Status, e.Status))
		}
		if want.Message != "" && !strings.Contains(e.Error(), want.Message) {
			lines = append(lines, fmt.Sprintf("error message: want it to contain %q, got %q", want.Message, e.Error()))
		}
		return lines
	}
	if tc.Output == nil {
		return nil
	}
	d := &differ{what: "output", partial: tc.OutputMatch == spec.MatchPartial}
	d.compare("", plain(tc.Output.Interface()), plain(output))
	return d.lines
}

func describeError(e *engine.Error) string {
	s := string(e.Type)
	if e.Status != 0 {
		s += fmt.Sprintf(" (status %d)", e.Status)
	}
	return s + ": " + e.Message
}

// violations lists where an input or output broke its schema, one line
// each under the error: "  /email: 'x' is not valid email: missing @".
func violations(e *engine.Error) []string {
	var lines []string
	for _, v := range e.Violations {
		ptr := v.Pointer
		if ptr == "" {
			ptr = "/"
		}
		lines = append(lines, fmt.Sprintf("  %s: %s", ptr, v.Message))
	}
	return lines
}

func count(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// virtualClock is a case's HTTP clock: a retry's backoff or a rate
// limit's wait moves it on at once, so no case ever sleeps.
type virtualClock struct {
	mu    sync.Mutex
	t     time.Time
	slept time.Duration
}

func (c *virtualClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *virtualClock) sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.slept += d
	c.mu.Unlock()
	return ctx.Err()
}

// skipped is the time sleep has moved the clock on.
func (c *virtualClock) skipped() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.slept
}
