package metrics_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/membrane-dev/membrane/runtime/engine"
	"github.com/membrane-dev/membrane/runtime/store"
	"github.com/membrane-dev/membrane/runtime/telemetry/metrics"
	"github.com/membrane-dev/membrane/spec"
	"github.com/membrane-dev/membrane/spec/diag"
)

func workspaceOf(actions map[string][]string) *spec.Workspace {
	ws := &spec.Workspace{Connectors: map[string]*spec.Connector{}, Actions: map[string]map[string]*spec.Action{}}
	for c, as := range actions {
		ws.Connectors[c] = &spec.Connector{Key: c}
		ws.Actions[c] = map[string]*spec.Action{}
		for _, a := range as {
			ws.Actions[c][a] = &spec.Action{Connector: c, Key: a}
		}
	}
	return ws
}

// Runs are counted by connector, action and outcome (the error's type);
// a key the workspace does not have is counted as "other", never as
// itself.
func TestRunsByOutcomeAndFoldedKeys(t *testing.T) {
	m := metrics.New(metrics.Options{})
	m.SetWorkspace(workspaceOf(map[string][]string{"crm": {"create-contact"}}))
	o := m.Engine()
	o.RunDone("crm", "create-contact", time.Millisecond, nil)
	o.RunDone("crm", "create-contact", time.Millisecond, nil)
	o.RunDone("crm", "create-contact", time.Millisecond, &engine.Error{Type: engine.ErrAuth})
	o.RunDone("crm", "create-contact", time.Millisecond, errors.New("no type"))
	o.RunDone("crm", "gone-action", time.Millisecond, nil)
	o.RunDone("tenant-supplied", "x", time.Millisecond, nil)

	want := `
# HELP membrane_action_runs_total Action runs by connector, action and outcome (ok, or the error type).
# TYPE membrane_action_runs_total counter
membrane_action_runs_total{action="create-contact",connector="crm",outcome="auth"} 1
membrane_action_runs_total{action="create-contact",connector="crm",outcome="error"} 1
membrane_action_runs_total{action="create-contact",connector="crm",outcome="ok"} 2
membrane_action_runs_total{action="other",connector="crm",outcome="ok"} 1
membrane_action_runs_total{action="other",connector="other",outcome="ok"} 1
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), "membrane_action_runs_total"); err != nil {
		t.Fatal(err)
	}
}

// Past the caps, new keys fold into "other": the series stay bounded
// whatever is loaded over time.
func TestLabelCaps(t *testing.T) {
	m := metrics.New(metrics.Options{}) // no workspace: every key, within the caps
	o := m.Engine()
	for i := range metrics.MaxConnectors + 50 {
		o.Upstream(fmt.Sprintf("c%d", i), engine.Upstream{Status: 200, Attempts: 1})
	}
	n, err := testutil.GatherAndCount(m.Registry(), "membrane_upstream_retries_total")
	if err != nil {
		t.Fatal(err)
	}
	if n != metrics.MaxConnectors+1 {
		t.Fatalf("%d connector series, want the cap %d and other", n, metrics.MaxConnectors)
	}
}

// Upstream requests: latency, status class, retries and rate-limit waits.
func TestUpstream(t *testing.T) {
	m := metrics.New(metrics.Options{})
	o := m.Engine()
	o.Upstream("crm", engine.Upstream{Status: 200, Attempts: 3, RateWait: 500 * time.Millisecond, Took: time.Second})
	o.Upstream("crm", engine.Upstream{Status: 503, Attempts: 1, Took: time.Millisecond})
	o.Upstream("crm", engine.Upstream{Attempts: 2, Err: errors.New("connection refused")})
	want := `
# HELP membrane_upstream_retries_total Attempts beyond the first of requests to the apps (network errors, 429 and 5xx), by connector.
# TYPE membrane_upstream_retries_total counter
membrane_upstream_retries_total{connector="crm"} 3
# HELP membrane_rate_limit_waits_total Requests that waited for the local rate limiter, by connector.
# TYPE membrane_rate_limit_waits_total counter
membrane_rate_limit_waits_total{connector="crm"} 1
# HELP membrane_rate_limit_wait_seconds_total Time requests waited for the local rate limiter, by connector.
# TYPE membrane_rate_limit_wait_seconds_total counter
membrane_rate_limit_wait_seconds_total{connector="crm"} 0.5
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want),
		"membrane_upstream_retries_total", "membrane_rate_limit_waits_total", "membrane_rate_limit_wait_seconds_total"); err != nil {
		t.Fatal(err)
	}
	body := scrape(t, m)
	for _, want := range []string{`membrane_upstream_requests_total{connector="crm",status="2xx"} 1`,
		`membrane_upstream_requests_total{connector="crm",status="5xx"} 1`,
		`membrane_upstream_requests_total{connector="crm",status="error"} 1`,
		`membrane_upstream_request_duration_seconds_count{connector="crm"} 3`} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// API requests are labelled by route pattern; an unmatched path is never
// a label.
func TestAPIRoutes(t *testing.T) {
	m := metrics.New(metrics.Options{})
	m.API("GET /v1/connections/{id}", 200, time.Millisecond)
	m.API("", 404, time.Millisecond)
	body := scrape(t, m)
	for _, want := range []string{
		`membrane_api_request_duration_seconds_count{code="200",route="GET /v1/connections/{id}"} 1`,
		`membrane_api_request_duration_seconds_count{code="404",route="unmatched"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func scrape(t *testing.T, m *metrics.Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 {
		t.Fatalf("/metrics: %d", rec.Code)
	}
	return rec.Body.String()
}

// A scrape never waits for the store: while the count of connections is
// stuck, scrapes answer (without the series until a count arrives), and
// the console's health waits only as long as its context lets it.
func TestScrapeNeverWaitsForTheStore(t *testing.T) {
	m := metrics.New(metrics.Options{ConnectionsTTL: time.Hour})
	release := make(chan struct{})
	started := make(chan struct{}, 10)
	m.CountConnections(func(ctx context.Context) ([]store.ConnectionStateCount, error) {
		started <- struct{}{}
		<-release
		return []store.ConnectionStateCount{{Connector: "crm", State: store.Disconnected, Count: 2}}, nil
	})
	for range 3 {
		if body := scrape(t, m); strings.Contains(body, "membrane_connections{") {
			t.Fatal("connections served before they were counted")
		}
	}
	<-started // one count runs, for all three scrapes
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if h := m.Health(ctx); h.CountErr == nil || len(h.Connections) != 0 {
		t.Fatalf("health with the count stuck and ctx done: %+v", h)
	}
	close(release)
	h := m.Health(context.Background()) // waits for the count now under way
	if len(h.Connections) != 1 || h.Connections[0].Count != 2 || h.CountedAt.IsZero() {
		t.Fatalf("health after the count: %+v", h)
	}
	if body := scrape(t, m); !strings.Contains(body, `membrane_connections{connector="crm",state="disconnected"} 2`) {
		t.Fatalf("/metrics after the count:\n%s", body)
	}
	if len(started) != 0 {
		t.Fatalf("%d more counts started within the TTL", len(started))
	}
}

// The console's ring: runs and failures per minute, percentiles from the
// latency buckets, the hour's totals; a minute an hour old is gone.
func TestHealthRing(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 30, 0, time.UTC)
	m := metrics.New(metrics.Options{Now: func() time.Time { return now }})
	o := m.Engine()
	o.RunDone("crm", "a", 3*time.Millisecond, nil) // 12:00, bucket ≤ 5 ms
	now = now.Add(time.Minute)                     // 12:01
	for i := range 100 {
		d := 15 * time.Millisecond // ≤ 20 ms
		if i >= 90 {
			d = 400 * time.Millisecond // ≤ 500 ms
		}
		var err error
		if i%10 == 0 {
			err = &engine.Error{Type: engine.ErrUpstream}
		}
		o.RunDone("crm", "a", d, err)
	}
	h := m.Health(context.Background())
	if len(h.Connectors) != 1 {
		t.Fatalf("connectors %+v", h.Connectors)
	}
	s := h.Connectors[0]
	last, prev := metrics.Minutes-1, metrics.Minutes-2
	if s.Connector != "crm" || s.TotalRuns != 101 || s.TotalFailures != 10 || s.Runs[last] != 100 || s.Failures[last] != 10 || s.Runs[prev] != 1 {
		t.Fatalf("series %+v", s)
	}
	if s.P50[last] != 20 || s.P95[last] != 500 || s.P50[prev] != 5 || !math.IsNaN(s.P50[0]) {
		t.Fatalf("percentiles p50 %v p95 %v, the minute before %v", s.P50[last], s.P95[last], s.P50[prev])
	}
	if s.HourP50 != 20 || s.HourP99 != 500 {
		t.Fatalf("hour p50 %v p99 %v", s.HourP50, s.HourP99)
	}
	now = now.Add(metrics.Minutes * time.Minute) // an hour later
	if h := m.Health(context.Background()); len(h.Connectors) != 0 {
		t.Fatalf("an hour later: %+v", h.Connectors)
	}
}

// Refreshes, polls, deliveries, webhooks and workspace loads are served
// under the names and labels the README lists.
func TestBackgroundWork(t *testing.T) {
	m := metrics.New(metrics.Options{})
	m.SetWorkspace(workspaceOf(map[string][]string{"crm": {"a"}}))
	m.Refresh("crm", nil)
	m.Refresh("crm", errors.New("invalid_grant"))
	m.Poll("crm", nil)
	m.Poll("crm", errors.New("upstream down"))
	m.Poll("crm", nil)
	m.Delivery(store.Attempt{}, store.Outcome{Delivered: true})
	m.Delivery(store.Attempt{}, store.Outcome{Next: time.Now()})
	m.Delivery(store.Attempt{}, store.Outcome{Dead: true})
	m.Webhooks(func() map[string]int64 {
		return map[string]int64{"received": 7, "stored": 4, "badSignature": 2, "unknownRoute": 1}
	})
	m.WorkspaceLoaded(3, nil, false, diag.List{{Severity: diag.Error}, {Severity: diag.Warning}, {Severity: diag.Warning}})
	body := scrape(t, m)
	for _, want := range []string{
		`membrane_token_refreshes_total{connector="crm",outcome="ok"} 1`,
		`membrane_token_refreshes_total{connector="crm",outcome="failed"} 1`,
		`membrane_polls_total{connector="crm",outcome="ok"} 2`,
		`membrane_polls_total{connector="crm",outcome="failed"} 1`,
		`membrane_delivery_attempts_total{outcome="delivered"} 1`,
		`membrane_delivery_attempts_total{outcome="failed"} 1`,
		`membrane_delivery_attempts_total{outcome="dead"} 1`,
		`membrane_webhooks_received_total 7`,
		`membrane_webhooks_stored_total 4`,
		`membrane_webhooks_rejected_total{reason="badSignature"} 2`,
		`membrane_webhooks_rejected_total{reason="unknownRoute"} 1`,
		`membrane_webhooks_rejected_total{reason="tooLarge"} 0`,
		`membrane_workspace_generation 3`,
		`membrane_workspace_loads_total{result="failed"} 1`,
		`membrane_workspace_diagnostics{severity="error"} 1`,
		`membrane_workspace_diagnostics{severity="warning"} 2`,
	} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
