package metrics

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/membrane-dev/membrane/runtime/engine"
	"github.com/membrane-dev/membrane/runtime/store"
)

// connectorSeries are one connector's series and ring, resolved once.
type connectorSeries struct {
	runTime     prometheus.Observer
	upstream    prometheus.Observer
	retries     prometheus.Counter
	rateWaits   prometheus.Counter
	rateWaitSec prometheus.Counter
	status      [6]prometheus.Counter // error, 1xx … 5xx
	ring        *ring
}

func (m *Metrics) connector(key string) *connectorSeries {
	if s, ok := m.byConnector.Load(key); ok {
		return s.(*connectorSeries)
	}
	label := m.labels.connector(key)
	s := &connectorSeries{
		runTime:     m.runTime.WithLabelValues(label),
		upstream:    m.upstream.WithLabelValues(label),
		retries:     m.retries.WithLabelValues(label),
		rateWaits:   m.rateWaits.WithLabelValues(label),
		rateWaitSec: m.rateWaitSec.WithLabelValues(label),
	}
	for i := range s.status {
		class := "error"
		if i > 0 {
			class = strconv.Itoa(i) + "xx"
		}
		s.status[i] = m.upstreamN.WithLabelValues(label, class)
	}
	if label == Other {
		if o, ok := m.byConnector.Load(Other); ok {
			return o.(*connectorSeries) // one ring for every folded key
		}
		s.ring = newRing()
		o, _ := m.byConnector.LoadOrStore(Other, s)
		return o.(*connectorSeries)
	}
	s.ring = newRing()
	got, _ := m.byConnector.LoadOrStore(key, s)
	return got.(*connectorSeries)
}

type runKey struct{ connector, action, outcome string }

// Outcome is the outcome label of a run's error: "ok", the error type,
// or "error" for an error of no known type.
func Outcome(err error) string {
	if err == nil {
		return "ok"
	}
	if t := engine.TypeOf(err); t.Known() {
		return string(t)
	}
	return "error"
}

// Engine is the engine's Observer: runs and upstream requests.
func (m *Metrics) Engine() engine.Observer { return (*engineObserver)(m) }

type engineObserver Metrics

func (o *engineObserver) RunDone(connector, action string, took time.Duration, err error) {
	m := (*Metrics)(o)
	outcome := Outcome(err)
	k := runKey{connector, action, outcome}
	c, ok := m.byRun.Load(k)
	if !ok {
		cl, al := m.labels.action(connector, action)
		counter := m.runs.WithLabelValues(cl, al, outcome)
		if cl == connector && al == action {
			c, _ = m.byRun.LoadOrStore(k, counter)
		} else {
			c = counter // folded: not cached, so the cache stays bounded
		}
	}
	c.(prometheus.Counter).Inc()
	s := m.connector(connector)
	s.runTime.Observe(took.Seconds())
	s.ring.add(m.now(), took, err != nil)
}

func (o *engineObserver) Upstream(connector string, u engine.Upstream) {
	s := (*Metrics)(o).connector(connector)
	s.upstream.Observe(u.Took.Seconds())
	class := 0
	if u.Status >= 100 && u.Status < 600 {
		class = u.Status / 100
	}
	s.status[class].Inc()
	if u.Attempts > 1 {
		s.retries.Add(float64(u.Attempts - 1))
	}
	if u.RateWait > 0 {
		s.rateWaits.Inc()
		s.rateWaitSec.Add(u.RateWait.Seconds())
	}
}

type routeKey struct {
	route string
	code  int
}

// API is the REST API's Observe: requests by route pattern and status.
func (m *Metrics) API(route string, status int, took time.Duration) {
	if route == "" {
		route = "unmatched" // a 404 or 405: never the raw path
	}
	k := routeKey{route, status}
	h, ok := m.byRoute.Load(k)
	if !ok {
		h, _ = m.byRoute.LoadOrStore(k, m.apiTime.WithLabelValues(route, strconv.Itoa(status)))
	}
	h.(prometheus.Observer).Observe(took.Seconds())
}

type storeSeries struct {
	time prometheus.Observer
	errs prometheus.Counter
}

// Store is the store's Observer: statements by kind, and their errors.
func (m *Metrics) Store(op string, took time.Duration, err error) {
	s, ok := m.byStoreOp.Load(op)
	if !ok {
		s, _ = m.byStoreOp.LoadOrStore(op, &storeSeries{m.storeTime.WithLabelValues(op), m.storeErrs.WithLabelValues(op)})
	}
	ss := s.(*storeSeries)
	ss.time.Observe(took.Seconds())
	if err != nil {
		ss.errs.Inc()
	}
}

// Refresh counts an OAuth2 token refresh (oauth.Options.OnRefresh).
func (m *Metrics) Refresh(connector string, err error) {
	outcome := "ok"
	if err != nil {
		outcome = "failed"
	}
	m.refreshes.WithLabelValues(m.labels.connector(connector), outcome).Inc()
}

// Poll counts a poll of a subscription.
func (m *Metrics) Poll(connector string, err error) {
	outcome := "ok"
	if err != nil {
		outcome = "failed"
	}
	m.polls.WithLabelValues(m.labels.connector(connector), outcome).Inc()
}

// Delivery counts a delivery attempt once recorded
// (delivery.Config.Observe).
func (m *Metrics) Delivery(_ store.Attempt, o store.Outcome) {
	outcome := "failed"
	switch {
	case o.Delivered:
		outcome = "delivered"
	case o.Dead:
		outcome = "dead"
	}
	m.deliveries.WithLabelValues(outcome).Inc()
}

// Webhooks exposes the webhook ingress's counters, read at each scrape:
// received, and refused by reason. counts returns them by name
// (ingress.Counters.Snapshot).
func (m *Metrics) Webhooks(counts func() map[string]int64) {
	m.reg.MustRegister(&webhookCollector{counts: counts})
}
