package server

import (
	"context"
	"log/slog"
	"time"

	"github.com/membrane-dev/membrane/layers"
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
		IntervalOf: func(sub *store.Subscription) time.Duration { return eventInterval(svc, sub) },
	})
}

// eventInterval is the interval a subscription polls at when it sets
// none: its event's, from the workspace served now.
func eventInterval(svc *connections.Service, sub *store.Subscription) time.Duration {
	if sub.Interval > 0 {
		return sub.Interval
	}
	if e := layers.FindEvent(svc.Workspace().Spec, sub.Connector, sub.Event); e != nil && e.Polling != nil {
		return e.Polling.EffectiveInterval()
	}
	return 0 // the scheduler's default
}

// servicePoller polls through the connection service: overrides, auth
// and token refresh, rate limit and connection state as runs have, and
// the subscription's Failures and LastError kept by it.
type servicePoller struct{ svc *connections.Service }

func (p servicePoller) Poll(ctx context.Context, sub *store.Subscription) error {
	_, err := p.svc.Poll(ctx, sub)
	return err
}
