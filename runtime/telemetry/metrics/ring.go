package metrics

import (
	"math"
	"sort"
	"sync"
	"time"
)

// Minutes is how many per-minute buckets the ring keeps: the console's
// last hour.
const Minutes = 60

// latencyBounds are the upper bounds, in milliseconds, of the ring's
// latency buckets; a percentile is the bound of the bucket it falls in.
var latencyBounds = []float64{1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 30000, 60000}

type minute struct {
	at       int64 // Unix minute; a slot whose at is old is empty
	runs     int64
	failures int64
	latency  [16]int32 // by latencyBounds, the last one for beyond
}

// ring is one connector's last Minutes minutes of runs.
type ring struct {
	mu    sync.Mutex
	slots [Minutes]minute
}

func newRing() *ring { return &ring{} }

func (r *ring) add(now time.Time, took time.Duration, failed bool) {
	at := now.Unix() / 60
	b := bucketOf(float64(took.Microseconds()) / 1000)
	r.mu.Lock()
	s := &r.slots[at%Minutes]
	if s.at != at {
		*s = minute{at: at}
	}
	s.runs++
	if failed {
		s.failures++
	}
	s.latency[b]++
	r.mu.Unlock()
}

func bucketOf(ms float64) int {
	return sort.SearchFloat64s(latencyBounds, ms) // len(latencyBounds) past the last bound
}

// Series is one connector's last hour, minute by minute, oldest first.
type Series struct {
	Connector string
	// Runs and Failures per minute.
	Runs, Failures [Minutes]int64
	// P50 and P95 per minute, in milliseconds; NaN for a minute without
	// runs.
	P50, P95 [Minutes]float64
	// Totals over the hour.
	TotalRuns, TotalFailures  int64
	HourP50, HourP95, HourP99 float64 // NaN without runs
}

// snapshot reads the ring as of now: the minute of now last.
func (r *ring) snapshot(now time.Time) Series {
	end := now.Unix() / 60
	var s Series
	var hour [16]int64
	r.mu.Lock()
	for i := range Minutes {
		at := end - int64(Minutes-1-i)
		m := r.slots[at%Minutes]
		s.P50[i], s.P95[i] = math.NaN(), math.NaN()
		if m.at != at || m.runs == 0 {
			continue
		}
		s.Runs[i], s.Failures[i] = m.runs, m.failures
		s.TotalRuns += m.runs
		s.TotalFailures += m.failures
		var h [16]int64
		for j, n := range m.latency {
			h[j] = int64(n)
			hour[j] += int64(n)
		}
		s.P50[i], s.P95[i] = percentile(h, 0.5), percentile(h, 0.95)
	}
	r.mu.Unlock()
	s.HourP50, s.HourP95, s.HourP99 = percentile(hour, 0.5), percentile(hour, 0.95), percentile(hour, 0.99)
	return s
}

// percentile is the upper bound of the bucket where q of the runs are
// reached; NaN without runs. Runs beyond the last bound count as twice it.
func percentile(h [16]int64, q float64) float64 {
	var total int64
	for _, n := range h {
		total += n
	}
	if total == 0 {
		return math.NaN()
	}
	want := int64(math.Ceil(q * float64(total)))
	var seen int64
	for i, n := range h {
		seen += n
		if seen >= want {
			if i < len(latencyBounds) {
				return latencyBounds[i]
			}
			break
		}
	}
	return 2 * latencyBounds[len(latencyBounds)-1]
}
