package httpx

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// clockSleeper is a fake clock whose sleeps move it, so that a wait for a
// reset time is over once slept, as it would be for real.
type clockSleeper struct {
	mu sync.Mutex
	t  time.Time
	d  []time.Duration
}

func (c *clockSleeper) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clockSleeper) sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	c.d = append(c.d, d)
	c.t = c.t.Add(d)
	c.mu.Unlock()
	return ctx.Err()
}

func (c *clockSleeper) got() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.d...)
}

func TestParseReset(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	for _, tc := range []struct {
		value string
		want  time.Duration
		ok    bool
	}{
		{"30", 30 * time.Second, true},
		{"1.5", 1500 * time.Millisecond, true},
		{"1700000042", 42 * time.Second, true}, // a Unix time
		{"1600000000", 0, true},                // a Unix time past
		{now.Add(9 * time.Second).UTC().Format(http.TimeFormat), 9 * time.Second, true},
		{"", 0, false},
		{"-3", 0, false},
		{"soon", 0, false},
	} {
		got, ok := ParseReset(tc.value, now)
		if got != tc.want || ok != tc.ok {
			t.Errorf("ParseReset(%q) = %v, %v; want %v, %v", tc.value, got, ok, tc.want, tc.ok)
		}
	}
}

// A 429 without Retry-After waits for the rate limit's reset header:
// the vendor's own names (here GitHub's epoch seconds in its own header).
func TestRetryWaitsForTheResetHeader(t *testing.T) {
	clk := &clockSleeper{t: time.Unix(1_700_000_000, 0)}
	reset := strconv.FormatInt(clk.t.Unix()+12, 10)
	addr, n := statuses(t, map[string]string{"X-Rate-Reset": reset}, 429, 200)
	c := New(Config{AllowPrivate: true, Now: clk.now, Sleep: clk.sleep})
	resp, err := c.Do(context.Background(), &Request{URL: "http://" + addr, RateHeaders: RateHeaders{Reset: "X-Rate-Reset"}})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != 200 || n.Load() != 2 {
		t.Fatalf("status %d after %d requests", resp.Status, n.Load())
	}
	if got := fmt.Sprint(clk.got()); got != "[12s]" {
		t.Fatalf("waits %s, want [12s]", got)
	}
}

// When retries a response the statuses do not (a 403 that is a rate
// limit), even a POST, and After sets its wait.
func TestRetryWhenAndAfter(t *testing.T) {
	var n atomic.Int32
	addr := serve(t, func(ctx *fasthttp.RequestCtx) {
		switch n.Add(1) {
		case 1:
			ctx.SetStatusCode(403)
			ctx.Response.Header.Set("X-Wait-Ms", "1500")
			fmt.Fprint(ctx, "rate_limited")
		case 2:
			ctx.SetStatusCode(403)
			fmt.Fprint(ctx, "forbidden")
		default:
			ctx.SetStatusCode(200)
		}
	})
	clk := &clockSleeper{t: time.Unix(1_700_000_000, 0)}
	c := New(Config{AllowPrivate: true, Now: clk.now, Sleep: clk.sleep})
	pol := RetryPolicy{
		MaxAttempts: 5,
		When:        func(r *Response) bool { return r.Status == 403 && string(r.Body) == "rate_limited" },
		After: func(r *Response) (time.Duration, bool) {
			ms, err := strconv.Atoi(r.Header.Get("X-Wait-Ms"))
			return time.Duration(ms) * time.Millisecond, err == nil
		},
	}
	resp, err := c.Do(context.Background(), &Request{Method: "POST", URL: "http://" + addr, Retry: pol})
	if err != nil {
		t.Fatal(err)
	}
	// The rate-limit 403 is retried after 1.5s; the plain 403 is final.
	if resp.Status != 403 || string(resp.Body) != "forbidden" || n.Load() != 2 || resp.Attempts != 2 {
		t.Fatalf("status %d %q after %d requests", resp.Status, resp.Body, n.Load())
	}
	if got := fmt.Sprint(clk.got()); got != "[1.5s]" {
		t.Fatalf("waits %s", got)
	}
}

// When a response says no requests remain, the connection's next request
// waits for the reset instead of spending itself on a refusal; another
// connection is not held.
func TestRemainingZeroPausesTheKeyUntilReset(t *testing.T) {
	var n atomic.Int32
	addr := serve(t, func(ctx *fasthttp.RequestCtx) {
		if n.Add(1) == 1 {
			ctx.Response.Header.Set("X-RateLimit-Remaining", "0")
			ctx.Response.Header.Set("X-RateLimit-Reset", "20")
		} else {
			ctx.Response.Header.Set("X-RateLimit-Remaining", "99")
		}
		ctx.SetStatusCode(200)
	})
	clk := &clockSleeper{t: time.Unix(1_700_000_000, 0)}
	c := New(Config{AllowPrivate: true, Now: clk.now, Sleep: clk.sleep})
	do := func(key string) {
		t.Helper()
		if resp, err := c.Do(context.Background(), &Request{URL: "http://" + addr, RateKey: key}); err != nil || resp.Status != 200 {
			t.Fatalf("%v %v", resp, err)
		}
	}
	do("conn-1")
	do("conn-2")
	if len(clk.got()) != 0 {
		t.Fatalf("another connection waited: %v", clk.got())
	}
	do("conn-1")
	if got := fmt.Sprint(clk.got()); got != "[20s]" {
		t.Fatalf("waits %s, want [20s]", got)
	}
	do("conn-1") // the reset is past: no wait
	if len(clk.got()) != 1 {
		t.Fatalf("waits %v after the reset", clk.got())
	}
}

// A pause past the deadline, or longer than MaxPause, fails at once,
// retryable, with nothing sent.
func TestPausePastTheDeadlineFailsAtOnce(t *testing.T) {
	var n atomic.Int32
	addr := serve(t, func(ctx *fasthttp.RequestCtx) {
		n.Add(1)
		ctx.Response.Header.Set("X-RateLimit-Remaining", "0")
		ctx.Response.Header.Set("X-RateLimit-Reset", "50")
	})
	clk := &clockSleeper{t: time.Unix(1_700_000_000, 0)}
	c := New(Config{AllowPrivate: true, Now: clk.now, Sleep: clk.sleep})
	if _, err := c.Do(context.Background(), &Request{URL: "http://" + addr, RateKey: "k"}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := c.Do(ctx, &Request{URL: "http://" + addr, RateKey: "k"})
	if e := mustKind(t, err, KindRateLimited); !e.Retryable || n.Load() != 1 || len(clk.got()) != 0 {
		t.Fatalf("%v: %d requests, waits %v", err, n.Load(), clk.got())
	}
	c.Limiter().MaxPause = 30 * time.Second
	_, err = c.Do(context.Background(), &Request{URL: "http://" + addr, RateKey: "k"})
	if e := mustKind(t, err, KindRateLimited); !e.Retryable || n.Load() != 1 {
		t.Fatalf("over MaxPause: %v: %d requests", err, n.Load())
	}
}
