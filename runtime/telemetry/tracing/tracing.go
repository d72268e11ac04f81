package tracing

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/membrane-dev/membrane/spec"
)

// ScopeName names the instrumentation scope of Membrane's spans.
const ScopeName = "github.com/membrane-dev/membrane"

// Export bounds: a collector that does not answer holds the exporting
// goroutine this long per batch, never a run.
const (
	exportTimeout = 10 * time.Second
	batchTimeout  = 2 * time.Second
	// DefaultQueueSize is how many spans wait for export at most.
	DefaultQueueSize = 2048
)

// Tracer starts Membrane's spans. A nil *Tracer is tracing off: callers
// test for nil before they build a span's attributes, so that off costs
// nothing.
type Tracer struct {
	t  trace.Tracer
	tp *sdktrace.TracerProvider
}

// propagator reads and writes the W3C trace context (traceparent,
// tracestate), whatever the process-wide otel propagator is.
var propagator = propagation.TraceContext{}

// New starts exporting per cfg and returns the Tracer; Shutdown flushes
// and stops it. log gets export failures, at most one line a minute.
func New(ctx context.Context, cfg Config, log *slog.Logger) (*Tracer, error) {
	exp, err := newExporter(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	setErrorHandler(log)
	attrs := []attribute.KeyValue{attribute.String("service.name", "membrane")}
	if cfg.ServiceVersion != "" {
		attrs = append(attrs, attribute.String("service.version", cfg.ServiceVersion))
	}
	res, err := resource.New(ctx,
		resource.WithAttributes(attrs...),
		resource.WithTelemetrySDK(),
		// OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win.
		resource.WithFromEnv())
	if err != nil && res == nil {
		return nil, fmt.Errorf("tracing resource: %w", err)
	}
	queue := cfg.QueueSize
	if queue <= 0 {
		queue = DefaultQueueSize
	}
	opts := []sdktrace.TracerProviderOption{
		// Never blocking: a full queue drops the span.
		sdktrace.WithBatcher(exp, sdktrace.WithMaxQueueSize(queue), sdktrace.WithMaxExportBatchSize(min(512, queue)),
			sdktrace.WithBatchTimeout(batchTimeout), sdktrace.WithExportTimeout(exportTimeout)),
		sdktrace.WithResource(res),
	}
	if cfg.SampleRatio != nil {
		opts = append(opts, sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(*cfg.SampleRatio))))
	}
	tp := sdktrace.NewTracerProvider(opts...)
	return &Tracer{t: tp.Tracer(ScopeName), tp: tp}, nil
}

func newExporter(ctx context.Context, cfg Config) (sdktrace.SpanExporter, error) {
	if cfg.Endpoint != "" {
		u, err := url.Parse(cfg.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("tracing endpoint %q is not an http:// or https:// URL", cfg.Endpoint)
		}
	}
	switch cfg.Protocol {
	case spec.TracingGRPC:
		opts := []otlptracegrpc.Option{otlptracegrpc.WithTimeout(exportTimeout),
			otlptracegrpc.WithRetry(otlptracegrpc.RetryConfig{Enabled: true, InitialInterval: time.Second, MaxInterval: 5 * time.Second, MaxElapsedTime: exportTimeout})}
		if cfg.Endpoint != "" {
			opts = append(opts, otlptracegrpc.WithEndpointURL(cfg.Endpoint))
		}
		if len(cfg.Headers) > 0 {
			opts = append(opts, otlptracegrpc.WithHeaders(cfg.Headers))
		}
		return otlptracegrpc.New(ctx, opts...)
	case "", spec.TracingHTTP:
		opts := []otlptracehttp.Option{otlptracehttp.WithTimeout(exportTimeout),
			otlptracehttp.WithRetry(otlptracehttp.RetryConfig{Enabled: true, InitialInterval: time.Second, MaxInterval: 5 * time.Second, MaxElapsedTime: exportTimeout})}
		if cfg.Endpoint != "" {
			opts = append(opts, otlptracehttp.WithEndpointURL(tracesURL(cfg.Endpoint)))
		}
		if len(cfg.Headers) > 0 {
			opts = append(opts, otlptracehttp.WithHeaders(cfg.Headers))
		}
		return otlptracehttp.New(ctx, opts...)
	}
	return nil, fmt.Errorf("tracing protocol %q is not supported; use %s or %s", cfg.Protocol, spec.TracingHTTP, spec.TracingGRPC)
}

// errorsLogged rate-limits the otel error handler: an unreachable
// collector fails every batch.
var lastErrorLog atomic.Int64

// setErrorHandler sends otel's errors (failed exports) to log instead of
// the standard logger, at most one a minute.
func setErrorHandler(log *slog.Logger) {
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		now := time.Now().UnixNano()
		last := lastErrorLog.Load()
		if now-last < int64(time.Minute) || !lastErrorLog.CompareAndSwap(last, now) {
			return
		}
		log.Warn("traces not exported; spans are dropped while the collector cannot take them", "error", err.Error())
	}))
}

// Shutdown exports the spans still queued, within ctx, and stops. A nil
// Tracer has nothing to do.
func (t *Tracer) Shutdown(ctx context.Context) error {
	if t == nil {
		return nil
	}
	err := t.tp.Shutdown(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("spans not exported before shutdown: %w", err)
	}
	return err
}

// ForceFlush exports the spans ended so far, within ctx.
func (t *Tracer) ForceFlush(ctx context.Context) error {
	if t == nil {
		return nil
	}
	return t.tp.ForceFlush(ctx)
}

// Start starts a span; t must not be nil.
func (t *Tracer) Start(ctx context.Context, name string, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	return t.t.Start(ctx, name, opts...)
}

// Inject writes ctx's trace context into h (traceparent, and tracestate
// when there is one).
func (t *Tracer) Inject(ctx context.Context, h http.Header) {
	propagator.Inject(ctx, propagation.HeaderCarrier(h))
}

// Extract returns ctx with the remote trace context of h, when h carries a
// valid traceparent.
func Extract(ctx context.Context, h http.Header) context.Context {
	return propagator.Extract(ctx, propagation.HeaderCarrier(h))
}

// tracesURL is where OTLP over HTTP takes spans: /v1/traces under the base
// URL, as OTEL_EXPORTER_OTLP_ENDPOINT is read; a URL that names that path
// already is kept.
func tracesURL(endpoint string) string {
	e := strings.TrimSuffix(endpoint, "/")
	if strings.HasSuffix(e, "/v1/traces") {
		return e
	}
	return e + "/v1/traces"
}
