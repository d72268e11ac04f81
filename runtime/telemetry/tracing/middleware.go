package tracing

import (
	"net/http"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/membrane-dev/membrane/runtime/telemetry/requestid"
)

// Middleware gives each request a server span, a child of the caller's
// trace when it sends a traceparent. The span is named by the route that
// served the request (the mux's pattern, with no ids or query), and
// carries the method, route, status and request id; never the path or
// the query, which may hold a key. With a nil t it returns next.
// skip names paths not traced (health checks).
func Middleware(t *Tracer, next http.Handler, skip ...string) http.Handler {
	if t == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, p := range skip {
			if r.URL.Path == p {
				next.ServeHTTP(w, r)
				return
			}
		}
		ctx := Extract(r.Context(), r.Header)
		ctx, span := t.Start(ctx, r.Method, trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(attribute.String("http.request.method", r.Method)))
		defer span.End()
		if id := requestid.FromContext(ctx); id != "" {
			span.SetAttributes(attribute.String("membrane.request_id", id))
		}
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		r = r.WithContext(ctx)
		next.ServeHTTP(rec, r)
		// The muxes below set the pattern they matched on r.
		if r.Pattern != "" {
			span.SetName(r.Pattern)
			span.SetAttributes(attribute.String("http.route", r.Pattern))
		}
		span.SetAttributes(attribute.Int("http.response.status_code", rec.status))
		if rec.status >= 500 {
			span.SetStatus(codes.Error, http.StatusText(rec.status))
		}
	})
}

// statusRecorder keeps the status a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (rec *statusRecorder) WriteHeader(status int) {
	if !rec.wrote {
		rec.status, rec.wrote = status, true
	}
	rec.ResponseWriter.WriteHeader(status)
}

func (rec *statusRecorder) Write(b []byte) (int, error) {
	rec.wrote = true
	return rec.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection (flushing an
// event stream).
func (rec *statusRecorder) Unwrap() http.ResponseWriter { return rec.ResponseWriter }
