package delivery

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/membrane-dev/membrane/runtime/store"
)

// recordWait bounds how long an attempt waits for others to share its
// record's transaction while attempts are still being sent.
const recordWait = 2 * time.Millisecond

// pendingRecord is an attempt made and not yet recorded.
type pendingRecord struct {
	a    store.Attempt
	o    store.Outcome
	r    result
	done chan struct{} // closed once recorded (or its record failed)
}

// recorder gathers the attempts of the slots and records them together,
// one transaction for many: a group is recorded once no attempt is being
// sent (no other will come soon), when it holds Batch attempts, or
// recordWait after its first attempt, whichever comes first. Each slot
// has at most one attempt here while it sends the next, so the attempts
// answered and not recorded are at most a destination's concurrency, as
// when every slot recorded its own.
type recorder struct {
	sending atomic.Int64 // attempts being sent
	wake    chan struct{}

	mu      sync.Mutex
	pending []*pendingRecord
	first   time.Time // of pending[0]
}

// sent notes the end of an attempt's send.
func (r *recorder) sent() {
	if r.sending.Add(-1) == 0 {
		signal(r.wake)
	}
}

func (r *recorder) push(p *pendingRecord) {
	r.mu.Lock()
	if len(r.pending) == 0 {
		r.first = time.Now()
	}
	r.pending = append(r.pending, p)
	r.mu.Unlock()
	signal(r.wake)
}

// take waits for a group to record; nil once stop is closed and nothing
// is pending.
func (r *recorder) take(stop <-chan struct{}, most int) []*pendingRecord {
	stopping := false
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		r.mu.Lock()
		n := len(r.pending)
		var wait time.Duration
		if n > 0 {
			age := time.Since(r.first)
			if stopping || n >= most || age >= recordWait || r.sending.Load() == 0 {
				group := r.pending
				r.pending = nil
				r.mu.Unlock()
				return group
			}
			wait = recordWait - age
		}
		r.mu.Unlock()
		if n == 0 && stopping {
			return nil
		}
		var expired <-chan time.Time
		if n > 0 {
			if timer == nil {
				timer = time.NewTimer(wait)
			} else {
				timer.Reset(wait)
			}
			expired = timer.C
		}
		select {
		case <-r.wake:
		case <-expired:
		case <-stop:
			stopping, stop = true, nil
		}
	}
}

// recordLoop records the slots' attempts in groups until stop is closed
// and every attempt handed to it is recorded. Records outlive ctx (a
// stopping replica records what it sent), each group bounded by its own
// timeout.
func (d *Deliverer) recordLoop(ctx context.Context, stop <-chan struct{}) {
	ctx = context.WithoutCancel(ctx)
	for {
		group := d.rec.take(stop, d.cfg.Batch)
		if group == nil {
			return
		}
		d.recordGroup(ctx, group)
	}
}

func (d *Deliverer) recordGroup(ctx context.Context, group []*pendingRecord) {
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	rs := make([]store.AttemptOutcome, len(group))
	for i, p := range group {
		rs[i] = store.AttemptOutcome{Attempt: p.a, Outcome: p.o}
	}
	errs, err := d.st.Deliveries().RecordBatch(rctx, d.cfg.Worker, rs)
	for i, p := range group {
		e := err
		if e == nil {
			e = errs[i]
		}
		d.recorded(rctx, p, e)
		close(p.done)
	}
}
