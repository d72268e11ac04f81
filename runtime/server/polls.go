package server

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/membrane-dev/membrane/layers"
	"github.com/membrane-dev/membrane/runtime/connections"
	"github.com/membrane-dev/membrane/runtime/events/schedule"
	"github.com/membrane-dev/membrane/runtime/store"
	"github.com/membrane-dev/membrane/runtime/telemetry/metrics"
)

// newScheduler makes the scheduler of the subscriptions' polls, with the
// server's worker count and lease. Every replica runs one: the store's
// claims share the due polls between them.
func newScheduler(cfg Config, st store.Store, svc *connections.Service, met *metrics.Metrics, log *slog.Logger) *schedule.Scheduler {
	sp := &servicePoller{svc: svc}
	var poller schedule.Poller = sp
	if cfg.Poller != nil {
		poller = cfg.Poller
	}
	poller = observedPoller{poller, met}
	return schedule.New(schedule.Options{
		Store: st, Poller: poller, Workers: cfg.PollWorkers, Lease: cfg.PollLease,
		StopGrace: cfg.ShutdownTimeout, Logger: log.With("component", "poll-scheduler"),
		IntervalOf: sp.interval,
	})
}

// servicePoller polls through the connection service: overrides, auth
// and token refresh, rate limit and connection state as runs have, and
// the subscription's Failures and LastError kept by it.
type servicePoller struct {
	svc *connections.Service
	// resolved holds, by subscription id, the interval its last poll
	// resolved through the connection's overrides (which may patch
	// polling.interval): the poll resolved the event already, so the
	// next due time costs no second resolution.
	resolved sync.Map
}

func (p *servicePoller) Poll(ctx context.Context, sub *store.Subscription) error {
	res, err := p.svc.Poll(ctx, sub)
	if res != nil && res.Interval > 0 {
		p.resolved.Store(sub.ID, res.Interval)
	}
	return err
}

// interval is the interval a subscription polls at: its own, else its
// event's as its last poll resolved it, else the event file's.
func (p *servicePoller) interval(sub *store.Subscription) time.Duration {
	if sub.Interval > 0 {
		return sub.Interval
	}
	if d, ok := p.resolved.Load(sub.ID); ok {
		return d.(time.Duration)
	}
	if e := layers.FindEvent(p.svc.Workspace().Spec, sub.Connector, sub.Event); e != nil && e.Polling != nil {
		return e.Polling.EffectiveInterval()
	}
	return 0 // the scheduler's default
}
