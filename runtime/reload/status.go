package reload

import (
	"context"
	"encoding/json"
	"time"

	"github.com/membrane-dev/membrane/spec/diag"
)

// Status is the outcome of the latest load; see the package doc.
type Status struct {
	Generation  int64
	LoadedAt    time.Time
	OK          bool
	Files       int
	Diagnostics diag.List
	Took        time.Duration
}

type statusJSON struct {
	Generation  int64     `json:"generation"`
	LoadedAt    time.Time `json:"loadedAt"`
	OK          bool      `json:"ok"`
	Files       int       `json:"files"`
	Diagnostics diag.List `json:"diagnostics"`
	TookMs      float64   `json:"tookMs"`
}

// MarshalJSON writes the form /dev/diagnostics serves: diagnostics always
// a list, the duration in milliseconds.
func (s Status) MarshalJSON() ([]byte, error) {
	d := s.Diagnostics
	if d == nil {
		d = diag.List{}
	}
	return json.Marshal(statusJSON{s.Generation, s.LoadedAt, s.OK, s.Files, d, float64(s.Took.Microseconds()) / 1000})
}

// UnmarshalJSON reads what MarshalJSON writes, for clients in Go.
func (s *Status) UnmarshalJSON(b []byte) error {
	var j struct {
		statusJSON
		Diagnostics []struct {
			Pos      diag.Pos `json:"pos"`
			Severity string   `json:"severity"`
			Rule     string   `json:"rule"`
			Message  string   `json:"message"`
		} `json:"diagnostics"`
	}
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*s = Status{Generation: j.Generation, LoadedAt: j.LoadedAt, OK: j.OK, Files: j.Files, Took: time.Duration(j.TookMs * float64(time.Millisecond))}
	for _, d := range j.Diagnostics {
		sev := diag.Error // diag.Severity reads no text
		if d.Severity == diag.Warning.String() {
			sev = diag.Warning
		}
		s.Diagnostics = append(s.Diagnostics, diag.Diagnostic{Pos: d.Pos, Severity: sev, Rule: d.Rule, Message: d.Message})
	}
	return nil
}

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
