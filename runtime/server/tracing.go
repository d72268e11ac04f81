package server

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/membrane-dev/membrane/runtime/telemetry/tracing"
	"github.com/membrane-dev/membrane/spec"
)

// newTracer starts exporting traces when membrane.yaml's tracing block or
// the OTEL_EXPORTER_OTLP_* variables say where; nil (off) otherwise.
// Tracing is read at start only, like the store.
func newTracer(ctx context.Context, cfg Config, wc *spec.WorkspaceConfig, log *slog.Logger) (*tracing.Tracer, error) {
	var ts *spec.TracingSettings
	if wc != nil {
		ts = wc.Tracing
	}
	tc, on, err := tracing.FromWorkspace(ts, cfg.lookupEnv)
	if err != nil {
		return nil, fmt.Errorf("tracing: %w", err)
	}
	if !on {
		return nil, nil
	}
	t, err := tracing.New(ctx, tc, log.With("component", "tracing"))
	if err != nil {
		return nil, fmt.Errorf("tracing: %w", err)
	}
	log.Info("exporting traces over OTLP", "endpoint", tc.Endpoint, "protocol", tc.Protocol)
	return t, nil
}
