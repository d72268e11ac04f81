package devstatus

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/membrane-dev/membrane/spec/diag"
)

// What /dev/diagnostics serves reads back as it was, to the millisecond's
// thousandth the JSON keeps.
func TestStatusJSON(t *testing.T) {
	st := Status{Generation: 7, LoadedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), OK: false, Files: 3, Took: 12345 * time.Microsecond,
		Diagnostics: diag.List{
			{Pos: diag.Pos{File: "a.yaml", Line: 2, Col: 3}, Severity: diag.Error, Rule: "yaml-syntax", Message: "bad"},
			{Pos: diag.Pos{File: "b.yaml"}, Severity: diag.Warning, Rule: "unused", Message: "unused"},
		}}
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"tookMs":12.345`) || !strings.Contains(string(b), `"severity":"warning"`) {
		t.Errorf("JSON %s", b)
	}
	var back Status
	if err := json.Unmarshal(b, &back); err != nil || !reflect.DeepEqual(back, st) {
		t.Errorf("read back %+v (%v), want %+v", back, err, st)
	}
	// No diagnostics are an empty list, never null.
	b, _ = json.Marshal(Status{OK: true})
	if !strings.Contains(string(b), `"diagnostics":[]`) {
		t.Errorf("JSON %s", b)
	}
}
