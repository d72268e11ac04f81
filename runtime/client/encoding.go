package client

import (
	"encoding/json"
	"math"
	"time"
)

type exchangeFields Exchange

// MarshalJSON writes the duration as the API does: durationMs, in
// milliseconds.
func (x Exchange) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		exchangeFields
		DurationMs float64 `json:"durationMs"`
	}{exchangeFields(x), float64(x.Duration.Microseconds()) / 1000})
}

// UnmarshalJSON reads durationMs, in milliseconds.
func (x *Exchange) UnmarshalJSON(b []byte) error {
	var v struct {
		exchangeFields
		DurationMs float64 `json:"durationMs"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*x = Exchange(v.exchangeFields)
	x.Duration = time.Duration(math.Round(v.DurationMs * float64(time.Millisecond)))
	return nil
}

// Decode decodes the output into v.
func (r *RunResult) Decode(v any) error { return json.Unmarshal(r.Output, v) }
