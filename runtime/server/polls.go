package server

import (
	"context"
	"log/slog"
	"time"

	"github.com/membrane-dev/membrane/runtime/connections"
	"github.com/membrane-dev/membrane/runtime/events/schedule"
	"github.com/membrane-dev/membrane/runtime/store"
)

// newScheduler makes the scheduler of the subscriptions' polls, with the
// server's worker count and lease. Every replica runs one: the store's
// claims share the due polls between them.
func newScheduler(cfg Config, st store.Store, svc *connections.Service, log *slog.Logger) *schedule.Scheduler {
	poller := cfg.Poller
	if poller == nil {
		poller = servicePoller{svc}
	}
	return schedule.New(schedule.Options{
		Store: st, Poller: poller, Workers: cfg.PollWorkers, Lease: cfg.PollLease,
		StopGrace: cfg.ShutdownTimeout, Logger: log.With("component", "poll-scheduler"),
		// A subscription without an interval of its own polls at its
		// event's (as the workspace now says), not at a fixed default.
		IntervalOf: func(sub *store.Subscription) time.Duration { return svc.Delivery(sub).Interval },
	})
}

// servicePoller polls through the connection service.
type servicePoller struct{ svc *connections.Service }

func (p servicePoller) Poll(ctx context.Context, sub *store.Subscription) error {
	_, err := p.svc.Poll(ctx, sub)
	return err
}
