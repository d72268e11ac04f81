// Package schedule runs the polls of polling subscriptions on their
// interval: it claims the due ones from the store in batches, runs them on
// a bounded pool of workers, keeps their leases while they run and sets
// their next due time when they end.
//
//	s := schedule.New(schedule.Options{Store: st, Poller: svc})
//	go s.Run(ctx)          // until ctx ends; polls in flight finish or are cancelled
//	s.Kick()               // a subscription was created: look for due polls now
//
// Several replicas on one PostgreSQL database share the work: the store's
// claims are disjoint, at most one poll per connection at a time across
// replicas, and a replica that dies loses its leases when they run out.
// Within one process the scheduler keeps that promise too: it never runs
// two polls of one connection at once, even when a lease was lost under a
// poll that is still winding down.
//
// The next due time of a poll that worked is its start plus the
// subscription's interval, ±10% jitter so polls started together spread
// out. A poll that failed is due again after twice the interval, then four
// times, and so on up to BackoffMax; the next poll that works resets it.
// A poll that fails or panics is logged and counted, and the loop goes on.
package schedule

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	mathrand "math/rand/v2"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/membrane-dev/membrane/runtime/store"
)

// Poller polls one subscription once: it asks the app for what changed
// and stores the changes with the subscription's new state. The scheduler
// holds the subscription's lease while Poll runs; ctx ends when the lease
// is lost or the scheduler stops for good.
type Poller interface {
	Poll(ctx context.Context, sub *store.Subscription) error
}

// PollerFunc is a Poller of a function.
type PollerFunc func(ctx context.Context, sub *store.Subscription) error

// Poll calls f.
func (f PollerFunc) Poll(ctx context.Context, sub *store.Subscription) error { return f(ctx, sub) }

// Clock is the scheduler's time: its now, and a wait. Tests drive one by
// hand; nil is the system clock.
type Clock interface {
	Now() time.Time
	// After sends the time on the channel once d has passed.
	After(d time.Duration) <-chan time.Time
}

type systemClock struct{}

func (systemClock) Now() time.Time                         { return time.Now() }
func (systemClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Defaults of Options.
const (
	DefaultWorkers    = 16
	DefaultLease      = 2 * time.Minute
	DefaultTick       = time.Second
	DefaultInterval   = 5 * time.Minute
	DefaultBackoffMax = time.Hour
	DefaultStopGrace  = 10 * time.Second
	// Jitter is the spread of a next due time: ±10% of the delay.
	Jitter = 0.10
)

// Options configure a Scheduler. Zero fields take the defaults.
type Options struct {
	// Polls are the store's claims: Store.Polls() when nil.
	Polls store.Polls
	// Store is where Polls and Record go.
	Store store.Store
	// Record keeps a poll's outcome on its subscription (Failures,
	// LastError), so backoff survives a restart and shows in the API: for
	// a Poller that does not keep them itself. It needs Store.
	Record bool
	// Poller runs one poll. Required.
	Poller Poller
	// Worker names this scheduler in leases; default host-pid-random.
	// Two schedulers must not share one.
	Worker string
	// Workers is how many polls run at once (default 16).
	Workers int
	// Batch is the most polls one claim takes (default Workers).
	Batch int
	// Lease is how long a claim holds a subscription (default 2 min). It
	// is renewed every Lease/3 while the poll runs; a replica that dies
	// loses it after at most Lease.
	Lease time.Duration
	// Tick is how often the store is asked for due polls when nothing
	// else wakes the scheduler (default 1 s): the lateness of a poll is at
	// most about Tick when workers are free.
	Tick time.Duration
	// Interval is a subscription's interval when it sets none: default
	// 5 min. IntervalOf, when set, decides instead.
	Interval   time.Duration
	IntervalOf func(sub *store.Subscription) time.Duration
	// BackoffMax caps the delay after failures (default 1 h, at least the
	// interval).
	BackoffMax time.Duration
	// StopGrace is how long polls in flight may finish once Run's context
	// ends before they are cancelled (default 10 s).
	StopGrace time.Duration
	// Clock is the time; nil is the system clock.
	Clock Clock
	// Rand draws the jitter; nil is a random source. Tests seed one.
	Rand *mathrand.Rand
	// Logger logs failed polls and claims.
	Logger *slog.Logger
}

// Stats count what a scheduler did since it was made.
type Stats struct {
	Claimed   int64 // subscriptions claimed
	Polled    int64 // polls that worked
	Failed    int64 // polls that returned an error (panics included)
	Panicked  int64 // polls that panicked
	LeaseLost int64 // polls whose lease was lost while they ran (cancelled)
	Skipped   int64 // claims handed back: their connection was still polling here
	Errors    int64 // store errors of claims, extensions and releases
}

// Scheduler runs due polls. Make it with New; Run it once.
type Scheduler struct {
	o     Options
	polls store.Polls
	clock Clock
	log   *slog.Logger

	randMu sync.Mutex
	rand   *mathrand.Rand

	kick chan struct{} // Kick: look for due polls now
	done chan struct{} // a poll ended: a worker is free

	mu       sync.Mutex
	inflight int
	running  map[string]bool // connection ids polling in this process
	wg       sync.WaitGroup

	// pollCtx is the context of polls: it outlives Run's context by
	// StopGrace.
	pollCtx    context.Context
	cancelPoll context.CancelFunc

	stats struct {
		claimed, polled, failed, panicked, leaseLost, skipped, errors atomic.Int64
	}
}

// New makes a scheduler. It panics without a Poller or a store to claim
// from: a programming error.
func New(o Options) *Scheduler {
	if o.Poller == nil {
		panic("schedule: Options.Poller is nil")
	}
	if o.Polls == nil {
		if o.Store == nil {
			panic("schedule: Options.Polls and Options.Store are nil")
		}
		o.Polls = o.Store.Polls()
	}
	if o.Record && o.Store == nil {
		panic("schedule: Options.Record without Options.Store")
	}
	if o.Worker == "" {
		o.Worker = defaultWorker()
	}
	if o.Workers <= 0 {
		o.Workers = DefaultWorkers
	}
	if o.Batch <= 0 || o.Batch > o.Workers {
		o.Batch = o.Workers
	}
	if o.Lease <= 0 {
		o.Lease = DefaultLease
	}
	if o.Tick <= 0 {
		o.Tick = DefaultTick
	}
	if o.Interval <= 0 {
		o.Interval = DefaultInterval
	}
	if o.BackoffMax <= 0 {
		o.BackoffMax = DefaultBackoffMax
	}
	if o.StopGrace <= 0 {
		o.StopGrace = DefaultStopGrace
	}
	s := &Scheduler{
		o: o, polls: o.Polls, clock: o.Clock, log: o.Logger, rand: o.Rand,
		kick: make(chan struct{}, 1), done: make(chan struct{}, 1),
		running: map[string]bool{},
	}
	if s.clock == nil {
		s.clock = systemClock{}
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.rand == nil {
		var seed [32]byte
		rand.Read(seed[:])
		s.rand = mathrand.New(mathrand.NewChaCha8(seed))
	}
	s.pollCtx, s.cancelPoll = context.WithCancel(context.Background())
	return s
}

func defaultWorker() string {
	host, _ := os.Hostname()
	b := make([]byte, 4)
	rand.Read(b)
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b))
}

// Worker is the name this scheduler holds leases under.
func (s *Scheduler) Worker() string { return s.o.Worker }

// Stats are the scheduler's counters now.
func (s *Scheduler) Stats() Stats {
	return Stats{
		Claimed: s.stats.claimed.Load(), Polled: s.stats.polled.Load(), Failed: s.stats.failed.Load(),
		Panicked: s.stats.panicked.Load(), LeaseLost: s.stats.leaseLost.Load(),
		Skipped: s.stats.skipped.Load(), Errors: s.stats.errors.Load(),
	}
}

// Kick wakes the scheduler to look for due polls now rather than at its
// next tick: call it when a subscription is created or resumed. It never
// blocks; kicks while one is pending merge.
func (s *Scheduler) Kick() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// Run claims and runs due polls until ctx ends. Then it claims no more,
// lets the polls in flight finish for StopGrace, cancels those still
// running, and returns once every claim is released. It returns nil.
func (s *Scheduler) Run(ctx context.Context) error {
	defer s.stop()
	for {
		full, handedBack := s.claim(ctx)
		var wake <-chan struct{}
		if full || handedBack {
			// More is due: claim again as soon as a worker is free, or,
			// for a claim handed back, once a poll here ends.
			wake = s.done
			if full && !handedBack && s.free() > 0 {
				continue
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-s.kick:
		case <-wake:
		case <-s.clock.After(s.o.Tick):
		}
	}
}

// stop waits for the polls in flight, cancelling them after StopGrace.
func (s *Scheduler) stop() {
	finished := make(chan struct{})
	go func() { s.wg.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-s.clock.After(s.o.StopGrace):
		s.log.Warn("polls still running at shutdown are cancelled", "grace", s.o.StopGrace.String())
		s.cancelPoll()
		<-finished
	}
	s.cancelPoll()
}

// RunDue claims the polls due now, as many as there are workers, runs
// them and returns once they are released: one pass of Run, for tests and
// for a one-off poll from a terminal. It returns how many it ran.
func (s *Scheduler) RunDue(ctx context.Context) int {
	before := s.stats.claimed.Load() - s.stats.skipped.Load()
	s.claim(ctx)
	s.wg.Wait()
	return int(s.stats.claimed.Load() - s.stats.skipped.Load() - before)
}

func (s *Scheduler) free() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.o.Workers - s.inflight
}

// claim takes due polls for the free workers and starts them. It reports
// whether the claim was full (more may be due) and whether it handed a
// claim back because its connection is still polling here.
func (s *Scheduler) claim(ctx context.Context) (full, handedBack bool) {
	n := min(s.free(), s.o.Batch)
	if n <= 0 {
		return true, false
	}
	if ctx.Err() != nil {
		return false, false
	}
	subs, err := s.polls.ClaimDue(ctx, s.o.Worker, s.clock.Now(), n, s.o.Lease)
	if err != nil {
		if ctx.Err() == nil {
			s.stats.errors.Add(1)
			s.log.Warn("claiming due polls failed; trying again at the next tick", "error", err)
		}
		return false, false
	}
	s.stats.claimed.Add(int64(len(subs)))
	for _, sub := range subs {
		if !s.start(sub) {
			// Still due: claim it again once the poll that holds its
			// connection here ends, not at the next tick.
			handedBack = true
		}
	}
	return len(subs) == n, handedBack
}

// start runs one claimed poll on a worker of its own, unless its
// connection is still polling here (a lease lost under a poll that has not
// ended yet, or one whose release has not finished): that claim goes
// back, still due, and start reports false.
func (s *Scheduler) start(sub *store.Subscription) bool {
	s.mu.Lock()
	if s.running[sub.ConnectionID] {
		s.mu.Unlock()
		s.stats.skipped.Add(1)
		s.release(sub, sub.NextRunAt)
		return false
	}
	s.running[sub.ConnectionID] = true
	s.inflight++
	s.mu.Unlock()
	s.wg.Go(func() {
		defer func() {
			s.mu.Lock()
			delete(s.running, sub.ConnectionID)
			s.inflight--
			s.mu.Unlock()
			select {
			case s.done <- struct{}{}:
			default:
			}
		}()
		s.run(sub)
	})
	return true
}

// run polls sub while keeping its lease, then records the outcome and
// releases the lease with the next due time.
func (s *Scheduler) run(sub *store.Subscription) {
	started := s.clock.Now()
	ctx, cancel := context.WithCancelCause(s.pollCtx)
	defer cancel(nil)
	keeping := make(chan struct{})
	var lost atomic.Bool
	id := sub.ID // the poll rewrites *sub while keep runs
	go func() {
		defer close(keeping)
		if s.keep(ctx, id) {
			lost.Store(true)
			cancel(errLeaseLost)
		}
	}()
	// The Poller may update sub in place: backoff counts from before.
	before := sub.Failures
	lastErr := sub.LastError
	err := s.poll(ctx, sub)
	cancel(nil)
	<-keeping
	if lost.Load() {
		// Another worker may hold the connection now: touch nothing.
		s.stats.leaseLost.Add(1)
		s.log.Warn("a poll lost its lease and was cancelled", "subscription", sub.ID,
			"connection", sub.ConnectionID, "tenant", sub.Tenant, "error", err)
		return
	}
	if s.pollCtx.Err() != nil && err != nil {
		// Cancelled at shutdown: due again at once, on whichever replica.
		s.release(sub, sub.NextRunAt)
		return
	}
	failures := 0
	if err != nil {
		s.stats.failed.Add(1)
		failures = before + 1
		s.log.Warn("poll failed", "subscription", sub.ID, "connection", sub.ConnectionID,
			"tenant", sub.Tenant, "event", sub.Event, "failures", failures, "error", err)
	} else {
		s.stats.polled.Add(1)
	}
	if s.o.Record && (failures > 0 || before > 0 || lastErr != "") {
		s.record(sub, failures, err)
	}
	s.release(sub, started.Add(s.delay(sub, failures)))
}

var errLeaseLost = errors.New("the poll's lease was lost")

// poll calls the Poller, turning a panic into an error.
func (s *Scheduler) poll(ctx context.Context, sub *store.Subscription) (err error) {
	defer func() {
		if r := recover(); r != nil {
			s.stats.panicked.Add(1)
			s.log.Error("poll panicked", "subscription", sub.ID, "connection", sub.ConnectionID,
				"panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			err = fmt.Errorf("the poll panicked: %v", r)
		}
	}()
	return s.o.Poller.Poll(ctx, sub)
}

// keep renews the lease of subscription id every Lease/3 until ctx ends.
// It takes the id, not the subscription: the poll rewrites the
// subscription as it goes. It reports the
// lease lost: the store said so, or the renewals failed until the lease
// ran out by the clock (another replica may hold it now).
func (s *Scheduler) keep(ctx context.Context, id string) (lost bool) {
	every := s.o.Lease / 3
	held := s.clock.Now().Add(s.o.Lease)
	for {
		select {
		case <-ctx.Done():
			return false
		case <-s.clock.After(every):
		}
		err := s.polls.Extend(ctx, s.o.Worker, id, s.o.Lease)
		switch {
		case err == nil:
			held = s.clock.Now().Add(s.o.Lease)
		case ctx.Err() != nil:
			return false
		case errors.Is(err, store.ErrLeaseLost):
			return true
		default:
			s.stats.errors.Add(1)
			s.log.Warn("renewing a poll's lease failed", "subscription", id, "error", err)
			if !s.clock.Now().Add(every).Before(held) {
				return true
			}
		}
	}
}

// record keeps a poll's failures on its subscription: a failure counts,
// a poll that works clears them.
func (s *Scheduler) record(sub *store.Subscription, failures int, pollErr error) {
	msg := ""
	if pollErr != nil {
		msg = pollErr.Error()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := s.o.Store.Tenant(sub.Tenant).Subscriptions().Update(ctx, sub.ID, func(cur *store.Subscription) error {
		cur.Failures = failures
		cur.LastError = msg
		return nil
	})
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		s.stats.errors.Add(1)
		s.log.Warn("recording a poll's outcome failed", "subscription", sub.ID, "error", err)
	}
}

// release frees sub's lease with its next due time. A subscription
// deleted meanwhile or a lease lost is no error worth more than a count.
func (s *Scheduler) release(sub *store.Subscription, next time.Time) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.polls.Release(ctx, s.o.Worker, sub.ID, next); err != nil {
		if errors.Is(err, store.ErrLeaseLost) || errors.Is(err, store.ErrNotFound) {
			return
		}
		s.stats.errors.Add(1)
		s.log.Warn("releasing a poll's lease failed; it frees itself when it runs out", "subscription", sub.ID,
			"lease", s.o.Lease.String(), "error", err)
	}
}

// delay is how long after its start a poll is due again: the interval
// after a success, the interval doubled per consecutive failure up to
// BackoffMax after failures, each ±10%.
func (s *Scheduler) delay(sub *store.Subscription, failures int) time.Duration {
	return s.jitter(Backoff(s.interval(sub), failures, s.o.BackoffMax))
}

// Backoff is the delay before a subscription with interval is due again
// after failures consecutive failed polls, before jitter, capped at
// backoffMax (or the interval when it is longer).
func Backoff(interval time.Duration, failures int, backoffMax time.Duration) time.Duration {
	d := interval
	limit := max(backoffMax, d)
	for range min(failures, 62) {
		if d > limit/2 {
			return limit
		}
		d *= 2
	}
	return d
}

func (s *Scheduler) interval(sub *store.Subscription) time.Duration {
	if s.o.IntervalOf != nil {
		if d := s.o.IntervalOf(sub); d > 0 {
			return d
		}
	}
	if sub.Interval > 0 {
		return sub.Interval
	}
	return s.o.Interval
}

// jitter spreads d by ±Jitter.
func (s *Scheduler) jitter(d time.Duration) time.Duration {
	s.randMu.Lock()
	f := s.rand.Float64()
	s.randMu.Unlock()
	return d + time.Duration((2*f-1)*Jitter*float64(d))
}
