package delivery

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/membrane-dev/membrane/runtime/store"
)

// Defaults of a Deliverer.
const (
	DefaultConcurrency = 8
	DefaultBatch       = 100
	DefaultLease       = 2 * time.Minute
	DefaultPoll        = time.Second
	// EndpointDisabled is the type of the event raised when a destination
	// is disabled, under store.WorkspaceTenant.
	EndpointDisabled = "endpoint.disabled"
)

// Config is what a Deliverer runs with. Store is required; the rest have
// defaults.
type Config struct {
	Store store.Store
	// Worker names this replica as a lease owner (default: a random name).
	Worker string
	// Secrets returns a webhook destination's live signing secrets, the
	// current one first. Default: the stored ones (LiveSecrets).
	Secrets func(d *store.Destination) ([]string, error)
	// AllowPrivate lists the networks a destination may resolve into
	// besides public addresses (default none: no private, loopback,
	// link-local, unspecified or multicast address).
	AllowPrivate []netip.Prefix
	// Schedule: attempt n waits Schedule[n-1] after attempt n-1, ±20%;
	// after the last one the delivery is dead. Default DefaultSchedule.
	Schedule []time.Duration
	// DisableAfter: a destination failing every attempt this long is
	// disabled (default 5 days).
	DisableAfter time.Duration
	// MaxBody bounds the answer read (default 64 KiB); a longer one is a
	// failed attempt.
	MaxBody int
	// Clock is the time attempts are made at and scheduled from (default
	// time.Now); the store must use the same clock.
	Clock  func() time.Time
	Logger *slog.Logger
	// Batch is how many events a route and deliveries a claim take at most
	// (default 100).
	Batch int
	// Lease is how long a claimed delivery is this replica's: longer than
	// the longest destination timeout (default 2 minutes, raised to twice
	// the longest timeout seen). An attempt not recorded by then is due
	// again.
	Lease time.Duration
	// Poll is how often the loops look for work made by other replicas or
	// come due (default 1s); in-process work wakes them at once.
	Poll time.Duration
	// Observe, when set, sees each attempt once recorded, with its
	// outcome (metrics). It must return at once.
	Observe func(a store.Attempt, o store.Outcome)
}

// Deliverer routes the outbox into the delivery log and delivers it.
type Deliverer struct {
	cfg     Config
	st      store.Store
	log     *slog.Logger
	webhook *webhookSender
	nats    *natsPool

	kickRoute, kickWork chan struct{}
	freed               chan struct{}
	stale               atomic.Bool // Kick: read the destinations again

	// The work loop's copy of the destinations.
	dests   map[string]*store.Destination
	destsAt time.Time

	mu       sync.Mutex
	inflight map[string]int            // destination → attempts running
	queued   map[string][]*claimedTask // destination → claimed, waiting for a slot
	latency  map[string]time.Duration  // destination → recent attempts' latency (moving average)
	attempts sync.WaitGroup
	rec      recorder

	// observe, when set (Config.Observe, tests), sees each attempt
	// recorded.
	observe func(a store.Attempt, o store.Outcome)
}

type claimedTask struct {
	task    *store.DeliveryTask
	dest    *store.Destination
	claimed time.Time
}

// New checks cfg and fills in its defaults.
func New(cfg Config) (*Deliverer, error) {
	var errs []error
	if cfg.Store == nil {
		errs = append(errs, errors.New("delivery: Config.Store is required"))
	}
	for i, w := range cfg.Schedule {
		if w < 0 {
			errs = append(errs, fmt.Errorf("delivery: retry[%d] is %s: a wait cannot be negative", i, w))
		}
	}
	if cfg.DisableAfter < 0 || cfg.MaxBody < 0 || cfg.Batch < 0 || cfg.Lease < 0 || cfg.Poll < 0 {
		errs = append(errs, errors.New("delivery: DisableAfter, MaxBody, Batch, Lease and Poll cannot be negative"))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if cfg.Worker == "" {
		cfg.Worker = "delivery-" + randomHex(8)
	}
	if len(cfg.Schedule) == 0 {
		cfg.Schedule = DefaultSchedule
	}
	if cfg.DisableAfter == 0 {
		cfg.DisableAfter = DefaultDisableAfter
	}
	if cfg.MaxBody == 0 {
		cfg.MaxBody = DefaultMaxBody
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Batch == 0 {
		cfg.Batch = DefaultBatch
	}
	if cfg.Lease == 0 {
		cfg.Lease = DefaultLease
	}
	if cfg.Poll == 0 {
		cfg.Poll = DefaultPoll
	}
	if cfg.Secrets == nil {
		clock := cfg.Clock
		cfg.Secrets = func(d *store.Destination) ([]string, error) { return LiveSecrets(d, clock()), nil }
	}
	guard := &dialGuard{allow: cfg.AllowPrivate}
	return &Deliverer{
		cfg: cfg, st: cfg.Store, log: cfg.Logger.With("component", "delivery"),
		webhook:   newWebhookSender(guard, cfg.MaxBody),
		nats:      newNatsPool(guard),
		kickRoute: make(chan struct{}, 1), kickWork: make(chan struct{}, 1), freed: make(chan struct{}, 1),
		inflight: map[string]int{}, queued: map[string][]*claimedTask{}, latency: map[string]time.Duration{},
		rec: recorder{wake: make(chan struct{}, 1)}, observe: cfg.Observe,
	}, nil
}

// LiveSecrets are the stored signing secrets of d still in use at now:
// the current one, and the previous one until PreviousUntil.
func LiveSecrets(d *store.Destination, now time.Time) []string {
	var out []string
	if d.Secret != "" {
		out = append(out, d.Secret)
	}
	if d.PreviousSecret != "" && now.Before(d.PreviousUntil) {
		out = append(out, d.PreviousSecret)
	}
	return out
}

// Kick wakes the router and the workers now, as a clock jump or work made
// elsewhere would not.
func (d *Deliverer) Kick() {
	d.stale.Store(true)
	signal(d.kickRoute)
	signal(d.kickWork)
}

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// Run routes and delivers until ctx is done, then waits for the attempts
// in flight (each bounded by its destination's timeout) to be recorded.
// Several replicas may run it on one PostgreSQL store.
func (d *Deliverer) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		d.route(ctx)
	}()
	stop, recorded := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(recorded)
		d.recordLoop(ctx, stop)
	}()
	d.work(ctx)
	wg.Wait()
	d.attempts.Wait() // every attempt is with the recorder, and recorded
	close(stop)
	<-recorded
	d.mu.Lock()
	d.queued = map[string][]*claimedTask{} // their leases expire: due again
	d.mu.Unlock()
	d.nats.close()
	return nil
}

// wait sleeps until one of cs, the poll interval or ctx; false when ctx
// is done.
func (d *Deliverer) wait(ctx context.Context, poll time.Duration, cs ...<-chan struct{}) bool {
	t := time.NewTimer(poll)
	defer t.Stop()
	var c0, c1, c2 <-chan struct{}
	switch len(cs) {
	case 3:
		c2 = cs[2]
		fallthrough
	case 2:
		c1 = cs[1]
		fallthrough
	case 1:
		c0 = cs[0]
	}
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
	case <-c0:
	case <-c1:
	case <-c2:
	}
	return true
}

// destinations loads every destination.
func (d *Deliverer) destinations(ctx context.Context) ([]*store.Destination, error) {
	var out []*store.Destination
	cursor := ""
	for {
		p, err := d.st.Destinations().List(ctx, cursor, 500)
		if err != nil {
			return nil, err
		}
		out = append(out, p.Items...)
		if p.Next == "" {
			return out, nil
		}
		cursor = p.Next
	}
}

// route moves the outbox into the delivery log.
func (d *Deliverer) route(ctx context.Context) {
	backoff := d.cfg.Poll
	for ctx.Err() == nil {
		enqueued := d.st.Deliveries().Enqueued()
		n, err := d.routeOnce(ctx)
		if errors.Is(err, store.ErrInvalid) {
			// A destination deleted between the list and the route: once
			// more at once, with the list read again.
			n, err = d.routeOnce(ctx)
		}
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			d.log.Error("routing events to destinations failed; retrying", "err", err, "in", backoff)
			if !d.wait(ctx, backoff, d.kickRoute) {
				return
			}
			backoff = min(2*backoff, 30*time.Second)
			continue
		}
		backoff = d.cfg.Poll
		if n == d.cfg.Batch {
			continue
		}
		if !d.wait(ctx, d.cfg.Poll, enqueued, d.kickRoute) {
			return
		}
	}
}

func (d *Deliverer) routeOnce(ctx context.Context) (int, error) {
	ds, err := d.destinations(ctx)
	if err != nil {
		return 0, err
	}
	evs, err := d.st.Deliveries().Route(ctx, d.cfg.Batch, matcher(ds))
	if len(evs) > 0 {
		signal(d.kickWork)
	}
	return len(evs), err
}

// work claims due deliveries and runs them, at most each destination's
// concurrency at a time; a saturated destination is skipped in the claim,
// so a slow one never takes the place of the others.
func (d *Deliverer) work(ctx context.Context) {
	backoff := d.cfg.Poll
	for ctx.Err() == nil {
		routed := d.st.Deliveries().Routed()
		full, err := d.claimOnce(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			d.log.Error("claiming deliveries failed; retrying", "err", err, "in", backoff)
			if !d.wait(ctx, backoff, d.kickWork) {
				return
			}
			backoff = min(2*backoff, 30*time.Second)
			continue
		}
		backoff = d.cfg.Poll
		if full {
			continue
		}
		if !d.wait(ctx, d.cfg.Poll, routed, d.kickWork, d.freed) {
			return
		}
	}
}

// claimOnce claims one batch; full when the batch came back full and
// another claim may find more at once.
func (d *Deliverer) claimOnce(ctx context.Context) (bool, error) {
	byID, err := d.workerDestinations(ctx, false)
	if err != nil {
		return false, err
	}
	var skip []string
	// room is the least free room among the destinations that have some:
	// a claim is not split by destination, so any one of them may get all
	// n rows, and a destination must never hold more than it can start
	// before the lease runs out (a lapsed lease costs a retry).
	room := 0
	lease := d.cfg.Lease
	for _, dst := range byID {
		lease = max(lease, 2*timeout(dst))
	}
	d.mu.Lock()
	for id, dst := range byID {
		// Each destination runs up to its concurrency and keeps claimed
		// behind them up to ahead(dst), so a claim refills many slots at
		// once and costs the store one transaction for many deliveries.
		busy, most := d.inflight[id]+len(d.queued[id]), concurrency(dst)+d.ahead(dst, lease)
		if busy >= most || dst.Status == store.DestinationDisabled {
			skip = append(skip, id)
		} else if free := most - busy; room == 0 || free < room {
			room = free
		}
	}
	d.mu.Unlock()
	if room == 0 {
		return false, nil
	}
	n := min(d.cfg.Batch, room)
	tasks, err := d.st.Deliveries().Claim(ctx, d.cfg.Worker, n, lease, skip)
	if err != nil {
		return false, err
	}
	now := d.cfg.Clock()
	for _, t := range tasks {
		dst := byID[t.Destination]
		if dst == nil {
			// Made since the list was read.
			if byID, err = d.workerDestinations(ctx, true); err != nil {
				return false, err
			}
			if dst = byID[t.Destination]; dst == nil {
				continue // deleted: so is the delivery
			}
		}
		d.dispatch(ctx, &claimedTask{task: t, dest: dst, claimed: now}, lease)
	}
	return len(tasks) == n, nil
}

// workerDestinations are the destinations as the workers last read them,
// read again every Poll, after a Kick, or when reload is set.
func (d *Deliverer) workerDestinations(ctx context.Context, reload bool) (map[string]*store.Destination, error) {
	if !reload && !d.stale.Swap(false) && d.dests != nil && time.Since(d.destsAt) < d.cfg.Poll {
		return d.dests, nil
	}
	ds, err := d.destinations(ctx)
	if err != nil {
		return nil, err
	}
	d.dests = make(map[string]*store.Destination, len(ds))
	for _, dst := range ds {
		d.dests[dst.ID] = dst
	}
	d.destsAt = time.Now()
	return d.dests, nil
}

// maxAhead bounds ahead: deliveries claimed behind each of a
// destination's slots.
const maxAhead = 12

// ahead is how many deliveries of dst are claimed ahead of its running
// attempts, with d.mu held: from its concurrency (one behind each slot)
// up to maxAhead times that, as many as its slots get through, at the
// attempts' recent latency, in a quarter of the time a claimed delivery
// has before it is dropped (its lease less an attempt's timeout): a
// claim then serves many attempts, one transaction for them all, and a
// slow destination does not hold deliveries it cannot start in time.
func (d *Deliverer) ahead(dst *store.Destination, lease time.Duration) int {
	lat := d.latency[dst.ID]
	if lat <= 0 {
		lat = timeout(dst) // nothing known yet
	}
	per := int(min((lease-timeout(dst))/4/max(lat, time.Millisecond), maxAhead))
	return concurrency(dst) * max(per, 1)
}

func concurrency(d *store.Destination) int {
	if d.Concurrency > 0 {
		return d.Concurrency
	}
	return DefaultConcurrency
}

func timeout(d *store.Destination) time.Duration {
	if d.Timeout > 0 {
		return d.Timeout
	}
	return DefaultTimeout
}

// dispatch starts t now if its destination has a free slot, or queues it
// for the next free one.
func (d *Deliverer) dispatch(ctx context.Context, t *claimedTask, lease time.Duration) {
	id := t.dest.ID
	d.mu.Lock()
	if d.inflight[id] >= concurrency(t.dest) {
		d.queued[id] = append(d.queued[id], t)
		d.mu.Unlock()
		return
	}
	d.inflight[id]++
	d.attempts.Add(1)
	d.mu.Unlock()
	go d.runSlot(ctx, t, lease)
}

// runSlot runs t, then the tasks queued for its destination while their
// leases leave time for an attempt and ctx is not done.
func (d *Deliverer) runSlot(ctx context.Context, t *claimedTask, lease time.Duration) {
	defer d.attempts.Done()
	id := t.dest.ID
	var last *pendingRecord
	for t != nil {
		last = d.attempt(ctx, t, last)
		if t = d.next(ctx, id, lease, last.a.Latency, false); t == nil {
			// The slot is freed once its last attempt is recorded.
			<-last.done
			t = d.next(ctx, id, lease, 0, true)
		}
	}
	// A slot with nothing claimed behind it: time to claim.
	signal(d.freed)
}

// next takes the next queued task of destination id, or else, with
// release, frees its slot; lat, when not 0, is the latency of the
// attempt the slot just made. A task whose lease would lapse during its
// attempt is dropped: its lease runs out and it is due again, for any
// replica.
func (d *Deliverer) next(ctx context.Context, id string, lease, lat time.Duration, release bool) *claimedTask {
	d.mu.Lock()
	defer d.mu.Unlock()
	if lat > 0 {
		if old := d.latency[id]; old > 0 {
			d.latency[id] = old + (lat-old)/8
		} else {
			d.latency[id] = lat
		}
	}
	for ctx.Err() == nil && len(d.queued[id]) > 0 {
		t := d.queued[id][0]
		d.queued[id] = d.queued[id][1:]
		if len(d.queued[id]) == 0 {
			delete(d.queued, id)
		}
		if d.cfg.Clock().Before(t.claimed.Add(lease - timeout(t.dest))) {
			return t
		}
	}
	if !release {
		return nil
	}
	if d.inflight[id]--; d.inflight[id] <= 0 {
		delete(d.inflight, id)
	}
	return nil
}

// attempt makes one attempt of t and hands it to the recorder; it
// returns the attempt's record. prev, the slot's attempt before, must be
// recorded first: a slot has at most one answered attempt waiting to be
// recorded while it sends the next.
func (d *Deliverer) attempt(ctx context.Context, t *claimedTask, prev *pendingRecord) *pendingRecord {
	task, dst := t.task, t.dest
	now := d.cfg.Clock()
	d.rec.sending.Add(1)
	start := time.Now()
	r := d.send(ctx, task, dst, now)
	latency := time.Since(start)
	d.rec.sent()
	errText := ""
	if r.Err != nil {
		errText = shorten(r.Err.Error(), 1024)
	}
	p := &pendingRecord{
		a: store.Attempt{
			EventID: task.ID, Destination: dst.ID, Tenant: task.Tenant, Attempt: task.Attempts, At: now,
			Status: r.Status, Latency: latency, Error: errText, Excerpt: r.Excerpt,
		},
		o: d.outcome(task.Attempts, r, now), r: r, done: make(chan struct{}),
	}
	if prev != nil {
		<-prev.done
	}
	d.rec.push(p)
	return p
}

// recorded reports an attempt p the recorder recorded (err nil) or not,
// and acts on its result.
func (d *Deliverer) recorded(ctx context.Context, p *pendingRecord, err error) {
	a, o, r := p.a, p.o, p.r
	if err != nil {
		if errors.Is(err, store.ErrLeaseLost) {
			d.log.Warn("an attempt outlived its lease; another worker owns the delivery now",
				"event", a.EventID, "destination", a.Destination, "attempt", a.Attempt)
		} else {
			d.log.Error("recording a delivery attempt failed; the delivery is due again when its lease runs out",
				"event", a.EventID, "destination", a.Destination, "err", err)
		}
		return
	}
	switch {
	case o.Dead:
		d.log.Warn("delivery dead: no more attempts; replay it once the destination works",
			"event", a.EventID, "destination", a.Destination, "attempt", a.Attempt, "status", r.Status, "err", a.Error)
	case r.Err != nil:
		d.log.Debug("delivery attempt failed; retrying", "event", a.EventID, "destination", a.Destination,
			"attempt", a.Attempt, "status", r.Status, "err", a.Error, "next", o.Next)
	}
	if d.observe != nil {
		defer d.observe(a, o)
	}
	switch {
	case r.Gone:
		d.disable(ctx, a.Destination, "gone", a.At)
	case r.Err != nil:
		// The destination as Record left it: the copy claimed with may
		// predate the failure that started the clock.
		fresh, err := d.st.Destinations().Get(ctx, a.Destination)
		if err == nil && !fresh.FailingSince.IsZero() && a.At.Sub(fresh.FailingSince) >= d.cfg.DisableAfter {
			d.disable(ctx, a.Destination, "failing", a.At)
		}
	}
}

func (d *Deliverer) send(ctx context.Context, task *store.DeliveryTask, dst *store.Destination, now time.Time) result {
	body, err := Encode(&task.Event)
	if err != nil {
		return result{Err: fmt.Errorf("the event cannot be encoded: %v", err)}
	}
	switch dst.Kind {
	case store.DestinationNATS:
		return d.nats.publish(ctx, dst, &task.Event, body, timeout(dst))
	case store.DestinationWebhook, "":
		secrets, err := d.cfg.Secrets(dst)
		if err != nil {
			return result{Err: fmt.Errorf("no signing secret for destination %s: %v", dst.Name, err)}
		}
		signer, err := NewSigner(secrets)
		if err != nil {
			return result{Err: fmt.Errorf("destination %s: %v", dst.Name, err)}
		}
		hd := signer.Headers(task.ID, now, body)
		return d.webhook.send(dst.URL, timeout(dst), hd, body, now, redactions(secrets, hd[HeaderSignature]))
	}
	return result{Err: fmt.Errorf("destination %s has kind %q: want webhook or nats", dst.Name, dst.Kind)}
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return excerpt([]byte(s[:n]), nil)
}

// DisabledPayload is the data of an endpoint.disabled event.
type DisabledPayload struct {
	Destination string    `json:"destination"`
	Name        string    `json:"name"`
	Reason      string    `json:"reason"`
	DisabledAt  time.Time `json:"disabledAt"`
}

// disable disables destination id for reason unless it already is (by
// another attempt or replica), and raises endpoint.disabled once.
func (d *Deliverer) disable(ctx context.Context, id, reason string, now time.Time) {
	flipped := false
	dst, err := d.st.Destinations().Update(ctx, id, func(x *store.Destination) error {
		flipped = false
		if x.Status == store.DestinationDisabled {
			return nil
		}
		if reason == "failing" && (x.FailingSince.IsZero() || now.Sub(x.FailingSince) < d.cfg.DisableAfter) {
			return nil // it delivered since
		}
		x.Status, x.DisabledReason, x.DisabledAt = store.DestinationDisabled, reason, now
		flipped = true
		return nil
	})
	if err != nil {
		d.log.Error("disabling a destination failed", "destination", id, "reason", reason, "err", err)
		return
	}
	if !flipped {
		return
	}
	d.log.Warn("destination disabled", "destination", id, "name", dst.Name, "reason", reason)
	payload, _ := json.Marshal(DisabledPayload{Destination: id, Name: dst.Name, Reason: reason, DisabledAt: now.UTC()})
	ev := store.Event{
		ID:   "evt_disabled_" + strconv.FormatInt(now.UnixNano(), 36) + "_" + id,
		Type: EndpointDisabled, Payload: payload, CreatedAt: now,
	}
	if err := d.st.Tenant(store.WorkspaceTenant).Outbox().Enqueue(ctx, ev); err != nil {
		d.log.Error("raising endpoint.disabled failed", "destination", id, "err", err)
	}
}
