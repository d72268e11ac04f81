package connections

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/membrane-dev/membrane/runtime/engine"
	"github.com/membrane-dev/membrane/runtime/store"
	"github.com/membrane-dev/membrane/runtime/telemetry/requestid"
)

// startRunSpan starts the span of a run: its upstream requests and its
// store writes are its children. Off (no tracer) it returns ctx and nil.
func (s *Service) startRunSpan(ctx context.Context, tenant, connID, action string) (context.Context, trace.Span) {
	t := s.o.Tracer
	if t == nil {
		return ctx, nil
	}
	attrs := []attribute.KeyValue{attribute.String("membrane.tenant", tenant),
		attribute.String("membrane.connection", connID), attribute.String("membrane.action", action)}
	if id := requestid.FromContext(ctx); id != "" {
		attrs = append(attrs, attribute.String("membrane.request_id", id))
	}
	return t.Start(ctx, "run "+action, trace.WithAttributes(attrs...))
}

// endRunSpan records the run's id and outcome: ok, or its error type.
func endRunSpan(span trace.Span, runID string, err error) {
	if span == nil {
		return
	}
	outcome := "ok"
	if err != nil {
		if outcome = string(engine.TypeOf(err)); outcome == "" {
			outcome = "error"
		}
		span.SetStatus(codes.Error, outcome)
	}
	span.SetAttributes(attribute.String("membrane.run_id", runID),
		attribute.String("membrane.outcome", outcome))
	span.End()
}

// startStoreSpan starts the span of a store write (what names it: "append
// run log"); nil when tracing is off.
func (s *Service) startStoreSpan(ctx context.Context, what string) (context.Context, trace.Span) {
	t := s.o.Tracer
	if t == nil {
		return ctx, nil
	}
	return t.Start(ctx, "store "+what, trace.WithSpanKind(trace.SpanKindClient))
}

// endStoreSpan ends a store write's span, with its error if any.
func endStoreSpan(span trace.Span, err error) {
	if span == nil {
		return
	}
	if err != nil {
		span.SetStatus(codes.Error, "store error")
		span.SetAttributes(attribute.String("error.type", storeErrorType(err)))
	}
	span.End()
}

func storeErrorType(err error) string {
	if store.Unavailable(err) {
		return "unavailable"
	}
	return "error"
}
