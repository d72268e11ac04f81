package engine

import (
	"context"
	"strconv"
	"time"

	"github.com/membrane-dev/membrane/runtime/httpx"
	"github.com/membrane-dev/membrane/spec/compile"
)

// retryExprs gives a retry policy its expressions: `when`, which retries a
// failure the statuses do not (a 403 that is a rate limit), and `after`,
// the wait the API asks for in its own way. Both read `response`; one
// that cannot be evaluated on a response leaves the default in place.
func (r *run) retryExprs(ctx context.Context, p *httpx.RetryPolicy, x *compile.Retry, vars map[string]any) {
	if x == nil {
		return
	}
	respVars := func(resp *httpx.Response) map[string]any {
		body, _ := decodeBody(resp)
		return withVar(vars, compile.VarResponse, responseVar(resp, body))
	}
	if x.When != nil {
		p.When = func(resp *httpx.Response) bool {
			v, err := x.When.Eval(ctx, respVars(resp))
			return err == nil && v == true
		}
	}
	if x.After != nil {
		p.After = func(resp *httpx.Response) (time.Duration, bool) {
			v, err := x.After.Eval(ctx, respVars(resp))
			if err != nil {
				return 0, false
			}
			return waitOf(v, r.engine.now())
		}
	}
}

// waitOf reads a wait an expression gave: seconds (a number, or text as
// in Retry-After), a Unix time in seconds, an HTTP date, a timestamp or a
// duration. Null or anything else: no opinion.
func waitOf(v any, now time.Time) (time.Duration, bool) {
	switch x := v.(type) {
	case int64:
		return httpx.ParseReset(strconv.FormatInt(x, 10), now)
	case uint64:
		return httpx.ParseReset(strconv.FormatInt(int64(min(x, 1<<62)), 10), now)
	case float64:
		if x < 0 {
			return 0, false
		}
		if x >= 1e9 {
			return httpx.ParseReset(strconv.FormatInt(int64(x), 10), now)
		}
		return time.Duration(min(x, 86400) * float64(time.Second)), true
	case string:
		return httpx.ParseReset(x, now)
	case time.Time:
		return max(x.Sub(now), 0), true
	case time.Duration:
		return max(x, 0), true
	}
	return 0, false
}
