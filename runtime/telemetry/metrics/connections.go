package metrics

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/membrane-dev/membrane/runtime/store"
)

// connStates serves the count of connections by connector and state from
// a snapshot: a scrape never waits for the store. A stale snapshot is
// served as it is while one refresh runs in the background.
type connStates struct {
	load   func(ctx context.Context) ([]store.ConnectionStateCount, error)
	ttl    time.Duration
	now    func() time.Time
	labels *labels

	mu      sync.Mutex
	counts  []store.ConnectionStateCount
	at      time.Time // when counts were read; zero before the first read
	err     error     // of the latest read
	loading atomic.Bool
	loaded  chan struct{} // closed by the first read that ends
	once    sync.Once
}

var (
	connectionsDesc = prometheus.NewDesc("membrane_connections",
		"Connections by connector and state (connected, error, disconnected: a user must re-authorise), counted across tenants every few seconds.",
		[]string{"connector", "state"}, nil)
	connectionsAgeDesc = prometheus.NewDesc("membrane_connections_count_age_seconds",
		"How old the count of connections served is.", nil, nil)
)

// loadTimeout bounds one count of the connections.
const loadTimeout = 10 * time.Second

func newConnStates(load func(ctx context.Context) ([]store.ConnectionStateCount, error), ttl time.Duration, now func() time.Time, l *labels) *connStates {
	return &connStates{load: load, ttl: ttl, now: now, labels: l, loaded: make(chan struct{})}
}

// snapshot returns the latest counts, starting a refresh when they are
// stale; it never waits.
func (c *connStates) snapshot() ([]store.ConnectionStateCount, time.Time, error) {
	c.mu.Lock()
	counts, at, err := c.counts, c.at, c.err
	c.mu.Unlock()
	if at.IsZero() || c.now().Sub(at) >= c.ttl {
		c.refresh()
	}
	return counts, at, err
}

// refresh reads the counts in the background unless a read is under way.
func (c *connStates) refresh() {
	if !c.loading.CompareAndSwap(false, true) {
		return
	}
	go func() {
		defer c.loading.Store(false)
		ctx, cancel := context.WithTimeout(context.Background(), loadTimeout)
		defer cancel()
		counts, err := c.load(ctx)
		c.mu.Lock()
		if err == nil {
			c.counts, c.at = counts, c.now()
		}
		c.err = err
		c.mu.Unlock()
		c.once.Do(func() { close(c.loaded) })
	}()
}

// fresh returns counts no older than the TTL, waiting for a read until
// ctx ends: for the console, which may wait where a scrape may not.
func (c *connStates) fresh(ctx context.Context) ([]store.ConnectionStateCount, time.Time, error) {
	counts, at, err := c.snapshot()
	if !at.IsZero() {
		return counts, at, err
	}
	select {
	case <-c.loaded:
	case <-ctx.Done():
		return nil, time.Time{}, ctx.Err()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.counts, c.at, c.err
}

func (c *connStates) Describe(ch chan<- *prometheus.Desc) {
	ch <- connectionsDesc
	ch <- connectionsAgeDesc
}

func (c *connStates) Collect(ch chan<- prometheus.Metric) {
	counts, at, _ := c.snapshot()
	if at.IsZero() {
		return // not read yet: no series rather than zeros that lie
	}
	sum := map[[2]string]int64{}
	for _, s := range counts {
		sum[[2]string{c.labels.connector(s.Connector), string(s.State)}] += s.Count
	}
	for k, n := range sum {
		ch <- prometheus.MustNewConstMetric(connectionsDesc, prometheus.GaugeValue, float64(n), k[0], k[1])
	}
	ch <- prometheus.MustNewConstMetric(connectionsAgeDesc, prometheus.GaugeValue, c.now().Sub(at).Seconds())
}

// CountConnections serves membrane_connections from count (the store's
// ConnectionStates), read at most every ConnectionsTTL, in the
// background. Call it once.
func (m *Metrics) CountConnections(count func(ctx context.Context) ([]store.ConnectionStateCount, error)) {
	m.conns = newConnStates(count, m.connsTTL, m.now, &m.labels)
	m.reg.MustRegister(m.conns)
}
