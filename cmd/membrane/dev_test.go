package main

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/membrane-dev/membrane/internal/testkit"
	"github.com/membrane-dev/membrane/runtime/server"
	"github.com/membrane-dev/membrane/runtime/store/storetest"
)

// TestDev: started on a broken workspace, dev serves its diagnostics and
// console, then the fix, and reloads on save; it stops at once with an
// event stream open.
func TestDev(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"connector.yaml", "actions/get-note.yaml"} {
		data, err := os.ReadFile(filepath.Join("testdata/run/ws", name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if name == "connector.yaml" {
			data = []byte(strings.Replace(string(data), "key: notes", "key: [notes", 1))
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	good, _ := os.ReadFile("testdata/run/ws/connector.yaml")

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	out := &testkit.Buffer{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	// Shutdown would wait an hour for requests in flight: only a server
	// that ends its event streams itself stops before go test's -timeout.
	go func() {
		done <- runDev(ctx, server.Config{Dir: dir, AllowPrivate: true, ShutdownTimeout: time.Hour}, ln, storetest.Quiet(), out)
	}()

	waitUntil(t, "the errors printed", func() bool { return strings.Contains(out.String(), "nothing to serve until they are fixed") })
	if !strings.Contains(out.String(), "connector.yaml:") {
		t.Errorf("the error is not printed with its place:\n%s", out.String())
	}
	status := func() (gen float64) {
		resp, err := http.Get(url + "/dev/diagnostics")
		if err != nil {
			return -1
		}
		defer resp.Body.Close()
		var st struct{ Generation float64 }
		_ = json.NewDecoder(resp.Body).Decode(&st)
		return st.Generation
	}
	// Broken from the start: the diagnostics and the console are served.
	waitUntil(t, "the diagnostics served", func() bool { return status() == 0 })
	if resp, err := http.Get(url + "/console/diagnostics"); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("console while broken: %v %v", err, resp)
	} else {
		resp.Body.Close()
	}
	if err := os.WriteFile(filepath.Join(dir, "connector.yaml"), good, 0o644); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the fix served", func() bool { return status() >= 1 })

	events, err := http.Get(url + "/dev/events")
	if err != nil {
		t.Fatal(err)
	}
	defer events.Body.Close()

	gen := status()
	action := filepath.Join(dir, "actions/get-note.yaml")
	data, _ := os.ReadFile(action)
	if err := os.WriteFile(action, []byte(strings.Replace(string(data), "key: get-note", "key: get-note\ndescription: edited", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the save served", func() bool { return status() > gen })

	cancel()
	if err := <-done; err != nil {
		t.Errorf("runDev: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, ".membrane")); err != nil {
		t.Errorf("no state under DIR/.membrane: %v", err)
	}
}

// waitUntil polls cond, failing a little before the test binary's
// -timeout: no wall-clock bound of its own to trip on a busy machine.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline, ok := t.Deadline()
	for !cond() {
		if ok && time.Until(deadline) < 5*time.Second {
			t.Fatalf("waited until the test's timeout for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestDevRelativeDir: `membrane dev devws`, with no membrane.yaml, keeps
// its state in devws/.membrane, not in devws/devws/.membrane.
func TestDevRelativeDir(t *testing.T) {
	src, err := filepath.Abs("testdata/run/ws")
	if err != nil {
		t.Fatal(err)
	}
	t.Chdir(t.TempDir())
	for _, name := range []string{"connector.yaml", "actions/get-note.yaml"} {
		data, err := os.ReadFile(filepath.Join(src, name))
		if err != nil {
			t.Fatal(err)
		}
		testkit.WriteFile(t, filepath.Join("devws", name), string(data))
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	out := &testkit.Buffer{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- runDev(ctx, server.Config{Dir: "devws", AllowPrivate: true}, ln, storetest.Quiet(), out)
	}()
	waitUntil(t, "the workspace served", func() bool { return strings.Contains(out.String(), "serving http://") })
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("runDev: %v", err)
	}
	if _, err := os.Stat(filepath.Join("devws", ".membrane", "membrane.db")); err != nil {
		t.Errorf("no store at devws/.membrane/membrane.db: %v", err)
	}
	if _, err := os.Stat(filepath.Join("devws", "devws")); err == nil {
		t.Errorf("devws/devws was made: the workspace's path was joined twice")
	}
}
