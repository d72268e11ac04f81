package reload

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/membrane-dev/membrane/internal/testkit"
)

// TestDiagnosticsAndEvents: /dev/diagnostics answers the status as JSON;
// /dev/events streams it at once and on every change, and ends when the
// client leaves.
func TestDiagnosticsAndEvents(t *testing.T) {
	dir := t.TempDir()
	genWorkspace(t, dir, 1, 1)
	d := startDev(t, dir, Options{})

	var got map[string]any
	if code := d.get(t, "/dev/diagnostics", &got); code != 200 {
		t.Fatalf("GET /dev/diagnostics: %d", code)
	}
	for _, k := range []string{"generation", "loadedAt", "ok", "files", "diagnostics", "tookMs"} {
		if _, ok := got[k]; !ok {
			t.Errorf("/dev/diagnostics has no %q: %v", k, got)
		}
	}
	if got["generation"] != float64(1) || got["ok"] != true || got["files"] != float64(3) {
		t.Errorf("/dev/diagnostics = %v", got)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", d.URL+"/dev/events", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Errorf("Content-Type %q", ct)
	}
	events := make(chan Status)
	go func() {
		defer close(events)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 1<<20)
		event := ""
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				event = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: ") && event == "status":
				var st Status
				if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &st); err != nil {
					t.Errorf("event data: %v", err)
				}
				events <- st
			}
		}
	}()
	timeout := beforeTimeout(t)
	next := func() Status {
		t.Helper()
		select {
		case st := <-events:
			return st
		case <-timeout:
			t.Fatal("waited until the test's timeout for an event")
		}
		return Status{}
	}
	if st := next(); st.Generation != 1 || !st.OK {
		t.Errorf("first event %+v, want generation 1", st)
	}
	testkit.WriteFile(t, actionPath(dir, 0, 0), strings.Replace(actionText(0, 0, "v1"), "input.id", "input.nope", 1))
	if st := next(); st.OK || st.Generation != 1 || !hasDiag(st, "a0.yaml", "expression") || st.Diagnostics[0].Pos.Line == 0 {
		t.Errorf("event after a broken save %+v, want the error at its line", st)
	}
	testkit.WriteFile(t, actionPath(dir, 0, 0), actionText(0, 0, "v2"))
	if st := next(); !st.OK || st.Generation != 2 {
		t.Errorf("event after the fix %+v, want generation 2", st)
	}

	cancel()
	for {
		d.mu.Lock()
		n := len(d.subs)
		d.mu.Unlock()
		if n == 1 { // the test's own subscription
			break
		}
		select {
		case <-timeout:
			t.Fatalf("%d subscriptions until the test's timeout after the client left, want 1", n)
		case <-time.After(10 * time.Millisecond): // a poll: nothing signals an unsubscription
		}
	}
}
