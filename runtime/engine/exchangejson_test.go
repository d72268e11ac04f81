package engine

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestExchangeDurationInMilliseconds: an exchange's duration is written
// in milliseconds, the unit of every duration of a run log, and read back;
// one stored by earlier versions, in nanoseconds, still reads.
func TestExchangeDurationInMilliseconds(t *testing.T) {
	x := Exchange{Method: "GET", URL: "https://x.example/a", Status: 200, Duration: 1534567 * time.Nanosecond}
	b, err := json.Marshal(x)
	if err != nil {
		t.Fatal(err)
	}
	if s := string(b); !strings.Contains(s, `"durationMs":1.534`) || strings.Contains(s, `"duration"`) {
		t.Errorf("marshalled %s, want durationMs 1.534 and no duration", s)
	}
	var back Exchange
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if want := x; back.Method != want.Method || back.URL != want.URL || back.Status != 200 || back.Duration != 1534*time.Microsecond {
		t.Errorf("read back %+v, want %+v to the microsecond", back, want)
	}
	var old Exchange
	if err := json.Unmarshal([]byte(`{"method":"POST","url":"u","duration":2500000,"error":"timeout"}`), &old); err != nil {
		t.Fatal(err)
	}
	if old.Duration != 2500*time.Microsecond || old.Method != "POST" || old.Error != "timeout" {
		t.Errorf("an older exchange read as %+v", old)
	}
}
