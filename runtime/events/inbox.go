package events

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/membrane-dev/membrane/runtime/store"
)

// InboxWorker processes the webhook inbox: it claims stored requests,
// routes each to its subscriptions (a per-subscription URL: that one; a
// connector-wide URL: every subscription its connection key routes to),
// turns their records into changes, enqueues them in the outbox in one
// transaction per tenant, and only then deletes the entry. A failure
// leaves the entry to be tried again with backoff; change ids are stable,
// so what was enqueued before the failure is not enqueued twice.
type InboxWorker struct {
	Webhooks *Webhooks
	// ID names the worker's leases; empty is random.
	ID string
	// Batch is how many entries one claim takes; default 64.
	Batch int
	// Lease is how long a claim holds its entries; default 1 m.
	Lease time.Duration
	// Idle is how long Run waits when the inbox is empty, unless woken
	// (Wake); default 1 s.
	Idle time.Duration
	// Backoff is the wait before the attempt-th retry; default 5 s
	// doubling up to 1 h.
	Backoff func(attempt int) time.Duration
	// Now is the clock of retries, the store's; nil is time.Now.
	Now func() time.Time
	Log *slog.Logger

	once  sync.Once
	wake  chan struct{}
	Stats InboxStats
}

// InboxStats count what a worker did.
type InboxStats struct {
	Processed      atomic.Int64 // entries done
	Changes        atomic.Int64 // changes enqueued (duplicates included: the outbox skips them)
	SkippedRecords atomic.Int64 // records that could not become a change
	Failed         atomic.Int64 // failed attempts
	Dead           atomic.Int64 // entries given up
	Unrouted       atomic.Int64 // entries no subscription takes any more
}

func (w *InboxWorker) defaults() { w.once.Do(w.setDefaults) }

func (w *InboxWorker) setDefaults() {
	if w.ID == "" {
		b := make([]byte, 6)
		rand.Read(b)
		w.ID = "inbox-" + hex.EncodeToString(b)
	}
	if w.Batch <= 0 {
		w.Batch = 64
	}
	if w.Lease <= 0 {
		w.Lease = time.Minute
	}
	if w.Idle <= 0 {
		w.Idle = time.Second
	}
	if w.Backoff == nil {
		w.Backoff = func(attempt int) time.Duration {
			d := 5 * time.Second
			for i := 1; i < attempt && d < time.Hour; i++ {
				d *= 2
			}
			return min(d, time.Hour)
		}
	}
	if w.Log == nil {
		w.Log = slog.New(slog.DiscardHandler)
	}
	if w.Now == nil {
		w.Now = time.Now
	}
	w.wake = make(chan struct{}, 1)
}

// Wake makes a waiting Run look at the inbox now (the ingress calls it
// after each Append). It never blocks.
func (w *InboxWorker) Wake() {
	w.defaults()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Run processes the inbox until ctx ends.
func (w *InboxWorker) Run(ctx context.Context) error {
	w.defaults()
	for {
		n, err := w.ProcessOnce(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			w.Log.WarnContext(ctx, "webhook inbox: claim failed", "error", err)
		}
		if n == w.Batch && err == nil {
			continue // more is waiting
		}
		t := time.NewTimer(w.Idle)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-w.wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// ProcessOnce claims one batch and processes it; it returns how many
// entries it claimed.
func (w *InboxWorker) ProcessOnce(ctx context.Context) (int, error) {
	w.defaults()
	inbox := w.Webhooks.Store.Inbox()
	entries, err := inbox.Claim(ctx, w.ID, w.Batch, w.Lease)
	if err != nil {
		return 0, err
	}
	for _, e := range entries {
		if ctx.Err() != nil {
			return len(entries), nil // the leases lapse; another claim retries
		}
		perr := w.process(ctx, e)
		if perr == nil {
			if err := inbox.Done(ctx, w.ID, e.ID); err != nil && !errors.Is(err, store.ErrLeaseLost) {
				w.Log.WarnContext(ctx, "webhook inbox: entry processed but not marked done; it will be processed again, without duplicates", "entry", e.ID, "error", err)
			}
			w.Stats.Processed.Add(1)
			continue
		}
		if ctx.Err() != nil {
			return len(entries), nil
		}
		w.Stats.Failed.Add(1)
		dead, err := inbox.Fail(ctx, w.ID, e.ID, w.Now().Add(w.Backoff(e.Attempts)), perr.Error())
		if err != nil && !errors.Is(err, store.ErrLeaseLost) {
			w.Log.WarnContext(ctx, "webhook inbox: failure not recorded", "entry", e.ID, "error", err)
		}
		if dead {
			w.Stats.Dead.Add(1)
			w.Log.ErrorContext(ctx, "webhook inbox: entry given up after its last attempt", "entry", e.ID, "connector", e.Connector, "attempts", e.Attempts, "error", perr)
		} else {
			w.Log.WarnContext(ctx, "webhook inbox: processing failed; retrying later", "entry", e.ID, "connector", e.Connector, "attempt", e.Attempts, "error", perr)
		}
	}
	return len(entries), nil
}

// process routes one entry and enqueues its changes. nil when the entry
// is finished with (processed, or for no subscription any more).
func (w *InboxWorker) process(ctx context.Context, e *store.InboxEntry) error {
	wh := w.Webhooks
	req, err := RequestOf(e)
	if err != nil {
		return err
	}
	var targets []*Target
	if e.SubscriptionID != "" {
		sub, err := wh.Store.Tenant(e.Tenant).Subscriptions().Get(ctx, e.SubscriptionID)
		if errors.Is(err, store.ErrNotFound) {
			w.Stats.Unrouted.Add(1)
			w.Log.InfoContext(ctx, "webhook inbox: the subscription was deleted; entry dropped", "entry", e.ID, "subscription", e.SubscriptionID)
			return nil
		}
		if err != nil {
			return err
		}
		t, err := wh.TargetOf(ctx, sub)
		if errors.Is(err, store.ErrNotFound) || errors.Is(err, ErrUnknownRoute) {
			w.Stats.Unrouted.Add(1)
			return nil
		}
		if err != nil {
			return err
		}
		targets = []*Target{t}
	} else {
		targets, err = wh.RouteConnector(ctx, e.Connector, req)
		if errors.Is(err, ErrUnknownRoute) {
			w.Stats.Unrouted.Add(1)
			w.Log.InfoContext(ctx, "webhook inbox: no subscription takes the entry any more; dropped", "entry", e.ID, "connector", e.Connector)
			return nil
		}
		if err != nil {
			return err
		}
	}
	for _, t := range targets {
		if t.Sub.Status != store.SubscriptionActive {
			continue
		}
		changes, skipped, err := wh.Changes(ctx, t, req)
		if err != nil {
			return err
		}
		for _, s := range skipped {
			w.Stats.SkippedRecords.Add(1)
			w.Log.WarnContext(ctx, "webhook record skipped", "entry", e.ID, "subscription", t.Sub.ID, "event", t.Sub.Event, "error", s)
		}
		if len(changes) == 0 {
			continue
		}
		evs, err := SourceOf(t).OutboxEvents(changes, wh.now())
		if err != nil {
			return err
		}
		err = wh.Store.Tenant(t.Sub.Tenant).Tx(ctx, func(tx store.TenantStore) error {
			return tx.Outbox().Enqueue(ctx, evs...)
		})
		if err != nil {
			return err
		}
		w.Stats.Changes.Add(int64(len(evs)))
	}
	return nil
}
