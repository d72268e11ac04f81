package engine_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/membrane-dev/membrane"
	"github.com/membrane-dev/membrane/runtime/engine"
	"github.com/membrane-dev/membrane/runtime/httpx"
)

// movingClock is a fake clock that its sleeps move: a wait for a reset
// time is over once slept, as for real, and nothing really sleeps.
type movingClock struct {
	mu    sync.Mutex
	t     time.Time
	waits []time.Duration
}

func (c *movingClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *movingClock) sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	c.waits = append(c.waits, d)
	c.t = c.t.Add(d)
	c.mu.Unlock()
	return ctx.Err()
}

func (c *movingClock) got() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return fmt.Sprint(c.waits)
}

func loadClocked(t *testing.T, base string, files map[string]string) (*env, *movingClock) {
	t.Helper()
	clk := &movingClock{t: time.Unix(1_700_000_000, 0)}
	return loadWith(t, base, files, httpx.New(httpx.Config{AllowPrivate: true, Now: clk.now, Sleep: clk.sleep}), nil), clk
}

// A 403 that is a rate limit (the body says so) is retried, a POST too,
// after the wait the API gives in its own header; a 403 that is not stays
// an auth error, sent once.
func TestRetryWhenA403IsARateLimit(t *testing.T) {
	srv := newAPI(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if r.URL.Query().Get("scope") == "missing" {
			writeJSON(w, 403, map[string]any{"error": "missing_scope"})
			return
		}
		if n == 1 {
			w.Header().Set("X-Retry-In", "3")
			writeJSON(w, 403, map[string]any{"error": "rate_limited"})
			return
		}
		writeJSON(w, 200, map[string]any{"id": "c1"})
	})
	e, clk := loadClocked(t, srv.URL, map[string]string{
		"connector.yaml": connector(`retry:
  maxAttempts: 3
  when: ${ response.status == 403 && response.body.?error.orValue("") == "rate_limited" }
  after: ${ response.headers[?"x-retry-in"].orValue(null) }
`),
		"create.yaml": `kind: Action
connector: test
key: create
request: {method: POST, path: /contacts, query: {scope: "${ input.?scope.orValue('ok') }"}}
`,
	})
	res, err := e.run(t, membrane.RunRequest{Action: "create"})
	if err != nil {
		t.Fatal(err)
	}
	if asJSON(t, res.Output) != `{"id":"c1"}` || srv.n() != 2 || res.Log[0].Attempts != 2 {
		t.Errorf("output %s after %d requests", asJSON(t, res.Output), srv.n())
	}
	if clk.got() != "[3s]" {
		t.Errorf("waits %s, want the API's 3s", clk.got())
	}
	_, err = e.run(t, membrane.RunRequest{Action: "create", Input: map[string]any{"scope": "missing"}})
	mustType(t, err, engine.ErrAuth)
	if srv.n() != 3 {
		t.Errorf("a 403 that is no rate limit was sent %d times", srv.n()-2)
	}
}

// When the API says the connection has no requests left, its next run
// waits for the reset the API names (the vendor's own header names)
// instead of spending a request on a refusal.
func TestRateLimitFollowsTheRemainingHeader(t *testing.T) {
	srv := newAPI(t, func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("X-Vendor-Remaining", fmt.Sprint(2-n))
		w.Header().Set("X-Vendor-Reset", "1700000045")
		writeJSON(w, 200, map[string]any{"n": n})
	})
	e, clk := loadClocked(t, srv.URL, map[string]string{
		"connector.yaml": connector(`rateLimit: {remainingHeader: X-Vendor-Remaining, resetHeader: X-Vendor-Reset}
`),
		"get.yaml": "kind: Action\nconnector: test\nkey: get\nrequest: {path: /x}\n",
	})
	for range 2 {
		e.mustRun(t, membrane.RunRequest{Action: "get"})
	}
	if clk.got() != "[]" {
		t.Fatalf("waited before the count ran out: %s", clk.got())
	}
	e.mustRun(t, membrane.RunRequest{Action: "get"})
	if clk.got() != "[45s]" {
		t.Errorf("waits %s, want until the reset (45s)", clk.got())
	}
	// Another connection has its own count.
	e.mustRun(t, membrane.RunRequest{Action: "get", Connection: engine.Connection{ID: "conn-2"}})
	if clk.got() != "[45s]" {
		t.Errorf("another connection waited: %s", clk.got())
	}
}
