package engine_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/membrane-dev/membrane"
	"github.com/membrane-dev/membrane/runtime/engine"
)

func TestErrorRules(t *testing.T) {
	srv := newAPI(t, func(w http.ResponseWriter, r *http.Request, n int) {
		switch r.URL.Query().Get("case") {
		case "400":
			writeJSON(w, 400, map[string]any{"code": "duplicate_email"})
		case "404":
			writeJSON(w, 404, map[string]any{"error": "gone"})
		case "402":
			writeJSON(w, 402, map[string]any{"error": "pay up"})
		case "okfalse":
			writeJSON(w, 200, map[string]any{"ok": false, "error": "channel_not_found"})
		default:
			writeJSON(w, 200, map[string]any{"ok": true})
		}
	})
	e := load(t, srv.URL, map[string]string{
		"connector.yaml": connector(`errors:
  - status: [400]
    type: invalid-input
    message: the connector's 400 rule
  - status: [404]
    type: not-found
    message: "connector says ${ response.body.error }"
  - status: [402]
    type: auth
`),
		"get.yaml": `kind: Action
connector: test
key: get
request:
  path: /x
  query: {case: "${ input.case }"}
errors:
  - status: [400]
    type: conflict
    message: "action says ${ response.body.code }"
  - when: ${ response.status == 200 && !response.body.ok }
    type: invalid-input
    message: ${ response.body.error }
`,
	})
	run := func(c string) (*engine.Result, error) {
		return e.run(t, membrane.RunRequest{Action: "get", Input: map[string]any{"case": c}})
	}

	// The action's rule comes before the connector's for the same status.
	_, err := run("400")
	got := mustType(t, err, engine.ErrConflict)
	if got.Message != "action says duplicate_email" || got.Status != 400 {
		t.Errorf("400: %+v", got)
	}
	if !strings.Contains(got.Body, "duplicate_email") {
		t.Errorf("400: body excerpt %q", got.Body)
	}

	// The connector's rule when the action has none for the status.
	_, err = run("404")
	got = mustType(t, err, engine.ErrNotFound)
	if got.Message != "connector says gone" || got.Status != 404 {
		t.Errorf("404: %+v", got)
	}

	// A rule without a message gives a default one with the status.
	_, err = run("402")
	got = mustType(t, err, engine.ErrAuth)
	if !strings.Contains(got.Message, "402") {
		t.Errorf("402: %+v", got)
	}

	// A `when:` rule fires on a 200 that reports a failure in its body.
	_, err = run("okfalse")
	got = mustType(t, err, engine.ErrInvalidInput)
	if got.Message != "channel_not_found" || got.Status != 200 {
		t.Errorf("ok:false: %+v", got)
	}

	// ...and not on a real success.
	res, err := run("ok")
	if err != nil {
		t.Fatalf("ok: %v", err)
	}
	if asJSON(t, res.Output) != `{"ok":true}` {
		t.Errorf("ok: output %s", asJSON(t, res.Output))
	}
}

func TestDefaultErrorMapping(t *testing.T) {
	srv := newAPI(t, func(w http.ResponseWriter, r *http.Request, n int) {
		status, _ := strconv.Atoi(r.URL.Query().Get("status"))
		writeJSON(w, status, map[string]any{"message": fmt.Sprintf("upstream says %d", status)})
	})
	e := load(t, srv.URL, map[string]string{
		"connector.yaml": connector(""),
		"get.yaml": `kind: Action
connector: test
key: get
request:
  path: /x
  query: {status: "${ input.status }"}
`,
	})
	for _, tc := range []struct {
		status   int
		typ      string
		attempts int
	}{
		{401, engine.ErrAuth, 1},
		{403, engine.ErrAuth, 1},
		{404, engine.ErrNotFound, 1},
		{409, engine.ErrConflict, 1},
		{422, engine.ErrInvalidInput, 1},
		{400, engine.ErrInvalidInput, 1},
		{429, engine.ErrRateLimited, 3},
		{500, engine.ErrUpstream, 3},
		{503, engine.ErrUpstream, 3},
		{501, engine.ErrUpstream, 1},
	} {
		t.Run(strconv.Itoa(tc.status), func(t *testing.T) {
			before := srv.n()
			res, err := e.run(t, membrane.RunRequest{Action: "get", Input: map[string]any{"status": tc.status}})
			got := mustType(t, err, tc.typ)
			if got.Status != tc.status {
				t.Errorf("Status = %d", got.Status)
			}
			if want := fmt.Sprintf("upstream says %d", tc.status); !strings.Contains(got.Body, want) {
				t.Errorf("Body = %q, want it to hold %q", got.Body, want)
			}
			if !strings.Contains(got.Request, "GET http://127.0.0.1:") || strings.Contains(got.Request, "?") {
				t.Errorf("Request = %q, want the method and URL without its query", got.Request)
			}
			if n := srv.n() - before; n != tc.attempts {
				t.Errorf("server saw %d attempts, want %d", n, tc.attempts)
			}
			if wantRetryable := tc.status == 429 || tc.status >= 500; got.Retryable != wantRetryable {
				t.Errorf("Retryable = %v", got.Retryable)
			}
			if len(res.Log) != 1 || res.Log[0].Attempts != tc.attempts {
				t.Errorf("log = %+v", res.Log)
			}
		})
	}
}

func TestRetries(t *testing.T) {
	// Each path fails with 503 on its first request, then answers.
	var mu sync.Mutex
	failed := map[string]bool{}
	srv := newAPI(t, func(w http.ResponseWriter, r *http.Request, n int) {
		mu.Lock()
		defer mu.Unlock()
		key := r.Method + " " + r.URL.Path
		if r.URL.Path == "/after" {
			// Retry-After asks for 7 seconds.
			if !failed[key] {
				failed[key] = true
				w.Header().Set("Retry-After", "7")
				writeJSON(w, 429, map[string]any{"error": "slow down"})
				return
			}
		} else if !failed[key] {
			failed[key] = true
			writeJSON(w, 503, map[string]any{"error": "busy"})
			return
		}
		writeJSON(w, 200, map[string]any{"ok": true, "path": r.URL.Path})
	})
	e := load(t, srv.URL, map[string]string{
		"connector.yaml": connector("retry: {initialBackoff: 1ms, maxBackoff: 2ms}\n"),
		"get.yaml":       "kind: Action\nconnector: test\nkey: get\nrequest: {path: /get}\n",
		"post.yaml":      "kind: Action\nconnector: test\nkey: post\nrequest: {method: POST, path: /post, body: {a: 1}}\n",
		"post-retried.yaml": `kind: Action
connector: test
key: post-retried
request: {method: POST, path: /post-retried, body: {a: 1}}
retry: {nonIdempotent: true, initialBackoff: 1ms}
`,
		"after.yaml": "kind: Action\nconnector: test\nkey: after\nrequest: {method: POST, path: /after}\n",
	})

	// GET: 503, then 200 on the second attempt.
	res, err := e.run(t, membrane.RunRequest{Action: "get"})
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	if len(res.Log) != 1 || res.Log[0].Attempts != 2 || res.Log[0].Status != 200 {
		t.Errorf("get: log = %+v, want one exchange of 2 attempts", res.Log)
	}

	// POST: a 503 is not retried, the server may have acted on it.
	before := srv.n()
	got := e.runErr(t, membrane.RunRequest{Action: "post"}, engine.ErrUpstream)
	if got.Status != 503 || srv.n()-before != 1 {
		t.Errorf("post: status %d after %d requests, want 503 after 1", got.Status, srv.n()-before)
	}

	// POST with retry.nonIdempotent: retried.
	before = srv.n()
	if _, err := e.run(t, membrane.RunRequest{Action: "post-retried"}); err != nil {
		t.Fatalf("post-retried: %v", err)
	}
	if srv.n()-before != 2 {
		t.Errorf("post-retried: %d requests, want 2", srv.n()-before)
	}

	// A 429 is retried whatever the method, after the Retry-After the API
	// asked for (the test's sleeper records it instead of waiting).
	before = srv.n()
	if _, err := e.run(t, membrane.RunRequest{Action: "after"}); err != nil {
		t.Fatalf("after: %v", err)
	}
	if srv.n()-before != 2 {
		t.Errorf("after: %d requests, want 2", srv.n()-before)
	}
	waits := e.sleeps.got()
	if len(waits) == 0 || waits[len(waits)-1] != 7*time.Second {
		t.Errorf("waits = %v, want the last to be Retry-After's 7s", waits)
	}
	for _, w := range waits[:len(waits)-1] {
		if w > 2*time.Millisecond {
			t.Errorf("backoff %v is over the connector's maxBackoff", w)
		}
	}
}

func TestHTMLPageIsAnUpstreamError(t *testing.T) {
	srv := newAPI(t, func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, "<!doctype html><html><body>Sign in to continue</body></html>")
	})
	e := load(t, srv.URL, map[string]string{
		"connector.yaml": connector(""),
		"get.yaml":       "kind: Action\nconnector: test\nkey: get\nrequest: {path: /x}\noutput: {id: '${ response.body.id }'}\n",
	})
	got := e.runErr(t, membrane.RunRequest{Action: "get"}, engine.ErrUpstream)
	if got.Status != 200 || !strings.Contains(got.Message, "HTML") || !strings.Contains(got.Body, "Sign in") {
		t.Errorf("error = %+v", got)
	}
}

func TestEmptyBody(t *testing.T) {
	srv := newAPI(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if r.Method == "DELETE" {
			w.WriteHeader(204)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(200)
	})
	e := load(t, srv.URL, map[string]string{
		"connector.yaml": connector(""),
		"del.yaml":       "kind: Action\nconnector: test\nkey: del\nrequest: {method: DELETE, path: /x/1}\noutput: {deleted: true, body: '${ response.body }'}\n",
		"raw.yaml":       "kind: Action\nconnector: test\nkey: raw\nrequest: {path: /x}\n",
		"get.yaml":       "kind: Action\nconnector: test\nkey: get\nrequest: {path: /x}\noutput: {id: '${ response.body.id }'}\n",
	})
	out := e.mustRun(t, membrane.RunRequest{Action: "del"})
	if asJSON(t, out) != `{"body":null,"deleted":true}` {
		t.Errorf("del: output %s", asJSON(t, out))
	}
	if out := e.mustRun(t, membrane.RunRequest{Action: "raw"}); out != nil {
		t.Errorf("raw: output %#v, want null", out)
	}
	// Reading a field of no body names the expression.
	got := e.runErr(t, membrane.RunRequest{Action: "get"}, engine.ErrExpression)
	if !strings.Contains(got.Message, "response.body.id") {
		t.Errorf("get: %v", got)
	}
}

func TestHugeBodyIsRefused(t *testing.T) {
	chunk := []byte(strings.Repeat("x", 64<<10))
	srv := newAPI(t, func(w http.ResponseWriter, r *http.Request, n int) {
		// 50 MB, chunked: no Content-Length warns the client in advance.
		w.Header().Set("Content-Type", "application/json")
		fl := w.(http.Flusher)
		for sent := 0; sent < 50<<20; sent += len(chunk) {
			if _, err := w.Write(chunk); err != nil {
				return // the client hung up, as it should
			}
			fl.Flush()
		}
	})
	e := load(t, srv.URL, map[string]string{
		"connector.yaml": connector("http: {maxResponseBytes: 1048576}\n"),
		"get.yaml":       "kind: Action\nconnector: test\nkey: get\nrequest: {path: /big}\n",
	})
	got := e.runErr(t, membrane.RunRequest{Action: "get"}, engine.ErrUpstream)
	if !strings.Contains(got.Message, "size limit") {
		t.Errorf("error = %+v, want the size limit named", got)
	}
	if srv.n() != 1 {
		t.Errorf("a too-large response was retried: %d requests", srv.n())
	}
}

func TestSlowTrickleTimesOut(t *testing.T) {
	// cut hears, for each attempt, whether the client hung up before the
	// body was complete (true) or took it all (false).
	cut := make(chan bool, 4)
	srv := newAPI(t, func(w http.ResponseWriter, r *http.Request, n int) {
		// Headers at once, then one byte every 50ms of a 1000-byte body:
		// 50 s in all, far past the 200ms read timeout.
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", "1000")
		w.WriteHeader(200)
		fl := w.(http.Flusher)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for range 1000 {
			if _, err := io.WriteString(w, " "); err != nil {
				cut <- true
				return
			}
			fl.Flush()
			select {
			case <-tick.C:
			case <-r.Context().Done():
				cut <- true
				return
			}
		}
		cut <- false
	})
	e := load(t, srv.URL, map[string]string{
		"connector.yaml": connector("http: {readTimeout: 200ms}\nretry: {maxAttempts: 2, initialBackoff: 1ms}\n"),
		"get.yaml":       "kind: Action\nconnector: test\nkey: get\nrequest: {path: /slow}\n",
	})
	got := e.runErr(t, membrane.RunRequest{Action: "get"}, engine.ErrTimeout)
	if !got.Retryable {
		t.Errorf("a read timeout should be retryable: %+v", got)
	}
	if errors.Is(got, context.DeadlineExceeded) {
		t.Errorf("the read timeout was reported as the run's deadline: %v", got)
	}
	if srv.n() != 2 {
		t.Errorf("server saw %d attempts, want 2 (a timed-out GET is retried)", srv.n())
	}
	// The read timeout bounds the whole body, not each read: the server
	// sees the client hang up on both attempts, mid-body.
	for i := range 2 {
		if !<-cut {
			t.Errorf("attempt %d: the client read the whole trickled body", i+1)
		}
	}
}

func TestContextDeadlineBeatsReadTimeout(t *testing.T) {
	hungUp := make(chan struct{}, 1)
	srv := newAPI(t, func(w http.ResponseWriter, r *http.Request, n int) {
		<-r.Context().Done() // never answers; the client hung up
		select {
		case hungUp <- struct{}{}:
		default:
		}
	})
	// The read timeout is an hour: only the run's deadline can end the
	// run before the test binary's own timeout does.
	e := load(t, srv.URL, map[string]string{
		"connector.yaml": connector("http: {readTimeout: 1h}\n"),
		"get.yaml":       "kind: Action\nconnector: test\nkey: get\nrequest: {path: /hang}\n",
	})
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	_, err := e.ws.Run(ctx, membrane.RunRequest{Connector: "test", Action: "get", Connection: engine.Connection{ID: "c1"}})
	mustType(t, err, engine.ErrTimeout)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("the timeout does not wrap the run's deadline: %v", err)
	}
	// The run ended because the client gave up the request, not the
	// other way round: the server sees the connection go.
	<-hungUp
}

func TestCanceledContext(t *testing.T) {
	// The server holds the request for the whole read timeout (5 s): only
	// a cancellation honoured mid-request gives canceled rather than timeout.
	started := make(chan struct{}, 1)
	srv := newAPI(t, func(w http.ResponseWriter, r *http.Request, n int) {
		started <- struct{}{}
		<-r.Context().Done()
	})
	e := load(t, srv.URL, map[string]string{
		"connector.yaml": connector("http: {readTimeout: 5s}\n"),
		"get.yaml":       "kind: Action\nconnector: test\nkey: get\nrequest: {path: /hang}\n",
	})
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-started
		cancel()
	}()
	_, err := e.ws.Run(ctx, membrane.RunRequest{Connector: "test", Action: "get", Connection: engine.Connection{ID: "c1"}})
	mustType(t, err, engine.ErrCanceled)
}

func TestConnectionReset(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	accepted := make(chan struct{}, 16)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- struct{}{}
			// Read the request head, then reset the connection.
			br := bufio.NewReader(c)
			for {
				line, err := br.ReadString('\n')
				if err != nil || line == "\r\n" {
					break
				}
			}
			c.(*net.TCPConn).SetLinger(0)
			c.Close()
		}
	}()
	e := load(t, "http://"+ln.Addr().String(), map[string]string{
		"connector.yaml": connector(""),
		"get.yaml":       "kind: Action\nconnector: test\nkey: get\nrequest: {path: /x}\n",
	})
	got := e.runErr(t, membrane.RunRequest{Action: "get"}, engine.ErrNetwork)
	if !got.Retryable {
		t.Errorf("a reset should be retryable: %+v", got)
	}
	if n := len(accepted); n != 3 {
		t.Errorf("connections = %d, want 3 (a GET is retried on a reset)", n)
	}
}

func TestErrorStatusWithoutJSONBody(t *testing.T) {
	srv := newAPI(t, func(w http.ResponseWriter, r *http.Request, n int) {
		switch r.URL.Path {
		case "/html":
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(404)
			io.WriteString(w, "<html><body><h1>404 Not Found</h1></body></html>")
		case "/empty":
			w.WriteHeader(404)
		case "/text":
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(409)
			io.WriteString(w, "already exists")
		}
	})
	e := load(t, srv.URL, map[string]string{
		"connector.yaml": connector(`errors:
  - status: [404]
    type: not-found
    message: ${ response.body.?error.orValue('no such object') }
`),
		"html.yaml":  "kind: Action\nconnector: test\nkey: html\nrequest: {path: /html}\n",
		"empty.yaml": "kind: Action\nconnector: test\nkey: empty\nrequest: {path: /empty}\n",
		"text.yaml":  "kind: Action\nconnector: test\nkey: text\nrequest: {path: /text}\n",
	})
	// A gateway's HTML 404 page is still a 404.
	got := e.runErr(t, membrane.RunRequest{Action: "html"}, engine.ErrNotFound)
	if got.Status != 404 || !strings.Contains(got.Body, "404 Not Found") {
		t.Errorf("html: %+v", got)
	}
	got = e.runErr(t, membrane.RunRequest{Action: "empty"}, engine.ErrNotFound)
	if got.Message != "no such object" {
		t.Errorf("empty: %+v", got)
	}
	got = e.runErr(t, membrane.RunRequest{Action: "text"}, engine.ErrConflict)
	if got.Body != "already exists" {
		t.Errorf("text: %+v", got)
	}
}
