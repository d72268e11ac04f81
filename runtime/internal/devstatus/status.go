// Package devstatus is the development server's load status: what the
// reloader (runtime/reload) publishes and the console (runtime/console)
// shows. A leaf that both import, so neither imports the other and the
// type is written once; each names it Status.
package devstatus

import (
	"encoding/json"
	"time"

	"github.com/membrane-dev/membrane/spec/diag"
)

// Status is one load of the workspace: see runtime/reload's package doc
// for what each field means to the reloader's consumers.
type Status struct {
	// Generation counts the loads served; it grows by one at every reload
	// that loads clean.
	Generation int64
	LoadedAt   time.Time
	// OK is false when the last load had errors (the server then keeps
	// serving the previous workspace).
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
