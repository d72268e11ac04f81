package engine

import (
	"encoding/json"
	"math"
	"time"
)

// exchangeFields is Exchange without its methods, for encoding/json.
type exchangeFields Exchange

// MarshalJSON writes the duration as durationMs, in milliseconds to the
// microsecond: the unit of every duration in run logs and the API.
func (x Exchange) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		exchangeFields
		DurationMs float64 `json:"durationMs"`
	}{exchangeFields(x), millis(x.Duration)})
}

// UnmarshalJSON reads what MarshalJSON writes, and the exchanges of run
// logs stored before it, whose duration was in nanoseconds.
func (x *Exchange) UnmarshalJSON(b []byte) error {
	var v struct {
		exchangeFields
		DurationMs *float64 `json:"durationMs"`
		Duration   *int64   `json:"duration"` // nanoseconds, in older run logs
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*x = Exchange(v.exchangeFields)
	switch {
	case v.DurationMs != nil:
		x.Duration = time.Duration(math.Round(*v.DurationMs * float64(time.Millisecond)))
	case v.Duration != nil:
		x.Duration = time.Duration(*v.Duration)
	}
	return nil
}

// millis is d in milliseconds, to the microsecond.
func millis(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
