package tracing_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/membrane-dev/membrane/internal/otlptest"
	"github.com/membrane-dev/membrane/runtime/telemetry/requestid"
	"github.com/membrane-dev/membrane/runtime/telemetry/tracing"
	"github.com/membrane-dev/membrane/spec"
)

func env(vars map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := vars[k]
		return v, ok
	}
}

func TestFromWorkspace(t *testing.T) {
	ratio := 0.25
	file := &spec.TracingSettings{Endpoint: "http://otel:4318", Protocol: spec.TracingGRPC, HeadersEnv: "OTLP_HEADERS", SampleRatio: &ratio}
	for _, c := range []struct {
		name    string
		ts      *spec.TracingSettings
		env     map[string]string
		on      bool
		wantErr string
	}{
		{name: "nothing says where: off", env: map[string]string{}},
		{name: "the standard endpoint variable turns it on", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel:4318"}, on: true},
		{name: "the traces endpoint variable too", env: map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://otel:4318/v1/traces"}, on: true},
		{name: "the SDK disabled wins over the file", ts: file, env: map[string]string{"OTEL_SDK_DISABLED": "true", "OTLP_HEADERS": "a=b"}},
		{name: "no traces exporter wins over the variables", env: map[string]string{"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel:4318"}},
		{name: "a protocol the exporter lacks", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel:4318", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}, wantErr: "OTEL_EXPORTER_OTLP_PROTOCOL \"http/json\" is not supported"},
		{name: "the file", ts: file, env: map[string]string{"OTLP_HEADERS": "x-api-key=s3cr3t%2Cvalue"}, on: true},
		{name: "the file's headers variable unset", ts: file, env: map[string]string{}, wantErr: "names OTLP_HEADERS, which is not set"},
		{name: "the file's headers malformed", ts: file, env: map[string]string{"OTLP_HEADERS": "x-api-key"}, wantErr: "pair 1 is not name=value"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg, on, err := tracing.FromWorkspace(c.ts, env(c.env))
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("error %v, want one saying %q", err, c.wantErr)
				}
				if strings.Contains(err.Error(), "s3cr3t") {
					t.Fatalf("the error shows a header's value: %v", err)
				}
				return
			}
			if err != nil || on != c.on {
				t.Fatalf("on %v err %v, want on %v", on, err, c.on)
			}
			if c.ts != nil && on && (cfg.Endpoint != "http://otel:4318" || cfg.Protocol != spec.TracingGRPC || cfg.Headers["x-api-key"] != "s3cr3t,value" || *cfg.SampleRatio != 0.25) {
				t.Fatalf("config %+v", cfg)
			}
		})
	}
}

// TestExportsToACollector sends spans to a real OTLP receiver over each
// transport, with the headers configured, and checks what arrives: the
// server span continues the caller's trace, named by the route, with the
// request id, and the service is membrane.
func TestExportsToACollector(t *testing.T) {
	rcv := otlptest.Start(t)
	for _, c := range []struct{ protocol, endpoint string }{
		{spec.TracingHTTP, rcv.HTTPEndpoint},
		{spec.TracingGRPC, rcv.GRPCEndpoint},
	} {
		t.Run(c.protocol, func(t *testing.T) {
			tr, err := tracing.New(t.Context(), tracing.Config{Endpoint: c.endpoint, Protocol: c.protocol, Headers: map[string]string{"x-team": "integrations"}}, nil)
			if err != nil {
				t.Fatal(err)
			}
			mux := http.NewServeMux()
			mux.HandleFunc("GET /v1/things/{id}", func(w http.ResponseWriter, r *http.Request) {
				if !trace.SpanContextFromContext(r.Context()).IsValid() {
					t.Error("the handler's context has no span")
				}
				w.WriteHeader(http.StatusTeapot)
			})
			srv := httptest.NewServer(requestid.Middleware(tracing.Middleware(tr, mux)))
			defer srv.Close()
			const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
			req, _ := http.NewRequest("GET", srv.URL+"/v1/things/thing_1?apiKey=k_secret", nil)
			req.Header.Set("traceparent", "00-"+traceID+"-00f067aa0ba902b7-01")
			req.Header.Set(requestid.Header, "req-"+c.protocol[:4])
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if got := resp.Header.Get(requestid.Header); got != "req-"+c.protocol[:4] {
				t.Fatalf("X-Request-Id %q", got)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := tr.Shutdown(ctx); err != nil {
				t.Fatal(err)
			}
			spans := rcv.WaitFor(t, 30*time.Second, func(ss []otlptest.Span) bool { return find(ss, "req-"+c.protocol[:4]) != nil })
			s := find(spans, "req-"+c.protocol[:4])
			if s.Name != "GET /v1/things/{id}" || s.Kind != "Server" || s.TraceID != traceID || s.ParentSpanID != "00f067aa0ba902b7" ||
				s.Attrs["http.response.status_code"] != int64(http.StatusTeapot) || s.Attrs["http.route"] != "GET /v1/things/{id}" || s.Service != "membrane" {
				t.Fatalf("span %+v", s)
			}
			if got := s.Metadata["x-team"]; len(got) != 1 || got[0] != "integrations" {
				t.Fatalf("the export's headers %v, want x-team: integrations", s.Metadata)
			}
			for k, v := range s.Attrs {
				if strings.Contains(k+" "+toString(v), "k_secret") || strings.Contains(toString(v), "thing_1") {
					t.Fatalf("the span records the path or query: %s=%v", k, v)
				}
			}
		})
	}
}

func find(spans []otlptest.Span, requestID string) *otlptest.Span {
	for i := range spans {
		if spans[i].Attrs["membrane.request_id"] == requestID {
			return &spans[i]
		}
	}
	return nil
}

func toString(v any) string {
	s, _ := v.(string)
	return s
}

// TestOffIsFree: with tracing off the middleware is the handler itself,
// and a nil Tracer's Shutdown does nothing.
func TestOffIsFree(t *testing.T) {
	next := http.Handler(http.NewServeMux())
	if got := tracing.Middleware(nil, next); got != next {
		t.Fatal("tracing off wraps the handler")
	}
	var tr *tracing.Tracer
	if err := tr.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
}
