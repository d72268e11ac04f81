package engine

import (
	"context"
	"net/url"
	"strconv"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/membrane-dev/membrane/runtime/httpx"
)

// startUpstreamSpan starts the span of one upstream request (one call of
// httpx's Do, its retries included) and, when the connector opts in with
// http.propagateTrace, writes the trace context into the request's
// headers. Only the method, host and port, connector and action are
// recorded: never the path or query, which may carry a key. The engine
// has a tracer (tracing is on).
func (r *run) startUpstreamSpan(ctx context.Context, req *httpx.Request, base *url.URL) (context.Context, trace.Span) {
	method := req.Method
	if method == "" {
		method = "GET"
	}
	attrs := make([]attribute.KeyValue, 0, 5)
	attrs = append(attrs, attribute.String("http.request.method", method), attribute.String("server.address", base.Hostname()))
	if p, err := strconv.Atoi(portOf(base.Scheme, base.Port())); err == nil {
		attrs = append(attrs, attribute.Int("server.port", p))
	}
	src := r.plan.connector.Src
	attrs = append(attrs, attribute.String("membrane.connector", src.Key))
	if a := r.plan.action; a != nil && a.Src != nil {
		attrs = append(attrs, attribute.String("membrane.action", a.Src.Key))
	}
	ctx, span := r.engine.tracer.Start(ctx, "upstream "+method, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
	if src.HTTP != nil && src.HTTP.PropagateTrace {
		r.engine.tracer.Inject(ctx, req.Header)
	}
	return ctx, span
}

// endUpstreamSpan records how the request ended: the status, the number
// of tries (http.request.resend_count is the retries), or the kind of
// failure.
func endUpstreamSpan(span trace.Span, resp *httpx.Response, err error) {
	if resp != nil {
		span.SetAttributes(attribute.Int("http.response.status_code", resp.Status),
			attribute.Int("membrane.attempts", resp.Attempts), attribute.Int("http.request.resend_count", max(resp.Attempts-1, 0)))
		if resp.Status >= 400 {
			span.SetStatus(codes.Error, strconv.Itoa(resp.Status))
		}
	}
	if err != nil {
		kind := "error"
		if he, ok := err.(*httpx.Error); ok {
			kind = string(he.Kind)
			span.SetAttributes(attribute.Int("membrane.attempts", he.Attempts), attribute.Int("http.request.resend_count", max(he.Attempts-1, 0)))
		}
		span.SetAttributes(attribute.String("error.type", kind))
		span.SetStatus(codes.Error, kind)
	}
	span.End()
}

func portOf(scheme, port string) string {
	if port != "" {
		return port
	}
	if scheme == "http" {
		return "80"
	}
	return "443"
}
