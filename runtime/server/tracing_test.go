package server_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/membrane-dev/membrane/internal/otlptest"
	"github.com/membrane-dev/membrane/internal/testkit"
	"github.com/membrane-dev/membrane/runtime/connections"
	"github.com/membrane-dev/membrane/runtime/engine"
	"github.com/membrane-dev/membrane/runtime/server"
	"github.com/membrane-dev/membrane/runtime/telemetry/requestid"
)

// headerUpstream is an API on loopback that answers GET /me and POST
// /contacts, and keeps the headers of each POST /contacts.
type headerUpstream struct {
	srv *httptest.Server
	mu  sync.Mutex
	got []http.Header
}

func newHeaderUpstream(t testing.TB) *headerUpstream {
	u := &headerUpstream{}
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/contacts" { // not the credentials' test, GET /me
			u.mu.Lock()
			u.got = append(u.got, r.Header.Clone())
			u.mu.Unlock()
		}
		if r.Header.Get("X-Api-Key") != apiKey {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"id":"c_1"}`)
	}))
	t.Cleanup(u.srv.Close)
	return u
}

func (u *headerUpstream) headers() []http.Header {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]http.Header(nil), u.got...)
}

// tracedWorkspace has two connectors to the same API: crm, and traced,
// whose http.propagateTrace is on; membrane.yaml's tracing block exports
// to endpoint (none: no block).
func tracedWorkspace(t testing.TB, api, endpoint string) string {
	files := map[string]string{
		"connectors/crm/connector.yaml":                 connectorYAML,
		"connectors/crm/actions/create-contact.yaml":    actionYAML,
		"connectors/traced/connector.yaml":              strings.Replace(connectorYAML, "key: crm", "key: traced", 1) + "http: {propagateTrace: true}\n",
		"connectors/traced/actions/create-contact.yaml": strings.Replace(actionYAML, "connector: crm", "connector: traced", 1),
	}
	if endpoint != "" {
		files["membrane.yaml"] = "kind: Workspace\nkey: servertest\ntracing:\n  endpoint: " + endpoint + "\n"
	}
	return testkit.Workspace(t, files, map[string]string{"{{API}}": api})
}

// TestTraceOfAnAPICall: a run through the REST API with a traceparent and
// an X-Request-Id is exported to a real OTLP receiver as one trace, the
// caller's: API call → run → upstream request and the run log's store
// write. The upstream gets the trace context only from the connector that
// opts in. The request id is on the response, the run log, the API's log
// line (with the trace id) and the spans.
func TestTraceOfAnAPICall(t *testing.T) {
	rcv := otlptest.Start(t)
	up := newHeaderUpstream(t)
	var logs testkit.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := server.New(ctx, server.Config{Dir: tracedWorkspace(t, up.srv.URL, rcv.HTTPEndpoint), AllowPrivate: true,
		LookupEnv: env(map[string]string{"MEMBRANE_WORKSPACE_SECRET": testSecret})}, slog.New(slog.NewJSONHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	tok := token(t, "servertest", testSecret, "acme")

	const traceID, callerSpan = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
	runs := map[string]string{} // connector → run id
	for _, connector := range []string{"traced", "crm"} {
		conn, err := s.Service.Create(ctx, "acme", connections.CreateRequest{Connector: connector, Credentials: map[string]any{"apiKey": apiKey}})
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest("POST", srv.URL+"/v1/connections/"+conn.ID+"/actions/create-contact/run", strings.NewReader(`{"input":{"email":"ada@example.com"}}`))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("traceparent", "00-"+traceID+"-"+callerSpan+"-01")
		req.Header.Set(requestid.Header, "req-"+connector)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var out struct{ RunID string }
		json.NewDecoder(resp.Body).Decode(&out)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Header.Get(requestid.Header) != "req-"+connector {
			t.Fatalf("%s: %d, X-Request-Id %q", connector, resp.StatusCode, resp.Header.Get(requestid.Header))
		}
		runs[connector] = out.RunID
		// The run log is found by the request id.
		var page struct {
			Items []struct{ ID, RequestID string }
		}
		if code := call(t, http.DefaultClient, "GET", srv.URL+"/v1/run-logs?requestId=req-"+connector, tok, nil, &page); code != http.StatusOK ||
			len(page.Items) != 1 || page.Items[0].ID != out.RunID || page.Items[0].RequestID != "req-"+connector {
			t.Fatalf("%s: run logs by request id: %d %+v", connector, code, page.Items)
		}
	}
	// Closing flushes the spans queued.
	srv.Close()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	sent := up.headers()
	if len(sent) != 2 {
		t.Fatalf("the upstream got %d requests", len(sent))
	}
	tp := sent[0].Get("traceparent")
	if !strings.HasPrefix(tp, "00-"+traceID+"-") || sent[1].Get("traceparent") != "" || sent[1].Get("tracestate") != "" {
		t.Fatalf("traceparent sent: traced %q, crm %q (only the connector that opts in sends it, in the caller's trace)", tp, sent[1].Get("traceparent"))
	}

	spans := rcv.WaitFor(t, 30*time.Second, func(ss []otlptest.Span) bool {
		n := 0
		for _, s := range ss {
			if s.Name == "store append run log" {
				n++
			}
		}
		return n == 2
	})
	for connector, runID := range runs {
		api := only(t, spans, func(s otlptest.Span) bool {
			return s.Kind == "Server" && s.Attrs["membrane.request_id"] == "req-"+connector
		})
		if api.TraceID != traceID || api.ParentSpanID != callerSpan || api.Name != "POST /v1/connections/{id}/actions/{action}/run" || api.Attrs["http.response.status_code"] != int64(200) {
			t.Fatalf("%s: API span %+v", connector, api)
		}
		run := only(t, spans, func(s otlptest.Span) bool { return s.ParentSpanID == api.SpanID })
		if run.Name != "run create-contact" || run.TraceID != traceID || run.Attrs["membrane.run_id"] != runID || run.Attrs["membrane.request_id"] != "req-"+connector || run.Attrs["membrane.outcome"] != "ok" {
			t.Fatalf("%s: run span %+v", connector, run)
		}
		upstream := only(t, spans, func(s otlptest.Span) bool {
			return s.ParentSpanID == run.SpanID && s.Kind == "Client" && strings.HasPrefix(s.Name, "upstream")
		})
		if upstream.Name != "upstream POST" || upstream.Attrs["server.address"] != "127.0.0.1" || upstream.Attrs["http.response.status_code"] != int64(200) ||
			upstream.Attrs["membrane.connector"] != connector || upstream.Attrs["membrane.attempts"] != int64(1) {
			t.Fatalf("%s: upstream span %+v", connector, upstream)
		}
		for k, v := range upstream.Attrs {
			if s, _ := v.(string); strings.Contains(s, "/contacts") || strings.Contains(s, apiKey) {
				t.Fatalf("%s: the upstream span records the path or a secret: %s=%v", connector, k, v)
			}
		}
		if connector == "traced" && tp != "00-"+traceID+"-"+upstream.SpanID+"-01" {
			t.Fatalf("the traceparent sent %q is not the upstream span's %s", tp, upstream.SpanID)
		}
		only(t, spans, func(s otlptest.Span) bool { return s.ParentSpanID == run.SpanID && s.Name == "store append run log" })
	}

	// The API's log line of each request names it and its trace.
	found := 0
	for _, line := range strings.Split(logs.String(), "\n") {
		var l map[string]any
		if json.Unmarshal([]byte(line), &l) != nil || l["msg"] != "api request" || !strings.HasSuffix(toStr(l["route"]), "/run") {
			continue
		}
		found++
		if !strings.HasPrefix(toStr(l["requestId"]), "req-") || l["traceId"] != traceID {
			t.Fatalf("log line %s", line)
		}
	}
	if found != 2 {
		t.Fatalf("%d run log lines, want 2:\n%s", found, logs.String())
	}
}

func toStr(v any) string { s, _ := v.(string); return s }

// only returns the one span that matches.
func only(t *testing.T, spans []otlptest.Span, match func(otlptest.Span) bool) otlptest.Span {
	t.Helper()
	var got []otlptest.Span
	for _, s := range spans {
		if match(s) {
			got = append(got, s)
		}
	}
	if len(got) != 1 {
		t.Fatalf("%d spans match, want 1: %+v\nall: %+v", len(got), got, spans)
	}
	return got[0]
}

// TestUnreachableCollector: with the collector refusing connections, or
// accepting them and never answering, every run still works, and the
// server's goroutines do not grow with the runs: spans wait in one
// bounded queue, exported by one goroutine, and are dropped when it is
// full.
func TestUnreachableCollector(t *testing.T) {
	refused := func(t *testing.T) string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		return "http://" + addr
	}
	blackhole := func(t *testing.T) string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		var conns []net.Conn
		var mu sync.Mutex
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				mu.Lock()
				conns = append(conns, c) // held open, never read or answered
				mu.Unlock()
			}
		}()
		t.Cleanup(func() {
			ln.Close()
			mu.Lock()
			defer mu.Unlock()
			for _, c := range conns {
				c.Close()
			}
		})
		return "http://" + ln.Addr().String()
	}
	for name, endpoint := range map[string]func(*testing.T) string{"refused": refused, "blackhole": blackhole} {
		t.Run(name, func(t *testing.T) {
			up := newHeaderUpstream(t)
			r := start(t, server.Config{Dir: tracedWorkspace(t, up.srv.URL, endpoint(t)), AllowPrivate: true,
				LookupEnv: env(map[string]string{"MEMBRANE_WORKSPACE_SECRET": testSecret})})
			conn, err := r.Service.Create(context.Background(), "acme", connections.CreateRequest{Connector: "traced", Credentials: map[string]any{"apiKey": apiKey}})
			if err != nil {
				t.Fatal(err)
			}
			run := func() {
				res, err := r.Service.Run(context.Background(), "acme", conn.ID, "create-contact", map[string]any{"email": "ada@example.com"}, engine.RunOptions{})
				if err != nil || res.Output.(map[string]any)["id"] != "c_1" {
					t.Fatalf("run: %v", err)
				}
			}
			run() // the exporter and the pools are up
			before := runtime.NumGoroutine()
			// Three spans a run, more than the queue holds (2048): the
			// rest are dropped.
			for range 1500 {
				run()
			}
			if after := runtime.NumGoroutine(); after > before+10 {
				t.Fatalf("goroutines grew from %d to %d over the runs", before, after)
			}
		})
	}
}

// TestRequestIDWithoutTracing: with tracing off a request still gets an
// id, made up when it sends none, shared by the response, the run log and
// the log line, which names no trace.
func TestRequestIDWithoutTracing(t *testing.T) {
	up := newHeaderUpstream(t)
	var logs testkit.Buffer
	s, err := server.New(t.Context(), server.Config{Dir: tracedWorkspace(t, up.srv.URL, ""), AllowPrivate: true,
		LookupEnv: env(map[string]string{"MEMBRANE_WORKSPACE_SECRET": testSecret})}, slog.New(slog.NewJSONHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	tok := token(t, "default", testSecret, "acme")
	conn, err := s.Service.Create(t.Context(), "acme", connections.CreateRequest{Connector: "traced", Credentials: map[string]any{"apiKey": apiKey}})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("POST", srv.URL+"/v1/connections/"+conn.ID+"/actions/create-contact/run", strings.NewReader(`{"input":{"email":"ada@example.com"}}`))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var out struct{ RunID string }
	json.NewDecoder(resp.Body).Decode(&out)
	resp.Body.Close()
	id := resp.Header.Get(requestid.Header)
	if resp.StatusCode != http.StatusOK || !requestid.Valid(id) {
		t.Fatalf("%d, X-Request-Id %q", resp.StatusCode, id)
	}
	var l struct{ RequestID string }
	if code := call(t, http.DefaultClient, "GET", srv.URL+"/v1/run-logs/"+out.RunID, tok, nil, &l); code != http.StatusOK || l.RequestID != id {
		t.Fatalf("run log: %d %+v, want request id %s", code, l, id)
	}
	if h := up.headers(); len(h) != 1 || h[0].Get("traceparent") != "" {
		t.Fatalf("with tracing off nothing is propagated: %v", h)
	}
	found := false
	for _, line := range strings.Split(logs.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == "api request" && strings.HasSuffix(toStr(m["route"]), "/run") {
			found = true
			if m["requestId"] != id || m["traceId"] != nil {
				t.Fatalf("log line %s", line)
			}
		}
	}
	if !found {
		t.Fatalf("no log line of the run:\n%s", logs.String())
	}
}
