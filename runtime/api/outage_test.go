package api_test

import (
	"context"
	"database/sql"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/membrane-dev/membrane/internal/apitest"
	"github.com/membrane-dev/membrane/internal/testkit"
	"github.com/membrane-dev/membrane/runtime/connections"
	"github.com/membrane-dev/membrane/runtime/store"
	"github.com/membrane-dev/membrane/runtime/store/storetest"
)

// wantRetry fails unless r is the store outage's problem with Retry-After.
func wantRetry(t *testing.T, what string, r *response) {
	t.Helper()
	if r.Status != http.StatusServiceUnavailable || r.Header.Get("Retry-After") != "2" {
		t.Fatalf("%s: status %d, Retry-After %q, want 503 with Retry-After: %s", what, r.Status, r.Header.Get("Retry-After"), r.Body)
	}
	wantProblem(t, r, http.StatusServiceUnavailable, "store-unavailable")
}

// TestPostgresOutage cuts a real PostgreSQL off the API (a TCP proxy in
// front of it stops): every call that needs the store answers 503 with
// Retry-After and a problem that says retry, never a 500 and never a run
// without its id; once the proxy is back, so is the service.
func TestPostgresOutage(t *testing.T) {
	dsn := storetest.PostgresDB(t)
	u, _ := url.Parse(dsn)
	proxy := testkit.NewProxy(t, u.Host)
	u.Host = proxy.Addr()
	open := func(opts ...store.Option) store.Store {
		s, err := store.Open(context.Background(), u.String(), opts...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	c := &tc{Env: apitest.New(t, open, func(o *connections.Options) { o.RunLogWait = 300 * time.Millisecond }), t: t}
	acme := c.Token("acme")
	conn := createConn(t, c, acme)
	run := "/v1/connections/" + conn + "/actions/create-contact/run"
	in := map[string]any{"input": map[string]any{"email": "ada@example.com"}}
	create := map[string]any{"connector": "crm", "parameters": map[string]any{"region": "eu"}, "credentials": map[string]any{"apiKey": apitest.GoodKey}}

	proxy.Cut()
	wantRetry(t, "list", c.get("/v1/connections", acme))
	wantRetry(t, "get", c.get("/v1/connections/"+conn, acme))
	wantRetry(t, "create", c.post("/v1/connections", acme, create))
	wantRetry(t, "create with a key", c.do(withKey("POST", "/v1/connections", acme, "outage-create", create)))
	wantRetry(t, "run", c.post(run, acme, in))
	wantRetry(t, "run with a key", c.do(withKey("POST", run, acme, "outage-run", in)))
	wantRetry(t, "run logs", c.get("/v1/run-logs", acme))
	wantRetry(t, "override", c.get("/v1/connections/"+conn+"/override", acme))
	wantRetry(t, "tenants", c.get("/v1/tenants", c.AdminToken("ops")))

	// The store goes away while the action runs: the run happened, its log
	// cannot be saved, and the answer says so; never a 200 without runId.
	proxy.Restore()
	arrived, release := c.Upstream.HoldNext()
	done := make(chan *response, 1)
	go func() { done <- c.post(run, acme, in) }()
	<-arrived
	proxy.Cut()
	release()
	r := <-done
	wantRetry(t, "run whose log cannot be saved", r)
	if d := r.object(t)["detail"].(string); !strings.Contains(d, "The action ran") {
		t.Errorf("detail %q", d)
	}

	proxy.Restore()
	if r := c.get("/v1/connections", acme); r.Status != http.StatusOK {
		t.Fatalf("list after the outage: %d %s\n%s", r.Status, r.Body, c.Logs())
	}
	ok := c.post(run, acme, in)
	wantStatus(t, ok, http.StatusOK)
	if id, _ := ok.object(t)["runId"].(string); !strings.HasPrefix(id, "run_") {
		t.Fatalf("run after the outage: %s", ok.Body)
	}
	// Keys tried during the outage were not held: they work now.
	wantStatus(t, c.do(withKey("POST", "/v1/connections", acme, "outage-create", create)), http.StatusCreated)
	wantStatus(t, c.do(withKey("POST", run, acme, "outage-run", in)), http.StatusOK)
	if logs := c.Logs(); strings.Contains(logs, `"status":500`) {
		t.Errorf("a request answered 500 during the outage:\n%s", logs)
	}
}

// TestSQLiteLocked: SQLite's file held by another process past the busy
// timeout is the same retryable 503; a store that failed for good (here,
// closed) is a 500 without Retry-After.
func TestSQLiteLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.db")
	open := func(opts ...store.Option) store.Store {
		s, err := store.Open(context.Background(), "sqlite://"+path, append(opts, store.WithBusyTimeout(50*time.Millisecond))...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	c := &tc{Env: apitest.New(t, open), t: t}
	acme := c.Token("acme")
	create := map[string]any{"connector": "crm", "parameters": map[string]any{"region": "eu"}, "credentials": map[string]any{"apiKey": apitest.GoodKey}}

	other, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	lock, err := other.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if _, err := lock.ExecContext(t.Context(), "BEGIN EXCLUSIVE"); err != nil {
		t.Fatal(err)
	}
	wantRetry(t, "create while another process holds the file", c.post("/v1/connections", acme, create))
	wantRetry(t, "create with a key while another process holds the file", c.do(withKey("POST", "/v1/connections", acme, "k", create)))
	if _, err := lock.ExecContext(t.Context(), "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, c.do(withKey("POST", "/v1/connections", acme, "k", create)), http.StatusCreated)

	c.Store.Close()
	r := c.get("/v1/connections", acme)
	wantProblem(t, r, http.StatusInternalServerError, "internal")
	if r.Header.Get("Retry-After") != "" {
		t.Fatalf("a closed store says retry: %v", r.Header)
	}
}
