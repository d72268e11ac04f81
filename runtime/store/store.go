// Package store keeps Membrane's state: connections and their sealed
// secrets, stored connection overrides, OAuth states, run logs and the
// webhook outbox. One implementation runs on two engines with the same
// behaviour: SQLite (embedded, one process) and PostgreSQL (several
// replicas).
//
//	s, err := store.Open(ctx, "sqlite:///var/lib/membrane/membrane.db")
//	c, err := s.Tenant("acme").Connections().Get(ctx, id)
//
// Everything about a tenant's data goes through s.Tenant(key), whose every
// query is filtered by that tenant: a handler cannot forget to, and an id
// of another tenant is simply not found.
package store

import (
	"context"
	"time"
)

// Store is the root of the store: tenant handles and the cross-tenant work
// of operators and background workers.
type Store interface {
	// Tenant returns the handle of one tenant's data. It does not touch
	// the database; writes create the tenant on first use.
	Tenant(key string) TenantStore

	// EnsureTenant creates a tenant unless it exists, and returns it.
	// Idempotent.
	EnsureTenant(ctx context.Context, key string) (Tenant, error)
	// ListTenants lists tenants by key; cursor is a Page.Next.
	ListTenants(ctx context.Context, cursor string, limit int) (Page[Tenant], error)
	// DeleteTenant deletes a tenant and everything it owns.
	DeleteTenant(ctx context.Context, key string) error

	// SaveState keeps an OAuth state until expiresAt; data is sealed.
	SaveState(ctx context.Context, state string, data []byte, expiresAt time.Time) error
	// TakeState returns and deletes a state, atomically: of two concurrent
	// takers exactly one gets it. An expired state is ErrNotFound.
	TakeState(ctx context.Context, state string) ([]byte, error)
	// PruneStates deletes expired states.
	PruneStates(ctx context.Context) (int64, error)

	// PruneRunLogs deletes run logs created before olderThan.
	PruneRunLogs(ctx context.Context, olderThan time.Time) (int64, error)

	// PruneIdempotencyKeys deletes the idempotency keys past their expiry.
	PruneIdempotencyKeys(ctx context.Context) (int64, error)

	// ExpiringTokens lists connections, not disconnected, whose token
	// expires before the given time, soonest first: the refresher's work.
	ExpiringTokens(ctx context.Context, before time.Time, limit int) ([]ExpiringToken, error)
	// ErroredConnections pages through the connections in the error
	// state, across tenants, longest in it first: the retry worker's work.
	ErroredConnections(ctx context.Context, cursor string, limit int) (Page[ConnectionRef], error)
	// ConnectionStates counts the connections by connector and state,
	// across tenants (one GROUP BY; metrics cache it).
	ConnectionStates(ctx context.Context) ([]ConnectionStateCount, error)
	// DisconnectedConnections pages through the connections a human must
	// authorise again, across tenants, the latest disconnected first.
	DisconnectedConnections(ctx context.Context, cursor string, limit int) (Page[DisconnectedConnection], error)

	// Destinations are where events are delivered.
	Destinations() Destinations
	// Deliveries are the router's and the delivery workers' side of the
	// outbox, and the delivery log.
	Deliveries() Deliveries

	// Polls are the scheduler's side of the subscriptions: due polls and
	// their leases, across tenants.
	Polls() Polls
	// Inbox keeps webhook requests from their receipt to their processing.
	Inbox() Inbox
	// SubscriptionByToken finds the subscription of a per-subscription
	// webhook URL, across tenants. ErrNotFound when no subscription has
	// that token.
	SubscriptionByToken(ctx context.Context, token string) (*Subscription, error)
	// SubscriptionsByRoute lists the active subscriptions of (connector,
	// event key) with RouteKey routeKey, across tenants, oldest first.
	SubscriptionsByRoute(ctx context.Context, connector, event, routeKey string) ([]*Subscription, error)

	// RotateKeys re-seals every sealed value with the keyring's current
	// key, in batches. Old keys must still be in the keyring. Safe to run
	// twice, and alongside normal traffic.
	RotateKeys(ctx context.Context) (RotateResult, error)

	// Engine is "sqlite" or "postgres".
	Engine() string
	// Ping checks the database answers.
	Ping(ctx context.Context) error
	Close() error
}

// TenantStore is one tenant's data. Every method is scoped to the tenant.
type TenantStore interface {
	Key() string
	Connections() Connections
	Overrides() Overrides
	RunLogs() RunLogs
	Outbox() TenantOutbox
	IdempotencyKeys() IdempotencyKeys
	Subscriptions() Subscriptions

	// Tx runs fn in one transaction: everything done through tx commits
	// together or not at all. Use it to write an outbox event with the
	// change it reports. Nested Tx calls are savepoints. Inside fn use
	// only tx: on SQLite the transaction holds the single writer, so a
	// write through another handle waits for fn to end (until ctx is done).
	Tx(ctx context.Context, fn func(tx TenantStore) error) error

	// WithConnectionLock runs fn while holding the lock of one connection,
	// across goroutines and, on PostgreSQL, across replicas: exactly one
	// token refresh per connection at a time. The lock is released when fn
	// returns or the process dies. ErrNotFound if the tenant has no such
	// connection. Do not call it inside Tx.
	WithConnectionLock(ctx context.Context, connectionID string, fn func(ctx context.Context) error) error
}

// Connections are a tenant's connections.
type Connections interface {
	// Create stores a new connection and returns it with its ID,
	// timestamps and Version 1. An empty State is Connected.
	Create(ctx context.Context, c Connection) (*Connection, error)
	Get(ctx context.Context, id string) (*Connection, error)
	// List pages through the connections, oldest first.
	List(ctx context.Context, f ConnectionFilter) (Page[*Connection], error)
	// Update runs fn on the current connection with its row locked, then
	// stores the result with Version bumped. When fn returns an error
	// nothing changes and that error is returned. fn may change Name,
	// State, LastError, Parameters, Credentials, Token and Info; the other
	// fields are kept.
	Update(ctx context.Context, id string, fn func(c *Connection) error) (*Connection, error)
	// Delete removes a connection and its stored overrides.
	Delete(ctx context.Context, id string) error
}

// Overrides are the connection overrides a tenant stored through the API.
type Overrides interface {
	// Put creates or replaces an override and returns it with its new
	// revision. A connection id must name a connection of the tenant.
	Put(ctx context.Context, o Override) (*Override, error)
	Get(ctx context.Context, connector, connectionID string) (*Override, error)
	// List orders by connector, then connection id (tenant-wide first).
	List(ctx context.Context, f OverrideFilter) (Page[*Override], error)
	Delete(ctx context.Context, connector, connectionID string) error
}

// RunLogs are a tenant's run logs.
type RunLogs interface {
	// Append stores a run log; an empty ID gets a random "run_" id, a zero
	// CreatedAt the store's clock.
	Append(ctx context.Context, l RunLog) (*RunLog, error)
	Get(ctx context.Context, id string) (*RunLog, error)
	// List pages through run logs, newest first.
	List(ctx context.Context, f RunLogFilter) (Page[*RunLog], error)
}

// IdempotencyKeys remember the answers of a tenant's requests sent with
// an idempotency key, so a retried request gets the first answer instead
// of doing the work again. A key is claimed by the request that comes
// first, for a lease its holder renews while it runs; an answer stored
// with Complete is kept until the key expires.
type IdempotencyKeys interface {
	// Claim takes key for a request with fingerprint (what identifies the
	// request: method, path, body) for lease, to expire after ttl. When
	// the key is new, expired, or its previous claim lapsed, it returns
	// the new claim (its Owner is the holder's proof) and claimed true.
	// Otherwise it returns the key as it stands, claimed false: an answer
	// (Status set) or a request in flight (Status 0), maybe of another
	// fingerprint; the caller decides.
	Claim(ctx context.Context, key, fingerprint string, lease, ttl time.Duration) (rec *IdempotencyRecord, claimed bool, err error)
	// Extend renews the lease of a claim still in flight. ErrLeaseLost
	// when owner no longer holds it.
	Extend(ctx context.Context, key, owner string, lease time.Duration) error
	// Complete stores the answer of a claimed key. Inside Tx it commits
	// with the work it answers for. ErrLeaseLost when owner no longer
	// holds it.
	Complete(ctx context.Context, key, owner string, r IdempotentResponse) error
	// Release gives up a claim without an answer, so the next request
	// with the key runs. Releasing a claim that is gone is no error.
	Release(ctx context.Context, key, owner string) error
}

// TenantOutbox is a tenant's side of the outbox.
type TenantOutbox interface {
	// Enqueue adds events for delivery. An ID already enqueued is skipped.
	// Inside Tx the events commit with the change they report;
	// Deliveries().Enqueued() is closed once they did.
	Enqueue(ctx context.Context, events ...Event) error
	// Recent lists the tenant's latest entries, newest first: Pending until
	// routed, then Routed with their Seq (until the log is pruned). limit 1
	// to 1000.
	Recent(ctx context.Context, limit int) ([]*Delivery, error)
}

// Destinations are where events are delivered: across tenants.
type Destinations interface {
	// Create stores a destination with Version 1. An empty ID gets
	// "dst_…"; Source is SourceAPI; an empty Status is active. Secrets are
	// sealed. ErrConflict when the id or the name is taken.
	Create(ctx context.Context, d Destination) (*Destination, error)
	// Get returns a destination with its secrets. ErrNotFound.
	Get(ctx context.Context, id string) (*Destination, error)
	// List pages through the destinations, oldest first, with their
	// secrets.
	List(ctx context.Context, cursor string, limit int) (Page[*Destination], error)
	// Update runs fn with the row locked and stores the result with
	// Version+1. fn may change everything but ID, Source, Version and the
	// timestamps. When fn returns an error nothing changes and that error
	// is returned.
	Update(ctx context.Context, id string, fn func(d *Destination) error) (*Destination, error)
	// Delete removes a destination and its deliveries (its attempts stay
	// until pruned). ErrNotFound.
	Delete(ctx context.Context, id string) error
	// Sync makes the file destinations exactly ds (Source SourceFile, ID
	// "file:<name>" when empty): it upserts by ID, keeping Status,
	// DisabledReason/At and FailingSince of an existing one unless its
	// definition changed (then it is active and healthy again), and
	// deletes the file destinations not in ds with their deliveries.
	Sync(ctx context.Context, ds []Destination) error
}

// Deliveries are the router's and the delivery workers' side of the
// outbox, and the delivery log: across tenants.
type Deliveries interface {
	// Route moves up to n unrouted outbox entries (oldest first) into the
	// log in one transaction: each gets Seq (strictly increasing in commit
	// order, across replicas: routers are serialised) and one pending
	// delivery, due now, per destination id match returns (unknown ids
	// are ErrInvalid and nothing is routed). Returns the routed events.
	Route(ctx context.Context, n int, match func(e *Event) []string) ([]Event, error)
	// Claim leases up to n due pending deliveries to worker for lease (an
	// expired lease is due again), oldest due first, counting an attempt
	// on each, never of a disabled destination nor of one in skip.
	// Concurrent claimers (goroutines, replicas) get disjoint deliveries.
	Claim(ctx context.Context, worker string, n int, lease time.Duration, skip []string) ([]*DeliveryTask, error)
	// Record stores one attempt and its outcome in one transaction: the
	// attempt; the delivery delivered, pending again at o.Next, or dead;
	// the destination's FailingSince (cleared on success, set at the
	// first failure). ErrLeaseLost when worker no longer holds the lease
	// (the attempt is still kept); ErrNotFound when there is no such
	// delivery. Concurrent Records share commits (group commit).
	Record(ctx context.Context, worker string, a Attempt, o Outcome) error
	// RecordBatch is Record of many attempts in one transaction. errs[i]
	// is the outcome of rs[i] (nil, ErrLeaseLost, ErrNotFound, ErrInvalid);
	// err is a failure of the whole batch (nothing recorded).
	RecordBatch(ctx context.Context, worker string, rs []AttemptOutcome) (errs []error, err error)
	// List pages through deliveries, oldest (lowest Seq) first.
	List(ctx context.Context, f DeliveryFilter) (Page[*DeliveryState], error)
	// Attempts pages through attempts, newest first.
	Attempts(ctx context.Context, f AttemptFilter) (Page[*Attempt], error)
	// Replay makes the matching deliveries pending, due now, attempts
	// reset, and returns how many. By EventID when the event has no
	// delivery (to Destination, if set): ErrNotFound.
	Replay(ctx context.Context, f ReplayFilter) (int64, error)
	// Log returns up to limit (1 to 1000) routed events with Seq > after,
	// in Seq order; tenant "" is every tenant (WorkspaceTenant included).
	Log(ctx context.Context, tenant string, after int64, limit int) ([]Event, error)
	// PruneAttempts deletes the attempts made before olderThan.
	PruneAttempts(ctx context.Context, olderThan time.Time) (int64, error)
	// PruneLog deletes routed events created before olderThan whose
	// deliveries are all delivered or dead (and those deliveries).
	PruneLog(ctx context.Context, olderThan time.Time) (int64, error)
	// Routed is closed by the next Route in this process that routed at
	// least one event (then call again).
	Routed() <-chan struct{}
	// Enqueued is closed by the next commit in this process that enqueued
	// an event (then call again).
	Enqueued() <-chan struct{}
}

// Subscriptions are a tenant's subscriptions of connections to events.
type Subscriptions interface {
	// Create stores a subscription with Version 1. ErrConflict when the
	// connection already has one for the event, ErrNotFound when the
	// tenant has no such connection. An empty ID gets "sub_…", an empty
	// WebhookToken a random one, an empty Status active; Connector is the
	// connection's.
	Create(ctx context.Context, s Subscription) (*Subscription, error)
	Get(ctx context.Context, id string) (*Subscription, error)
	// List pages through the subscriptions, oldest first.
	List(ctx context.Context, f SubscriptionFilter) (Page[*Subscription], error)
	// Update runs fn with the row locked and stores the result (Version+1).
	// fn may change Status, State, Generation, Baselined, Interval,
	// NextRunAt, LastRunAt, LastError, Failures, RouteKey, Remote and
	// RemoteExpiresAt; the other fields are kept. When fn returns an error
	// nothing changes and that error is returned. Inside Tx it commits
	// with the rest (the outbox entries of the changes it detected).
	Update(ctx context.Context, id string, fn func(s *Subscription) error) (*Subscription, error)
	// Delete removes a subscription and its record hashes.
	Delete(ctx context.Context, id string) error
	// Records is the per-record memory of one subscription (full-scan
	// diff and first-sight detection). It does not touch the database.
	Records(subscriptionID string) RecordHashes
}

// RecordHashes remember, per subscription, the hash of each record a poll
// saw and the generation (full scan) it was last seen in. Every method
// fails with ErrNotFound when the tenant has no such subscription.
type RecordHashes interface {
	// Mark stores each record's hash with generation gen and returns what
	// was stored before, in the same order (an id given twice sees the
	// hash given before it). A few statements per thousand records. Call
	// it inside Tx with the outbox entries of the changes it reveals.
	Mark(ctx context.Context, gen int64, recs []RecordHash) ([]RecordSeen, error)
	// Sweep deletes up to limit records last seen in a generation before
	// gen and returns them with their last hash: the records a complete
	// full scan no longer lists, i.e. deleted upstream. Call it until it
	// returns fewer than limit.
	Sweep(ctx context.Context, gen int64, limit int) ([]RecordHash, error)
	// Forget deletes the given ids (records the app itself flagged
	// deleted). Ids never seen are no error.
	Forget(ctx context.Context, ids ...string) error
}

// Polls are the scheduler's side of the subscriptions: it spans tenants.
type Polls interface {
	// ClaimDue leases up to n active subscriptions due at now (NextRunAt
	// not zero and not after now) to worker for lease, oldest due first,
	// at most one per connection: a connection with a live lease on any
	// of its subscriptions is skipped. Concurrent claimers, in this
	// process or another replica, get disjoint subscriptions of distinct
	// connections. A lease that runs out frees the connection, and its
	// subscription, still due, is claimed again.
	ClaimDue(ctx context.Context, worker string, now time.Time, n int, lease time.Duration) ([]*Subscription, error)
	// Extend renews a lease worker still holds. ErrLeaseLost otherwise
	// (it ran out and another worker took the connection, or it was
	// released).
	Extend(ctx context.Context, worker, id string, lease time.Duration) error
	// Release frees the lease worker holds on a subscription and sets its
	// next due time (zero: not polled again). ErrLeaseLost when not held.
	Release(ctx context.Context, worker, id string, next time.Time) error
}

// Inbox keeps webhook requests durably from their receipt to their
// processing: it spans tenants.
type Inbox interface {
	// Append stores a request durably before returning and returns its id.
	// Concurrent Appends share one commit (group commit).
	Append(ctx context.Context, e *InboxEntry) (string, error)
	// Claim leases up to n entries due for processing (new, failed and
	// due again, or whose lease lapsed), oldest first, counting an attempt
	// on each. Concurrent claimers get disjoint entries.
	Claim(ctx context.Context, worker string, n int, lease time.Duration) ([]*InboxEntry, error)
	// Done deletes a processed entry. ErrLeaseLost when worker no longer
	// holds it.
	Done(ctx context.Context, worker, id string) error
	// Fail records a failed attempt and when to try again. Past the retry
	// policy's MaxAttempts the entry is kept as dead (never claimed again)
	// and dead is true. ErrLeaseLost when worker no longer holds it.
	Fail(ctx context.Context, worker, id string, next time.Time, errText string) (dead bool, err error)
}
