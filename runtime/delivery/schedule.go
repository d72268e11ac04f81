package delivery

import (
	"math/rand/v2"
	"time"

	"github.com/membrane-dev/membrane/runtime/store"
)

// DefaultSchedule is when the attempts of a delivery run: attempt n waits
// DefaultSchedule[n-1] after attempt n-1 (the first at once), so a
// delivery is retried for about 27½ hours before it is dead.
var DefaultSchedule = []time.Duration{
	0, 5 * time.Second, 5 * time.Minute, 30 * time.Minute,
	2 * time.Hour, 5 * time.Hour, 10 * time.Hour, 10 * time.Hour,
}

// DefaultDisableAfter is how long a destination may fail every attempt
// before it is disabled.
const DefaultDisableAfter = 5 * 24 * time.Hour

// Jitter spreads each wait by up to this fraction either way, so the
// retries of many deliveries failing together do not arrive together.
const Jitter = 0.2

// outcome is what follows attempt n (counting from 1) of a delivery that
// came to r at now.
func (d *Deliverer) outcome(n int, r result, now time.Time) store.Outcome {
	if r.Err == nil {
		return store.Outcome{Delivered: true}
	}
	if r.Gone || n >= len(d.cfg.Schedule) {
		return store.Outcome{Dead: true}
	}
	wait := jitter(d.cfg.Schedule[n])
	if r.RetryAfter > wait {
		wait = min(r.RetryAfter, MaxRetryAfter)
	}
	return store.Outcome{Next: now.Add(wait)}
}

func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	f := 1 - Jitter + 2*Jitter*rand.Float64()
	// Whole milliseconds: what both engines store exactly.
	return time.Duration(float64(d) * f).Round(time.Millisecond)
}
