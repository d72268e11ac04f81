package requestid_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/trace"

	"github.com/membrane-dev/membrane/runtime/telemetry/requestid"
)

// TestMiddleware: a sensible X-Request-Id is kept, anything else (too
// long, a header injection, empty) replaced by a new id; either way the
// response and the handler's context carry the same one.
func TestMiddleware(t *testing.T) {
	for _, c := range []struct {
		name, in string
		kept     bool
	}{
		{"a UUID is kept", "0b7c9f52-8f3e-4d7a-9a1e-3c2b1a0f9e8d", true},
		{"a gateway's id with dots and colons is kept", "edge-1:req.42_a", true},
		{"none gets one", "", false},
		{"too long is replaced", strings.Repeat("a", requestid.MaxLen+1), false},
		{"spaces are replaced", "req 1", false},
		{"a log-injection attempt is replaced", "req\",\"level\":\"ERROR", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			var seen string
			h := requestid.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				seen = requestid.FromContext(r.Context())
			}))
			req := httptest.NewRequest("GET", "/v1/x", nil)
			if c.in != "" {
				req.Header.Set(requestid.Header, c.in)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			got := rec.Header().Get(requestid.Header)
			if got != seen || !requestid.Valid(got) {
				t.Fatalf("response %q, context %q", got, seen)
			}
			if (got == c.in) != c.kept {
				t.Fatalf("kept %v (%q), want kept %v", got == c.in, got, c.kept)
			}
		})
	}
	if a, b := requestid.New(), requestid.New(); a == b || len(a) != 32 {
		t.Fatalf("new ids %q %q", a, b)
	}
}

// TestLogHandler: a line logged with a request's context names its
// request id, and its trace while a span is recorded; one logged without
// names neither.
func TestLogHandler(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(requestid.LogHandler(slog.NewJSONHandler(&buf, nil))).With("component", "api")
	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	ctx := requestid.NewContext(context.Background(), "req-1")
	ctx = trace.ContextWithSpanContext(ctx, trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled}))
	log.InfoContext(ctx, "api request", "status", 200)
	log.Info("no request")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("lines %q", lines)
	}
	var first, second map[string]any
	if json.Unmarshal([]byte(lines[0]), &first) != nil || json.Unmarshal([]byte(lines[1]), &second) != nil {
		t.Fatalf("not JSON: %q", lines)
	}
	if first["requestId"] != "req-1" || first["traceId"] != tid.String() || first["spanId"] != sid.String() || first["component"] != "api" {
		t.Fatalf("line with a request: %v", first)
	}
	if _, has := second["requestId"]; has {
		t.Fatalf("line without a request: %v", second)
	}
	if _, has := second["traceId"]; has {
		t.Fatalf("line without a request: %v", second)
	}
}
