package console

import (
	"context"
	"fmt"
	"html/template"
	"math"
	"strings"
	"time"

	"github.com/membrane-dev/membrane/runtime/store"
	"github.com/membrane-dev/membrane/runtime/telemetry/metrics"
)

// HealthSource gives the figures of the front page's health section: the
// server's metrics, fed by the same hooks as /metrics.
type HealthSource interface {
	Health(ctx context.Context) metrics.Health
}

// healthView is the front page's "last hour" section.
type healthView struct {
	Connectors  []connectorHealth
	Connections []connectionCounts
	CountedAt   string
	CountErr    bool
	Reauth      []store.DisconnectedConnection
	MoreReauth  bool
	ReauthErr   bool
}

type connectorHealth struct {
	Key                string
	Runs, Failures     int64
	FailurePct         string
	P50, P95, P99      string
	RunsChart, Latency template.HTML
}

type connectionCounts struct {
	Connector                        string
	Connected, Errored, Disconnected int64
}

// reauthShown is how many connections needing re-authorisation are listed.
const reauthShown = 20

// health reads the figures; nil without a source.
func (h *handler) health(ctx context.Context) *healthView {
	if h.o.Health == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	fig := h.o.Health.Health(ctx)
	v := &healthView{CountErr: fig.CountErr != nil}
	for _, s := range fig.Connectors {
		c := connectorHealth{Key: s.Connector, Runs: s.TotalRuns, Failures: s.TotalFailures,
			P50: ms(s.HourP50), P95: ms(s.HourP95), P99: ms(s.HourP99)}
		c.FailurePct = fmt.Sprintf("%.1f%%", 100*float64(s.TotalFailures)/float64(max(s.TotalRuns, 1)))
		c.RunsChart = runsChart(s)
		c.Latency = latencyChart(s)
		v.Connectors = append(v.Connectors, c)
	}
	byConn := map[string]*connectionCounts{}
	for _, c := range fig.Connections {
		cc := byConn[c.Connector]
		if cc == nil {
			v.Connections = append(v.Connections, connectionCounts{Connector: c.Connector})
			cc = &v.Connections[len(v.Connections)-1]
			byConn[c.Connector] = cc
		}
		switch c.State {
		case store.Connected:
			cc.Connected += c.Count
		case store.Errored:
			cc.Errored += c.Count
		case store.Disconnected:
			cc.Disconnected += c.Count
		}
	}
	if !fig.CountedAt.IsZero() {
		v.CountedAt = fig.CountedAt.UTC().Format("15:04:05 UTC")
	}
	page, err := h.o.Store.DisconnectedConnections(ctx, "", reauthShown)
	v.ReauthErr = err != nil
	v.Reauth, v.MoreReauth = page.Items, page.Next != ""
	return v
}

// ms writes a latency percentile: "≤ 50 ms", "–" without runs.
func ms(v float64) string {
	switch {
	case math.IsNaN(v):
		return "–"
	case v >= 1000:
		return fmt.Sprintf("≤ %g s", v/1000)
	}
	return fmt.Sprintf("≤ %g ms", v)
}

// Chart geometry: one bar per minute.
const (
	chartW, chartH = 240, 48
	barW           = chartW / metrics.Minutes
)

// runsChart draws runs per minute as bars, the failed part of each in the
// error colour; the SVG holds numbers only, and a title says what it shows.
func runsChart(s metrics.Series) template.HTML {
	var top int64 = 1
	for _, n := range s.Runs {
		top = max(top, n)
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" role="img" viewBox="0 0 %d %d" width="%d" height="%d" data-chart="runs">`, chartW, chartH, chartW, chartH)
	fmt.Fprintf(&b, `<title>Runs per minute over the last hour: %d runs, %d failed; the highest minute had %d.</title>`, s.TotalRuns, s.TotalFailures, top)
	fmt.Fprintf(&b, `<line class="axis" x1="0" y1="%d" x2="%d" y2="%d"/>`, chartH-1, chartW, chartH-1)
	for i, n := range s.Runs {
		if n == 0 {
			continue
		}
		hOK := float64(n-s.Failures[i]) * float64(chartH-2) / float64(top)
		hBad := float64(s.Failures[i]) * float64(chartH-2) / float64(top)
		x := i * barW
		if hOK > 0 {
			fmt.Fprintf(&b, `<rect class="bar-ok" x="%d" y="%.1f" width="%d" height="%.1f"/>`, x, float64(chartH-1)-hOK, barW-1, hOK)
		}
		if hBad > 0 {
			fmt.Fprintf(&b, `<rect class="bar-failed" x="%d" y="%.1f" width="%d" height="%.1f"/>`, x, float64(chartH-1)-hOK-hBad, barW-1, hBad)
		}
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) // numbers and fixed text only
}

// latencyChart draws the p50 and p95 of each minute as two lines, on a
// log scale from 1 ms to the hour's slowest.
func latencyChart(s metrics.Series) template.HTML {
	top := 10.0
	for _, v := range s.P95 {
		if !math.IsNaN(v) {
			top = max(top, v)
		}
	}
	y := func(v float64) float64 {
		return float64(chartH-2) - math.Log10(max(v, 1))/math.Log10(top)*float64(chartH-4)
	}
	line := func(class string, vs [metrics.Minutes]float64) string {
		var pts []string
		for i, v := range vs {
			if !math.IsNaN(v) {
				pts = append(pts, fmt.Sprintf("%d,%.1f", i*barW+barW/2, y(v)))
			}
		}
		if len(pts) == 1 { // one point: a dot, not an invisible line
			return fmt.Sprintf(`<circle class="%s" cx="%s" r="2"/>`, class, strings.Replace(pts[0], ",", `" cy="`, 1))
		}
		return fmt.Sprintf(`<polyline class="%s" fill="none" points="%s"/>`, class, strings.Join(pts, " "))
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" role="img" viewBox="0 0 %d %d" width="%d" height="%d" data-chart="latency">`, chartW, chartH, chartW, chartH)
	fmt.Fprintf(&b, `<title>Run latency per minute over the last hour: p50 %s, p95 %s (log scale, up to %s).</title>`,
		ms(s.HourP50), ms(s.HourP95), ms(top))
	fmt.Fprintf(&b, `<line class="axis" x1="0" y1="%d" x2="%d" y2="%d"/>`, chartH-1, chartW, chartH-1)
	b.WriteString(line("p95", s.P95))
	b.WriteString(line("p50", s.P50))
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}
