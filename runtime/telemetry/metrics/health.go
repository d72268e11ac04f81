package metrics

import (
	"context"
	"slices"
	"time"

	"github.com/membrane-dev/membrane/runtime/store"
)

// Health is what the console's front page draws: per connector, the last
// hour of runs minute by minute, and the connections by state. The same
// hooks feed it as /metrics; it never asks Prometheus.
type Health struct {
	// End is the minute the series end at (now).
	End time.Time
	// Connectors that ran in the last hour, by key; Other gathers the
	// folded ones.
	Connectors []Series
	// Connections by connector and state, as /metrics serves them, read
	// at CountedAt (zero when the store could not be read: CountErr).
	Connections []store.ConnectionStateCount
	CountedAt   time.Time
	CountErr    error
}

// Health returns the figures as of now. It may wait, until ctx ends, for
// the first count of the connections; never for a run.
func (m *Metrics) Health(ctx context.Context) Health {
	now := m.now()
	h := Health{End: now.Truncate(time.Minute)}
	m.byConnector.Range(func(k, v any) bool {
		s := v.(*connectorSeries)
		if k.(string) != Other && m.labels.connector(k.(string)) == Other {
			return true // drawn under Other
		}
		series := s.ring.snapshot(now)
		if series.TotalRuns > 0 {
			series.Connector = k.(string)
			h.Connectors = append(h.Connectors, series)
		}
		return true
	})
	slices.SortFunc(h.Connectors, func(a, b Series) int {
		if a.Connector < b.Connector {
			return -1
		}
		if a.Connector > b.Connector {
			return 1
		}
		return 0
	})
	if m.conns != nil {
		h.Connections, h.CountedAt, h.CountErr = m.conns.fresh(ctx)
	}
	return h
}
