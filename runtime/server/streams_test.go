package server_test

import (
	"bufio"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/membrane-dev/membrane/runtime/server"
)

// TestShutdownEndsEventStreams: an open event stream does not hold a
// shutdown back: it ends with a comment, and Serve returns without
// cutting anything off.
func TestShutdownEndsEventStreams(t *testing.T) {
	t.Parallel()
	up := newUpstream(t)
	dir := workspace(t, up.srv.URL, "")
	// A shutdown that waited for the stream would take this long and fail.
	r := start(t, server.Config{Dir: dir, AllowPrivate: true, ShutdownTimeout: time.Hour,
		LookupEnv: env(map[string]string{"MEMBRANE_WORKSPACE_SECRET": testSecret})})
	req, err := http.NewRequestWithContext(t.Context(), "GET", r.URL+"/v1/events/stream", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token(t, "default", testSecret, "acme"))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("stream: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	sc := bufio.NewScanner(res.Body)
	if !sc.Scan() || sc.Text() != "retry: 2000" {
		t.Fatalf("the stream begins with %q", sc.Text())
	}
	r.stop()
	var last string
	for sc.Scan() {
		if sc.Text() != "" {
			last = sc.Text()
		}
	}
	if sc.Err() != nil || !strings.Contains(last, "shutting down") {
		t.Fatalf("the stream ended with %q, %v", last, sc.Err())
	}
	if err := r.wait(); err != nil {
		t.Fatalf("Serve: %v", err)
	}
}
