package reload

import (
	"context"

	"github.com/membrane-dev/membrane/runtime/internal/devstatus"
)

// Status is the outcome of the latest load; see the package doc. The
// console shows the same type (runtime/internal/devstatus).
type Status = devstatus.Status

// Status returns the latest status.
func (r *Reloader) Status() Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.status
}

// Subscribe returns a channel of statuses (see the package doc).
func (r *Reloader) Subscribe(ctx context.Context) <-chan Status {
	ch := make(chan Status, 1)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped {
		close(ch)
		return ch
	}
	ch <- r.status
	r.subs[ch] = struct{}{}
	go func() {
		select {
		case <-ctx.Done():
		case <-r.done:
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		if _, ok := r.subs[ch]; ok {
			delete(r.subs, ch)
			close(ch)
		}
	}()
	return ch
}

// publish makes st the status and offers it to every subscriber without
// waiting: one that has not taken the previous one gets this one instead.
func (r *Reloader) publish(st Status) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.status = st
	for ch := range r.subs {
		select {
		case ch <- st:
			continue
		default:
		}
		select {
		case <-ch: // stale; the newest replaces it
		default:
		}
		ch <- st // the only sender holds mu, and the slot is free
	}
}

// stop closes every subscription, for Run's end.
func (r *Reloader) stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped {
		return
	}
	r.stopped = true
	close(r.done)
	for ch := range r.subs {
		delete(r.subs, ch)
		close(ch)
	}
}
