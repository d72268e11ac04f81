package store

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/membrane-dev/membrane/runtime/store/crypt"
)

// TestOldRunLogsRead: the exchanges of a run log stored when their
// duration was nanoseconds in "duration" read back in today's form,
// milliseconds in "durationMs"; today's are returned as stored.
func TestOldRunLogsRead(t *testing.T) {
	keys, _ := crypt.New(crypt.Generate())
	ctx := context.Background()
	s, err := Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "m.db"), WithKeyring(keys))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rl := s.Tenant("acme").RunLogs()
	old, err := rl.Append(ctx, RunLog{Action: "a", Status: "ok", DurationMs: 2,
		Entries: json.RawMessage(`[{"method":"GET","url":"https://x.example/a","status":200,"duration":1534000},{"method":"GET","url":"https://x.example/b","duration":250,"error":"timeout"}]`)})
	if err != nil {
		t.Fatal(err)
	}
	current := `[{"method":"GET","url":"https://x.example/c","requestBody":"{\"duration\":5}","durationMs":0.25}]`
	now, err := rl.Append(ctx, RunLog{Action: "a", Status: "ok", Entries: json.RawMessage(current)})
	if err != nil {
		t.Fatal(err)
	}
	got, err := rl.Get(ctx, old.ID)
	if err != nil {
		t.Fatal(err)
	}
	var entries []map[string]any
	if err := json.Unmarshal(got.Entries, &entries); err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 || entries[0]["durationMs"] != 1.534 || entries[1]["durationMs"] != 0.0 || entries[0]["duration"] != nil || entries[1]["error"] != "timeout" {
		t.Errorf("old entries read as %s, want durationMs 1.534 and 0 and no duration", got.Entries)
	}
	page, err := rl.List(ctx, RunLogFilter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range page.Items {
		if l.ID == now.ID && string(l.Entries) != current {
			t.Errorf("current entries listed as %s, want them as stored: %s", l.Entries, current)
		}
		if l.ID == old.ID && string(l.Entries) != string(got.Entries) {
			t.Errorf("old entries listed as %s, got as %s", l.Entries, got.Entries)
		}
	}
}
