// Package tracing exports OpenTelemetry traces of a Membrane server over
// OTLP: a span for each API call (joining the caller's trace when it sends
// a W3C traceparent), each run, each upstream request and each store
// write. It is configured by membrane.yaml's `tracing:` block or the
// standard OTEL_EXPORTER_OTLP_* variables, and is off otherwise.
//
// Off, a *Tracer is nil and every hook is one pointer test: nothing is
// allocated on the action path. On, spans are exported in batches from a
// bounded queue by one goroutine; a collector that is slow or unreachable
// only makes spans be dropped, never a run wait or fail.
package tracing
