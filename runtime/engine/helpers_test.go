package engine_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/membrane-dev/membrane"
	"github.com/membrane-dev/membrane/runtime/engine"
	"github.com/membrane-dev/membrane/runtime/httpx"
	"github.com/membrane-dev/membrane/spec"
)

// seen is one request as the test server received it.
type seen struct {
	Method string
	Path   string
	// RawPath is the path as sent, escapes kept.
	RawPath string
	Query   url.Values
	Header  http.Header
	Body    string
}

// api is a real HTTP server on a loopback port that records every request
// and answers with the test's handler.
type api struct {
	*httptest.Server
	mu    sync.Mutex
	reqs  []seen
	count atomic.Int64
	// done is closed when the test ends, before the server closes, so that
	// handlers blocked on it return.
	done chan struct{}
}

func newAPI(t *testing.T, h func(w http.ResponseWriter, r *http.Request, n int)) *api {
	t.Helper()
	a := &api{done: make(chan struct{})}
	a.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body)) // handlers may read it too
		n := int(a.count.Add(1))
		a.mu.Lock()
		a.reqs = append(a.reqs, seen{Method: r.Method, Path: r.URL.Path, RawPath: r.URL.EscapedPath(), Query: r.URL.Query(), Header: r.Header.Clone(), Body: string(body)})
		a.mu.Unlock()
		h(w, r, n)
	}))
	t.Cleanup(func() {
		close(a.done)
		a.Server.CloseClientConnections()
		a.Server.Close()
	})
	return a
}

// requests returns a copy of what the server has received so far.
func (a *api) requests() []seen {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]seen(nil), a.reqs...)
}

func (a *api) n() int { return int(a.count.Load()) }

// writeJSON answers status with v encoded as JSON.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// sleeps records the waits the HTTP client asks for, without waiting.
type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.d = append(s.d, d)
	s.mu.Unlock()
	return ctx.Err()
}

func (s *sleeps) got() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.d...)
}

// writeWorkspace writes YAML files into a fresh directory; {{BASE}} in
// them becomes base.
func writeWorkspace(t *testing.T, base string, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, text := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(strings.ReplaceAll(text, "{{BASE}}", base)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// env is a loaded workspace with the HTTP client it runs on.
type env struct {
	ws     *membrane.Workspace
	sleeps *sleeps
	dir    string
}

// load writes files and loads them through the real loader, on a client
// that may dial loopback and never really sleeps.
func load(t *testing.T, base string, files map[string]string) *env {
	t.Helper()
	sl := &sleeps{}
	return loadWith(t, base, files, httpx.New(httpx.Config{AllowPrivate: true, Sleep: sl.sleep}), sl)
}

func loadWith(t *testing.T, base string, files map[string]string, client *httpx.Client, sl *sleeps) *env {
	t.Helper()
	dir := writeWorkspace(t, base, files)
	ws, diags, err := membrane.Load(membrane.Options{HTTP: client}, dir)
	if err != nil {
		t.Fatalf("load: %v\n%v", err, diags)
	}
	t.Cleanup(client.CloseIdleConnections)
	return &env{ws: ws, sleeps: sl, dir: dir}
}

// run runs an action with a deadline that turns a hang into a failure: a
// little before the test binary's own (-timeout), so that the run's error
// is reported rather than a panic, and never a wall-clock bound of its own
// (a retry is refused when its wait would outlast the deadline, so a short
// one would make the retry tests depend on the machine's speed).
func (e *env) run(t *testing.T, req membrane.RunRequest) (*engine.Result, error) {
	t.Helper()
	ctx := context.Background()
	if dl, ok := t.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, dl.Add(-5*time.Second))
		defer cancel()
	}
	if req.Connector == "" {
		req.Connector = "test"
	}
	if req.Connection.ID == "" {
		req.Connection.ID = "conn-1"
	}
	return e.ws.Run(ctx, req)
}

// mustRun runs an action that must succeed and returns its output.
func (e *env) mustRun(t *testing.T, req membrane.RunRequest) any {
	t.Helper()
	res, err := e.run(t, req)
	if err != nil {
		t.Fatalf("run %s: %v", req.Action, err)
	}
	return res.Output
}

// runErr runs an action that must fail with an *engine.Error of type typ.
func (e *env) runErr(t *testing.T, req membrane.RunRequest, typ string) *engine.Error {
	t.Helper()
	res, err := e.run(t, req)
	if err == nil {
		t.Fatalf("run %s: want a %s error, got output %#v", req.Action, typ, res.Output)
	}
	return mustType(t, err, typ)
}

func mustType(t *testing.T, err error, typ string) *engine.Error {
	t.Helper()
	var e *engine.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not an *engine.Error", err, err)
	}
	if string(e.Type) != typ {
		t.Fatalf("error type = %q, want %q: %v", e.Type, typ, err)
	}
	return e
}

// loadOverride reads a ConnectionOverride file the way the CLI does.
func loadOverride(t *testing.T, name, text string) *spec.ConnectionOverride {
	t.Helper()
	els, diags := spec.LoadFile(name, []byte(text))
	if diags.HasErrors() {
		t.Fatalf("override: %v", diags)
	}
	if len(els) != 1 {
		t.Fatalf("override: %d documents", len(els))
	}
	o, ok := els[0].(*spec.ConnectionOverride)
	if !ok {
		t.Fatalf("override: got %T", els[0])
	}
	return o
}

// connector is the YAML of a connector named test on {{BASE}}, with extra
// top-level fields appended.
func connector(extra string) string {
	return "kind: Connector\nkey: test\nbaseUrl: {{BASE}}\n" + extra
}

func asJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// everything renders a run's output, log and error as one text, to look
// for a secret anywhere in them.
func everything(t *testing.T, res *engine.Result, err error) string {
	t.Helper()
	var b strings.Builder
	if res != nil {
		out, _ := json.Marshal(res.Output)
		b.Write(out)
		out, _ = json.Marshal(res.Log)
		b.Write(out)
		for _, x := range res.Log {
			// Headers are also checked as Go values, in case JSON escaping
			// hid a secret.
			for k, vs := range x.RequestHeaders {
				b.WriteString(k + ":" + strings.Join(vs, ",") + "\n")
			}
			for k, vs := range x.ResponseHeaders {
				b.WriteString(k + ":" + strings.Join(vs, ",") + "\n")
			}
			b.WriteString(x.URL + "\n" + x.RequestBody + "\n" + x.ResponseBody + "\n" + x.Error + "\n")
		}
	}
	if err != nil {
		b.WriteString(err.Error())
		var e *engine.Error
		if errors.As(err, &e) {
			b.WriteString(e.Message + e.Body + e.Request)
		}
	}
	return b.String()
}
