// Package otlptest runs a real OpenTelemetry Collector OTLP receiver
// (go.opentelemetry.io/collector/receiver/otlpreceiver) inside a test, on
// loopback, over both OTLP transports, and hands back the spans it
// received. For tests only.
package otlptest

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/collector/client"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/receiver/otlpreceiver"
	"go.opentelemetry.io/collector/receiver/receivertest"
)

// Span is a received span, flattened.
type Span struct {
	Name, TraceID, SpanID, ParentSpanID string
	Kind                                string // Server, Client, Internal…
	Attrs                               map[string]any
	Error                               bool // its status is Error
	Service                             string
	// Metadata is the export request's headers (lower-case names).
	Metadata map[string][]string
}

// Receiver is a running OTLP receiver.
type Receiver struct {
	// HTTPEndpoint is the base URL of OTLP over HTTP (spans go to
	// /v1/traces under it); GRPCEndpoint the gRPC server's, as a URL.
	HTTPEndpoint, GRPCEndpoint string

	sink    *consumertest.TracesSink
	mu      sync.Mutex
	spans   []Span
	changed chan struct{} // closed and replaced when spans arrive
}

// Start starts a receiver; it stops when the test ends.
func Start(t testing.TB) *Receiver {
	t.Helper()
	r := &Receiver{sink: new(consumertest.TracesSink), changed: make(chan struct{})}
	f := otlpreceiver.NewFactory()
	cfg := f.CreateDefaultConfig().(*otlpreceiver.Config)
	grpcAddr, httpAddr := freeAddr(t), freeAddr(t)
	g := cfg.Protocols.GRPC.GetOrInsertDefault()
	g.NetAddr.Endpoint, g.IncludeMetadata = grpcAddr, true
	h := cfg.Protocols.HTTP.GetOrInsertDefault()
	h.ServerConfig.NetAddr.Endpoint, h.ServerConfig.IncludeMetadata = httpAddr, true
	next, err := consumer.NewTraces(r.consume)
	if err != nil {
		t.Fatal(err)
	}
	recv, err := f.CreateTraces(context.Background(), receivertest.NewNopSettings(f.Type()), cfg, next)
	if err != nil {
		t.Fatal(err)
	}
	if err := recv.Start(context.Background(), componenttest.NewNopHost()); err != nil {
		t.Fatalf("starting the OTLP receiver: %v", err)
	}
	t.Cleanup(func() { _ = recv.Shutdown(context.Background()) })
	r.HTTPEndpoint, r.GRPCEndpoint = "http://"+httpAddr, "http://"+grpcAddr
	return r
}

// freeAddr is a loopback address with a port free now.
func freeAddr(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func (r *Receiver) consume(ctx context.Context, td ptrace.Traces) error {
	if err := r.sink.ConsumeTraces(ctx, td); err != nil {
		return err
	}
	md := map[string][]string{}
	info := client.FromContext(ctx)
	for k := range info.Metadata.Keys() {
		md[strings.ToLower(k)] = info.Metadata.Get(k)
	}
	var got []Span
	rss := td.ResourceSpans()
	for i := range rss.Len() {
		rs := rss.At(i)
		service, _ := rs.Resource().Attributes().Get("service.name")
		sss := rs.ScopeSpans()
		for j := range sss.Len() {
			spans := sss.At(j).Spans()
			for k := range spans.Len() {
				s := spans.At(k)
				got = append(got, Span{Name: s.Name(), TraceID: s.TraceID().String(), SpanID: s.SpanID().String(),
					ParentSpanID: s.ParentSpanID().String(), Kind: s.Kind().String(), Attrs: s.Attributes().AsRaw(),
					Error: s.Status().Code() == ptrace.StatusCodeError, Service: service.AsString(), Metadata: md})
			}
		}
	}
	r.mu.Lock()
	r.spans = append(r.spans, got...)
	close(r.changed)
	r.changed = make(chan struct{})
	r.mu.Unlock()
	return nil
}

// Spans returns the spans received so far.
func (r *Receiver) Spans() []Span {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Span(nil), r.spans...)
}

// WaitFor waits until the spans received satisfy ok, and returns them;
// it fails the test after timeout.
func (r *Receiver) WaitFor(t testing.TB, timeout time.Duration, ok func([]Span) bool) []Span {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		spans, changed := append([]Span(nil), r.spans...), r.changed
		r.mu.Unlock()
		if ok(spans) {
			return spans
		}
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("the receiver did not get the spans awaited within %s; it has %d: %+v", timeout, len(spans), spans)
			return nil
		}
	}
}
