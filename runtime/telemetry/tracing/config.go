package tracing

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/membrane-dev/membrane/spec"
)

// Config says where spans go. Zero fields take the standard OTEL_*
// variables (read by the exporter), then the defaults.
type Config struct {
	// Endpoint is the collector's URL: the base URL for http/protobuf
	// (spans go to /v1/traces under it), host and port as a URL for grpc.
	// Empty takes OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or
	// OTEL_EXPORTER_OTLP_ENDPOINT.
	Endpoint string
	// Protocol is spec.TracingHTTP or spec.TracingGRPC.
	Protocol string
	// Headers are sent with every export (a collector's API key).
	Headers map[string]string
	// SampleRatio is the share of new traces kept; nil follows
	// OTEL_TRACES_SAMPLER, else keeps every trace. A trace that arrives
	// with a sampling decision keeps it.
	SampleRatio *float64
	// ServiceVersion is the resource's service.version.
	ServiceVersion string
	// QueueSize bounds the spans waiting for export; past it, new spans
	// are dropped. Default 2048.
	QueueSize int
}

// FromWorkspace returns the tracing Config of membrane.yaml's block, or
// of the OTEL_* variables when the file has none; ok is false when
// tracing is off: no block and no OTLP endpoint variable, or
// OTEL_SDK_DISABLED=true, or OTEL_TRACES_EXPORTER=none. The error names
// the variable or setting to fix, never a header's value.
func FromWorkspace(ts *spec.TracingSettings, lookupEnv func(string) (string, bool)) (cfg Config, ok bool, err error) {
	get := func(k string) string {
		v, _ := lookupEnv(k)
		return strings.TrimSpace(v)
	}
	if strings.EqualFold(get("OTEL_SDK_DISABLED"), "true") || strings.EqualFold(get("OTEL_TRACES_EXPORTER"), "none") {
		return Config{}, false, nil
	}
	if ts == nil {
		if get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") == "" && get("OTEL_EXPORTER_OTLP_ENDPOINT") == "" {
			return Config{}, false, nil
		}
		p := get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
		if p == "" {
			p = get("OTEL_EXPORTER_OTLP_PROTOCOL")
		}
		switch p {
		case "", spec.TracingHTTP, spec.TracingGRPC:
		default:
			return Config{}, false, fmt.Errorf("OTEL_EXPORTER_OTLP_PROTOCOL %q is not supported; use %s or %s", p, spec.TracingHTTP, spec.TracingGRPC)
		}
		return Config{Protocol: p}, true, nil
	}
	cfg = Config{Endpoint: ts.Endpoint, Protocol: ts.Protocol, SampleRatio: ts.SampleRatio}
	if ts.HeadersEnv != "" {
		raw, set := lookupEnv(ts.HeadersEnv)
		if !set {
			return Config{}, false, fmt.Errorf("membrane.yaml's tracing.headersEnv names %s, which is not set; set it to name=value pairs separated by commas, or remove headersEnv", ts.HeadersEnv)
		}
		if cfg.Headers, err = ParseHeaders(raw); err != nil {
			return Config{}, false, fmt.Errorf("%s (membrane.yaml's tracing.headersEnv): %w", ts.HeadersEnv, err)
		}
	}
	return cfg, true, nil
}

// ParseHeaders reads headers written as OTEL_EXPORTER_OTLP_HEADERS writes
// them: name=value pairs separated by commas, values URL-encoded. The
// error says which pair is wrong by its position, not its value.
func ParseHeaders(raw string) (map[string]string, error) {
	h := map[string]string{}
	for i, pair := range strings.Split(raw, ",") {
		if strings.TrimSpace(pair) == "" {
			continue
		}
		k, v, ok := strings.Cut(pair, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, fmt.Errorf("pair %d is not name=value", i+1)
		}
		dv, err := url.PathUnescape(strings.TrimSpace(v))
		if err != nil {
			return nil, fmt.Errorf("the value of pair %d (%s) is not URL-encoded properly", i+1, k)
		}
		h[k] = dv
	}
	return h, nil
}
