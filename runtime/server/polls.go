package server

import (
	"context"
	"errors"
	"log/slog"

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
	})
}

// servicePoller polls through the connection service.
type servicePoller struct{ svc *connections.Service }

func (p servicePoller) Poll(ctx context.Context, sub *store.Subscription) error {
	return errPollUnsupported
}

var errPollUnsupported = errors.New("this server cannot poll subscriptions yet")
