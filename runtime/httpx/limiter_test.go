package httpx

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// fakeClock is a clock that moves only when told.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

func TestLimiterSpacesRequests(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1e9, 0)}
	sl := &sleeps{}
	l := &Limiter{Now: clk.now, Sleep: sl.sleep}
	r := Rate{PerSecond: 10}
	for range 3 {
		if err := l.Wait(context.Background(), "conn-1", r); err != nil {
			t.Fatal(err)
		}
	}
	// Burst 1 at 10/s: the first goes at once, then one every 100ms.
	if got := fmt.Sprint(sl.got()); got != "[100ms 200ms]" {
		t.Fatalf("waits %s", got)
	}
	// Another key has its own bucket.
	if err := l.Wait(context.Background(), "conn-2", r); err != nil || len(sl.got()) != 2 {
		t.Fatalf("conn-2 waited: %v %v", err, sl.got())
	}
	// Burst lets that many through at once.
	sl2 := &sleeps{}
	l2 := &Limiter{Now: clk.now, Sleep: sl2.sleep}
	for range 5 {
		l2.Wait(context.Background(), "k", Rate{PerSecond: 1, Burst: 4}) //nolint:errcheck
	}
	if got := fmt.Sprint(sl2.got()); got != "[1s]" {
		t.Fatalf("burst waits %s", got)
	}
}

func TestLimiterDeadline(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1e9, 0)}
	sl := &sleeps{}
	l := &Limiter{Now: clk.now, Sleep: sl.sleep}
	r := Rate{PerSecond: 1}
	l.Wait(context.Background(), "k", r) //nolint:errcheck
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	err := l.Wait(ctx, "k", r)
	if e := mustKind(t, err, KindRateLimited); !e.Retryable || len(sl.got()) != 0 {
		t.Fatalf("%v, waits %v", err, sl.got())
	}
	// The canceled reservation gave its slot back: a second later one
	// request passes without waiting.
	clk.advance(time.Second)
	if err := l.Wait(context.Background(), "k", r); err != nil || len(sl.got()) != 0 {
		t.Fatalf("%v, waits %v", err, sl.got())
	}
	// A canceled context during the wait.
	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	if err := l.Wait(ctx, "k", r); !errors.Is(err, context.Canceled) {
		t.Fatalf("%v", err)
	}
}

func TestLimiterSweep(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1e9, 0)}
	l := &Limiter{Now: clk.now, Sleep: (&sleeps{}).sleep}
	for i := range 100 {
		l.Wait(context.Background(), fmt.Sprint("idle-", i), Rate{PerSecond: 1}) //nolint:errcheck
	}
	if l.Len() != 100 {
		t.Fatalf("len %d", l.Len())
	}
	// A busy key: 120 requests queued at 1/s stays below its burst for two
	// minutes, so it must survive the sweep.
	for range 120 {
		l.Wait(context.Background(), "busy", Rate{PerSecond: 1}) //nolint:errcheck
	}
	clk.advance(sweepEvery + time.Second)
	l.Wait(context.Background(), "new", Rate{PerSecond: 1}) //nolint:errcheck
	if l.Len() != 2 {
		t.Fatalf("after sweep len %d, want busy and new", l.Len())
	}
}

func TestLimiterRateChange(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1e9, 0)}
	sl := &sleeps{}
	l := &Limiter{Now: clk.now, Sleep: sl.sleep}
	l.Wait(context.Background(), "k", Rate{PerSecond: 1})   //nolint:errcheck
	l.Wait(context.Background(), "k", Rate{PerSecond: 100}) //nolint:errcheck
	if got := fmt.Sprint(sl.got()); got != "[10ms]" {
		t.Fatalf("waits %s after a rate change", got)
	}
}

func TestClientRateLimit(t *testing.T) {
	addr := serve(t, func(ctx *fasthttp.RequestCtx) {})
	clk := &fakeClock{t: time.Unix(1e9, 0)}
	c, sl := testClient(Config{Now: clk.now})
	for range 3 {
		if _, err := c.Do(context.Background(), &Request{URL: "http://" + addr, RateKey: "conn-1", Rate: Rate{PerSecond: 4}}); err != nil {
			t.Fatal(err)
		}
	}
	if got := fmt.Sprint(sl.got()); got != "[250ms 500ms]" {
		t.Fatalf("waits %s", got)
	}
	// Retries wait for the limiter too.
	addr2, _ := statuses(t, nil, 503, 200)
	sl.d = nil
	if _, err := c.Do(context.Background(), &Request{URL: "http://" + addr2, RateKey: "conn-2", Rate: Rate{PerSecond: 2}, Retry: RetryPolicy{InitialBackoff: time.Millisecond}}); err != nil {
		t.Fatal(err)
	}
	if got := sl.got(); len(got) != 2 || got[1] != 500*time.Millisecond {
		t.Fatalf("waits %v: want a backoff then the limiter's 500ms", got)
	}
}
