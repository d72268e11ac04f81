package console_test

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/membrane-dev/membrane/runtime/console"
	"github.com/membrane-dev/membrane/spec/diag"
)

// The event stream sends the current status at once, then each new one,
// and ends when the source closes its subscription (the development
// server stops), so a shutdown does not wait for open pages.
func TestEventStream(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{open: true})
	e.listen()
	// No client timeout: the stream must end because the source stopped.
	resp, err := http.Get(e.URL + "/console/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || ct != "text/event-stream" {
		t.Fatalf("events: %d %q", resp.StatusCode, ct)
	}
	rd := bufio.NewReader(resp.Body)
	next := func() map[string]any {
		t.Helper()
		for {
			line, err := rd.ReadString('\n')
			if err != nil {
				t.Fatalf("reading the stream: %v", err)
			}
			if data, ok := strings.CutPrefix(line, "data: "); ok {
				var ev map[string]any
				if err := json.Unmarshal([]byte(data), &ev); err != nil {
					t.Fatalf("event %q: %v", data, err)
				}
				return ev
			}
		}
	}
	first := next()
	if first["generation"] != 1.0 || first["ok"] != true {
		t.Errorf("first event %v", first)
	}
	// A broken save: the same generation is served, as a new load.
	e.source.publish(console.Status{Diagnostics: diag.List{{Severity: diag.Warning, Message: "unused"}, {Severity: diag.Error, Message: "bad"}}})
	if ev := next(); ev["generation"] != 1.0 || ev["load"] == first["load"] || ev["ok"] != false || ev["errors"] != 1.0 || ev["warnings"] != 1.0 {
		t.Errorf("second event %v (first %v)", ev, first)
	}
	e.source.stop()
	done := make(chan error, 1)
	go func() {
		for {
			if _, err := rd.ReadString('\n'); err != nil {
				done <- err
				return
			}
		}
	}()
	// The stream ended when the source stopped (if it never does, go
	// test's -timeout names this test), and ended cleanly.
	if err := <-done; err != io.EOF {
		t.Errorf("the stream ended with %v, want the end of the body", err)
	}
}
