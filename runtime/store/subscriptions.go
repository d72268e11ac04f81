package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/membrane-dev/membrane/runtime/store/internal/sqldb"
)

type subscriptions struct{ t *tenantStore }

const subColumns = `id, tenant, connection_id, connector, event, status, state, generation, baselined, interval_us,
	next_run_at, last_run_at, last_error, failures, webhook_token, route_key, remote, remote_expires_at,
	created_at, updated_at, version`

// subRow is a subscriptions row as scanned.
type subRow struct {
	id, tenant, connID, connector, event, status, lastError, routeKey string
	state                                                             *string
	generation, baselined, interval, failures                         int64
	next, last, remoteExp                                             *int64
	token, remote                                                     []byte
	created, updated, version                                         int64
}

func (r *subRow) dest() []any {
	return []any{&r.id, &r.tenant, &r.connID, &r.connector, &r.event, &r.status, &r.state, &r.generation, &r.baselined,
		&r.interval, &r.next, &r.last, &r.lastError, &r.failures, &r.token, &r.routeKey, &r.remote, &r.remoteExp,
		&r.created, &r.updated, &r.version}
}

// subscription decodes a row and opens its sealed token and remote.
func (r *subRow) subscription(s *sqlStore) (*Subscription, error) {
	sub := &Subscription{
		ID: r.id, Tenant: r.tenant, ConnectionID: r.connID, Connector: r.connector, Event: r.event,
		Status: SubscriptionStatus(r.status), Generation: r.generation, Baselined: r.baselined != 0,
		Interval: time.Duration(r.interval) * time.Microsecond, NextRunAt: fromOptMicros(r.next),
		LastRunAt: fromOptMicros(r.last), LastError: r.lastError, Failures: int(r.failures), RouteKey: r.routeKey,
		RemoteExpiresAt: fromOptMicros(r.remoteExp),
		CreatedAt:       fromMicros(r.created), UpdatedAt: fromMicros(r.updated), Version: r.version,
	}
	if r.state != nil {
		sub.State = json.RawMessage(*r.state)
	}
	if err := s.openSubscription(sub, r.token, r.remote); err != nil {
		return nil, err
	}
	return sub, nil
}

func scanSubscription(s *sqlStore) func(row scanner) (*Subscription, error) {
	return func(row scanner) (*Subscription, error) {
		var r subRow
		if err := row.Scan(r.dest()...); err != nil {
			return nil, err
		}
		return r.subscription(s)
	}
}

// tokenHash is how a webhook token is looked up: the token itself is
// sealed, its SHA-256 finds the row.
func tokenHash(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

// newWebhookToken is 160 random bits, URL-safe.
func newWebhookToken() string {
	b := make([]byte, 20)
	rand.Read(b)
	return idEncoding.EncodeToString(b)
}

// check validates what a caller may set.
func (s *Subscription) check() error {
	if !s.Status.valid() {
		return fmt.Errorf("%w: subscription status %q (want active or paused)", ErrInvalid, s.Status)
	}
	if len(s.State) > 0 && !json.Valid(s.State) {
		return fmt.Errorf("%w: subscription %q: the state is not valid JSON", ErrInvalid, s.ID)
	}
	if s.Generation < 0 || s.Failures < 0 || s.Interval < 0 {
		return fmt.Errorf("%w: subscription %q: generation, failures and interval cannot be negative", ErrInvalid, s.ID)
	}
	if len(s.RouteKey) > maxKeyLen {
		return fmt.Errorf("%w: subscription %q: the route key is longer than %d bytes", ErrInvalid, s.ID, maxKeyLen)
	}
	if len(s.LastError) > maxErrorText {
		s.LastError = s.LastError[:maxErrorText]
	}
	return nil
}

// subValues are the mutable columns as stored.
type subValues struct {
	state                *string
	baselined, interval  int64
	next, last, remoteEx *int64
	remote               []byte
}

func subscriptionValues(s *Subscription, remote []byte) subValues {
	v := subValues{interval: s.Interval.Microseconds(), next: optMicros(s.NextRunAt), last: optMicros(s.LastRunAt),
		remoteEx: optMicros(s.RemoteExpiresAt), remote: remote}
	if len(s.State) > 0 {
		st := string(s.State)
		v.state = &st
	}
	if s.Baselined {
		v.baselined = 1
	}
	return v
}

func (ss subscriptions) Create(ctx context.Context, sub Subscription) (*Subscription, error) {
	t := ss.t
	if t.err != nil {
		return nil, t.err
	}
	if sub.ID == "" {
		sub.ID = newID("sub")
	} else if err := checkKey("subscription id", sub.ID); err != nil {
		return nil, err
	}
	if err := checkKey("connection id", sub.ConnectionID); err != nil {
		return nil, err
	}
	if err := checkKey("event", sub.Event); err != nil {
		return nil, err
	}
	if sub.WebhookToken == "" {
		sub.WebhookToken = newWebhookToken()
	} else if len(sub.WebhookToken) < 16 {
		return nil, fmt.Errorf("%w: subscription %q: a webhook token must be at least 16 characters, to be unguessable", ErrInvalid, sub.ID)
	}
	if sub.Status == "" {
		sub.Status = SubscriptionActive
	}
	if err := sub.check(); err != nil {
		return nil, err
	}
	s := t.store()
	sub.Tenant = t.key
	sub.CreatedAt = s.clock()
	sub.UpdatedAt = sub.CreatedAt
	sub.Version = 1
	sub.NextRunAt = truncate(sub.NextRunAt)
	sub.LastRunAt = truncate(sub.LastRunAt)
	sub.RemoteExpiresAt = truncate(sub.RemoteExpiresAt)
	token, remote, err := s.sealSubscription(&sub)
	if err != nil {
		return nil, err
	}
	v := subscriptionValues(&sub, remote)
	err = t.write(ctx, func(tx sqldb.Tx) error {
		var connector string
		err := tx.QueryRow(ctx, `SELECT connector FROM connections WHERE id = $1 AND tenant = $2`, sub.ConnectionID, t.key).Scan(&connector)
		if errors.Is(err, sqldb.ErrNoRows) {
			return fmt.Errorf("connection %q: %w", sub.ConnectionID, ErrNotFound)
		}
		if err != nil {
			return err
		}
		if sub.Connector != "" && sub.Connector != connector {
			return fmt.Errorf("%w: subscription of connection %q: connector %q, but the connection is of %q", ErrInvalid, sub.ConnectionID, sub.Connector, connector)
		}
		sub.Connector = connector
		var one int
		err = tx.QueryRow(ctx, `SELECT 1 FROM subscriptions WHERE connection_id = $1 AND event = $2`, sub.ConnectionID, sub.Event).Scan(&one)
		if err == nil {
			return fmt.Errorf("connection %q: %w: it is already subscribed to %q", sub.ConnectionID, ErrConflict, sub.Event)
		}
		if !errors.Is(err, sqldb.ErrNoRows) {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO subscriptions (`+subColumns+`, webhook_token_hash, secret_kid)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23)`,
			sub.ID, sub.Tenant, sub.ConnectionID, sub.Connector, sub.Event, string(sub.Status), v.state, sub.Generation, v.baselined,
			v.interval, v.next, v.last, sub.LastError, sub.Failures, token, sub.RouteKey, v.remote, v.remoteEx,
			micros(sub.CreatedAt), micros(sub.UpdatedAt), sub.Version, tokenHash(sub.WebhookToken), s.keys.CurrentID())
		if err != nil && t.sc.kind(err) == sqldb.ForeignKey {
			// Deleted since the check above (PostgreSQL reads committed).
			return fmt.Errorf("connection %q: %w", sub.ConnectionID, ErrNotFound)
		}
		if err != nil && t.sc.kind(err) == sqldb.Unique {
			// The (connection, event) pair was checked above under the
			// write lock; on PostgreSQL a concurrent Create may still win.
			return fmt.Errorf("subscription %q: %w: the id or webhook token is taken, or the connection was subscribed to %q meanwhile", sub.ID, ErrConflict, sub.Event)
		}
		return err
	})
	if err != nil {
		return nil, wrap("create subscription", err)
	}
	return &sub, nil
}

func truncate(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC().Truncate(time.Microsecond)
}

func (ss subscriptions) Get(ctx context.Context, id string) (*Subscription, error) {
	t := ss.t
	if t.err != nil {
		return nil, t.err
	}
	sub, err := scanSubscription(t.store())(t.sc.read().QueryRow(ctx, `SELECT `+subColumns+` FROM subscriptions WHERE id = $1 AND tenant = $2`, id, t.key))
	if errors.Is(err, sqldb.ErrNoRows) {
		return nil, fmt.Errorf("subscription %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, wrap(fmt.Sprintf("get subscription %q", id), err)
	}
	return sub, nil
}

func (ss subscriptions) List(ctx context.Context, f SubscriptionFilter) (Page[*Subscription], error) {
	t := ss.t
	if t.err != nil {
		return Page[*Subscription]{}, t.err
	}
	limit, cur, after, err := pageRequest(f.Limit, f.Cursor)
	if err != nil {
		return Page[*Subscription]{}, err
	}
	q := `SELECT ` + subColumns + ` FROM subscriptions WHERE tenant = $1`
	args := []any{t.key}
	if f.ConnectionID != "" {
		args = append(args, f.ConnectionID)
		q += fmt.Sprintf(` AND connection_id = $%d`, len(args))
	}
	if after {
		args = append(args, cur.T, cur.ID)
		q += fmt.Sprintf(` AND (created_at, id) > ($%d, $%d)`, len(args)-1, len(args))
	}
	args = append(args, limit+1)
	q += fmt.Sprintf(` ORDER BY created_at, id LIMIT $%d`, len(args))
	return queryPage(ctx, t.sc.read(), "list subscriptions", limit, scanSubscription(t.store()),
		func(s *Subscription) cursor { return cursor{T: micros(s.CreatedAt), ID: s.ID} }, q, args...)
}

func (ss subscriptions) Update(ctx context.Context, id string, fn func(s *Subscription) error) (*Subscription, error) {
	t := ss.t
	if t.err != nil {
		return nil, t.err
	}
	s := t.store()
	var out *Subscription
	var fnErr error
	err := t.sc.write(ctx, func(tx sqldb.Tx) error {
		sub, err := scanSubscription(s)(tx.QueryRow(ctx, `SELECT `+subColumns+` FROM subscriptions WHERE id = $1 AND tenant = $2`+s.e.ForUpdate, id, t.key))
		if errors.Is(err, sqldb.ErrNoRows) {
			return fmt.Errorf("subscription %q: %w", id, ErrNotFound)
		}
		if err != nil {
			return err
		}
		keep := *sub
		if err := fn(sub); err != nil {
			fnErr = err
			return err
		}
		// What fn may not change.
		sub.ID, sub.Tenant, sub.ConnectionID, sub.Connector, sub.Event = keep.ID, keep.Tenant, keep.ConnectionID, keep.Connector, keep.Event
		sub.WebhookToken, sub.CreatedAt = keep.WebhookToken, keep.CreatedAt
		sub.Version = keep.Version + 1
		if sub.UpdatedAt = s.clock(); sub.UpdatedAt.Before(keep.UpdatedAt) {
			sub.UpdatedAt = keep.UpdatedAt
		}
		sub.NextRunAt = truncate(sub.NextRunAt)
		sub.LastRunAt = truncate(sub.LastRunAt)
		sub.RemoteExpiresAt = truncate(sub.RemoteExpiresAt)
		if err := sub.check(); err != nil {
			return err
		}
		token, remote, err := s.sealSubscription(sub)
		if err != nil {
			return err
		}
		v := subscriptionValues(sub, remote)
		if _, err := tx.Exec(ctx, `UPDATE subscriptions SET status = $1, state = $2, generation = $3, baselined = $4, interval_us = $5,
			next_run_at = $6, last_run_at = $7, last_error = $8, failures = $9, route_key = $10, webhook_token = $11, remote = $12,
			secret_kid = $13, remote_expires_at = $14, updated_at = $15, version = $16
			WHERE id = $17 AND tenant = $18`,
			string(sub.Status), v.state, sub.Generation, v.baselined, v.interval, v.next, v.last, sub.LastError, sub.Failures,
			sub.RouteKey, token, v.remote, s.keys.CurrentID(), v.remoteEx, micros(sub.UpdatedAt), sub.Version, sub.ID, t.key); err != nil {
			return err
		}
		out = sub
		return nil
	})
	if fnErr != nil {
		return nil, fnErr // the caller's own error, as it gave it
	}
	if err != nil {
		return nil, wrap(fmt.Sprintf("update subscription %q", id), err)
	}
	return out, nil
}

func (ss subscriptions) Delete(ctx context.Context, id string) error {
	t := ss.t
	if t.err != nil {
		return t.err
	}
	err := t.sc.write(ctx, func(tx sqldb.Tx) error {
		// Its record hashes and poll lease go with it (ON DELETE CASCADE).
		n, err := tx.Exec(ctx, `DELETE FROM subscriptions WHERE id = $1 AND tenant = $2`, id, t.key)
		if err == nil && n == 0 {
			err = fmt.Errorf("subscription %q: %w", id, ErrNotFound)
		}
		return err
	})
	return wrap(fmt.Sprintf("delete subscription %q", id), err)
}

func (ss subscriptions) Records(subscriptionID string) RecordHashes {
	return recordHashes{t: ss.t, sub: subscriptionID}
}

// SubscriptionByToken looks the token up by its hash.
func (s *sqlStore) SubscriptionByToken(ctx context.Context, token string) (*Subscription, error) {
	if token == "" {
		return nil, fmt.Errorf("%w: the webhook token is empty", ErrInvalid)
	}
	sub, err := scanSubscription(s)(s.e.DB.QueryRow(ctx, `SELECT `+subColumns+` FROM subscriptions WHERE webhook_token_hash = $1`, tokenHash(token)))
	if errors.Is(err, sqldb.ErrNoRows) {
		// Never the token itself: it is a secret.
		return nil, fmt.Errorf("subscription of that webhook token: %w", ErrNotFound)
	}
	if err != nil {
		return nil, wrap("find subscription by webhook token", err)
	}
	if sub.WebhookToken != token { // a hash collision, in theory
		return nil, fmt.Errorf("subscription of that webhook token: %w", ErrNotFound)
	}
	return sub, nil
}

// maxRoute bounds what one route lists: one app account subscribed by
// that many connections is a misconfiguration, not a workload.
const maxRoute = 1000

func (s *sqlStore) SubscriptionsByRoute(ctx context.Context, connector, event, routeKey string) ([]*Subscription, error) {
	if err := checkKey("connector", connector); err != nil {
		return nil, err
	}
	if err := checkKey("event", event); err != nil {
		return nil, err
	}
	rows, err := s.e.DB.Query(ctx, `SELECT `+subColumns+` FROM subscriptions
		WHERE connector = $1 AND event = $2 AND route_key = $3 AND status = 'active'
		ORDER BY created_at, id LIMIT $4`, connector, event, routeKey, maxRoute)
	if err != nil {
		return nil, wrap("subscriptions by route", err)
	}
	defer rows.Close()
	var out []*Subscription
	scan := scanSubscription(s)
	for rows.Next() {
		sub, err := scan(rows)
		if err != nil {
			return nil, wrap("subscriptions by route", err)
		}
		out = append(out, sub)
	}
	return out, wrap("subscriptions by route", rows.Err())
}
