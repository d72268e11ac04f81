package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/membrane-dev/membrane/runtime/events/schedule"
	"github.com/membrane-dev/membrane/runtime/store"
	"github.com/membrane-dev/membrane/runtime/telemetry/metrics"
)

// Why /metrics has a listener of its own (Config.MetricsAddr) and no
// token: the main listener faces the internet (webhooks, the connect page,
// OAuth callbacks), and a token there would be one more secret for every
// Prometheus to hold and rotate. A separate address is bound where only
// the monitoring network reaches (loopback, a private interface, a pod
// port), as exporters are run. What it serves names no tenant, connection
// or secret: connector and action keys of the workspace files, routes as
// patterns, and counts.

// metricsListener listens on cfg.MetricsAddr, when set: at New, so a port
// in use fails the start as the main address does.
func metricsListener(addr string) (net.Listener, error) {
	if addr == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listening for /metrics on %s: %w", addr, err)
	}
	return ln, nil
}

// MetricsAddr is where /metrics is served (Config.MetricsAddr with its
// port resolved), "" when it is not.
func (s *Server) MetricsAddr() string {
	if s.metricsLn == nil {
		return ""
	}
	return s.metricsLn.Addr().String()
}

// serveMetrics serves /metrics on its listener until ctx ends.
func (s *Server) serveMetrics(ctx context.Context) {
	if s.metricsLn == nil {
		return
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", s.Metrics.Handler())
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: s.cfg.ReadHeaderTimeout, IdleTimeout: s.cfg.IdleTimeout,
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := hs.Serve(s.metricsLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("serving /metrics stopped", "error", err)
		}
	}()
	s.log.Info("serving /metrics", "addr", s.metricsLn.Addr().String())
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = hs.Shutdown(sctx)
	<-done
}

// followLoads records the development server's loads (reloads that
// failed included) in the metrics until ctx ends.
func (s *Server) followLoads(ctx context.Context) {
	src := s.cfg.Diagnostics
	if src == nil {
		return
	}
	var last int64 = -1
	for st := range src.Subscribe(ctx) {
		if st.Generation == last && st.OK {
			continue
		}
		last = st.Generation
		s.Metrics.WorkspaceLoaded(st.Generation, nil, st.OK, st.Diagnostics)
	}
}

// observedPoller counts the polls of the scheduler by connector and
// outcome.
type observedPoller struct {
	next schedule.Poller
	m    *metrics.Metrics
}

func (p observedPoller) Poll(ctx context.Context, sub *store.Subscription) error {
	err := p.next.Poll(ctx, sub)
	p.m.Poll(sub.Connector, err)
	return err
}

// generation counts the workspaces served: 1 at start, one more per Swap.
type generation struct{ n atomic.Int64 }
