package metrics

import (
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/membrane-dev/membrane/spec"
)

// Caps on the label values kept: past them a new connector, or a new
// action of a connector, is counted as "other".
const (
	MaxConnectors = 200
	MaxActions    = 2000
	// Other is the label of what is folded: a key the workspace does not
	// have, or one past the caps.
	Other = "other"
)

// Options configure Metrics.
type Options struct {
	// ConnectionsTTL is how long a count of connections (CountConnections)
	// is served before it is read again, in the background; default 15 s.
	ConnectionsTTL time.Duration
	// Now is the clock of the per-minute ring; nil is time.Now.
	Now func() time.Time
}

// Metrics holds every series and the console's ring.
type Metrics struct {
	reg *prometheus.Registry
	now func() time.Time

	runs        *prometheus.CounterVec
	runTime     *prometheus.HistogramVec
	upstream    *prometheus.HistogramVec
	upstreamN   *prometheus.CounterVec
	retries     *prometheus.CounterVec
	rateWaits   *prometheus.CounterVec
	rateWaitSec *prometheus.CounterVec
	refreshes   *prometheus.CounterVec
	apiTime     *prometheus.HistogramVec
	storeTime   *prometheus.HistogramVec
	storeErrs   *prometheus.CounterVec
	generation  prometheus.Gauge
	loads       *prometheus.CounterVec
	diagnostics *prometheus.GaugeVec
	polls       *prometheus.CounterVec
	deliveries  *prometheus.CounterVec

	labels   labels
	conns    *connStates
	connsTTL time.Duration

	// Per-connector and per-action series, resolved once: a run then
	// costs no label hashing.
	byConnector sync.Map // connector → *connectorSeries
	byRun       sync.Map // runKey → prometheus.Counter
	byRoute     sync.Map // routeKey → prometheus.Observer
	byStoreOp   sync.Map // op → *storeSeries
}

// New makes the metrics and registers them, with the Go runtime's and the
// process's own, on a registry of their own.
func New(o Options) *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry(), now: o.Now}
	if m.now == nil {
		m.now = time.Now
	}
	m.labels.init()
	f := factory{m.reg}
	m.runs = f.counter("membrane_action_runs_total", "Action runs by connector, action and outcome (ok, or the error type).", "connector", "action", "outcome")
	m.runTime = f.histogram("membrane_action_run_duration_seconds", "How long action runs take, by connector.", upstreamBuckets, "connector")
	m.upstream = f.histogram("membrane_upstream_request_duration_seconds", "Requests to the apps, retries and rate-limit waits included, by connector.", upstreamBuckets, "connector")
	m.upstreamN = f.counter("membrane_upstream_requests_total", "Requests to the apps by connector and status class (2xx … 5xx, or error when no answer came).", "connector", "status")
	m.retries = f.counter("membrane_upstream_retries_total", "Attempts beyond the first of requests to the apps (network errors, 429 and 5xx), by connector.", "connector")
	m.rateWaits = f.counter("membrane_rate_limit_waits_total", "Requests that waited for the local rate limiter, by connector.", "connector")
	m.rateWaitSec = f.counter("membrane_rate_limit_wait_seconds_total", "Time requests waited for the local rate limiter, by connector.", "connector")
	m.refreshes = f.counter("membrane_token_refreshes_total", "OAuth2 token refreshes by connector and outcome (ok or failed).", "connector", "outcome")
	m.apiTime = f.histogram("membrane_api_request_duration_seconds", "REST API requests by route pattern and status code.", prometheus.DefBuckets, "route", "code")
	m.storeTime = f.histogram("membrane_store_operation_duration_seconds", "Store statements by kind (exec, query, begin, commit).", storeBuckets, "op")
	m.storeErrs = f.counter("membrane_store_errors_total", "Store statements that failed, by kind.", "op")
	m.generation = prometheus.NewGauge(prometheus.GaugeOpts{Name: "membrane_workspace_generation", Help: "How many times the workspace has loaded clean: 1 at start, one more at each reload."})
	m.reg.MustRegister(m.generation)
	m.loads = f.counter("membrane_workspace_loads_total", "Loads of the workspace by result (ok, or failed: the previous one is still served).", "result")
	m.diagnostics = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "membrane_workspace_diagnostics", Help: "Diagnostics of the latest load of the workspace, by severity."}, []string{"severity"})
	m.reg.MustRegister(m.diagnostics)
	m.polls = f.counter("membrane_polls_total", "Polls of subscriptions by connector and outcome (ok or failed).", "connector", "outcome")
	m.deliveries = f.counter("membrane_delivery_attempts_total", "Delivery attempts by outcome: delivered, failed (tried again later) or dead (no more attempts).", "outcome")
	m.connsTTL = o.ConnectionsTTL
	if m.connsTTL <= 0 {
		m.connsTTL = 15 * time.Second
	}
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

var (
	upstreamBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}
	storeBuckets    = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}
)

type factory struct{ reg *prometheus.Registry }

func (f factory) counter(name, help string, labels ...string) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	f.reg.MustRegister(c)
	return c
}

func (f factory) histogram(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets}, labels)
	f.reg.MustRegister(h)
	return h
}

// Registry is where every series is registered: to add a collector, or to
// gather in a test.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the Prometheus exposition format of the registry. A
// scrape reads atomics and cached figures; it never waits for a run or
// the store.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		// One scrape at a time is plenty; a pile of them waits rather
		// than competes with runs for the CPU.
		MaxRequestsInFlight: 2,
		Timeout:             10 * time.Second,
		EnableOpenMetrics:   true,
	})
}

// SetWorkspace makes ws's connectors and actions the label values that are
// kept; counting continues under the old ones for what runs on.
func (m *Metrics) SetWorkspace(ws *spec.Workspace) { m.labels.set(ws) }
